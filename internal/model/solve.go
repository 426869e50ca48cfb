package model

import (
	"cmp"
	"context"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
)

// Substitution is broken by hill climbing over the key from random
// restarts, in two stages each time. The climb maximises the quadgram
// score; quadgrams alone often leave a rare letter (j, q, x, z) that occurs
// once in a line on the wrong plaintext, so a word-level polish then tries
// every swap again, scoring whole words against the vocabulary, and pairs
// and runs of three neighbouring words, as well (see Params). The restarts
// end when the best polished key has been found again enoughHits times;
// random kicks of that key, each polished, then look for a better one
// nearby, and so do word kicks, which give the line's commonest words the
// common words of their pattern.
const (
	// maxRestarts and enoughHits end the restarts: they stop once the best
	// polished key has been reached from enoughHits random keys, which is
	// the usual sign it is the global optimum. With kicks, polishMargin and
	// enoughHits at 10, 50 and 2 the development set gave 342 lines of 404
	// exact in 4.0 s, at 20, none and 3 (the first edition's) 343 in 9.5 s.
	maxRestarts = 100
	enoughHits  = 2
	// kicks is how many times the best key is kicked by kickSwaps random
	// swaps and polished again (iterated local search); it found the keys of
	// most lines whose restarts kept falling into the same wrong optimum.
	kicks     = 10
	kickSwaps = 3
	// kickWords is how many of the line's words the word kicks try, with
	// kickCands common words of the pattern each.
	kickWords     = 3
	kickCands     = 6
	wordKickBelow = -2.7
	// substSample bounds the symbols the solver reads: enough for any key,
	// so a 1 MB line costs what a paragraph does. The key found is then
	// applied to the whole line.
	substSample = 2000
	// polishMargin: a climb that ends this far (log10) below the best
	// climb so far is not polished, which is where most of the time goes.
	polishMargin = 50
	// polishPrune: a swap that costs the letters this much (log10) is
	// not worth scoring the words of: they seldom make up for it (on the
	// development set, 15 lost no line and saved a quarter of the time; 10
	// lost one).
	polishPrune = 15
	// hardBelow is the score per window below which the best key is
	// searched further, to hardHits hits and with hardKicks kicks: about
	// 3% of the development set's lines score below -3.2, and wrong optima
	// among them.
	// Below hardFloor a line is not English at all (random letters score
	// -5.4 a window, random bytes -7.4): searching longer would only cost
	// time, and the restarts stop after gibberishRestarts (random letters
	// never find the same key twice, so they ran all maxRestarts). At -4.5
	// it stopped the search of verse with many rare words too early.
	hardBelow = -3.2
	hardFloor = -5
	hardHits  = 4
	hardKicks = 30

	gibberishRestarts = 20
	// maxProgress caps the verbose guesses of the substitution search per
	// line (the best shift's may come before them).
	maxProgress = 3
)

// englishOrder is the letters from most to least frequent, used for the
// first key of the climb.
const englishOrder = "etaoinsrhldcumfpgwybvkxjqz"

// subst is the state of one substitution search. A decryption key dec maps
// a cipher symbol to a plain symbol; dec[boundary] is boundary, which also
// keeps an apostrophe inside a word an apostrophe.
type subst struct {
	st *stats
	p  *Params
	// sym is the cipher symbols of the sample, boundaries collapsed, three
	// at the start (the context of the first letter) and one at the end.
	// Window t scores sym[t] given sym[t-3:t], for t from 3.
	sym []byte
	// words are the sample's distinct words, as cipher symbols (letters
	// and apostrophes), with their case (caseLower...) and how often each
	// occurs; pairs are its distinct pairs of neighbouring words.
	words     [][]byte
	wordCase  []byte
	times     []float32
	pairs     [][2]int32
	pairTimes []float32
	// triples are its distinct runs of three words, likewise.
	triples     [][3]int32
	tripleTimes []float32
	// windowsOf and wordsOf list the windows and the words in which each
	// cipher letter occurs, and pairsOf the pairs of each word, so that a
	// swap of two letters rescores only what it changes: most swaps move a
	// letter that occurs a few times.
	windowsOf [26][]int32
	wordsOf   [26][]int32
	pairsOf   [][]int32
	triplesOf [][]int32
	present   [26]bool
	rng       *rand.Rand
	// Scratch for swaps: each word's, pair's and window's score under the
	// current key, and under the key being tried; each word's index in the
	// vocabulary likewise; the windows, words and pairs a swap touched,
	// found once each by stamping them.
	cur, next             []float32
	curID, nextID         []int32
	pairCur, pairNext     []float32
	tripleCur, tripleNext []float32
	win, winNext          []float32
	wordMark              []uint32
	pairMark              []uint32
	tripleMark            []uint32
	winMark               []uint32
	stamp                 uint32
	touched               []int32
	touchedPairs          []int32
	touchedTriples        []int32
	touchedWin            []int32
	buf                   []byte
}

