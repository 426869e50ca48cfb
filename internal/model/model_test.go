package model

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// heldOut is English written for these tests, in none of the training
// texts: names, apostrophes and words that only their neighbours tell
// apart (we/be, me/be, my/by) among them.
var heldOut = []string{
	"We need to know what Juliet said to James in January, and why she won't tell me about it before the end of the week.",
	"If you let me be, I'll be fine; my friend Margaret can't come today, but she says we must meet again on Sunday by noon.",
	"This is a test of the solver on a sentence that was written for it and which it has not seen before in any of its books.",
	"When you run the program for the first time it asks for your name and then prints a friendly greeting on the screen.",
	"There was nothing so very remarkable in that; nor did Alice think it so very much out of the way to hear the Rabbit say to itself.",
	"It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.",
}

func encryptString(t *testing.T, text string, o EncryptOptions) string {
	t.Helper()
	var out bytes.Buffer
	if err := Encrypt(context.Background(), strings.NewReader(text), &out, o); err != nil {
		t.Fatalf("Encrypt(%+v): %v", o, err)
	}
	return out.String()
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		opts   EncryptOptions
		family string
		cipher string
	}{
		{"original", EncryptOptions{Cipher: "original"}, FamilyAuto, "original"},
		{"original shift 17", EncryptOptions{Cipher: "original", Shift: 17}, FamilyAuto, "original"},
		{"ascii", EncryptOptions{Cipher: "ascii", Shift: 40}, FamilyAuto, "ascii"},
		{"caesar", EncryptOptions{Cipher: "caesar"}, FamilyAuto, "caesar"},
		{"rot13 forced shift", EncryptOptions{Cipher: "caesar", Shift: 13}, FamilyShift, "caesar"},
		{"substitution", EncryptOptions{Seed: 7, HasSeed: true}, FamilyAuto, "substitution"},
		{"substitution forced", EncryptOptions{Seed: 8, HasSeed: true}, FamilySubstitution, "substitution"},
		{"substitution fixed key", EncryptOptions{Key: "QWERTYUIOPASDFGHJKLZXCVBNM"}, "", "substitution"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, plain := range heldOut {
				ct := strings.TrimSuffix(encryptString(t, plain+"\n", tt.opts), "\n")
				if ct == plain {
					t.Fatalf("ciphertext equals plaintext %q", plain)
				}
				res, err := Decrypt(ct, tt.family)
				if err != nil {
					t.Fatal(err)
				}
				if res.Text != plain || res.Cipher != tt.cipher {
					t.Errorf("Decrypt(%q) = %q (%s), want %q (%s)", ct, res.Text, res.Cipher, plain, tt.cipher)
				}
			}
		})
	}
}

// The original demo shifted "hello world!" to "ifmmp!xpsme\"".
func TestOriginalAlphabet(t *testing.T) {
	if len(originalAlphabet) != 91 {
		t.Fatalf("original alphabet has %d characters, want 91", len(originalAlphabet))
	}
	got := encryptString(t, "hello world!\n", EncryptOptions{Cipher: "original"})
	if want := "ifmmp!xpsme\"\n"; got != want {
		t.Errorf("original cipher of hello world! = %q, want %q", got, want)
	}
}

// Whole texts are encrypted with their newlines and cut into 128-character
// lines, each of which decrypts to its piece, newlines restored.
func TestWhole(t *testing.T) {
	plain := strings.Join(heldOut, "\n") + "\n"
	ct := encryptString(t, plain, EncryptOptions{Cipher: "original", Whole: true})
	var got strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(ct, "\n"), "\n") {
		if len(line) > wholeLine {
			t.Fatalf("line of %d characters, want at most %d", len(line), wholeLine)
		}
		res, err := Decrypt(line, FamilyAuto)
		if err != nil {
			t.Fatal(err)
		}
		got.WriteString(res.Text)
	}
	if got.String() != plain {
		t.Errorf("decrypted whole text:\n%q\nwant\n%q", got.String(), plain)
	}
}

// Lines without letters decrypt by their layout: the original cipher turns
// a rule of asterisks into commas and spaces into '!', which left as they
// are (as Caesar would) are as plausible to letter statistics alone.
func TestLayoutLine(t *testing.T) {
	for _, plain := range []string{
		strings.Repeat(" ", 45) + "*\n" + strings.Repeat("*", 72) + "\n\n" + strings.Repeat("*", 7),
		strings.Repeat("-", 40) + "\n\n" + strings.Repeat("=", 30),
		"    * * *    \n",
	} {
		ct := strings.TrimSuffix(encryptString(t, plain, EncryptOptions{Cipher: "original", Whole: true}), "\n")
		res, err := Decrypt(ct, FamilyAuto)
		if err != nil {
			t.Fatal(err)
		}
		if res.Text != plain || res.Cipher != string(CipherOriginal) {
			t.Errorf("Decrypt(%q) = %q (%s), want %q (original)", ct, res.Text, res.Cipher, plain)
		}
	}
}

