// Package model implements the demo cipher-breaking model that pipecli runs by default.
package model

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Cipher names a cipher, as reported in Result.Cipher and chosen with
// EncryptOptions.Cipher, or a family of ciphers, as passed to Decrypt.
type Cipher string

// Ciphers the model breaks.
const (
	// CipherOriginal shifts every character along originalAlphabet, the 91
	// characters of the original demo; newlines included, so one ciphertext
	// line may decrypt to several lines.
	CipherOriginal Cipher = "original"
	// CipherASCII shifts every character along printable ASCII.
	CipherASCII Cipher = "ascii"
	// CipherCaesar shifts letters only, keeping their case (ROT-n).
	CipherCaesar Cipher = "caesar"
	// CipherSubstitution maps a-z through a permutation, the same one for
	// upper case; other bytes are unchanged.
	CipherSubstitution Cipher = "substitution"
)

// Families accepted by Decrypt and ServeOptions.Family.
const (
	FamilyAuto         = "auto"         // decide from the scores
	FamilyShift        = "shift"        // original, ascii or caesar, any shift
	FamilySubstitution = "substitution" // monoalphabetic substitution
)

// Result is the model's answer for one ciphertext line.
type Result struct {
	Text   string // the plaintext; may contain newlines (original cipher)
	Cipher string // a Cipher name: original, ascii, caesar or substitution
	// Key is the shift the encryption applied, in decimal, for shift
	// ciphers, or for substitution the 26 letters that a..z became, as
	// ParseKey reads it (letters absent from the line are a guess).
	Key string
	// Score is the mean log10 probability of the plaintext's letter and
	// word-boundary symbols, each given the three before it: about -1 for
	// English, below -2.5 for gibberish.
	Score float64
}

// Decrypt breaks one line of ciphertext (without its newline). family is
// auto, shift or substitution ("" means auto); the error is only for an
// unknown family: any input, short, binary or not UTF-8, gets a best guess.
func Decrypt(line string, family string) (Result, error) {
	return decrypt(context.Background(), []byte(line), family, nil)
}

// Params weigh the evidence the substitution solver scores a key by,
// against the letter model's log10 probabilities.
type Params struct {
	WordWeight float32 // scales each word's log10 probability
	PairWeight float32 // scales each pair's association
	// TripleWeight scales each run of three words' association beyond
	// its last pair's.
	TripleWeight float32
	// UnknownWord and UnknownName are the log10 probability of a word the
	// vocabulary lacks, in lower case and capitalised.
	UnknownWord, UnknownName float32
	// LowerName is added for a name written in lower case, TitleWord for
	// another word capitalised.
	LowerName, TitleWord float32
}

// DefaultParams are the weights scripts/tune chose on the development set:
// text held back from training, and manual pages.
func DefaultParams() Params {
	return Params{
		WordWeight:   3,
		PairWeight:   3,
		TripleWeight: 1,
		UnknownWord:  -9,
		UnknownName:  -9,
		LowerName:    -2,
		TitleWord:    -0.7,
	}
}

// DecryptWith is Decrypt with other Params, for tuning.
func DecryptWith(line string, family string, p Params) (Result, error) {
	return decryptWith(context.Background(), []byte(line), family, &p, nil)
}

func checkFamily(family string) (string, error) {
	switch family {
	case "", FamilyAuto:
		return FamilyAuto, nil
	case FamilyShift, FamilySubstitution:
		return family, nil
	}
	return "", fmt.Errorf("unknown cipher family %q; use auto, shift or substitution", family)
}

// englishEnough is the mean quadgram score (stats.cond) above which a
// shift's plaintext is taken without trying substitution, to save time:
// English scores about -1, the best shift of a substitution ciphertext
// below -1.7.
const englishEnough = -1.3

// decrypt is Decrypt with cancellation and a progress callback, which Serve
// uses for verbose answers; progress may be nil.
func decrypt(ctx context.Context, line []byte, family string, progress func([]byte)) (Result, error) {
	p := DefaultParams()
	return decryptWith(ctx, line, family, &p, progress)
}

func decryptWith(ctx context.Context, line []byte, family string, p *Params, progress func([]byte)) (Result, error) {
	family, err := checkFamily(family)
	if err != nil {
		return Result{}, err
	}
	if len(line) == 0 {
		return Result{Cipher: string(CipherOriginal), Key: "0"}, nil
	}
	st := english()
	var shift shiftGuess
	if family != FamilySubstitution {
		shift = bestShift(st, line)
		if family == FamilyShift || shift.mean() >= englishEnough || !hasLetters(line) {
			return shift.result(line), nil
		}
		if progress != nil {
			progress([]byte(shift.result(line).Text))
		}
	}
	sub, subScore, letters := solveSubstitution(ctx, st, p, line, progress)
	if family == FamilyAuto && subScore-shift.total < keyFreedom(letters) {
		return shift.result(line), nil
	}
	return sub, nil
}

// keyFreedom is log10 of how many more keys substitution has than shifts,
// given the number of distinct letters in the line: a substitution must beat
// the best shift by that much in log-probability to be believed, or short
// lines, which some key always turns into other English, would never decrypt
// as shifts (Occam's razor, as in the Bayesian information criterion).
func keyFreedom(distinct int) float64 {
	f := -math.Log10(float64(originalShift.size() + asciiShift.size() + caesarShift.size()))
	for i := range distinct {
		f += math.Log10(float64(26 - i))
	}
	return f
}