// Cases of a ciphertext word, which substitution keeps.
const (
	caseLower   = iota // "word"
	caseTitle          // "Word": a name, or a word that starts a sentence
	caseUpper          // "WORD" or "I": says nothing
	caseInitial        // "J." in "J. R. R. Tolkien": the initial of a name
)

type key [27]byte // dec[cipher symbol] = plain symbol

func newSubst(st *stats, p *Params, line []byte) *subst {
	s := &subst{st: st, p: p}
	// The seed is the line itself: the same line gets the same answer.
	h := fnv.New64a()
	h.Write(line)
	seed := h.Sum64()
	s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	s.sym = append(s.sym, boundary, boundary, boundary)
	index := map[string]int32{}
	pairIndex := map[[2]int32]int32{}
	tripleIndex := map[[3]int32]int32{}
	var (
		word      []byte
		upper     int         // capitals in word
		letters   int         // letters in word, which may hold apostrophes too
		prev      = int32(-1) // the word before, while no sentence break
		prev2     = int32(-1) // and the one before that
		wordStart int
	)
	endWord := func(next byte) {
		if len(word) == 0 {
			return
		}
		c := byte(caseLower)
		switch {
		case upper == 1 && len(word) == 1 && next == '.':
			c = caseInitial
		case upper == letters || (upper > 0 && letters == 1):
			c = caseUpper
		case 'A' <= line[wordStart] && line[wordStart] <= 'Z':
			c = caseTitle
		}
		w, ok := index[string(word)+string(rune('0'+c))]
		if !ok {
			w = int32(len(s.words))
			index[string(word)+string(rune('0'+c))] = w
			s.words = append(s.words, word)
			s.wordCase = append(s.wordCase, c)
			s.times = append(s.times, 0)
			s.pairsOf = append(s.pairsOf, nil)
			s.triplesOf = append(s.triplesOf, nil)
			var seen [26]bool
			for _, x := range word {
				if x < 26 && !seen[x] {
					seen[x] = true
					s.wordsOf[x] = append(s.wordsOf[x], w)
				}
			}
		}
		s.times[w]++
		if prev >= 0 {
			pk := [2]int32{prev, w}
			pi, ok := pairIndex[pk]
			if !ok {
				pi = int32(len(s.pairs))
				pairIndex[pk] = pi
				s.pairs = append(s.pairs, pk)
				s.pairTimes = append(s.pairTimes, 0)
				s.pairsOf[prev] = append(s.pairsOf[prev], pi)
				if w != prev {
					s.pairsOf[w] = append(s.pairsOf[w], pi)
				}
			}
			s.pairTimes[pi]++
		}
		if prev2 >= 0 && prev >= 0 {
			tk := [3]int32{prev2, prev, w}
			ti, ok := tripleIndex[tk]
			if !ok {
				ti = int32(len(s.triples))
				tripleIndex[tk] = ti
				s.triples = append(s.triples, tk)
				s.tripleTimes = append(s.tripleTimes, 0)
				for i, x := range tk {
					if !slices.Contains(tk[:i], x) {
						s.triplesOf[x] = append(s.triplesOf[x], ti)
					}
				}
			}
			s.tripleTimes[ti]++
		}
		prev2, prev = prev, w
		word, upper, letters = nil, 0, 0
	}
	for i, x := range line {
		if len(s.sym) >= substSample {
			break
		}
		d := symbolOf[x]
		switch {
		case d != boundary:
			if x < 'a' && len(word) > 1 && isLower(line[i-1]) && i+1 < len(line) && isLower(line[i+1]) {
				// "TypeSwitchGuard" or "SubjectKeyId": an identifier made
				// of words, which are scored one by one (but not "TeX"
				// or "iPhone").
				endWord(x)
			}
			if len(word) == 0 {
				wordStart = i
			}
			s.present[d] = true
			word = append(word, d)
			letters++
			if x < 'a' {
				upper++
			}
		case x == '\'' && len(word) > 0 && i+1 < len(line) && symbolOf[line[i+1]] != boundary:
			word = append(word, apostrophe)
		default:
			endWord(x)
			if strings.IndexByte(sentenceBreaks, x) >= 0 {
				prev, prev2 = -1, -1
			}
		}
		if d == boundary && s.sym[len(s.sym)-1] == boundary {
			continue
		}
		s.sym = append(s.sym, d)
	}
	endWord(0)
	if s.sym[len(s.sym)-1] != boundary {
		s.sym = append(s.sym, boundary)
	}
	for p := 3; p < len(s.sym); p++ {
		c := s.sym[p]
		if c == boundary {
			continue
		}
		for t := p; t < min(p+4, len(s.sym)); t++ {
			if w := s.windowsOf[c]; len(w) == 0 || w[len(w)-1] < int32(t) {
				s.windowsOf[c] = append(w, int32(t))
			}
		}
	}
	n := len(s.words)
	s.cur, s.next, s.wordMark = make([]float32, n), make([]float32, n), make([]uint32, n)
	s.curID, s.nextID = make([]int32, n), make([]int32, n)
	np := len(s.pairs)
	s.pairCur, s.pairNext, s.pairMark = make([]float32, np), make([]float32, np), make([]uint32, np)
	nt := len(s.triples)
	s.tripleCur, s.tripleNext, s.tripleMark = make([]float32, nt), make([]float32, nt), make([]uint32, nt)
	s.winMark = make([]uint32, len(s.sym))
	s.win, s.winNext = make([]float32, len(s.sym)), make([]float32, len(s.sym))
	return s
}

