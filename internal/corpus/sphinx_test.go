package corpus

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// sphinxPath is where Debian's package pocketsphinx-en-us puts its model.
const sphinxPath = "/usr/share/pocketsphinx/model/en-us/en-us.lm.bin"

var sphinxOnce = sync.OnceValues(func() (*SphinxModel, error) { return ReadSphinxLM(sphinxPath) })

// sphinxModel reads sphinxPath once for all the tests, or skips the test
// when the package is not installed.
func sphinxModel(t testing.TB) *SphinxModel {
	t.Helper()
	if _, err := os.Stat(sphinxPath); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s is absent; apt-get install pocketsphinx-en-us to run this test", sphinxPath)
	}
	lm, err := sphinxOnce()
	if err != nil {
		t.Fatal(err)
	}
	return lm
}

func sphinxIDs(lm *SphinxModel) map[string]int32 {
	ids := make(map[string]int32, len(lm.Words))
	for i, w := range lm.Words {
		ids[w] = int32(i)
	}
	return ids
}

// close enough: sphinx_lm_convert prints 4 decimals, and the python
// binding's probabilities are whole logmath units, 4.3e-5 in log10.
const sphinxTol = 1e-3

func TestSphinxUnigrams(t *testing.T) {
	lm := sphinxModel(t)
	if len(lm.Words) != 72547 || len(lm.Prob) != 72547 || len(lm.Backoff) != 72547 {
		t.Fatalf("%d words, %d probs, %d backoffs; want 72547 of each", len(lm.Words), len(lm.Prob), len(lm.Backoff))
	}
	ids := sphinxIDs(lm)
	if len(ids) != len(lm.Words) {
		t.Errorf("%d distinct words among %d", len(ids), len(lm.Words))
	}
	// From the \1-grams section that sphinx_lm_convert -ofmt arpa writes
	// (before it fails an assertion on the bigrams), which all 72547
	// unigrams matched to within 5e-5.
	for _, u := range []struct {
		word     string
		prob, bo float32
	}{
		{"the", -1.3895, -0.5416},
		{"of", -1.7412, -0.2347},
		{"love", -3.2559, -0.6640},
		{"juliet", -5.6788, -0.2240},
		{"we", -2.3461, -1.4330},
		{"me", -2.5324, -0.8430},
		{"'bout", -6.2831, -0.0754},
		{"zyuganov's", -8.7454, 0},
		{"<s>", -99, -1.3321}, // never predicted
		{"</s>", -1.1261, 0},  // never a history
	} {
		id, ok := ids[u.word]
		if !ok {
			t.Errorf("no word %q", u.word)
			continue
		}
		if p, bo := lm.Prob[id], lm.Backoff[id]; math.Abs(float64(p-u.prob)) > sphinxTol || math.Abs(float64(bo-u.bo)) > sphinxTol {
			t.Errorf("%q: prob %.4f backoff %.4f, want %.4f %.4f", u.word, p, bo, u.prob, u.bo)
		}
	}
	// The words are sorted bytewise, lower case, and have no
	// unknown-word token.
	if !slices.IsSorted(lm.Words) {
		t.Errorf("the words are not sorted")
	}
	if lm.Words[0] != "'bout" || lm.Words[len(lm.Words)-1] != "zyuganov's" {
		t.Errorf("words run from %q to %q, want 'bout to zyuganov's", lm.Words[0], lm.Words[len(lm.Words)-1])
	}
	for _, w := range lm.Words {
		if w != "<s>" && w != "</s>" && strings.ToLower(w) != w {
			t.Errorf("word %q is not lower case", w)
		}
	}
	if _, ok := ids["<UNK>"]; ok {
		t.Errorf("<UNK> is a word")
	}
	// The unigram distribution sums to 1.
	sum := 0.0
	for _, p := range lm.Prob {
		sum += math.Pow(10, float64(p))
	}
	if math.Abs(sum-1) > 1e-3 {
		t.Errorf("unigram probabilities sum to %v", sum)
	}
}