func hasLetters(b []byte) bool {
	for _, c := range b {
		if symbolOf[c] != boundary {
			return true
		}
	}
	return false
}

// shiftGuess is the best shift of one alphabet.
type shiftGuess struct {
	alpha *shiftAlphabet
	shift int     // the encryption's shift; decryption moves back by it
	total float64 // the search's score, see bestShift
	cond  float64 // sum of stats.cond over count quadgrams
	count int
}

// mean is the mean quadgram score, reported as Result.Score.
func (g shiftGuess) mean() float64 { return g.cond / float64(max(g.count, 1)) }

func (g shiftGuess) result(line []byte) Result {
	out := make([]byte, len(line))
	mapBytes(out, line, g.alpha.table(-g.shift))
	return Result{
		Text:   string(out),
		Cipher: string(g.alpha.cipher),
		Key:    strconv.Itoa(g.shift),
		Score:  g.mean(),
	}
}

// shiftSample bounds the bytes scored per shift, so that a 1 MB line costs
// no more to analyse than a long sentence; the shift found is then applied
// to the whole line.
const shiftSample = 4096

// bestShift tries every shift of every shift alphabet. It scores letter
// quadgrams and each byte's frequency in the training text: the bytes tell the
// original alphabet from ASCII, whose letters agree and punctuation differs
// (a newline in one is a '~' in the other).
func bestShift(st *stats, line []byte) shiftGuess {
	sample := line[:min(len(line), shiftSample)]
	buf := make([]byte, len(sample))
	best := shiftGuess{total: -1e300}
	letters := hasLetters(sample)
	for _, a := range []*shiftAlphabet{originalShift, asciiShift, caesarShift} {
		for n := range a.size() {
			mapBytes(buf, sample, a.table(-n))
			if letters && !hasLetters(buf) && n != 0 {
				continue // "I" is not a space: text keeps some letters
			}
			total := st.plausibility(buf) + shiftPrior(a, n)
			if total > best.total {
				best = shiftGuess{alpha: a, shift: n, total: total}
				best.cond, best.count = st.quadScore(buf)
			}
		}
	}
	return best
}

// Layout of non-letter runs, for plausibility: after a non-letter, another
// follows with probability runGoesOn. A rule of asterisks, dashes or equals
// signs, a run of spaces or of blank lines is layout, as likely in one of
// those characters as in another: only its first byte says which, or a
// shift could turn rows of '*' into rows of spaces at any cost to the
// letters. Other punctuation seldom repeats (",,,", "!!!!"): without that
// difference a line of asterisks and spaces, which has no letters to
// decide, was as plausible undecrypted as decrypted.
var (
	runGoesOn = math.Log10(0.3)
	// runRepeats[c] is log10 P(c again | c), runChanges[c] of a different
	// byte.
	runRepeats, runChanges = func() (rep, change [256]float64) {
		for c := range 256 {
			p := 0.05
			if strings.IndexByte(layoutBytes, byte(c)) >= 0 {
				p = 0.7
			}
			rep[c], change[c] = math.Log10(p), math.Log10(1-p)
		}
		return rep, change
	}()
)

// layoutBytes make rules, indentation and blank lines in plain text.
const layoutBytes = " \n\t*-=_#."

// plausibility is the log10 probability of text under a simple model of
// English documents: letter and word-boundary symbols from stats.cond, each
// non-letter byte from its frequency (stats.nonLetter), letters' case
// ignored (licences shout in capitals, Opticks rarely does). It compares
// candidate plaintexts made of different bytes, as shifts produce.
func (st *stats) plausibility(text []byte) float64 {
	total, _ := st.quadScore(text)
	for i, c := range text {
		switch {
		case symbolOf[c] != boundary:
		case i == 0 || symbolOf[text[i-1]] != boundary:
			total += float64(st.nonLetter[c])
		case text[i-1] == c:
			total += runGoesOn + runRepeats[c]
		default:
			total += runGoesOn + runChanges[text[i-1]] + float64(st.nonLetter[c])
		}
	}
	return total
}

// shiftPrior favours, on lines too short to decide, the shifts people use:
// the original demo's shift by one and ROT13.
func shiftPrior(a *shiftAlphabet, n int) float64 {
	switch {
	case a == originalShift && n == 1:
		return 3
	case a == caesarShift && n == 13:
		return 1
	}
	return 0
}

// quadScore sums stats.cond over the symbols of
// text, with runs of non-letters as one word boundary and a boundary at
// each end; every symbol after the first boundary counts, in the context of
// the boundary, so count is the number of symbols scored.
func (st *stats) quadScore(text []byte) (sum float64, count int) {
	a, b, c := byte(boundary), byte(boundary), byte(boundary)
	var s float32
	for _, x := range text {
		d := symbolOf[x]
		if d == boundary && c == boundary {
			continue
		}
		s += st.condAt(quadIndex(a, b, c, d))
		count++
		a, b, c = b, c, d
	}
	if c != boundary {
		s += st.condAt(quadIndex(a, b, c, boundary))
		count++
	}
	return float64(s), count
}