// sentenceBreaks end the chain of neighbouring words that pairs are made
// of.
func isLower(c byte) bool { return 'a' <= c && c <= 'z' }

const sentenceBreaks = ".!?;:()\"[]{}\n"

// window is the stats.cond score of window t decrypted with k.
func (s *subst) window(k *key, t int) float32 {
	y := s.sym[t-3 : t+1]
	return s.st.condAt(((int(k[y[0]])*nSymbols+int(k[y[1]]))*nSymbols+int(k[y[2]]))*nSymbols + int(k[y[3]]))
}

// quad scores a key by the quadgrams of the sample's decryption.
func (s *subst) quad(k *key) float32 {
	var sum float32
	for t := 3; t < len(s.sym); t++ {
		sum += s.window(k, t)
	}
	return sum
}

// setWindows scores every window under k into s.win, for swapQuad.
func (s *subst) setWindows(k *key) {
	for t := 3; t < len(s.sym); t++ {
		s.win[t] = s.window(k, t)
	}
}

// swapQuad swaps the plain letters of cipher letters i and j in k and
// returns the change in quad, from the windows that contain i or j; their
// new scores wait in s.winNext for keepWindows.
func (s *subst) swapQuad(k *key, i, j int) float32 {
	s.stamp++
	s.touchedWin = s.touchedWin[:0]
	k[i], k[j] = k[j], k[i]
	var delta float32
	for _, list := range [2][]int32{s.windowsOf[i], s.windowsOf[j]} {
		for _, t := range list {
			if s.winMark[t] != s.stamp {
				s.winMark[t] = s.stamp
				s.touchedWin = append(s.touchedWin, t)
				s.winNext[t] = s.window(k, int(t))
				delta += s.winNext[t] - s.win[t]
			}
		}
	}
	return delta
}

// keepWindows makes the scores swapQuad computed current.
func (s *subst) keepWindows() {
	for _, t := range s.touchedWin {
		s.win[t] = s.winNext[t]
	}
}

