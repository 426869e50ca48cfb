package corpus

// A reader for CMU Sphinx's binary "Trie Language Model" files, such as
// /usr/share/pocketsphinx/model/en-us/en-us.lm.bin from Debian's package
// pocketsphinx-en-us. The format is sphinxbase's port of KenLM's trie;
// everything is little-endian:
//
//	"Trie Language Model"       19 bytes, no terminator
//	order                       uint8
//	counts[order]               uint32 each, n-grams per order
//	-- only when order > 1 --
//	quantiser marker            int32 (formerly the quantisation type; ignored)
//	for each middle order (2 .. order-1):
//	    prob table              65536 float32
//	    backoff table           65536 float32
//	highest-order prob table    65536 float32
//	-- always --
//	unigrams[counts[0]+1]       {prob float32, backoff float32, next uint32};
//	                            the extra last one is a sentinel whose next
//	                            ends the last word's range
//	-- only when order > 1 --
//	one bit-packed array per order 2 .. order
//	-- always --
//	string bytes                int32 k, then k bytes: the words, by id,
//	                            each terminated by NUL
//
// The trie is reversed, as in KenLM: a unigram's next field points at the
// n-grams of order 2 that END with that word, and an entry of order 2
// holds the word BEFORE it. So the bigram "w1 w2" is the entry whose word
// field is w1, within the range of unigram w2; within a range the entries
// are sorted by word id, which is what lookups binary-search.
//
// Each bit-packed array has counts[i]+1 entries (the extra one ends the last
// entry's child range) followed by 8 bytes of padding, so that a 64-bit
// little-endian read at any entry stays in bounds. The counts are what the
// builder expected to write and may be a little high; the entries the
// unigrams' next fields reach are the real ones. An entry of a middle order
// is, from its least significant bit up:
//
//	word id     bits(counts[0]) bits
//	backoff     16 bits, an index into that order's backoff table
//	prob        16 bits, an index into that order's prob table
//	next        bits(counts[i+1]) bits, the first child in the next order
//
// and an entry of the highest order is just the word id and a 16-bit prob
// index, where bits(n) is the number of bits needed to write n (0 for 0).
//
// Unigram probabilities and the quantiser tables hold values in the units of
// sphinx's logmath, a logarithm to base 1.0001 (sphinx's default -logbase,
// which the file does not record); log10 x = v × log10(1.0001).

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// SphinxModel is a word n-gram model read from a sphinx trie file.
type SphinxModel struct {
	Words   []string  // unigram words, by word id (includes <s>, </s>, <UNK> if present)
	Prob    []float32 // log10 P(word), by word id
	Backoff []float32 // log10 backoff weight of each word as a history, by word id
	// Bigrams holds every bigram of the file, sorted by W1 and then by W2.
	// Besides the bigrams of the model it was built from, a sphinx trie
	// may hold bigrams that the builder added only so that a trigram could
	// be reached; their Prob is the backed-off estimate
	// Prob[W2] + Backoff[W1], so they agree with the model.
	Bigrams []SphinxBigram
	// Trigrams holds every trigram of the file, with the bigram of its
	// last two words' probability beside its own.
	Trigrams []SphinxTrigram
}

// SphinxTrigram is one trigram of a SphinxModel.
type SphinxTrigram struct {
	W0, W1, W2 int32
	Prob       float32 // log10 P(W2|W0 W1)
	Bigram     float32 // log10 P(W2|W1)
}

// SphinxBigram is one bigram of a SphinxModel.
type SphinxBigram struct {
	W1, W2 int32
	Prob   float32 // log10 P(W2|W1)
}

const (
	sphinxMagic = "Trie Language Model"
	// sphinxLogBase is the base of the logarithms the file stores.
	sphinxLogBase = 1.0001
	// sphinxQuantBits is the width of every quantised prob or backoff.
	sphinxQuantBits = 16
	sphinxQuantBins = 1 << sphinxQuantBits
)

// sphinxUnit is log10 of one logmath unit.
var sphinxUnit = math.Log10(sphinxLogBase)

// sphinxLog10 converts a value in sphinx's logmath units to log10.
func sphinxLog10(v float32) float32 {
	return float32(float64(v) * sphinxUnit)
}

// ReadSphinxLM reads the sphinx trie language model at path.
func ReadSphinxLM(path string) (*SphinxModel, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	lm, err := parseSphinxLM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return lm, nil
}

// sphinxReader takes the file apart front to back.
type sphinxReader struct {
	data []byte
	off  int
}

func (r *sphinxReader) next(n int, what string) ([]byte, error) {
	if n < 0 || n > len(r.data)-r.off {
		return nil, fmt.Errorf("truncated at byte %d: %s needs %d bytes, %d left", r.off, what, n, len(r.data)-r.off)
	}
	b := r.data[r.off : r.off+n]
	r.off += n
	return b, nil
}

