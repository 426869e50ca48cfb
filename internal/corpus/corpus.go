// Package corpus reads the English texts and word lists that the demo
// model is trained on, from the Debian packages that install them, and
// holds part of each text back as a development set for tuning.
//
// Every source here may be redistributed inside the binary; NOTICE lists
// each with its licence. Training reads no fortune file: fortunes are what
// the model is evaluated on. Only Overlap reads them, to list the
// paragraphs of the training texts that quote one, which the texts then
// leave out.
package corpus

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Paths where Debian's packages install the sources.
const (
	BibleDir   = "/usr/share/sword/modules/texts/ztext/engWEB2015eb" // sword-text-web
	KJVDir     = "/usr/share/sword/modules/texts/ztext/engKJV2006eb" // sword-text-kjv
	JargonFile = "/usr/share/doc/jargon-text/jargon.txt.gz"          // jargon-text
	WordNetDir = "/usr/share/wordnet"                                // wordnet-base
	DevilDict  = "/usr/share/dictd/devil.dict.dz"                    // dict-devil
	WordList   = "/usr/share/dict/american-english"                  // wamerican
	SphinxLM   = "/usr/share/pocketsphinx/model/en-us/en-us.lm.bin"  // pocketsphinx-en-us
	// PythonDocDir holds the reStructuredText sources of the Python
	// documentation.
	PythonDocDir = "/usr/share/doc/python3.11/html/_sources" // python3.11-doc
	Packages     = "sword-text-web sword-text-kjv jargon-text wordnet-base dict-devil wamerican pocketsphinx-en-us python3.11-doc"
	installHint  = "install the training data with: apt-get install " + Packages
)

// packageOf names the Debian package that installs each source.
var packageOf = map[string]string{
	BibleDir:     "sword-text-web",
	KJVDir:       "sword-text-kjv",
	JargonFile:   "jargon-text",
	WordNetDir:   "wordnet-base",
	DevilDict:    "dict-devil",
	WordList:     "wamerican",
	SphinxLM:     "pocketsphinx-en-us",
	PythonDocDir: "python3.11-doc",
}

// open opens a source file, naming the package to install if it is
// missing.
func open(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w; %s", err, hintFor(path))
	}
	return f, nil
}

// hintFor says what to install for a missing file.
func hintFor(path string) string {
	for src, pkg := range packageOf {
		if path == src || strings.HasPrefix(path, src+"/") {
			return "install it with: apt-get install " + pkg
		}
	}
	return installHint
}