// wordScore is the score of word w of the sample decrypted with k, and
// the index of its plaintext in the vocabulary (-1 if unknown): its log10
// probability, and how likely a word of its kind is to be written in the
// case the ciphertext shows.
func (s *subst) wordScore(k *key, w int) (float32, int32) {
	if s.wordCase[w] == caseInitial {
		// "J." in "J. R. R. Tolkien", or "I." ending "It was I.".
		score := s.st.initial[k[s.words[w][0]]]
		if info := s.st.vocab.find([]byte{k[s.words[w][0]]}); info != nil {
			score = max(score, info.logp)
		}
		return score, -1
	}
	s.buf = s.buf[:0]
	for _, c := range s.words[w] {
		s.buf = append(s.buf, k[c])
	}
	info := s.st.vocab.find(s.buf)
	if info == nil {
		if s.wordCase[w] == caseTitle {
			return s.p.UnknownName, -1
		}
		return s.p.UnknownWord, -1
	}
	score := info.logp
	switch {
	case s.wordCase[w] == caseLower && info.name:
		score += s.p.LowerName
	case s.wordCase[w] == caseTitle && !info.name:
		score += s.p.TitleWord
	}
	return score, info.id
}

// pairScore is the association of pair p's words, given their indices.
func (s *subst) pairScore(first, second int32) float32 {
	return s.st.assoc(first, second)
}

// swapWords is the change in the weighted score of words and pairs that
// the swap of i and j, already made in k, brings; the new scores wait in
// s.next and s.pairNext for keepWords.
func (s *subst) swapWords(k *key, i, j int) float32 {
	s.stamp++
	s.touched = s.touched[:0]
	s.touchedPairs = s.touchedPairs[:0]
	s.touchedTriples = s.touchedTriples[:0]
	var words float32
	for _, list := range [2][]int32{s.wordsOf[i], s.wordsOf[j]} {
		for _, w := range list {
			if s.wordMark[w] != s.stamp {
				s.wordMark[w] = s.stamp
				s.touched = append(s.touched, w)
				s.next[w], s.nextID[w] = s.wordScore(k, int(w))
				words += s.times[w] * (s.next[w] - s.cur[w])
			}
		}
	}
	var pairs, triples float32
	for _, w := range s.touched {
		for _, p := range s.pairsOf[w] {
			if s.pairMark[p] == s.stamp {
				continue
			}
			s.pairMark[p] = s.stamp
			s.touchedPairs = append(s.touchedPairs, p)
			s.pairNext[p] = s.pairScore(s.idNow(s.pairs[p][0]), s.idNow(s.pairs[p][1]))
			pairs += s.pairTimes[p] * (s.pairNext[p] - s.pairCur[p])
		}
		for _, t := range s.triplesOf[w] {
			if s.tripleMark[t] == s.stamp {
				continue
			}
			s.tripleMark[t] = s.stamp
			s.touchedTriples = append(s.touchedTriples, t)
			tr := s.triples[t]
			s.tripleNext[t] = s.st.assoc3(s.idNow(tr[0]), s.idNow(tr[1]), s.idNow(tr[2]))
			triples += s.tripleTimes[t] * (s.tripleNext[t] - s.tripleCur[t])
		}
	}
	return s.p.WordWeight*words + s.p.PairWeight*pairs + s.p.TripleWeight*triples
}

// idNow is word w's vocabulary index under the key being tried.
func (s *subst) idNow(w int32) int32 {
	if s.wordMark[w] == s.stamp {
		return s.nextID[w]
	}
	return s.curID[w]
}

// keepWords makes the scores swapWords computed current.
func (s *subst) keepWords() {
	for _, w := range s.touched {
		s.cur[w], s.curID[w] = s.next[w], s.nextID[w]
	}
	for _, t := range s.touchedTriples {
		s.tripleCur[t] = s.tripleNext[t]
	}
	for _, p := range s.touchedPairs {
		s.pairCur[p] = s.pairNext[p]
	}
}

