package model

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The trained statistics live in one generated file, english.bin:
//
//	magic        "PIPECLI2"
//	unigrams     256 bytes, the cost of each byte value
//	quadgrams    27^4 bytes, the cost of each quadgram of symbols (see symbolOf)
//	words        text, one "word count\n" per line, most frequent first: the
//	             count in the training text, 0 for a word only the word
//	             list has
//
// A cost is -log10(p) times costScale, rounded and capped at 255, so the table
// stays small (about 1.5 MB with the word list) and the file is byte-for-byte
// reproducible: only integers reach the file, never platform-dependent float
// formatting.
const (
	tableMagic = "PIPECLI2"
	costScale  = 32
	nSymbols   = 27 // a-z and the word boundary
	boundary   = 26
	nQuads     = nSymbols * nSymbols * nSymbols * nSymbols
)

// symbolOf folds case and turns every non-letter (digits, punctuation,
// spaces, non-ASCII bytes) into the boundary symbol, so quadgrams see words
// with their edges: "the" scores differently at the start of a word.
var symbolOf = func() (t [256]byte) {
	for i := range t {
		t[i] = boundary
	}
	for i := range 26 {
		t['a'+i] = byte(i)
		t['A'+i] = byte(i)
	}
	return t
}()

// Train computes the statistics file from English text and, if wordList is
// not nil, a word list of one word per line. scripts/train runs it on the
// Opticks shipped with Go and Debian's /usr/share/dict/american-english
// (package wamerican), and a test checks that doing so reproduces the
// embedded english.bin exactly.
//
// Opticks is a book of 1704 on light: it lacks the vocabulary of modern
// text (copy, program, public, license, software), so on its own the
// solver took consistent letter swaps ("Publim Limense") for English. The
// word list supplies that vocabulary; its words enter with count 0, and
// parseStats gives them a pseudo-count (listCount) and their spellings to
// the vocabulary's quadgram model (typeCounts).
func Train(r io.Reader, wordList io.Reader) ([]byte, error) {
	br := bufio.NewReader(r)
	var (
		unigrams  [256]int64
		nBytes    int64
		quads     = make([]int64, nQuads)
		quadTotal int64
		words     = map[string]int64{}
		word      []byte
		last      = [3]byte{boundary, boundary, boundary}
		filled    = 1 // the text starts at a word boundary
	)
	endWord := func() {
		if len(word) > 0 {
			words[string(word)]++
			word = word[:0]
		}
	}
	for {
		b, err := br.ReadByte()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read training text: %w", err)
		}
		unigrams[b]++
		nBytes++
		s := symbolOf[b]
		if s == boundary {
			endWord()
			if last[2] == boundary {
				continue // runs of non-letters are one boundary
			}
		} else {
			word = append(word, 'a'+s)
		}
		if filled >= 3 {
			quads[quadIndex(last[0], last[1], last[2], s)]++
			quadTotal++
		} else {
			filled++
		}
		last = [3]byte{last[1], last[2], s}
	}
	endWord()
	if quadTotal == 0 {
		return nil, errors.New("training text has no letters")
	}
	if wordList != nil {
		if err := readWordList(wordList, words); err != nil {
			return nil, err
		}
	}

	var out bytes.Buffer
	out.WriteString(tableMagic)
	for _, n := range unigrams {
		out.WriteByte(cost(n, nBytes))
	}
	for _, n := range quads {
		out.WriteByte(cost(n, quadTotal))
	}
	type wc struct {
		w string
		n int64
	}
	list := make([]wc, 0, len(words))
	for w, n := range words {
		list = append(list, wc{w, n})
	}
	slices.SortFunc(list, func(a, b wc) int {
		return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.w, b.w))
	})
	for _, e := range list {
		out.WriteString(e.w)
		out.WriteByte(' ')
		out.WriteString(strconv.FormatInt(e.n, 10))
		out.WriteByte('\n')
	}
	return out.Bytes(), nil
}

// readWordList adds the words of a word list to words with count 0,
// leaving counted words alone. Only words of ASCII letters alone, lower case
// in the list, are taken: the list's possessives ("dog's") would be two
// words to symbolOf, and its proper nouns and abbreviations ("Ag", "Zr"),
// folded to lower case, would make gibberish known words.
func readWordList(r io.Reader, words map[string]int64) error {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if w := strings.TrimSpace(line); isLowerWord(w) {
			if _, ok := words[w]; !ok {
				words[w] = 0
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read word list: %w", err)
		}
	}
}

func isLowerWord(w string) bool {
	for i := 0; i < len(w); i++ {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	return w != ""
}

func quadIndex(a, b, c, d byte) int {
	return ((int(a)*nSymbols+int(b))*nSymbols+int(c))*nSymbols + int(d)
}

// cost quantises -log10(n/total). Unseen events get the probability of a
// hundredth of one occurrence, the usual floor for quadgram scoring.
func cost(n, total int64) byte {
	p := float64(n) / float64(total)
	if n == 0 {
		p = 0.01 / float64(total)
	}
	c := math.Round(-math.Log10(p) * costScale)
	return byte(min(c, 255))
}