// ReadFile reads a source file, naming the packages to install if it is
// missing.
func ReadFile(path string) ([]byte, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

var (
	notes     = regexp.MustCompile(`(?s)<note\b.*?</note>`)
	blockTags = regexp.MustCompile(`<(div|chapter|title|l|lg|p)\b[^>]*>`)
	tags      = regexp.MustCompile(`<[^>]*>`)
	spaces    = regexp.MustCompile(`[ \t\r]+`)
	blankRun  = regexp.MustCompile(`\n\s*\n+`)
)

// Bible returns a Bible of sword's, the World English Bible or the King
// James Version (both public domain), as plain text, a paragraph per line.
// The sword module stores it as zlib blocks of OSIS
// XML, indexed by 12-byte entries (offset, size, uncompressed size) in
// the .bzs file of each testament.
func Bible(dir string) ([]byte, error) {
	var out bytes.Buffer
	for _, t := range []string{"ot", "nt"} {
		index, err := ReadFile(filepath.Join(dir, t+".bzs"))
		if err != nil {
			return nil, err
		}
		blocks, err := ReadFile(filepath.Join(dir, t+".bzz"))
		if err != nil {
			return nil, err
		}
		for i := 0; i+12 <= len(index); i += 12 {
			off := binary.LittleEndian.Uint32(index[i:])
			size := binary.LittleEndian.Uint32(index[i+4:])
			if uint64(off)+uint64(size) > uint64(len(blocks)) {
				return nil, fmt.Errorf("%s.bzs: block %d beyond the end of %s.bzz", t, i/12, t)
			}
			zr, err := zlib.NewReader(bytes.NewReader(blocks[off : off+size]))
			if err != nil {
				return nil, fmt.Errorf("%s.bzz block %d: %w", t, i/12, err)
			}
			b, err := io.ReadAll(zr)
			if err != nil {
				return nil, fmt.Errorf("%s.bzz block %d: %w", t, i/12, err)
			}
			out.Write(osisText(b))
			out.WriteByte('\n')
		}
	}
	return out.Bytes(), nil
}

// osisText keeps the words of OSIS XML: footnotes go, a paragraph or
// chapter starts a line.
func osisText(b []byte) []byte {
	b = notes.ReplaceAll(b, nil)
	b = blockTags.ReplaceAll(b, []byte("\n"))
	b = tags.ReplaceAll(b, nil)
	b = []byte(html.UnescapeString(string(b)))
	b = bytes.ReplaceAll(b, []byte("\u00b6"), nil) // the KJV's pilcrows
	return tidy(b)
}

// tidy collapses runs of spaces and of blank lines.
func tidy(b []byte) []byte {
	b = spaces.ReplaceAll(b, []byte(" "))
	b = blankRun.ReplaceAll(b, []byte("\n"))
	return bytes.TrimSpace(b)
}

// WordNet returns the glosses and example sentences of WordNet's synsets,
// one synset per line: the text after " | " in its data files.
func WordNet(dir string) ([]byte, error) {
	var out bytes.Buffer
	for _, pos := range []string{"noun", "verb", "adj", "adv"} {
		b, err := ReadFile(filepath.Join(dir, "data."+pos))
		if err != nil {
			return nil, err
		}
		for line := range bytes.Lines(b) {
			if bytes.HasPrefix(line, []byte("  ")) {
				continue // the licence at the top of the file
			}
			if _, gloss, ok := bytes.Cut(line, []byte(" | ")); ok {
				out.Write(bytes.TrimSpace(gloss))
				out.WriteByte('\n')
			}
		}
	}
	return out.Bytes(), nil
}

// personFile is WordNet's lexicographer file number of nouns that
// name people (noun.person).
const personFile = "18"

// GivenNames returns, one per line, the given names and initials of the
// people WordNet names ("John" and "Ronald" of John_Ronald_Reuel_Tolkien,
// "J" and "R" of J._R._R._Tolkien): every part of a multi-word person's
// name before the last that is capitalised. They say which letters begin
// a person's initials ("J. R. R. Tolkien"), which names of places in the
// word list do not.
func GivenNames(dir string) ([]byte, error) {
	b, err := ReadFile(filepath.Join(dir, "data.noun"))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for line := range bytes.Lines(b) {
		// offset lex_filenum ss_type w_cnt (word lex_id)...
		f := bytes.Fields(line)
		if len(f) < 4 || bytes.HasPrefix(line, []byte("  ")) || string(f[1]) != personFile {
			continue
		}
		n, err := strconv.ParseUint(string(f[3]), 16, 8)
		if err != nil {
			return nil, fmt.Errorf("%s: bad word count %q", filepath.Join(dir, "data.noun"), f[3])
		}
		for i := range int(n) {
			if 4+2*i >= len(f) {
				break
			}
			parts := bytes.Split(f[4+2*i], []byte("_"))
			for _, p := range parts[:len(parts)-1] {
				if len(p) > 0 && 'A' <= p[0] && p[0] <= 'Z' {
					out.Write(bytes.TrimSuffix(p, []byte(".")))
					out.WriteByte('\n')
				}
			}
		}
	}
	return out.Bytes(), nil
}

// readGzip reads the gzip file at path whole, uncompressed.
func readGzip(path string) ([]byte, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// Devil returns The Devil's Dictionary (public domain) from its dictd
// file, which is gzip with an index in the header that gzip ignores.
func Devil(path string) ([]byte, error) {
	b, err := readGzip(path)
	if err != nil {
		return nil, err
	}
	// The entries start after the dictd headers and the edition's preface.
	if i := bytes.Index(b, []byte("\nA\n")); i >= 0 {
		b = b[i:]
	}
	var out bytes.Buffer
	for _, para := range bytes.Split(b, []byte("\n\n")) {
		out.Write(bytes.Join(bytes.Fields(para), []byte(" ")))
		out.WriteByte('\n')
	}
	return tidy(out.Bytes()), nil
}

// devEvery: one line in devEvery of each running text is held back as the
// development set.
const devEvery = 10

// Split holds back every devEvery'th line of text (a paragraph, verse or
// gloss) as development text, returning the rest for training.
func Split(text []byte) (train, dev []byte) {
	var t, d bytes.Buffer
	n := 0
	for line := range bytes.Lines(text) {
		if n%devEvery == devEvery-1 {
			d.Write(line)
		} else {
			t.Write(line)
		}
		n++
	}
	return t.Bytes(), d.Bytes()
}

// plainQuotes are the typographic apostrophe and quotes, in UTF-8, and
// what Plain makes of them.
var plainQuotes = strings.NewReplacer("\u2019", "'", "\u2018", "'", "\u201c", "\"", "\u201d", "\"", "\u2014", " -- ")

// Plain turns typographic quotes and dashes into ASCII, as people type
// them: the solver reads an apostrophe inside a word as part of it.
func Plain(b []byte) []byte { return []byte(plainQuotes.Replace(string(b))) }

// Lines joins the words of text with single spaces and cuts them into
// lines of at most hi bytes, at spaces, as a user would paste sentences,
// keeping those of at least lo.
func Lines(text string, lo, hi int) []string {
	var lines []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() >= lo {
			lines = append(lines, cur.String())
		}
		cur.Reset()
	}
	for _, w := range strings.Fields(text) {
		if cur.Len() > 0 && cur.Len()+1+len(w) > hi {
			flush()
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(w)
	}
	flush()
	return lines
}

// Spread picks n of lines, evenly spaced, or all of them if there are no
// more than n.
func Spread(lines []string, n int) []string {
	if len(lines) <= n {
		return lines
	}
	out := make([]string, n)
	for i := range out {
		out[i] = lines[i*len(lines)/n]
	}
	return out
}

var (
	// roles are reST's inline roles, :func:`open` and :ref:`text
	// <label>`: the text stays.
	roleRef    = regexp.MustCompile("(:[a-z]+)+:`(~|!)?([^`<]*?)\\s*(<[^`>]*>)?`")
	directive  = regexp.MustCompile(`^\s*\.\. `)
	token      = regexp.MustCompile(`[A-Za-z0-9_]+`)
	codeOpener = regexp.MustCompile(`^\s*\.\. (code-block|code|sourcecode|testcode|testoutput|testsetup|testcleanup|doctest|productionlist|literalinclude|highlight|csv-table|grammar-snippet|raw|only|toctree|index|audit-event-table|include)\b`)
)

// PythonDocs returns the prose of the Python documentation, a paragraph
// per line: the reST sources without their code (literal blocks after
// "::", code directives, interactive sessions), directive lines and
// markup; the text of roles and inline literals stays, as a reader sees
// it. Its licence and history pages, which quote other licences, are
// left out.
func PythonDocs(dir string) ([]byte, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".rst.txt") {
			switch filepath.Base(path) {
			case "license.rst.txt", "copyright.rst.txt":
				return nil
			}
			if strings.Contains(path, "/whatsnew/") {
				return nil // changelogs: lists of names and issue numbers
			}
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w; %s", err, hintFor(dir))
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no .rst.txt files; %s", dir, hintFor(dir))
	}
	var out bytes.Buffer
	for _, path := range files { // WalkDir's order: lexical, reproducible
		b, err := ReadFile(path)
		if err != nil {
			return nil, err
		}
		out.Write(rstProse(b))
		out.WriteByte('\n')
	}
	return tidy(out.Bytes()), nil
}

// codeToken is tok, or nothing if it is code that would teach the letter
// statistics what English never writes: letters and digits together
// ("0x10FFFF", "sha256", "utf8"), or a letter four times in a row
// ("\uXXXX").
func codeToken(tok string) string {
	letters, digits, run := false, false, 1
	for i := range len(tok) {
		c := tok[i]
		switch {
		case '0' <= c && c <= '9':
			digits = true
		case c != '_':
			letters = true
		}
		if i > 0 && c|0x20 == tok[i-1]|0x20 && c != '_' {
			if run++; run == 4 && c > '9' {
				return ""
			}
		} else {
			run = 1
		}
	}
	if letters && digits {
		return ""
	}
	return tok
}

// rstProse is the prose of a reST document, a paragraph per line.
func rstProse(b []byte) []byte {
	var out bytes.Buffer
	skipBelow := -1 // while >= 0: skip lines indented more than this
	var para []string
	flush := func() {
		if len(para) > 0 {
			out.WriteString(strings.Join(para, " "))
			out.WriteByte('\n')
			para = para[:0]
		}
	}
	for raw := range strings.Lines(string(b)) {
		line := strings.TrimRight(raw, " \t\r\n")
		text := strings.TrimLeft(line, " \t")
		indent := len(line) - len(text)
		if text == "" {
			flush()
			continue
		}
		if skipBelow >= 0 {
			if indent > skipBelow {
				continue
			}
			skipBelow = -1
		}
		switch {
		case codeOpener.MatchString(line):
			flush()
			skipBelow = indent
			continue
		case directive.MatchString(line):
			flush() // a directive's content, prose or not, is indented below
			continue
		case strings.HasPrefix(text, ">>>"), strings.HasPrefix(text, "... "), strings.HasPrefix(text, "$ "):
			continue
		case text == "::":
			flush() // a literal block follows
			skipBelow = indent
			continue
		case strings.Trim(text, "=-~^*+#`:'\"._|") == "":
			flush() // a section's underline or a table's rule
			continue
		}
		if strings.HasSuffix(text, "::") {
			// The paragraph goes on; an indented literal block follows.
			text = strings.TrimSuffix(text, ":")
			skipBelow = indent
		}
		text = roleRef.ReplaceAllString(text, "$3")
		text = strings.ReplaceAll(text, "``", "")
		text = strings.ReplaceAll(text, "**", "")
		text = token.ReplaceAllStringFunc(text, codeToken)
		if text != "" {
			para = append(para, text)
		}
	}
	flush()
	return out.Bytes()
}

// pronunciation is the Jargon File's way of saying a word,
// "/at'si:n par`tee/".
var pronunciation = regexp.MustCompile("(^| )/[^/ ]*['`:\u00b7][^/]*/")

// Jargon returns the prose of the Jargon File (public domain), a
// paragraph per line, from its plain-text edition: the paragraphs indented
// as prose after the table of contents, without the headwords of its
// lexicon, lists, examples indented otherwise, tables, the braces of its
// cross-references, pronunciations, or tokens of letters and digits
// together ("40MHz"), as the Python documentation's prose is without
// them.
func Jargon(path string) ([]byte, error) {
	b, err := readGzip(path)
	if err != nil {
		return nil, err
	}
	return jargonProse(b), nil
}

// jargonProse is the prose of the Jargon File's plain-text edition, a
// paragraph per line.
func jargonProse(b []byte) []byte {
	// The text starts where the table of contents, which names it
	// first, names it again as a heading.
	const start = "Welcome to the Jargon File"
	if i := bytes.Index(b, []byte(start)); i >= 0 {
		if j := bytes.Index(b[i+len(start):], []byte(start)); j >= 0 {
			b = b[i+len(start)+j:]
		}
	}
	var out bytes.Buffer
	for _, para := range bytes.Split(b, []byte("\n\n")) {
		prose := true
		for line := range bytes.Lines(bytes.Trim(para, "\n")) {
			if !bytes.HasPrefix(line, []byte("   ")) || len(line) < 4 || line[3] == ' ' {
				prose = false // a heading, an example, a list or a table
				break
			}
		}
		words := bytes.Fields(para)
		if !prose || len(words) < 4 || words[0][0] == ':' {
			continue // a heading of the contents, or a headword
		}
		line := bytes.Join(words, []byte(" "))
		line = bytes.ReplaceAll(line, []byte("{"), nil)
		line = bytes.ReplaceAll(line, []byte("}"), nil)
		line = pronunciation.ReplaceAll(line, nil)
		line = token.ReplaceAllFunc(line, func(t []byte) []byte { return []byte(codeToken(string(t))) })
		out.Write(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}
