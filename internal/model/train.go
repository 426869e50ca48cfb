package model

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// The trained statistics live in one generated file, english.bin:
//
//	magic      "PIPECLI4"
//	unigrams   256 bytes, the cost of each byte value in running text
//	letters    27^4 bytes, the cost of each symbol (see symbolOf) given
//	           the three before it: log10 P(d | abc)
//	initials   26 bytes, the cost of each letter a-z as a person's
//	           initial ("J." in "J. R. R. Tolkien")
//	words      uvarint n, then n words, most probable first, each as
//	           uvarint length, its letters and apostrophes, its cost, its
//	           flags (wordName) and its backoff as a signed byte
//	pairs      for each word i in order, and one more, a uint32: the index
//	           of the first pair of word i (so the pairs of word i run to
//	           that of word i+1); then the pairs, each 4 bytes: the second
//	           word as a 24-bit index and a signed byte, log10 P(second |
//	           first) / P(second), the n-gram model's and the running
//	           text's mixed (PairShare). A pair is listed when the second
//	           word follows the first more or less often than the first's
//	           backoff says; the pairs of a word are in order of the second.
//	           Fixed widths let the solver search the pairs where they lie
//	           in the binary, with nothing to decode at start-up.
//	triples    likewise by first word, a uint32 each and one more, then
//	           6 bytes a triple: the second and third words' indices and
//	           log10 P(third | first second) / P(third | second), for the
//	           triples well above what their last pair says (writeTriples)
//
// Integers are little-endian. A cost is -log10(p) times costScale, rounded and capped at 255; signed
// bytes hold log10 values times pairScale. Only integers reach the file,
// never platform-dependent float formatting, so it is byte-for-byte
// reproducible.
const (
	tableMagic = "PIPECLI4"
	costScale  = 32
	pairScale  = 16
	nSymbols   = 27 // a-z and the word boundary
	boundary   = 26
	nQuads     = nSymbols * nSymbols * nSymbols * nSymbols
	// apostrophe is the symbol of ' inside a word, in word lookups only:
	// letter statistics see it as a boundary.
	apostrophe = 26
)

