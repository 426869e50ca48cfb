package model

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// heldOut is English that is not in Opticks, the training text.
var heldOut = []string{
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
