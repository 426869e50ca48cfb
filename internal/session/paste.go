package session

import (
	"bytes"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// pasteReader is the line editor's stdin. readline (ergochat v0.1.3, the
// latest) takes keys one at a time, and for each character typed at the
// end of the line splits the whole line into screen rows (runeBuffer.append
// calls isInLineEdge) and copies it twice (for the Listener and the
// history): a pasted line of n characters cost O(n²), 47 s for 50 KB
// (BenchmarkPaste). So pasteReader hands readline only the first character
// of a run of text that came at once, and keeps the rest for the prompt's
// Listener, which puts it into the line in one go, with one redraw: see
// take. A run is the text of a bracketed paste, which the terminal marks
// once asked to (pasteOn); from a terminal that does not mark pastes, the
// text that came together, with no pause of burstWait if it is long
// enough to be a paste (burstMin). A paste arrives a pseudo-terminal's
// buffer (4 KB) at a time: a run per part would redraw the whole line for
// each, which is quadratic again, and leave copies of a line taller than
// the screen in the scrollback. Control characters and escape sequences
// are keys: they reach readline as they came, in order with the text.
//
// readline also asks where the cursor is as it starts each line, and takes
// the keys that come before the answer one at a time; in a paste of many
// lines, that is every line after the first. So the answer, when asked
// for, is handed over first.
type pasteReader struct {
	in io.Reader
	// ready waits up to d for in to have more to read and says whether it
	// has; nil if in cannot tell.
	ready func(d time.Duration) bool

	// mu guards first and rest, which Read and the editor's goroutine
	// race to: rest is the run that followed first, the last character
	// Read returned, until take takes it or the next Read returns it.
	mu    sync.Mutex
	first rune
	rest  []byte

	// cprWanted is set by cprWatch when readline asks where the cursor
	// is, and cleared when Read returns the answer.
	cprWanted atomic.Bool

	// The reading goroutine's own:
	buf     []byte // buf[start:] is read from in and not yet looked at
	start   int
	err     error  // in's, returned once buf is used up
	pasting bool   // between the marks of a bracketed paste
	known   int    // buf[start:start+known] is text: a run not yet ended
	cprScan int    // buf[start:start+cprScan] holds no answer
	out     []byte // to return as it is, before buf
}

// Bracketed paste (xterm's mode 2004): once on, the terminal sends a paste
// between pasteStart and pasteEnd.
const (
	pasteOn       = "\x1b[?2004h"
	pasteOff      = "\x1b[?2004l"
	pasteStart    = "\x1b[200~"
	pasteEnd      = "\x1b[201~"
	cprAsk        = "\x1b[6n" // readline's cursor position query
	pasteReadSize = 4 << 10   // the least room fill reads into

	// A run of text this long that fills what has come may be a paste
	// that goes on: wait this long for more before handing it over.
	// Typing brings one character at a time.
	burstMin  = 256
	burstWait = 10 * time.Millisecond
)

func newPasteReader(in *os.File) *pasteReader {
	fd := int32(in.Fd())
	return &pasteReader{in: in, ready: func(d time.Duration) bool {
		fds := []unix.PollFd{{Fd: fd, Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, int(d.Milliseconds()))
			if err != unix.EINTR {
				return err == nil && n > 0
			}
		}
	}}
}

// Read returns keys: a run of text, an escape sequence, control characters,
// or the first character of a run that take may take the rest of.
func (r *pasteReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	if r.rest != nil {
		// Not taken: the first character did not go into the line (a
		// history search took it). readline gets the rest as typed.
		r.out, r.rest = append(r.rest, r.out...), nil
	}
	r.mu.Unlock()
	if len(r.out) > 0 {
		n := copy(p, r.out)
		r.out = r.out[n:]
		return n, nil
	}
	for {
		in, eof := r.buf[r.start:], r.err != nil
		if r.cprWanted.Load() && !eof {
			i, n := findCPR(in, r.cprScan)
			if n == 0 {
				r.cprScan = i
				r.fill()
				continue
			}
			r.cprWanted.Store(false)
			r.cprScan, r.known = 0, 0
			cpr := bytes.Clone(in[i : i+n])
			r.buf = append(r.buf[:r.start+i], in[i+n:]...)
			return r.give(p, cpr), nil
		}
		if len(in) == 0 {
			if eof {
				return 0, r.err
			}
			r.fill()
			continue
		}
		n, complete := keyLen(in, r.pasting, r.known)
		if !complete && !eof {
			if isText(in[0]) {
				r.known = n // not to scan it again: a paste may take many reads
			}
			r.fill()
			continue
		}
		if n == len(in) && n >= burstMin && isText(in[0]) && !eof && r.ready != nil && r.ready(burstWait) {
			r.known = n // a paste, still coming
			r.fill()
			continue
		}
		if n == 0 {
			n = len(in) // cut short by EOF: as it came
		}
		key := in[:n]
		r.start, r.known = r.start+n, 0
		switch string(key) {
		case pasteStart:
			r.pasting = true
			continue
		case pasteEnd:
			r.pasting = false
			continue
		}
		_, size := utf8.DecodeRune(key)
		if !isText(key[0]) || size == len(key) || size > len(p) {
			return r.give(p, key), nil
		}
		r.mu.Lock()
		r.first, _ = utf8.DecodeRune(key)
		r.rest = bytes.Clone(key[size:])
		r.mu.Unlock()
		return copy(p, key[:size]), nil
	}
}

// give returns b, keeping what p has no room for for the next Read.
func (r *pasteReader) give(p, b []byte) int {
	n := copy(p, b)
	r.out = append(r.out[:0], b[n:]...)
	return n
}

// fill reads more from in.
func (r *pasteReader) fill() {
	if r.start == len(r.buf) {
		r.buf, r.start = r.buf[:0], 0
	}
	if cap(r.buf)-len(r.buf) < pasteReadSize {
		if r.start > 0 {
			r.buf = r.buf[:copy(r.buf, r.buf[r.start:])]
			r.start = 0
		}
		if cap(r.buf)-len(r.buf) < pasteReadSize {
			r.buf = append(make([]byte, 0, 2*cap(r.buf)+pasteReadSize), r.buf...)
		}
	}
	n, err := r.in.Read(r.buf[len(r.buf):cap(r.buf)])
	r.buf = r.buf[:len(r.buf)+n]
	if err != nil {
		r.err = err
	}
}

// take returns the rest of the run that key began, for the editor to put
// into the line after key, or nil. The editor calls it as soon as it has
// handled key, which Read returned last; so the rest comes straight after
// key, as it did from the terminal. If it does not call take, the next
// Read returns the rest to readline.
func (r *pasteReader) take(key rune) []rune {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rest == nil || key != r.first {
		return nil
	}
	rest := []rune(string(r.rest)) // invalid UTF-8 becomes U+FFFD, byte by byte, as readline's reads make it
	r.rest = nil
	return rest
}

// keyLen is the length of the key b starts with: an escape sequence, a
// control character, or a run of text (characters that are not controls),
// of which the first known bytes are known to be text. complete is false
// if more input may lengthen it: a sequence or a character cut short, or,
// when pasting, a run that goes on to the end of b. n is 0 when b is an
// escape sequence cut short.
func keyLen(b []byte, pasting bool, known int) (n int, complete bool) {
	switch {
	case b[0] == 0x1b:
		n := escLen(b)
		return n, n > 0
	case !isText(b[0]):
		return 1, true
	}
	n = max(1, known)
	for n < len(b) && isText(b[n]) {
		n++
	}
	if n < len(b) {
		return n, true
	}
	// The run goes to the end of b: its last character may be cut in two.
	for i := n - 1; i >= 0 && i >= n-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i, i > 0 && !pasting
			}
			break
		}
	}
	return n, !pasting
}