func TestEncryptErrors(t *testing.T) {
	for _, o := range []EncryptOptions{
		{Cipher: "vigenere"},
		{Cipher: "caesar", Whole: true},
		{Cipher: "caesar", Key: "qwertyuiopasdfghjklzxcvbnm"},
		{Key: "abc"},
	} {
		err := Encrypt(context.Background(), strings.NewReader("x\n"), new(bytes.Buffer), o)
		if err == nil {
			t.Errorf("Encrypt(%+v) succeeded, want an error", o)
		}
	}
}

func TestEncryptSeed(t *testing.T) {
	o := EncryptOptions{Seed: 42, HasSeed: true}
	a := encryptString(t, "same line\nsame line\n", o)
	b := encryptString(t, "same line\nsame line\n", o)
	if a != b {
		t.Errorf("same seed, different ciphertext: %q and %q", a, b)
	}
	if lines := strings.Split(a, "\n"); lines[0] == lines[1] {
		t.Errorf("two lines share a key: %q", a)
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		in, err string
	}{
		{"qwertyuiopasdfghjklzxcvbnm", ""},
		{"QWERTYUIOPASDFGHJKLZXCVBNM", ""},
		{"qwerty", "has 6 characters"},
		{"qwertyuiopasdfghjklzxcvbnq", "appears twice"},
		{"qwertyuiopasdfghjklzxcvbn1", "not a letter"},
		{"qwertyuiopasdfghjklzxcvbnmm", "has 27 characters"},
		{"", "has 0 characters"},
	}
	for _, tt := range tests {
		k, err := ParseKey(tt.in)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("ParseKey(%q): %v", tt.in, err)
		case tt.err == "" && k.String() != strings.ToLower(tt.in):
			t.Errorf("ParseKey(%q) = %q", tt.in, k)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseKey(%q) error %v, want one saying %q", tt.in, err, tt.err)
		}
	}
}

func TestDecryptEdgeCases(t *testing.T) {
	if _, err := Decrypt("abc", "rot"); err == nil || !strings.Contains(err.Error(), "auto, shift or substitution") {
		t.Errorf("bad family: error %v, want the families listed", err)
	}
	for _, in := range []string{"", "a", "Hi", "!!!", "12345", "\xff\xfe\x00abc", "caf\xc3\xa9 au lait", strings.Repeat("z", 300)} {
		for _, fam := range []string{FamilyAuto, FamilyShift, FamilySubstitution} {
			res, err := Decrypt(in, fam)
			if err != nil {
				t.Errorf("Decrypt(%q, %s): %v", in, fam, err)
			}
			if len(res.Text) != len(in) {
				t.Errorf("Decrypt(%q, %s) = %q, not as long as the input", in, fam, res.Text)
			}
		}
	}
	// Bytes outside every alphabet pass through: the caesar shift of a
	// line with invalid UTF-8 keeps those bytes.
	plain := "the light of \xff\xfe the sun is made of rays of many colours \xc3\xa9"
	ct := strings.TrimSuffix(encryptString(t, plain+"\n", EncryptOptions{Cipher: "caesar", Shift: 5}), "\n")
	if res, _ := Decrypt(ct, FamilyAuto); res.Text != plain {
		t.Errorf("Decrypt(%q) = %q, want %q", ct, res.Text, plain)
	}
}