// climb improves k in place by swapping the plain letters of two cipher
// letters while that raises the quadgram score; pairs of letters both
// absent from the line change nothing and are skipped.
func (s *subst) climb(k *key) {
	s.setWindows(k)
	for improved := true; improved; {
		improved = false
		for i := range 26 {
			for j := i + 1; j < 26; j++ {
				if !s.present[i] && !s.present[j] {
					continue
				}
				if s.swapQuad(k, i, j) > 0 {
					s.keepWindows()
					improved = true
				} else {
					k[i], k[j] = k[j], k[i]
				}
			}
		}
	}
}

// score is the polish's score of k: quad plus the weighted scores of
// words and pairs. It sets s.cur, s.curID and s.pairCur for polish.
func (s *subst) score(k *key) float32 {
	var words, pairs float32
	for w := range s.words {
		s.cur[w], s.curID[w] = s.wordScore(k, w)
		words += s.times[w] * s.cur[w]
	}
	for p, pr := range s.pairs {
		s.pairCur[p] = s.pairScore(s.curID[pr[0]], s.curID[pr[1]])
		pairs += s.pairTimes[p] * s.pairCur[p]
	}
	var triples float32
	for t, tr := range s.triples {
		s.tripleCur[t] = s.st.assoc3(s.curID[tr[0]], s.curID[tr[1]], s.curID[tr[2]])
		triples += s.tripleTimes[t] * s.tripleCur[t]
	}
	return s.quad(k) + s.p.WordWeight*words + s.p.PairWeight*pairs + s.p.TripleWeight*triples
}

// polish improves k in place like climb, by score, and returns the score:
// quadgrams alone leave a letter that occurs once or twice in a line on
// whichever plaintext makes likely letter sequences, words tell "license"
// from "ligense".
func (s *subst) polish(k *key) float32 {
	s.score(k)
	s.setWindows(k)
	for improved := true; improved; {
		improved = false
		for i := range 26 {
			for j := i + 1; j < 26; j++ {
				if !s.present[i] && !s.present[j] {
					continue
				}
				dq := s.swapQuad(k, i, j)
				if dq > -polishPrune && dq+s.swapWords(k, i, j) > 0 {
					s.keepWords()
					s.keepWindows()
					improved = true
				} else {
					k[i], k[j] = k[j], k[i]
				}
			}
		}
	}
	// Summed afresh, so that equal keys reached along different paths
	// score exactly the same.
	return s.score(k)
}

// kickWords returns up to n of the line's words that have common words
// of their pattern, those that make up most of the line first.
func (s *subst) kickWords(n int) []int {
	var ws []int
	for w, word := range s.words {
		if s.wordCase[w] != caseInitial && len(s.st.byPattern[string(pattern(word))]) >= kickCands {
			ws = append(ws, w)
		}
	}
	slices.SortStableFunc(ws, func(a, b int) int {
		return cmp.Compare(s.times[b]*float32(len(s.words[b])), s.times[a]*float32(len(s.words[a])))
	})
	return ws[:min(n, len(ws))]
}

// force swaps letters of k so that the cipher word decrypts to plain,
// which has its pattern.
func (s *subst) force(k *key, word, plain []byte) {
	for i, c := range word {
		if c >= 26 {
			continue
		}
		for j := range 26 {
			if k[j] == plain[i] {
				k[c], k[j] = k[j], k[c]
				break
			}
		}
	}
}

// frequencyKey maps the line's letters, most frequent first, onto English
// letters in order of frequency: a good first guess on long lines.
func (s *subst) frequencyKey() key {
	var count [26]int
	for _, x := range s.sym {
		if x != boundary {
			count[x]++
		}
	}
	order := make([]int, 26)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return count[b] - count[a] })
	var k key
	for rank, c := range order {
		k[c] = englishOrder[rank] - 'a'
	}
	k[boundary] = boundary
	return k
}

func (s *subst) randomKey() key {
	var k key
	for i, p := range s.rng.Perm(26) {
		k[i] = byte(p)
	}
	k[boundary] = boundary
	return k
}

// apply decrypts line with k, keeping case and every non-letter byte.
func (k *key) apply(line []byte) []byte {
	out := make([]byte, len(line))
	for i, x := range line {
		switch {
		case 'a' <= x && x <= 'z':
			out[i] = 'a' + k[x-'a']
		case 'A' <= x && x <= 'Z':
			out[i] = 'A' + k[x-'A']
		default:
			out[i] = x
		}
	}
	return out
}