func (r *sphinxReader) uint32(what string) (uint32, error) {
	b, err := r.next(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

// table reads a quantiser table, n float32s in logmath units, as log10.
func (r *sphinxReader) table(n int, what string) ([]float32, error) {
	b, err := r.next(4*n, what)
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = sphinxLog10(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	return out, nil
}

// bitsFor is the number of bits needed to write n, 0 for 0.
func bitsFor(n uint32) uint8 { return uint8(bits.Len32(n)) }

// sphinxLevel is the bit-packed array of the n-grams of one order above 1.
type sphinxLevel struct {
	mem       []byte
	entries   uint32 // n-grams, not counting the extra end entry
	wordBits  uint8
	quantBits uint8 // 32 (backoff, prob) in a middle order, 16 (prob) in the highest
	nextBits  uint8 // 0 in the highest order
}

func (l *sphinxLevel) totalBits() uint64 {
	return uint64(l.wordBits) + uint64(l.quantBits) + uint64(l.nextBits)
}

// size is the number of bytes the level takes in the file.
func (l *sphinxLevel) size() uint64 {
	return ((uint64(l.entries)+1)*l.totalBits()+7)/8 + 8
}

// field reads width (at most 57) bits starting at bit off of the level.
func (l *sphinxLevel) field(off uint64, width uint8) uint32 {
	i := off / 8
	var w uint64
	if i+8 <= uint64(len(l.mem)) {
		w = binary.LittleEndian.Uint64(l.mem[i:])
	} else {
		// Never for a well-formed level, whose 8 padding bytes keep
		// every read whole; stay in bounds all the same.
		var buf [8]byte
		copy(buf[:], l.mem[i:])
		w = binary.LittleEndian.Uint64(buf[:])
	}
	return uint32(w>>(off%8)) & (1<<width - 1)
}

// word is the word id of entry i.
func (l *sphinxLevel) word(i uint32) uint32 {
	return l.field(uint64(i)*l.totalBits(), l.wordBits)
}

// probIndex is the index into the prob table of entry i.
func (l *sphinxLevel) probIndex(i uint32) uint32 {
	off := uint64(i)*l.totalBits() + uint64(l.wordBits)
	if l.quantBits == 2*sphinxQuantBits {
		off += sphinxQuantBits // past the backoff
	}
	return l.field(off, sphinxQuantBits)
}

// child is the first entry of the next order below entry i; child(i+1)
// ends the range, which is why the level has an extra entry.
func (l *sphinxLevel) child(i uint32) uint32 {
	off := uint64(i)*l.totalBits() + uint64(l.wordBits) + uint64(l.quantBits)
	return l.field(off, l.nextBits)
}

func parseSphinxLM(data []byte) (*SphinxModel, error) {
	r := &sphinxReader{data: data}
	magic, err := r.next(len(sphinxMagic), "header")
	if err != nil || string(magic) != sphinxMagic {
		return nil, fmt.Errorf("not a sphinx trie language model (no %q header)", sphinxMagic)
	}
	o, err := r.next(1, "order")
	if err != nil {
		return nil, err
	}
	order := int(o[0])
	if order < 1 {
		return nil, fmt.Errorf("order %d", order)
	}
	counts := make([]uint32, order)
	for i := range counts {
		if counts[i], err = r.uint32(fmt.Sprintf("count of %d-grams", i+1)); err != nil {
			return nil, err
		}
	}
	nw := counts[0]
	// sphinx packs word ids in at most 25 bits.
	if nw == 0 || nw > 1<<25 {
		return nil, fmt.Errorf("%d unigrams", nw)
	}

	// The quantiser's prob tables, in log10; probTables[i] serves order
	// i+2. Every order but the highest also has a backoff table, which
	// the bigrams returned have no use for.
	var probTables [][]float32
	if order > 1 {
		if _, err := r.uint32("quantiser marker"); err != nil {
			return nil, err
		}
		for n := 2; n <= order; n++ {
			p, err := r.table(sphinxQuantBins, fmt.Sprintf("%d-gram prob table", n))
			if err != nil {
				return nil, err
			}
			probTables = append(probTables, p)
			if n == order {
				break
			}
			if _, err := r.next(4*sphinxQuantBins, fmt.Sprintf("%d-gram backoff table", n)); err != nil {
				return nil, err
			}
		}
	}

	uni, err := r.next(12*(int(nw)+1), "unigrams")
	if err != nil {
		return nil, err
	}
	lm := &SphinxModel{
		Prob:    make([]float32, nw),
		Backoff: make([]float32, nw),
	}
	next := make([]uint32, nw+1)
	for i := range next {
		u := uni[12*i:]
		if i < int(nw) {
			lm.Prob[i] = sphinxLog10(math.Float32frombits(binary.LittleEndian.Uint32(u)))
			lm.Backoff[i] = sphinxLog10(math.Float32frombits(binary.LittleEndian.Uint32(u[4:])))
		}
		next[i] = binary.LittleEndian.Uint32(u[8:])
	}

	levels := make([]sphinxLevel, order-1) // levels[i] holds order i+2
	for i := range levels {
		l := &levels[i]
		l.entries = counts[i+1]
		l.wordBits = bitsFor(nw)
		if i+2 < order {
			l.quantBits = 2 * sphinxQuantBits
			l.nextBits = bitsFor(counts[i+2])
		} else {
			l.quantBits = sphinxQuantBits
		}
		size := l.size()
		if size > uint64(len(data)) {
			return nil, fmt.Errorf("%d-grams: %d bytes, more than the file", i+2, size)
		}
		if l.mem, err = r.next(int(size), fmt.Sprintf("%d-grams", i+2)); err != nil {
			return nil, err
		}
	}

	// The words follow the n-grams, so finding them where expected
	// checks the sizes above.
	k, err := r.uint32("length of the words")
	if err != nil {
		return nil, err
	}
	strs, err := r.next(int(k), "words")
	if err != nil {
		return nil, err
	}
	if r.off != len(data) {
		return nil, fmt.Errorf("%d bytes after the words", len(data)-r.off)
	}
	lm.Words = make([]string, 0, nw)
	for len(strs) > 0 {
		j := bytes.IndexByte(strs, 0)
		if j < 0 {
			return nil, fmt.Errorf("word %d has no terminating NUL", len(lm.Words))
		}
		lm.Words = append(lm.Words, string(strs[:j]))
		strs = strs[j+1:]
	}
	if len(lm.Words) != int(nw) {
		return nil, fmt.Errorf("%d words, but %d unigrams", len(lm.Words), nw)
	}

	if order > 1 {
		if lm.Bigrams, err = sphinxBigrams(&levels[0], next, probTables[0]); err != nil {
			return nil, err
		}
	}
	if order > 2 {
		if lm.Trigrams, err = sphinxTrigrams(&levels[0], &levels[1], next, probTables[0], probTables[1]); err != nil {
			return nil, err
		}
	}
	return lm, nil
}

// sphinxBigrams lists the bigrams of level, given the unigrams' next
// fields and the log10 prob table, sorted by W1 and then W2.
func sphinxBigrams(level *sphinxLevel, next []uint32, probs []float32) ([]SphinxBigram, error) {
	nw := uint32(len(next) - 1)
	// The header's count may exceed the bigrams the unigrams reach: the
	// builder sizes the array from its own count of the bigrams it will
	// add, which can overshoot, and leaves the surplus slots at the end
	// zero. (en-us.lm.bin says 2,051,547 and holds 2,051,541, which is
	// what trips sphinx_lm_convert's assertion when it writes bigrams.)
	if next[0] != 0 || next[nw] > level.entries {
		return nil, fmt.Errorf("the unigrams point at bigrams %d to %d, but there are %d", next[0], next[nw], level.entries)
	}
	// The file groups bigrams by their second word; count them by their
	// first to place each directly where it goes. Walking the groups in
	// order of the second word keeps each first word's bigrams sorted.
	start := make([]uint32, nw+1)
	for w2 := range nw {
		if next[w2] > next[w2+1] {
			return nil, fmt.Errorf("bigrams of word %d end (%d) before they start (%d)", w2, next[w2+1], next[w2])
		}
		prev := int64(-1)
		for i := next[w2]; i < next[w2+1]; i++ {
			w1 := level.word(i)
			if w1 >= nw || int64(w1) <= prev {
				return nil, fmt.Errorf("bigram %d: word %d after %d in the bigrams ending with word %d", i, w1, prev, w2)
			}
			prev = int64(w1)
			start[w1+1]++
		}
	}
	for w := range nw {
		start[w+1] += start[w]
	}
	out := make([]SphinxBigram, next[nw])
	for w2 := range nw {
		for i := next[w2]; i < next[w2+1]; i++ {
			w1 := level.word(i)
			out[start[w1]] = SphinxBigram{
				W1:   int32(w1),
				W2:   int32(w2),
				Prob: probs[level.probIndex(i)],
			}
			start[w1]++
		}
	}
	return out, nil
}

// sphinxTrigrams lists the trigrams below the bigrams of level2 in level3,
// given the unigrams' next fields and the two log10 prob tables. In the
// reversed trie, the trigrams "w0 w1 w2" are the entries of level3 (word
// w0) in the child range of the bigram entry of w1 within w2's range.
func sphinxTrigrams(level2, level3 *sphinxLevel, next []uint32, probs2, probs3 []float32) ([]SphinxTrigram, error) {
	nw := uint32(len(next) - 1)
	var out []SphinxTrigram
	for w2 := range nw {
		for i := next[w2]; i < next[w2+1]; i++ {
			lo, hi := level2.child(i), level2.child(i+1)
			if lo > hi || hi > level3.entries {
				return nil, fmt.Errorf("bigram %d points at trigrams %d to %d, but there are %d", i, lo, hi, level3.entries)
			}
			w1 := level2.word(i)
			p2 := probs2[level2.probIndex(i)]
			for j := lo; j < hi; j++ {
				w0 := level3.word(j)
				if w0 >= nw {
					return nil, fmt.Errorf("trigram %d: word %d of %d", j, w0, nw)
				}
				out = append(out, SphinxTrigram{W0: int32(w0), W1: int32(w1), W2: int32(w2), Prob: probs3[level3.probIndex(j)], Bigram: p2})
			}
		}
	}
	return out, nil
}
