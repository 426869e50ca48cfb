package corpus

import (
	"bytes"
	_ "embed"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A Text is a running text the model is trained on, a paragraph per
// line.
type Text struct {
	Name string
	read func() ([]byte, error) // all of it
}

// Texts are the running texts of training, in the order training reads
// them: the World English Bible, WordNet's glosses, The Devil's Dictionary,
// the Python documentation's prose, the King James Version and the
// Jargon File.
var Texts = []Text{
	{"web", func() ([]byte, error) { return Bible(BibleDir) }},
	{"wordnet", func() ([]byte, error) { return WordNet(WordNetDir) }},
	{"devil", func() ([]byte, error) { return Devil(DevilDict) }},
	{"python", func() ([]byte, error) { return PythonDocs(PythonDocDir) }},
	{"kjv", func() ([]byte, error) { return Bible(KJVDir) }},
	{"jargon", func() ([]byte, error) { return Jargon(JargonFile) }},
}

// Read returns t less the paragraphs that share a run of words with a
// fortune file (see Overlap), which scripts/eval measures on: all of them
// are quoted there, the Bible and Bierce the most.
func (t Text) Read() ([]byte, error) {
	b, err := t.read()
	if err != nil {
		return nil, err
	}
	return drop(t.Name, b), nil
}

// RunWords is how many words in a row a paragraph of a training text may
// share with a fortune file before it is left out.
const RunWords = 8

// overlapList is what Overlap wrote: the paragraphs of the training texts
// that quote a fortune file, which those texts leave out. It is kept in
// the source tree so that training needs no fortune file, and reads none.
//
//go:embed overlap.txt
var overlapList string

// drop leaves out of text, a paragraph per line, the lines overlapList
// lists for source.
func drop(source string, text []byte) []byte {
	listed := map[string]bool{}
	for line := range strings.Lines(overlapList) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == source {
			listed[f[1]] = true
		}
	}
	var out bytes.Buffer
	for line := range bytes.Lines(text) {
		if !listed[paraHash(bytes.TrimSuffix(line, []byte("\n")))] {
			out.Write(line)
		}
	}
	return out.Bytes()
}

// paraHash names a paragraph in overlapList.
func paraHash(para []byte) string {
	h := fnv.New64a()
	h.Write(para)
	return fmt.Sprintf("%016x", h.Sum64())
}

// Overlap makes overlapList: every paragraph of the texts that leave
// out what it lists that shares RunWords words in a row (letters and
// digits, case aside) with a fortune file under dir, the texts scripts/eval
// measures on, one a line as its source, its hash and its first words.
// It also returns how many paragraphs each source has and how many it
// leaves out.
func Overlap(dir string) (list []byte, counts map[string][2]int, err error) {
	runs, err := fortuneRuns(dir)
	if err != nil {
		return nil, nil, err
	}
	var out bytes.Buffer
	out.WriteString("# Paragraphs of the training texts that share " + fmt.Sprint(RunWords) + " words in a row with a fortune\n# file, left out of training: go run ./scripts/overlap writes this file.\n")
	counts = map[string][2]int{}
	for _, src := range Texts {
		text, err := src.read()
		if err != nil {
			return nil, nil, err
		}
		seen := map[string]bool{}
		var c [2]int
		for line := range bytes.Lines(text) {
			para := bytes.TrimSuffix(line, []byte("\n"))
			c[0]++
			if !SharesRun(para, runs) {
				continue
			}
			c[1]++
			h := paraHash(para)
			if seen[h] {
				continue
			}
			seen[h] = true
			first := strings.Fields(string(para))
			first = first[:min(len(first), 8)]
			fmt.Fprintf(&out, "%s %s %s\n", src.Name, h, strings.Join(first, " "))
		}
		counts[src.Name] = c
	}
	return out.Bytes(), counts, nil
}

// fortuneRuns is every run of RunWords words in the fortune files under
// dir (all of them, in every encoding; not their .dat indexes).
func fortuneRuns(dir string) (map[uint64]bool, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && !strings.HasSuffix(path, ".dat") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no fortune files; install them with: apt-get install fortunes fortunes-min", dir)
	}
	slices.Sort(files)
	runs := map[uint64]bool{}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		w := words(b)
		for i := 0; i+RunWords <= len(w); i++ {
			runs[runHash(w[i:i+RunWords])] = true
		}
	}
	return runs, nil
}

// SharesRun says whether para has a run of RunWords words among runs.
func SharesRun(para []byte, runs map[uint64]bool) bool {
	w := words(para)
	for i := 0; i+RunWords <= len(w); i++ {
		if runs[runHash(w[i:i+RunWords])] {
			return true
		}
	}
	return false
}

// words are the runs of letters and digits of b, in lower case; an
// apostrophe, typographic or not, is left out ("don't" is "dont").
func words(b []byte) []string {
	b = bytes.ReplaceAll(Plain(b), []byte("'"), nil)
	return strings.FieldsFunc(strings.ToLower(string(b)), func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9')
	})
}

// runHash is a run of words' key among the runs.
func runHash(w []string) uint64 {
	h := fnv.New64a()
	for _, s := range w {
		h.Write([]byte(s))
		h.Write([]byte{' '})
	}
	return h.Sum64()
}
