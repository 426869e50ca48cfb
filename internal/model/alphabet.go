package model

import "fmt"

// originalAlphabet is the sorted list of 91 characters the original demo
// shifted by one. It lacks + = \ ^ { so that the ciphertext of a newline is a
// space and the ciphertext of a space is '!'; kept verbatim for compatibility.
const originalAlphabet = "\n !\"#$%&'()*,-./0123456789:;<>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]_`abcdefghijklmnopqrstuvwxyz|}~"

// asciiAlphabet is printable ASCII, 0x20 to 0x7E.
const asciiAlphabet = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"

// A shiftAlphabet is a family of shift ciphers: each byte in the alphabet moves
// n places along it; other bytes, non-ASCII ones included, stay as they are.
type shiftAlphabet struct {
	cipher Cipher
	chars  string
	pos    [256]int16 // index in chars, or -1
}

func newShiftAlphabet(c Cipher, chars string) *shiftAlphabet {
	a := &shiftAlphabet{cipher: c, chars: chars}
	for i := range a.pos {
		a.pos[i] = -1
	}
	for i := 0; i < len(chars); i++ {
		if a.pos[chars[i]] >= 0 {
			panic(fmt.Sprintf("model: %q repeated in the %s alphabet", chars[i], c))
		}
		a.pos[chars[i]] = int16(i)
	}
	return a
}

// Caesar is a shift alphabet too: two of them, one per case, moved together.
var (
	originalShift = newShiftAlphabet(CipherOriginal, originalAlphabet)
	asciiShift    = newShiftAlphabet(CipherASCII, asciiAlphabet)
	caesarShift   = &shiftAlphabet{cipher: CipherCaesar, chars: "abcdefghijklmnopqrstuvwxyz"}
)

// table returns the byte map that shifts by n (negative n decrypts).
func (a *shiftAlphabet) table(n int) *[256]byte {
	var t [256]byte
	for i := range t {
		t[i] = byte(i)
	}
	if a.cipher == CipherCaesar {
		n = mod(n, 26)
		for i := range 26 {
			t['a'+i] = byte('a' + (i+n)%26)
			t['A'+i] = byte('A' + (i+n)%26)
		}
		return &t
	}
	size := len(a.chars)
	n = mod(n, size)
	for i := 0; i < size; i++ {
		t[a.chars[i]] = a.chars[(i+n)%size]
	}
	return &t
}

// size is the number of distinct shifts.
func (a *shiftAlphabet) size() int { return len(a.chars) }

func mod(n, m int) int {
	n %= m
	if n < 0 {
		n += m
	}
	return n
}

// mapBytes applies a byte map; dst must be as long as src.
func mapBytes(dst, src []byte, t *[256]byte) {
	for i, b := range src {
		dst[i] = t[b]
	}
}