// Word flags.
const (
	wordName = 1 << iota // written capitalised, not in lower case
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

// TrainData is what Train learns from; scripts/train gathers it from
// Debian's packages (see package corpus).
type TrainData struct {
	// Text is running English: it gives the frequencies of bytes, which
	// tell shifts apart, and of letter sequences, a share of each word's
	// probability (TextShare), and the words it uses often that Words and
	// List lack.
	Text []byte
	// Words are lower-case words of letters and inner apostrophes with
	// their log10 probability in running English: the unigrams of a word
	// n-gram model. Other entries are skipped.
	Words []WordProb
	// Backoff is the log10 backoff weight of each word of Words as the
	// first of a pair, and Bigrams the pairs the n-gram model knows: a pair
	// it does not list has P(second | first) = Backoff[first] × P(second).
	Backoff []float64
	Bigrams []Bigram
	// Trigrams are the triples of words the n-gram model knows, with
	// log10 P(third | first second) and P(third | second).
	Trigrams []Trigram
	// TextShare is the running text's share in each word's probability,
	// the rest the n-gram model's: the model learnt from speech ("just"
	// 15 times as often as "must"), the books are written.
	TextShare float64
	// PairShare is the running text's share in each pair's probability,
	// P(second | first), the rest the n-gram model's: the model learnt
	// which words follow which from speech, and the books know "your ox"
	// and "pour oil".
	PairShare float64
	// GivenNames are people's given names and initials, one per line:
	// the letters they begin with are those of initials ("J. R. R.
	// Tolkien").
	GivenNames []byte
	// List is a word list, one word per line as it is written. A word it
	// has only capitalised is a name; its words missing from Words join
	// the vocabulary as rare words.
	List []byte
}

// WordProb is a word and its log10 probability.
type WordProb struct {
	Word string
	LogP float64
}

// Bigram is log10 P(Second | First), words given by index in
// TrainData.Words.
type Bigram struct {
	First, Second int32
	LogP          float64
}

// Trigram is log10 P(C | A B) and P(C | B), words given by index in
// TrainData.Words.
type Trigram struct {
	A, B, C      int32
	LogP, Bigram float64
}

// Training choices, tuned on the development set (see scripts/tune).
const (
	// listLogP is the log10 probability of a word only the word list
	// has: rarer than the n-gram model's rarest words.
	listLogP = -7.5
	// pairKeep drops a pair whose association is within pairKeep of what
	// its first word's backoff predicts: the solver's fallback says the
	// same, and the table stays small.
	pairKeep = 0.5
	// pairMinLogP drops pairs of rare words: a pair only counts when both
	// its words are at least this probable.
	pairMinLogP = -6.0
	// textWordMin: a word of the running text that neither the n-gram
	// model nor the word list knows joins the vocabulary, as a rare
	// word, once the text uses it this many times ("iterable",
	// "namespace"). With the Python documentation among the texts, 5 took
	// the manual pages of the development set from 74.7% of lines exact
	// to 78.6%, and 20 kept less of that.
	textWordMin = 5
	// textPairMin: a pair of words the running text has this many times
	// may be listed among the pairs (with PairShare).
	textPairMin = 2
	// tripleKeep keeps a triple whose last word is at least this much
	// (log10) more likely after the first two than after the second.
	tripleKeep = 0.7
	// Shares of the three letter models in the letter table: words
	// weighted by frequency (what running text looks like), the training
	// text itself, and every word of the vocabulary once (what unseen words
	// look like).
	tokenWeight = 0.4
	textWeight  = 0.2
	typeWeight  = 0.4
)

// Train computes the statistics file from d. scripts/train runs it on the
// sources of package corpus, and a test there checks that doing so
// reproduces the embedded english.bin exactly.
func Train(d TrainData) ([]byte, error) {
	var unigrams [256]int64
	for _, b := range d.Text {
		unigrams[b]++
	}
	text := make([]float64, nQuads)
	if addQuads(text, d.Text, 1) == 0 {
		return nil, errors.New("training text has no letters")
	}
	vocab, err := vocabulary(d)
	if err != nil {
		return nil, err
	}
	tokens := make([]float64, nQuads)
	types := make([]float64, nQuads)
	for _, w := range vocab {
		spelling := []byte(w.word)
		addQuads(tokens, spelling, math.Pow(10, w.logp)*1e9)
		addQuads(types, spelling, 1)
	}
	pt, px, py := wittenBell(tokens), wittenBell(text), wittenBell(types)

	var out bytes.Buffer
	out.WriteString(tableMagic)
	for _, n := range unigrams {
		out.WriteByte(cost(float64(n)/float64(len(d.Text)), 0.01/float64(len(d.Text))))
	}
	for i := range nQuads {
		out.WriteByte(cost(tokenWeight*pt[i]+textWeight*px[i]+typeWeight*py[i], 0))
	}
	var initials [26]float64
	var names float64
	for name := range bytes.Lines(d.GivenNames) {
		if c := symbolOf[name[0]]; c < 26 {
			initials[c]++
			names++
		}
	}
	if names == 0 {
		return nil, errors.New("no given names to learn initials from")
	}
	for _, n := range initials {
		// Add-3 smoothing: every letter can be an initial ("X. Y. Zhang").
		out.WriteByte(cost((n+3)/(names+3*26), 0))
	}
	at := vocabIndex(d, vocab)
	follow := pairLists(d, vocab, at)
	out.Write(binary.AppendUvarint(nil, uint64(len(vocab))))
	for _, w := range vocab {
		out.Write(binary.AppendUvarint(nil, uint64(len(w.word))))
		out.WriteString(w.word)
		out.WriteByte(cost(math.Pow(10, w.logp), 0))
		out.WriteByte(w.flags)
		out.WriteByte(byte(signed(w.backoff)))
	}
	writePairs(&out, follow)
	if err := writeTriples(&out, d, vocab, at); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// addQuads adds weight to the count of every quadgram of text's symbols,
// runs of non-letters being one boundary, with a boundary before and after,
// and returns the number of quadgrams.
func addQuads(counts []float64, text []byte, weight float64) int {
	a, b, c := byte(boundary), byte(boundary), byte(boundary)
	n := 0
	for _, x := range text {
		d := symbolOf[x]
		if d == boundary && c == boundary {
			continue
		}
		counts[quadIndex(a, b, c, d)] += weight
		n++
		a, b, c = b, c, d
	}
	if c != boundary {
		counts[quadIndex(a, b, c, boundary)] += weight
		n++
	}
	return n
}

// entry is a word of the vocabulary being trained.
type entry struct {
	word  string
	logp  float64
	flags byte
	// backoff is the n-gram model's log10 backoff weight, then, once
	// pairLists has mixed in the text's, the association of a pair not
	// listed.
	backoff float64
	index   int32 // in TrainData.Words, or -1
	// model is log10 P of the word before the running text's share was
	// mixed in, and text its probability in the running text.
	model, text float64
}

// vocabulary merges the n-gram model's words and the word list's, most
// probable first.
func vocabulary(d TrainData) ([]entry, error) {
	if len(d.Backoff) != len(d.Words) {
		return nil, fmt.Errorf("%d backoff weights for %d words", len(d.Backoff), len(d.Words))
	}
	lower, capital := map[string]bool{}, map[string]bool{}
	for line := range bytes.Lines(d.List) {
		w := string(bytes.TrimSpace(line))
		switch {
		case isWord(w):
			lower[w] = true
		case len(w) > 1 && 'A' <= w[0] && w[0] <= 'Z' && isWord(w[1:]):
			capital[strings.ToLower(w)] = true
		}
	}
	known := map[string]bool{}
	var vocab []entry
	for i, w := range d.Words {
		if !isWord(w.Word) || known[w.Word] {
			continue
		}
		vocab = append(vocab, entry{word: w.Word, logp: w.LogP, backoff: d.Backoff[i], index: int32(i)})
		known[w.Word] = true
	}
	for _, set := range []map[string]bool{lower, capital} {
		for w := range set {
			if !known[w] {
				vocab = append(vocab, entry{word: w, logp: listLogP, index: -1})
				known[w] = true
			}
		}
	}
	counts, lowers := map[string]int{}, map[string]int{}
	for _, w := range textWordsOf(d.Text) {
		counts[w.word]++
		if w.lower {
			lowers[w.word]++
		}
	}
	for w, n := range counts {
		if n >= textWordMin && !known[w] {
			e := entry{word: w, logp: listLogP, index: -1}
			if 2*lowers[w] < n {
				e.flags |= wordName // mostly capitalised: "Python", "BC"
			}
			vocab = append(vocab, e)
			known[w] = true
		}
	}
	if len(vocab) >= 1<<24 {
		return nil, fmt.Errorf("%d words: pairs index words in 24 bits", len(vocab))
	}
	for i := range vocab {
		if capital[vocab[i].word] && !lower[vocab[i].word] {
			vocab[i].flags |= wordName
		}
	}
	mixTextWords(vocab, d.Text, d.TextShare)
	slices.SortFunc(vocab, func(a, b entry) int {
		return cmp.Or(cmp.Compare(b.logp, a.logp), cmp.Compare(a.word, b.word))
	})
	if len(vocab) == 0 {
		return nil, errors.New("no words")
	}
	return vocab, nil
}

// mixTextWords mixes into each word's probability its frequency in the
// running text, a share of share.
func mixTextWords(vocab []entry, text []byte, share float64) {
	at := make(map[string]int, len(vocab))
	for i, e := range vocab {
		at[e.word] = i
	}
	counts := make([]float64, len(vocab))
	var total float64
	for _, w := range textWordsOf(text) {
		if i, ok := at[w.word]; ok {
			counts[i]++
			total++
		}
	}
	for i := range vocab {
		p := (counts[i] + 0.5) / (total + 0.5*float64(len(vocab)))
		vocab[i].model, vocab[i].text = vocab[i].logp, p
		if share != 0 {
			vocab[i].logp = math.Log10((1-share)*math.Pow(10, vocab[i].logp) + share*p)
		}
	}
}

// textWord is a word of the running text, in lower case, and whether it
// was written so.
type textWord struct {
	word  string
	lower bool
}

// textWordsOf splits text into lower-case words of letters and inner
// apostrophes, as the solver reads them.
func textWordsOf(text []byte) []textWord {
	return slices.DeleteFunc(textTokens(text), func(w textWord) bool { return w.word == "" })
}

// textTokens is textWordsOf with an empty word wherever a sentence break
// (sentenceBreaks) parts two words, as it ends the solver's chain of
// pairs.
func textTokens(text []byte) []textWord {
	var words []textWord
	var w []byte
	lower := false
	for i, c := range text {
		switch {
		case symbolOf[c] != boundary:
			if len(w) == 0 {
				lower = 'a' <= c && c <= 'z'
			}
			w = append(w, 'a'+symbolOf[c])
		case c == '\'' && len(w) > 0 && i+1 < len(text) && symbolOf[text[i+1]] != boundary:
			w = append(w, c)
		default:
			if len(w) > 0 {
				words = append(words, textWord{string(w), lower})
				w = w[:0]
			}
			if strings.IndexByte(sentenceBreaks, c) >= 0 && len(words) > 0 && words[len(words)-1].word != "" {
				words = append(words, textWord{})
			}
		}
	}
	if len(w) > 0 {
		words = append(words, textWord{string(w), lower})
	}
	return words
}

// vocabIndex maps the index of each of d.Words to its index in vocab, or
// -1.
func vocabIndex(d TrainData, vocab []entry) []int32 {
	at := make([]int32, len(d.Words))
	for i := range at {
		at[i] = -1
	}
	for i, e := range vocab {
		if e.index >= 0 {
			at[e.index] = int32(i)
		}
	}
	return at
}

// pair is a listed pair: its second word and their association.
type pair struct {
	second int32
	assoc  int8
}

// pairLists returns the listed pairs of each word, and sets each word's
// backoff, the association of a pair not listed.
func pairLists(d TrainData, vocab []entry, at []int32) [][]pair {
	// The n-gram model's P(second | first): a listed bigram, or the
	// first's backoff times P(second).
	model := make(map[uint64]float64, len(d.Bigrams))
	for _, b := range d.Bigrams {
		if b.First < 0 || int(b.First) >= len(at) || b.Second < 0 || int(b.Second) >= len(at) {
			continue
		}
		if f, s := at[b.First], at[b.Second]; f >= 0 && s >= 0 {
			model[uint64(f)<<32|uint64(s)] = b.LogP
		}
	}
	modelBackoff := func(f int32) float64 {
		if vocab[f].index < 0 {
			return 0
		}
		return vocab[f].backoff
	}
	modelCond := func(f, s int32) float64 {
		if p, ok := model[uint64(f)<<32|uint64(s)]; ok {
			return math.Pow(10, p)
		}
		return math.Pow(10, modelBackoff(f)+vocab[s].model)
	}
	// The running text's, with Witten-Bell smoothing towards the text's
	// P(second).
	counts, firsts, followers := textPairs(d.Text, vocab)
	textCond := func(f, s int32) float64 {
		n, t := firsts[f], followers[f]
		if n == 0 {
			return vocab[s].text
		}
		return (counts[uint64(f)<<32|uint64(s)] + t*vocab[s].text) / (n + t)
	}
	share := d.PairShare
	// backoff is the association of a pair listed nowhere, as if the
	// second word were as probable in speech as in the text.
	backoff := make([]float64, len(vocab))
	for f := range vocab {
		bo := modelBackoff(int32(f))
		if share > 0 {
			textBo := 1.0
			if firsts[f] > 0 {
				textBo = followers[f] / (firsts[f] + followers[f])
			}
			bo = math.Log10((1-share)*math.Pow(10, bo) + share*textBo)
		}
		backoff[f] = bo
	}
	follow := make([][]pair, len(vocab))
	add := func(f, s int32) {
		if vocab[f].logp < pairMinLogP || vocab[s].logp < pairMinLogP {
			return
		}
		var assoc float64
		if share == 0 {
			assoc = math.Log10(modelCond(f, s)) - vocab[s].logp
		} else {
			assoc = math.Log10((1-share)*modelCond(f, s)+share*textCond(f, s)) - vocab[s].logp
		}
		if math.Abs(assoc-backoff[f]) < pairKeep {
			return
		}
		follow[f] = append(follow[f], pair{s, signed(assoc)})
	}
	for k := range model {
		if share == 0 || counts[k] < textPairMin {
			add(int32(k>>32), int32(uint32(k)))
		}
	}
	if share > 0 {
		for k, n := range counts {
			if n >= textPairMin {
				add(int32(k>>32), int32(uint32(k)))
			}
		}
	}
	for _, list := range follow {
		slices.SortFunc(list, func(a, b pair) int { return cmp.Compare(a.second, b.second) })
	}
	for f := range vocab {
		vocab[f].backoff = backoff[f]
	}
	return follow
}

// writePairs writes the pairs section, see Train.
func writePairs(out *bytes.Buffer, follow [][]pair) {
	writeStarts(out, follow)
	for _, list := range follow {
		for _, p := range list {
			out.Write([]byte{byte(p.second), byte(p.second >> 8), byte(p.second >> 16), byte(p.assoc)})
		}
	}
}

// textPairs counts the pairs of vocabulary words that follow each other
// in text with no sentence break between them, as the solver pairs them,
// by first<<32 | second; and for each word, how many pairs it begins and
// with how many distinct second words.
func textPairs(text []byte, vocab []entry) (counts map[uint64]float64, firsts, followers []float64) {
	at := make(map[string]int32, len(vocab))
	for i, e := range vocab {
		at[e.word] = int32(i)
	}
	counts = map[uint64]float64{}
	firsts, followers = make([]float64, len(vocab)), make([]float64, len(vocab))
	prev := int32(-1)
	for _, w := range textTokens(text) {
		i, ok := at[w.word]
		if !ok {
			prev = -1
			continue
		}
		if prev >= 0 {
			k := uint64(prev)<<32 | uint64(i)
			if counts[k] == 0 {
				followers[prev]++
			}
			counts[k]++
			firsts[prev]++
		}
		prev = i
	}
	return counts, firsts, followers
}

// isWord reports whether w is lower-case letters with apostrophes only
// between letters, as the solver reads words.
func isWord(w string) bool {
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case 'a' <= c && c <= 'z':
		case c == '\'' && i > 0 && i < len(w)-1 && w[i+1] != '\'':
		default:
			return false
		}
	}
	return w != ""
}

