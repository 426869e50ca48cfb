package session

import (
	"fmt"
	"io"
	"unicode/utf8"
)

// escaper makes a child's output safe to show on a terminal: newline, tab and
// CRLF pass; other C0 controls and DEL are shown in caret notation (^[ for
// ESC), C1 controls as \u0080..\u009f and bytes that are not UTF-8 as \xNN.
// So a child cannot move the cursor, set the title or write the clipboard.
// Bytes of a character split between two writes, and a CR that may be the
// first half of CRLF, are held until the next write or Flush.
type escaper struct {
	w       io.Writer
	pending []byte
	out     []byte
}

func newEscaper(w io.Writer) *escaper { return &escaper{w: w} }

func (e *escaper) Write(p []byte) (int, error) {
	data := p
	if len(e.pending) > 0 {
		data = append(e.pending, p...)
		e.pending = nil
	}
	out := e.out[:0]
	for i := 0; i < len(data); {
		c := data[i]
		switch {
		case c == '\n' || c == '\t':
			out = append(out, c)
			i++
		case c == '\r':
			if i+1 == len(data) {
				e.pending = append(e.pending[:0], c)
				i++
				continue
			}
			if data[i+1] == '\n' {
				out = append(out, '\r', '\n')
				i += 2
				continue
			}
			out = append(out, '^', 'M')
			i++
		case c < 0x20 || c == 0x7f:
			out = append(out, '^', c^0x40)
			i++
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			if !utf8.FullRune(data[i:]) {
				e.pending = append(e.pending[:0], data[i:]...)
				i = len(data)
				continue
			}
			r, size := utf8.DecodeRune(data[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				out = fmt.Appendf(out, `\x%02x`, c)
			case r < 0xa0:
				out = fmt.Appendf(out, `\u%04x`, r)
			default:
				out = append(out, data[i:i+size]...)
			}
			i += size
		}
	}
	e.out = out
	if len(out) == 0 {
		return len(p), nil
	}
	if _, err := e.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush shows what was held back, escaped as it stands.
func (e *escaper) Flush() error {
	if len(e.pending) == 0 {
		return nil
	}
	rest := e.pending
	e.pending = nil
	out := e.out[:0]
	for _, c := range rest {
		if c == '\r' {
			out = append(out, '^', 'M')
		} else {
			out = fmt.Appendf(out, `\x%02x`, c)
		}
	}
	_, err := e.w.Write(out)
	return err
}
