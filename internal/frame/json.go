package frame

import (
	"bytes"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The helpers below walk JSON that json.Valid has accepted already, so they
// only need to find where things start and end, not to check them. That
// keeps the per-message cost to json.Valid's one pass plus one more, with
// no allocation, where json.Unmarshal into a map would allocate per key.

// isSpace reports JSON whitespace.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// trimSpace trims JSON whitespace from both ends of b.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// members holds what frame cares about in a JSON object.
type members struct {
	id      []byte // the value of the last "id" member, nil if none
	partial []byte // the value of the last "partial" member, nil if none
	method  []byte // the value of the last "method" member, nil if none
	n       int    // how many members
}

// scanObject finds the members of obj, a valid JSON object with no
// surrounding whitespace. With duplicate keys the last one wins, as in
// encoding/json and Python's json.
func scanObject(obj []byte) members {
	var m members
	i := skipSpace(obj, 1)
	for i < len(obj) && obj[i] == '"' {
		kEnd := skipString(obj, i)
		key := obj[i:kEnd]
		i = skipSpace(obj, kEnd)
		i = skipSpace(obj, i+1) // the ':'
		vEnd := skipValue(obj, i)
		switch {
		case keyIs(key, "id"):
			m.id = obj[i:vEnd]
		case keyIs(key, "partial"):
			m.partial = obj[i:vEnd]
		case keyIs(key, "method"):
			m.method = obj[i:vEnd]
		}
		m.n++
		i = skipSpace(obj, vEnd)
		if i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
	}
	return m
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
		i++
	}
	return i
}

// keyIs reports whether the JSON string key (with its quotes) means name.
func keyIs(key []byte, name string) bool {
	if len(key) == len(name)+2 && string(key[1:len(key)-1]) == name {
		return true
	}
	if bytes.IndexByte(key, '\\') < 0 {
		return false
	}
	var s string // escaped, e.g. "\u0069d": rare, so allocating is fine
	return json.Unmarshal(key, &s) == nil && s == name
}

// idType classifies a JSON value: 's' string, 'n' number, 0 anything else.
func idType(v []byte) byte {
	if len(v) == 0 {
		return 0
	}
	switch c := v[0]; {
	case c == '"':
		return 's'
	case c == '-' || '0' <= c && c <= '9':
		return 'n'
	}
	return 0
}

// appendKey appends the correlation key of id, a JSON string or number
// from valid JSON: a number's value (appendNumberKey), so 1, 1.0 and 1e0
// are the same key, as a child that parses and re-encodes ids (jq,
// JavaScript) answers 1.0 with 1; a string's contents re-quoted by
// appendQuoted, so "é" and "\u00e9" are the same key.
func appendKey(dst, id []byte) []byte {
	if id[0] != '"' {
		return appendNumberKey(dst, id)
	}
	if bytes.IndexByte(id, '\\') < 0 && utf8.Valid(id) {
		return append(dst, id...) // canonical already
	}
	var s string
	if err := json.Unmarshal(id, &s); err != nil {
		return append(dst, id...) // unreachable for valid JSON
	}
	return appendQuoted(dst, []byte(s))
}

// appendNumberKey appends the key of n, a JSON number: its exact value, an
// integer in decimal ("1" for 1.0, 1e0 and 10e-1) or else a fraction in
// lowest terms ("1/2" for 0.5); an integer as written, pipecli's own ids
// among them, is its own key. A number with an exponent beyond ±maxExp,
// whose value would take too long to write out, is its text as written.
func appendNumberKey(dst, n []byte) []byte {
	plain := len(n) > 0
	for i, c := range n {
		if (c < '0' || c > '9') && (i > 0 || c != '-') {
			plain = false
			break
		}
	}
	if plain && string(n) != "-0" {
		return append(dst, n...)
	}
	if i := bytes.IndexAny(n, "eE"); i >= 0 {
		if exp, err := strconv.Atoi(strings.TrimPrefix(string(n[i+1:]), "+")); err != nil || exp > maxExp || exp < -maxExp {
			return append(dst, n...)
		}
	}
	var r big.Rat
	if _, ok := r.SetString(string(n)); !ok {
		return append(dst, n...) // unreachable for valid JSON
	}
	if r.IsInt() {
		return r.Num().Append(dst, 10)
	}
	return append(dst, r.String()...)
}

// maxExp bounds the exponents appendNumberKey works out.
const maxExp = 400

const hexDigits = "0123456789abcdef"

// appendQuoted appends s as a JSON string: `"` and `\` escaped, control
// characters as \n, \r, \t, \b, \f or \u00XX, everything else literal, and
// each byte that is not valid UTF-8 replaced by U+FFFD, as encoding/json
// does, so the result is always valid JSON in valid UTF-8 on one line.
func appendQuoted(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending, to be copied as is
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendValidUTF8 appends b with each byte that is not valid UTF-8
// replaced by U+FFFD.
func appendValidUTF8(dst, b []byte) []byte {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, b[:size]...)
		}
		b = b[size:]
	}
	return dst
}