func quadIndex(a, b, c, d byte) int {
	return ((int(a)*nSymbols+int(b))*nSymbols+int(c))*nSymbols + int(d)
}

// cost quantises -log10(p), p replaced by floor when it is 0.
func cost(p, floor float64) byte {
	if p <= 0 {
		p = floor
	}
	if p <= 0 {
		return 255
	}
	c := math.Round(-math.Log10(p) * costScale)
	return byte(min(max(c, 0), 255))
}

// signed quantises a log10 value to a signed byte.
func signed(v float64) int8 {
	return int8(min(max(math.Round(v*pairScale), -127), 127))
}

// wittenBell turns quadgram counts into conditional probabilities
// P(d|abc) with interpolated Witten-Bell smoothing: the quadgram count is
// mixed with P(d|bc) in proportion to how many distinct symbols follow abc,
// and so on down to P(d). A further backoffFloor of each level's mass goes
// to the level below, because held-out English uses letter sequences the
// training never does.
func wittenBell(c4 []float64) []float64 {
	const n1, n2, n3 = nSymbols, nSymbols * nSymbols, nSymbols * nSymbols * nSymbols
	var c3 [n3]float64 // bcd, summed over a
	var c2 [n2]float64 // cd
	var c1 [n1]float64 // d
	for i, c := range c4 {
		c3[i%n3] += c
		c2[i%n2] += c
		c1[i%n1] += c
	}
	witten := func(out, counts, lower []float64) {
		var sum, distinct float64
		for _, c := range counts {
			sum += c
			if c > 0 {
				distinct++
			}
		}
		for d, c := range counts {
			if sum == 0 {
				out[d] = lower[d]
			} else {
				out[d] = (1-backoffFloor)*(c+distinct*lower[d])/(sum+distinct) + backoffFloor*lower[d]
			}
		}
	}
	uniform := make([]float64, n1)
	for i := range uniform {
		uniform[i] = 1.0 / n1
	}
	p1 := make([]float64, n1)
	witten(p1, c1[:], uniform)
	p2 := make([]float64, n2)
	for c := range n1 {
		witten(p2[c*n1:(c+1)*n1], c2[c*n1:(c+1)*n1], p1)
	}
	p3 := make([]float64, n3)
	for bc := range n2 {
		witten(p3[bc*n1:(bc+1)*n1], c3[bc*n1:(bc+1)*n1], p2[(bc%n1)*n1:])
	}
	p4 := make([]float64, nQuads)
	for abc := range n3 {
		witten(p4[abc*n1:(abc+1)*n1], c4[abc*n1:(abc+1)*n1], p3[(abc%n2)*n1:])
	}
	return p4
}