// encryptionKey writes k the way ParseKey reads keys: the cipher letter of
// each plain letter a..z.
func (k *key) encryptionKey() string {
	var enc [26]byte
	for c := range 26 {
		enc[k[c]] = 'a' + byte(c)
	}
	return string(enc[:])
}

// solveSubstitution breaks a monoalphabetic substitution of line. It stops
// early, with the best key so far, when ctx is done. Besides the result it
// returns the plaintext's plausibility and the number of distinct letters,
// for comparison with the best shift.
func solveSubstitution(ctx context.Context, st *stats, p *Params, line []byte, progress func([]byte)) (res Result, plausibility float64, distinct int) {
	s := newSubst(st, p, line)
	var (
		best      key
		bestScore float32
		hits      int
		shown     int
		bestClimb float32
		r         int
	)
	// restart climbs and polishes from random keys until the best key has
	// been reached goal times.
	windows := float32(max(len(s.sym)-3, 1))
	restart := func(goal int) {
		for ; r < maxRestarts && hits < goal; r++ {
			if r > 0 && ctx.Err() != nil {
				return
			}
			if r >= gibberishRestarts && bestScore/windows < hardFloor {
				return // no key makes English of it: random bytes, or not a substitution
			}
			k := s.randomKey()
			if r == 0 {
				k = s.frequencyKey()
			}
			s.climb(&k)
			q := s.quad(&k)
			if r > 0 && q < bestClimb-polishMargin {
				continue // a poor optimum of the letters: not worth a polish
			}
			if r == 0 || q > bestClimb {
				bestClimb = q
			}
			v := s.polish(&k)
			switch {
			case r == 0 || v > bestScore+1e-3:
				best, bestScore, hits = k, v, 1
				if progress != nil && shown < maxProgress {
					shown++
					progress(best.apply(line))
				}
			case v > bestScore-1e-3:
				hits++
			}
		}
	}
	restart(enoughHits)
	nKicks := kicks
	if bestScore/windows < hardBelow && bestScore/windows > hardFloor {
		// An unlikely best key: English that is hard to read, or a wrong
		// optimum found twice. Search longer.
		restart(hardHits)
		nKicks = hardKicks
	}
	// Kicks: from the best key, a few random swaps and a polish, kept when
	// better: it escapes optima the restarts keep falling back into.
	var letters []int
	for c, p := range s.present {
		if p {
			letters = append(letters, c)
		}
	}
	for range nKicks {
		if ctx.Err() != nil || len(letters) < 2 {
			break
		}
		k := best
		for range kickSwaps {
			i := letters[s.rng.IntN(len(letters))]
			j := s.rng.IntN(26)
			k[i], k[j] = k[j], k[i]
		}
		if v := s.polish(&k); v > bestScore+1e-3 {
			best, bestScore = k, v
		}
	}
	// Word kicks: the line's commonest words are each given the common
	// words of their pattern in turn, and the key polished from there.
	// They escape what random swaps cannot: in "A time to gain, and a
	// time to lose; A time to keep", the climbs all agree on "A side so
	// fair, arm a side so", and turning "side" into "time" takes several
	// swaps at once.
	// Only for lines that score below wordKickBelow: a quarter of the
	// development set's lines decrypted right, and most wrong ones.
	for _, w := range s.kickWords(kickWords) {
		if bestScore/windows >= wordKickBelow {
			break
		}
		for _, plain := range s.st.byPattern[string(pattern(s.words[w]))][:kickCands] {
			if ctx.Err() != nil {
				break
			}
			k := best
			s.force(&k, s.words[w], plain)
			if v := s.polish(&k); v > bestScore+1e-3 {
				best, bestScore = k, v
			}
		}
	}
	sample := best.apply(line[:min(len(line), shiftSample)])
	q, n := st.quadScore(sample)
	for _, p := range s.present {
		if p {
			distinct++
		}
	}
	return Result{
		Text:   string(best.apply(line)),
		Cipher: string(CipherSubstitution),
		Key:    best.encryptionKey(),
		Score:  q / float64(max(n, 1)),
	}, st.plausibility(sample), distinct
}