// testdata/crypt.txt at the root is the sample users run first; it must
// decrypt exactly. internal/model/testdata/crypt.plain is its plaintext.
func TestCryptSample(t *testing.T) {
	ct, err := os.ReadFile(filepath.Join("..", "..", "testdata", "crypt.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "crypt.plain"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Serve(context.Background(), bytes.NewReader(ct), &out, ServeOptions{}); err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Errorf("testdata/crypt.txt decrypts to\n%s\nwant\n%s", out.String(), want)
	}
}

func FuzzDecrypt(f *testing.F) {
	for _, s := range append([]string{"", "\xff", "ifmmp!xpsme\"", "Uryyb jbeyq"}, heldOut...) {
		f.Add(s, "auto")
	}
	f.Fuzz(func(t *testing.T, line, family string) {
		res, err := Decrypt(line, family)
		if err != nil {
			if _, ferr := checkFamily(family); ferr == nil {
				t.Fatalf("Decrypt(%q, %q): %v", line, family, err)
			}
			return
		}
		if len(res.Text) != len(line) {
			t.Fatalf("Decrypt(%q) = %q: length changed", line, res.Text)
		}
	})
}

func BenchmarkDecryptSubstitution(b *testing.B) {
	k, _ := ParseKey("qwertyuiopasdfghjklzxcvbnm")
	line := string(k.encrypt([]byte(heldOut[1])))
	for b.Loop() {
		if _, err := Decrypt(line, FamilyAuto); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseStats measures decoding the embedded tables, which every
// model process pays before its first answer.
func BenchmarkParseStats(b *testing.B) {
	for b.Loop() {
		if _, err := parseStats(englishBin); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTrainFormat trains tables from a few words and checks what the
// solver reads back: words with apostrophes, names (capitalised only in the
// list), pairs kept only where they differ from the backoff, the backoff
// otherwise, and nothing for an unknown word.
func TestTrainFormat(t *testing.T) {
	d := TrainData{
		Text:    []byte("the cat sat on the mat. we need it."),
		Words:   []WordProb{{"the", -1.2}, {"we", -2}, {"need", -3}, {"be", -2.1}, {"don't", -3}, {"'bout", -5}, {"a.", -4}},
		Backoff: []float64{-0.3, -0.2, -0.1, -0.4, 0, 0, 0},
		Bigrams: []Bigram{
			{First: 1, Second: 2, LogP: -1},   // we need: +2 over need, far from we's backoff: kept
			{First: 3, Second: 2, LogP: -3.1}, // be need: -0.1, within pairKeep of be's -0.4: dropped
		},
		List:       []byte("Juliet\nmark\nMark\ncat\n"),
		GivenNames: []byte("John\nJ\nR\nWilliam\n"),
		Trigrams: []Trigram{
			{A: 3, B: 1, C: 2, LogP: -0.1, Bigram: -1}, // be we need: +0.9 over we need: kept
			{A: 0, B: 1, C: 2, LogP: -0.5, Bigram: -1}, // the we need: +0.5, under tripleKeep: dropped
		},
	}
	b, err := Train(d)
	if err != nil {
		t.Fatal(err)
	}
	st, err := parseStats(b)
	if err != nil {
		t.Fatal(err)
	}
	// Initials: J began two names of four, R and W one each, the other
	// letters none (but they may still be initials).
	if j, r, x := st.initial['j'-'a'], st.initial['r'-'a'], st.initial['x'-'a']; !(j > r && r > x) || x < -3 {
		t.Errorf("initials: log10 P(J) %.2f, P(R) %.2f, P(X) %.2f; want J > R > X > -3", j, r, x)
	}
	find := func(w string) *wordSlot {
		sym := make([]byte, len(w))
		for i := range len(w) {
			sym[i] = wordSymbol(w[i])
		}
		return st.vocab.find(sym)
	}
	for _, tt := range []struct {
		word       string
		known      bool
		name       bool
		logpAtMost float32
	}{
		{"the", true, false, -1.1},
		{"don't", true, false, -2.9},
		{"juliet", true, true, listLogP + 0.1},
		{"mark", true, false, listLogP + 0.1}, // in the list in both cases
		{"cat", true, false, listLogP + 0.1},
		{"bout", false, false, 0}, // a leading apostrophe is not part of a word
		{"a", false, false, 0},    // "a." is not a word
		{"dog", false, false, 0},
	} {
		slot := find(tt.word)
		if (slot != nil) != tt.known {
			t.Errorf("%q known: %v, want %v", tt.word, slot != nil, tt.known)
			continue
		}
		if slot != nil && (slot.name != tt.name || slot.logp > tt.logpAtMost) {
			t.Errorf("%q: name %v, log10 p %.2f; want name %v, log10 p at most %.2f", tt.word, slot.name, slot.logp, tt.name, tt.logpAtMost)
		}
	}
	we, need, be := find("we").id, find("need").id, find("be").id
	if got := st.assoc(we, need); got < 1.9 || got > 2.1 {
		t.Errorf("assoc(we, need) = %.2f, want 2", got)
	}
	if got := st.assoc(be, need); got != -0.375 { // be's backoff, quantised
		t.Errorf("assoc(be, need) = %.3f, want be's backoff -0.375", got)
	}
	the := find("the").id
	if got := st.assoc3(be, we, need); got < 0.8 || got > 1 {
		t.Errorf("assoc3(be, we, need) = %.2f, want 0.9", got)
	}
	for _, tr := range [][3]int32{{the, we, need}, {we, be, need}, {-1, we, need}} {
		if got := st.assoc3(tr[0], tr[1], tr[2]); got != 0 {
			t.Errorf("assoc3%v = %.2f, want 0: not listed", tr, got)
		}
	}
	if got := st.assoc(-1, need); got != 0 {
		t.Errorf("assoc(unknown, need) = %.2f, want 0", got)
	}

	// With a share of the running text, a word it uses often gains.
	d.TextShare = 0.5
	d.Text = []byte("we need we need we need the cat")
	if b, err = Train(d); err != nil {
		t.Fatal(err)
	}
	if st, err = parseStats(b); err != nil {
		t.Fatal(err)
	}
	if p := find("need").logp; p < -1 {
		t.Errorf("need: log10 p %.2f with half the weight on a text where it is 1 word in 7, want more than -1", p)
	}

	// With a share of the text in the pairs, a pair the text repeats is
	// listed.
	d.PairShare = 0.5
	d.Text = []byte("the cat. the cat. the cat. we need it")
	if b, err = Train(d); err != nil {
		t.Fatal(err)
	}
	if st, err = parseStats(b); err != nil {
		t.Fatal(err)
	}
	the, cat := find("the").id, find("cat").id
	// Pairs are counted as the solver makes them: a sentence break
	// parts two words.
	var words []string
	for _, w := range textTokens([]byte("The cat, the dog. Don't 'bout (it)")) {
		words = append(words, w.word)
	}
	if want := []string{"the", "cat", "the", "dog", "", "don't", "bout", "", "it", ""}; !slices.Equal(words, want) {
		t.Errorf("textTokens = %q, want %q", words, want)
	}
	if got, bo := st.assoc(the, cat), st.words[the].backoff; got < bo+pairKeep {
		t.Errorf("assoc(the, cat) = %.2f, want at least %.2f above the's backoff %.2f: the text has it three times", got, pairKeep, bo)
	}
}

// The solver scores the words of a line: identifiers made of words count
// as those words, other mixtures of case as one word.
func TestWordsOfLine(t *testing.T) {
	p := DefaultParams()
	for _, tt := range []struct{ line, want string }{
		{"TypeSwitchGuard = x", "type switch guard x"},
		{"SubjectKeyId", "subject key id"},
		{"TeX and iPhone", "tex and iphone"},
		{"D'Arcy said McGee", "d'arcy said mc gee"},
		{"HTTPServer", "httpserver"},
	} {
		s := newSubst(english(), &p, []byte(tt.line))
		var words []string
		for _, w := range s.words {
			var b strings.Builder
			for _, c := range w {
				b.WriteByte("abcdefghijklmnopqrstuvwxyz'"[min(int(c), 26)])
			}
			words = append(words, b.String())
		}
		if got := strings.Join(words, " "); got != tt.want {
			t.Errorf("words of %q: %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestPattern(t *testing.T) {
	for _, tt := range []struct{ word, want string }{
		{"that", "0120"},
		{"high", "0120"},
		{"the", "012"},
		{"don't", "012'3"},
		{"see", "011"},
	} {
		sym := make([]byte, len(tt.word))
		for i := range len(tt.word) {
			sym[i] = wordSymbol(tt.word[i])
		}
		var got strings.Builder
		for _, c := range pattern(sym) {
			if c == '\'' {
				got.WriteByte(c)
			} else {
				got.WriteByte('0' + c)
			}
		}
		if got.String() != tt.want {
			t.Errorf("pattern(%q) = %q, want %q", tt.word, got.String(), tt.want)
		}
	}
}

// A line that repeats a few words leads every climb to the same wrong
// optimum ("A side so fair, arm a side so gone"), several letters away
// from the right key; the word kicks reach it.
func TestRepetitiveLine(t *testing.T) {
	const (
		plain  = "A time to gain, and a time to lose; A time to keep, and a time to throw away; A time to tear, and a time to sew; A time to keep"
		cipher = "C kpvs kw acpl, clo c kpvs kw bwus; C kpvs kw gssm, clo c kpvs kw kjfwq cqch; C kpvs kw kscf, clo c kpvs kw usq; C kpvs kw gssm"
	)
	res, err := Decrypt(cipher, FamilySubstitution)
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != plain {
		t.Errorf("Decrypt(%q)\n = %q\nwant %q", cipher, res.Text, plain)
	}
}