// backoffFloor, see wittenBell: 0.1 did best on the licences with the
// earlier tables.
const backoffFloor = 0.1

// tripleBits is the width of each word's index in a triple, and
// tripleSize a triple's size in the file.
const (
	tripleBits = 17
	tripleSize = 6
)

// writeTriples writes the triples section: the triples of common words
// that the n-gram model finds at least tripleKeep more likely than their
// last pair says. Like the pairs, they are grouped by their first word: a
// uint32 per word of vocab and one more, the index of its first triple;
// then the triples, 6 bytes each, in order of their first word and then
// of the rest: the second and third words' indices in tripleBits each and
// log10 P(c | a b) / P(c | b) as a signed byte, little-endian. The solver
// counts every other triple as 0.
func writeTriples(out *bytes.Buffer, d TrainData, vocab []entry, at []int32) error {
	if len(vocab) > 1<<tripleBits {
		return fmt.Errorf("%d words: triples index at most %d", len(vocab), 1<<tripleBits)
	}
	rest := make([][]uint64, len(vocab))
	for _, t := range d.Trigrams {
		if t.A < 0 || int(t.A) >= len(at) || t.B < 0 || int(t.B) >= len(at) || t.C < 0 || int(t.C) >= len(at) {
			continue
		}
		a, b, c := at[t.A], at[t.B], at[t.C]
		if a < 0 || b < 0 || c < 0 || vocab[a].logp < pairMinLogP || vocab[c].logp < pairMinLogP {
			continue
		}
		if assoc := t.LogP - t.Bigram; assoc >= tripleKeep {
			rest[a] = append(rest[a], (uint64(b)<<tripleBits|uint64(c))<<8|uint64(byte(signed(assoc))))
		}
	}
	writeStarts(out, rest)
	for _, list := range rest {
		slices.Sort(list)
		for _, v := range list {
			out.Write(binary.LittleEndian.AppendUint64(nil, v)[:tripleSize])
		}
	}
	return nil
}

// writeStarts writes the start table of a section grouped by word: for each
// list, the index of its first entry among all the lists' entries, and
// one more, their number.
func writeStarts[T any](out *bytes.Buffer, lists [][]T) {
	var start uint32
	for _, list := range lists {
		out.Write(binary.LittleEndian.AppendUint32(nil, start))
		start += uint32(len(list))
	}
	out.Write(binary.LittleEndian.AppendUint32(nil, start))
}