func isText(c byte) bool { return c >= 0x20 && c != 0x7f }

// escLen is the length of the escape sequence b starts with, as readline
// reads them (terminal.consumeANSIEscape): ESC [ or ESC O, then digits and
// semicolons, then one character; or ESC and one character (Alt). 0: cut
// short.
func escLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	if b[1] != '[' && b[1] != 'O' {
		if b[1] == 0x1b {
			return 1 // the second ESC starts a sequence of its own
		}
		if !utf8.FullRune(b[1:]) {
			return 0
		}
		_, size := utf8.DecodeRune(b[1:])
		return 1 + size
	}
	i := 2
	for i < len(b) && (b[i] == ';' || '0' <= b[i] && b[i] <= '9') {
		i++
	}
	if i == len(b) || !utf8.FullRune(b[i:]) {
		return 0
	}
	_, size := utf8.DecodeRune(b[i:])
	return i + size
}

// findCPR finds a cursor position report (ESC [ row ; col R) in b, looking
// from from on, and returns where it starts and its length; n is 0 if b
// holds none, and i then where to look from once b is longer.
func findCPR(b []byte, from int) (i, n int) {
	for {
		j := bytes.IndexByte(b[from:], 0x1b)
		if j < 0 {
			return len(b), 0
		}
		i = from + j
		k := i + 1
		if k < len(b) && b[k] == '[' {
			k++
			digits, semi := 0, false
			for k < len(b) && (b[k] == ';' && !semi && digits > 0 || '0' <= b[k] && b[k] <= '9') {
				semi = semi || b[k] == ';'
				digits++
				k++
			}
			if k < len(b) && b[k] == 'R' && semi && b[k-1] != ';' {
				return i, k + 1 - i
			}
		}
		if k == len(b) {
			return i, 0 // may be one, cut short
		}
		from = i + 1
	}
}

// cprWatch passes readline's output on to the terminal and tells r when it
// asks where the cursor is.
type cprWatch struct {
	w io.Writer
	r *pasteReader
}

func (c cprWatch) Write(b []byte) (int, error) {
	if string(b) == cprAsk {
		c.r.cprWanted.Store(true) // before the terminal can answer
	}
	return c.w.Write(b)
}
