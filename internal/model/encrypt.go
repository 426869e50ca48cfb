package model

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"unicode/utf8"
)

// Key is a substitution key: Key[i] is the lower-case letter that plain
// letter 'a'+i becomes.
type Key [26]byte

// String returns the key as 26 lower-case letters, as ParseKey reads it.
func (k Key) String() string { return string(k[:]) }

// ParseKey reads a substitution key: the 26 letters that a..z become, in
// either case, each exactly once.
func ParseKey(s string) (Key, error) {
	var k Key
	if n := utf8.RuneCountInString(s); n != 26 {
		return k, fmt.Errorf("key %q has %d characters; want the 26 letters a..z become, each once", s, n)
	}
	var seen [26]bool
	for i, r := range []rune(s) {
		if r >= utf8.RuneSelf || (r|0x20) < 'a' || (r|0x20) > 'z' {
			return k, fmt.Errorf("key %q: %q at position %d is not a letter", s, r, i+1)
		}
		c := byte(r) | 0x20 // fold ASCII case
		if seen[c-'a'] {
			return k, fmt.Errorf("key %q: letter %q appears twice", s, c)
		}
		seen[c-'a'] = true
		k[i] = c
	}
	return k, nil
}

// randomKey draws a key uniformly from the 26! permutations.
func randomKey(r *rand.Rand) Key {
	var k Key
	for i, p := range r.Perm(26) {
		k[i] = 'a' + byte(p)
	}
	return k
}

// encrypt applies k to text, keeping case and all other bytes.
func (k Key) encrypt(text []byte) []byte {
	out := make([]byte, len(text))
	for i, x := range text {
		switch {
		case 'a' <= x && x <= 'z':
			out[i] = k[x-'a']
		case 'A' <= x && x <= 'Z':
			out[i] = k[x-'A'] - 'a' + 'A'
		default:
			out[i] = x
		}
	}
	return out
}

// EncryptOptions configures Encrypt.
type EncryptOptions struct {
	// Cipher is substitution (the default when empty), original, caesar or
	// ascii.
	Cipher string
	// Seed makes substitution keys reproducible when HasSeed is set;
	// otherwise each run draws fresh random keys.
	Seed    int64
	HasSeed bool
	// Key fixes the substitution key for every line (see ParseKey) instead
	// of a fresh random key per line.
	Key string
	// Shift is the shift of original, caesar and ascii. Zero means the
	// usual one: 1 for original and ascii (the next character), 3 for
	// caesar.
	Shift int
	// Whole encrypts the input as one text, newlines included, and cuts the
	// ciphertext into lines of wholeLine characters, as the original demo
	// made its ciphertext. Only for the original cipher, the one alphabet
	// that contains the newline.
	Whole bool
}

// wholeLine is the line length of Whole ciphertext, the original demo's.
const wholeLine = 128

// Encrypt reads plaintext lines from in and writes one ciphertext line per
// line to out (with Whole, lines of 128 characters instead). It returns at
// EOF, on a write error, or when ctx is done.
func Encrypt(ctx context.Context, in io.Reader, out io.Writer, o EncryptOptions) error {
	enc, err := newEncrypter(o)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	br := bufio.NewReader(in)
	if o.Whole {
		text, err := io.ReadAll(br)
		if err != nil {
			return fmt.Errorf("read plaintext: %w", err)
		}
		for _, chunk := range CutRunes(enc(text), wholeLine) {
			w.Write(chunk)
			w.WriteByte('\n')
		}
		return w.Flush()
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		line, err := readLine(br)
		if line != nil {
			w.Write(enc(line))
			w.WriteByte('\n')
		}
		if errors.Is(err, io.EOF) {
			return w.Flush()
		}
		if err != nil {
			return fmt.Errorf("read plaintext: %w", err)
		}
	}
}

// newEncrypter returns the function that encrypts one line (or, with Whole,
// the whole text).
func newEncrypter(o EncryptOptions) (func([]byte) []byte, error) {
	c := Cipher(strings.ToLower(o.Cipher))
	if c == "" {
		c = CipherSubstitution
	}
	if o.Whole && c != CipherOriginal {
		return nil, fmt.Errorf("whole-text encryption needs the original cipher, not %s; its alphabet is the only one with the newline", c)
	}
	if o.Key != "" && c != CipherSubstitution {
		return nil, fmt.Errorf("a key is for the substitution cipher, not %s; use a shift instead", c)
	}
	shiftBy := func(a *shiftAlphabet, def int) func([]byte) []byte {
		n := o.Shift
		if n == 0 {
			n = def
		}
		t := a.table(n)
		return func(b []byte) []byte {
			out := make([]byte, len(b))
			mapBytes(out, b, t)
			return out
		}
	}
	switch c {
	case CipherOriginal:
		return shiftBy(originalShift, 1), nil
	case CipherASCII:
		return shiftBy(asciiShift, 1), nil
	case CipherCaesar:
		return shiftBy(caesarShift, 3), nil
	case CipherSubstitution:
		if o.Key != "" {
			k, err := ParseKey(o.Key)
			if err != nil {
				return nil, err
			}
			return k.encrypt, nil
		}
		r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		if o.HasSeed {
			r = rand.New(rand.NewPCG(uint64(o.Seed), 0))
		}
		return func(b []byte) []byte { return randomKey(r).encrypt(b) }, nil
	}
	return nil, fmt.Errorf("unknown cipher %q; use substitution, original, caesar or ascii", o.Cipher)
}

// CutRunes cuts b into pieces of n characters (the last may be shorter),
// never inside a UTF-8 sequence; invalid bytes count as one character each.
// Encrypt cuts Whole ciphertext this way; the evaluation cuts plaintext alike.
func CutRunes(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i, count := 0, 0
		for i < len(b) && count < n {
			_, size := utf8.DecodeRune(b[i:])
			i += size
			count++
		}
		out = append(out, b[:i])
		b = b[i:]
	}
	return out
}
