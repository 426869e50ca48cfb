package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SplitLines splits data into the requests, one a line, without line
// endings ("\n" or "\r\n"); a last line without "\n" counts. With
// skipEmpty, blank lines are left out, as the run leaves them out
// (--skip-empty): they would be no requests. It is an error (ErrNoLines)
// for data to hold none. The lines are data's: a file of a million lines
// costs no allocation per line.
func SplitLines(data []byte, skipEmpty bool) ([][]byte, error) {
	lines := make([][]byte, 0, bytes.Count(data, []byte("\n"))+1)
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		data = rest
		line = bytes.TrimSuffix(line, []byte("\r"))
		if !skipEmpty || len(bytes.TrimSpace(line)) > 0 {
			lines = append(lines, line[:len(line):len(line)])
		}
	}
	if len(lines) == 0 {
		return nil, ErrNoLines
	}
	return lines, nil
}

// ErrNoLines: ReadLines found no request.
var ErrNoLines = errors.New("no requests in it")

// ParseWindows parses --window's list, "1,8,64": each a whole number of
// requests in flight, 1 or more, none twice.
func ParseWindows(s string) ([]int, error) {
	var ws []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(f)
		switch {
		case f == "":
			return nil, fmt.Errorf("--window %q has an empty item; give windows separated by commas, such as 1,8,64", s)
		case err != nil:
			return nil, fmt.Errorf("--window %q: %q is not a whole number; give windows separated by commas, such as 1,8,64", s, f)
		case n < 1:
			return nil, fmt.Errorf("--window %q: each window must be 1 or more, not %d", s, n)
		}
		for _, w := range ws {
			if w == n {
				return nil, fmt.Errorf("--window %q gives %d twice", s, n)
			}
		}
		ws = append(ws, n)
	}
	return ws, nil
}

// feed is the input of one run, an io.Reader the session reads its
// requests from: the warm-up requests first, then, once every one of them
// has ended (the meter's gate), the measured ones, until there have been
// enough of them or their time is up. The lines are given in a loop from
// a starting place, each followed by "\n".
//
// One goroutine reads it (the session's reader); Close, from another,
// ends a Read that waits at the gate.
type feed struct {
	lines [][]byte
	pos   int // the line being given, or next
	off   int // bytes of lines[pos] given, 0 between lines; len+1 never
	warm  int // warm-up requests not yet started
	left  int // measured requests not yet started; -1: until the deadline
	m     *meter

	dur      time.Duration // with left -1: how long the measured requests are sent
	deadline time.Time     // set once past the gate
	gated    bool          // past the gate

	stop      chan struct{} // closed by Close
	closeOnce sync.Once
}

// newFeed gives warm requests then n measured ones (n 0: for dur), the
// first measured one being lines[from % len(lines)] and the warm-up ones
// the lines before it.
func newFeed(lines [][]byte, from, warm, n int, dur time.Duration, m *meter) *feed {
	l := len(lines)
	f := &feed{lines: lines, pos: ((from-warm)%l + l) % l, warm: warm, left: n, m: m, dur: dur, stop: make(chan struct{})}
	if n == 0 {
		f.left = -1
	}
	return f
}

// Close ends the feed: a Read waiting at the gate, and all after, return
// EOF. The session closes its input when it stops before the end.
func (f *feed) Close() error {
	f.closeOnce.Do(func() { close(f.stop) })
	return nil
}

func (f *feed) Read(p []byte) (int, error) {
	select {
	case <-f.stop:
		return 0, io.EOF
	default:
	}
	if f.off == 0 && f.warm == 0 && !f.gated {
		// The measured requests wait for the warm-up to be over, so
		// that they find the children started and the pipes empty.
		select {
		case <-f.m.gate:
		case <-f.stop:
			return 0, io.EOF
		}
		f.gated = true
		if f.left < 0 {
			f.deadline = f.m.steadyAt.Add(f.dur)
		}
	}
	limit := len(p) // lines at most in this read
	if f.gated && f.left < 0 {
		if f.m.noChild.Load() || !time.Now().Before(f.deadline) {
			f.left = 0 // time is up, or no child is left to answer
		}
		// A few milliseconds' worth of requests at a time, so that few
		// are still queued in the session when time is up.
		limit = f.m.perRead()
	}
	n, lines := 0, 0
	for n < len(p) {
		if f.off == 0 {
			if lines == limit || !f.take() {
				break
			}
			lines++
		}
		line := f.lines[f.pos]
		if f.off < len(line) {
			c := copy(p[n:], line[f.off:])
			n, f.off = n+c, f.off+c
			continue
		}
		p[n] = '\n'
		n++
		f.off, f.pos = 0, (f.pos+1)%len(f.lines)
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// take starts another line, if one may be: a warm-up one, or, past the
// gate, a measured one.
func (f *feed) take() bool {
	switch {
	case f.warm > 0:
		f.warm--
		return true
	case !f.gated || f.left == 0:
		return false
	case f.left > 0:
		f.left--
	}
	return true
}