func TestSphinxBigrams(t *testing.T) {
	lm := sphinxModel(t)
	// The header says 2,051,547 bigrams, but its builder overcounted:
	// the unigrams reach 2,051,541 and the last 6 slots are empty.
	if n := len(lm.Bigrams); n != 2051541 {
		t.Fatalf("%d bigrams, want 2051541", n)
	}
	nw := int32(len(lm.Words))
	for i, b := range lm.Bigrams {
		if b.W1 < 0 || b.W1 >= nw || b.W2 < 0 || b.W2 >= nw {
			t.Fatalf("bigram %d: %+v outside the %d words", i, b, nw)
		}
		if b.Prob > 0 || b.Prob < -10 {
			t.Fatalf("bigram %d: %+v has log10 probability %v", i, b, b.Prob)
		}
		if i > 0 {
			a := lm.Bigrams[i-1]
			if a.W1 > b.W1 || a.W1 == b.W1 && a.W2 >= b.W2 {
				t.Fatalf("bigram %d: %+v after %+v", i, b, a)
			}
		}
	}
	ids := sphinxIDs(lm)
	find := func(w1, w2 string) (float32, bool) {
		for _, b := range lm.Bigrams {
			if b.W1 == ids[w1] && b.W2 == ids[w2] {
				return b.Prob, true
			}
		}
		return 0, false
	}
	// From the python binding (apt-get install python3-sphinxbase):
	//
	//	NGramModel(sphinxPath).prob([w2, w1]) * math.log10(1.0001)
	//
	// which returns the bigram's probability, or the backed-off one
	// when there is no bigram. It agreed with all 2,051,541 bigrams to
	// within 4.4e-5, and with Prob[w2]+Backoff[w1] for 20,000 absent pairs.
	for _, c := range []struct {
		w1, w2 string
		prob   float32
	}{
		{"of", "the", -0.6985},
		{"we", "need", -1.5587},
		{"we", "have", -0.9886},
		{"thank", "you", -0.1344},
		{"me", "too", -1.7432},
		{"me", "</s>", -0.7611},
		{"<s>", "the", -1.2689},
		{"the", "</s>", -2.2319},
	} {
		p, ok := find(c.w1, c.w2)
		if !ok {
			t.Errorf("no bigram %q %q", c.w1, c.w2)
		} else if math.Abs(float64(p-c.prob)) > sphinxTol {
			t.Errorf("log10 P(%s|%s) = %.4f, want %.4f", c.w2, c.w1, p, c.prob)
		}
	}
	// Neither "</s>" as a history nor "<s>" as a prediction has bigrams,
	// and the bigrams after a frequent history take most, not all, of
	// its probability: the rest is left for backing off.
	sums := make(map[int32]float64)
	for _, b := range lm.Bigrams {
		if b.W1 == ids["</s>"] || b.W2 == ids["<s>"] {
			t.Fatalf("bigram %q %q", lm.Words[b.W1], lm.Words[b.W2])
		}
		sums[b.W1] += math.Pow(10, float64(b.Prob))
	}
	for _, h := range []string{"of", "the", "we", "me", "<s>"} {
		if s := sums[ids[h]]; s < 0.9 || s > 1 {
			t.Errorf("the bigrams after %q sum to %.4f", h, s)
		}
	}
}

func TestSphinxTrigrams(t *testing.T) {
	lm := sphinxModel(t)
	if n := len(lm.Trigrams); n != 1669625 {
		t.Fatalf("%d trigrams, want 1669625", n)
	}
	bigram := make(map[[2]int32]float32, len(lm.Bigrams))
	for _, b := range lm.Bigrams {
		bigram[[2]int32{b.W1, b.W2}] = b.Prob
	}
	ids := sphinxIDs(lm)
	nw := int32(len(lm.Words))
	sums := make(map[[2]int32]float64)
	for i, tr := range lm.Trigrams {
		if min(tr.W0, tr.W1, tr.W2) < 0 || max(tr.W0, tr.W1, tr.W2) >= nw {
			t.Fatalf("trigram %d: %+v outside the %d words", i, tr, nw)
		}
		if tr.Prob > 0 || tr.Prob < -10 {
			t.Fatalf("trigram %d: %+v has log10 probability %v", i, tr, tr.Prob)
		}
		// Every trigram's last two words are a bigram of the file,
		// whose probability it carries.
		if p, ok := bigram[[2]int32{tr.W1, tr.W2}]; !ok || p != tr.Bigram {
			t.Fatalf("trigram %d: %+v; the bigram of its last two words: %v, %v", i, tr, p, ok)
		}
		sums[[2]int32{tr.W0, tr.W1}] += math.Pow(10, float64(tr.Prob))
	}
	// The trigrams after a frequent history take most of its
	// probability, never more than all of it.
	for _, h := range [][2]string{{"one", "of"}, {"i", "want"}, {"<s>", "the"}} {
		if s := sums[[2]int32{ids[h[0]], ids[h[1]]}]; s < 0.5 || s > 1 {
			t.Errorf("the trigrams after %q sum to %.4f", h, s)
		}
	}
}

// TestSphinxTruncated checks that a cut file is an error, not a panic.
func TestSphinxTruncated(t *testing.T) {
	if _, err := os.Stat(sphinxPath); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s is absent; apt-get install pocketsphinx-en-us to run this test", sphinxPath)
	}
	data, err := os.ReadFile(sphinxPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 10, 20, 30, 40, 1000, 2_000_000, 10_000_000, len(data) - 1000, len(data) - 1} {
		if _, err := parseSphinxLM(data[:n]); err == nil {
			t.Errorf("the first %d bytes parsed", n)
		}
	}
	if _, err := parseSphinxLM(append(data[:len(data):len(data)], 0)); err == nil {
		t.Errorf("a byte too many parsed")
	}
}

func BenchmarkReadSphinxLM(b *testing.B) {
	sphinxModel(b)
	for b.Loop() {
		if _, err := ReadSphinxLM(sphinxPath); err != nil {
			b.Fatal(err)
		}
	}
}
