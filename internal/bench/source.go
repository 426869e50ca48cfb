package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/progress"
)

// Source is where the requests come from, one a line, sent in a loop: a
// regular file, read as the requests are sent, so that a file of any size
// costs no memory and no time before the children start; or bytes held in
// memory (--line, stdin, a pipe), which must be kept to be sent again.
type Source struct {
	r         io.ReaderAt
	size      int64
	file      *os.File // r's file, if it is one: its requests are counted when asked
	base      int64    // where r starts in file
	requests  int      // in one pass; 0 until counted
	passLen   int64    // the bytes of one pass: size, and the newline given after a last line without one
	skipEmpty bool     // blank lines are no requests (--skip-empty)
}

// ErrNoLines: the source holds no request.
var ErrNoLines = errors.New("no requests in it")

// FileSource is f's lines: read as they are sent if f is a regular file,
// else read whole now. With skipEmpty, blank lines are no requests, as in
// the run (--skip-empty). It says ErrNoLines when there is none. f must
// stay open while the source is used.
func FileSource(f *os.File, skipEmpty bool) (*Source, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		data, err := io.ReadAll(f)
		if err != nil {
			return nil, err
		}
		return BytesSource(data, skipEmpty)
	}
	// From f's offset, as any reader of it would: stdin may be a file a
	// script has read the first lines of.
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	size := max(fi.Size()-off, 0)
	s := &Source{r: io.NewSectionReader(f, off, size), size: size, file: f, base: off, skipEmpty: skipEmpty, passLen: size}
	if s.size > 0 {
		var last [1]byte
		if _, err := s.r.ReadAt(last[:], s.size-1); err != nil {
			return nil, err
		}
		if last[0] != '\n' {
			s.passLen++
		}
	}
	// Is there a request at all? The first one says.
	if err := (&feed{src: s, br: bufio.NewReaderSize(io.NewSectionReader(s.r, 0, s.size), feedBuffer)}).skip(); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrNoLines
		}
		return nil, err
	}
	return s, nil
}

// BytesSource is the lines of data; see FileSource.
func BytesSource(data []byte, skipEmpty bool) (*Source, error) {
	n := 0
	for rest := data; len(rest) > 0; {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		if !skipEmpty || len(bytes.TrimSpace(line)) > 0 {
			n++
		}
	}
	if n == 0 {
		return nil, ErrNoLines
	}
	if len(data) < minMemory && data[len(data)-1] == '\n' {
		// A short text comes again and again: so many copies of it that
		// a read brings many requests, not one.
		data = bytes.Repeat(data, minMemory/len(data)+1)
	}
	return &Source{r: bytes.NewReader(data), size: int64(len(data)), requests: n, skipEmpty: skipEmpty}, nil
}

// minMemory is the least a source held in memory is made of.
const minMemory = 32 << 10

// Requests is how many requests one pass over s makes. A file's are
// counted the first time they are asked for, by track's rule
// (progress.CountLines): only what needs them pays for the reading.
func (s *Source) Requests(ctx context.Context) (int, error) {
	if s.requests == 0 && s.file != nil {
		if _, err := s.file.Seek(s.base, io.SeekStart); err != nil {
			return 0, err
		}
		n, err := progress.CountLines(ctx, s.file, s.skipEmpty)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, ErrNoLines // emptied since
		}
		s.requests = int(n)
	}
	return s.requests, nil
}

// JSONLScan is what one pass over a source finds of its requests in jsonl
// framing (frame.EncodeJSONL).
type JSONLScan struct {
	Requests int
	// GivenID is the first "id" a request gives itself, "" if none does.
	GivenID string
	// Notifications counts the JSON-RPC notifications ("method", no
	// "id"), which no answer follows; Leading, those before the first
	// request that is answered.
	Notifications, Leading int
	// BadLine is the line number of the first request that cannot be
	// sent (0: none), and Bad why.
	BadLine int
	Bad     error
}

// ScanJSONL reads one pass of s as requests in jsonl framing.
func (s *Source) ScanJSONL(ctx context.Context) (JSONLScan, error) {
	var sc JSONLScan
	br := bufio.NewReaderSize(io.NewSectionReader(s.r, 0, s.size), feedBuffer)
	var wire []byte
	answered := false
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long line: read it whole (rare; ReadSlice spares the
			// copy for the others).
			rest, rerr := br.ReadBytes('\n')
			line, err = append(bytes.Clone(line), rest...), rerr
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) > 0 || err == nil {
			if !s.skipEmpty || len(bytes.TrimSpace(line)) > 0 {
				sc.Requests++
				var key string
				var src frame.IDSource
				var eerr error
				wire, key, src, eerr = frame.EncodeJSONL(wire[:0], 0, line)
				switch {
				case eerr != nil:
					if sc.BadLine == 0 {
						sc.BadLine, sc.Bad = n, eerr
					}
				case src == frame.NoID:
					sc.Notifications++
					if !answered {
						sc.Leading++
					}
				default:
					answered = true
					if src == frame.IDGiven && sc.GivenID == "" {
						sc.GivenID = key
					}
				}
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			if s.requests == 0 {
				s.requests = sc.Requests // counted as Requests would
			}
			return sc, nil
		case err != nil:
			return sc, err
		}
		if n%4096 == 0 && ctx.Err() != nil {
			return sc, ctx.Err()
		}
	}
}

// loop reads a source's bytes from an offset, again from the start once
// at the end, with a newline between the passes where the last line has
// none.
type loop struct {
	s   *Source
	off int64
	nl  bool // the last line's missing newline was given
}

func (l *loop) Read(p []byte) (int, error) {
	if l.off >= l.s.size {
		if !l.nl && l.s.size > 0 {
			var last [1]byte
			if _, err := l.s.r.ReadAt(last[:], l.s.size-1); err != nil {
				return 0, err
			}
			if last[0] != '\n' && len(p) > 0 {
				l.nl = true
				p[0] = '\n'
				return 1, nil
			}
		}
		l.off, l.nl = 0, false
	}
	n, err := l.s.r.ReadAt(p[:min(int64(len(p)), l.s.size-l.off)], l.off)
	l.off += int64(n)
	if errors.Is(err, io.EOF) && n > 0 {
		err = nil // the end of a pass
	}
	if n == 0 && err == nil {
		err = io.ErrUnexpectedEOF // the file shrank as it was read
	}
	return n, err
}

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
// enough of them or their time is up. They are the source's lines, in a
// loop from a place given.
//
// One goroutine reads it (the session's reader); Close, from another,
// ends a Read that waits at the gate.
type feed struct {
	src *Source
	br  *bufio.Reader // over a loop of the source
	// rest is what is left to give of the line being given, lent by br;
	// more: the line goes on in br beyond it (longer than br's buffer).
	rest []byte
	more bool
	// next is the line to give next, read but not yet started (lent by
	// br, as rest), with more as for rest.
	next     []byte
	nextMore bool
	warm     int // warm-up requests not yet started
	left     int // measured requests not yet started; untilDeadline, onePass
	m        *meter

	// With left onePass: given counts the requests started, passed the
	// bytes read of the source, measured the measured requests started,
	// and per, once the first pass is read (0 until then), the requests
	// in it, as many as are measured.
	given, measured, per int
	passed               int64

	dur      time.Duration // with left untilDeadline: how long the measured requests are sent
	deadline time.Time     // set once past the gate
	gated    bool          // past the gate

	stop      chan struct{} // closed by Close
	closeOnce sync.Once
	// atGate: a Read waits at the gate, every warm-up request given. The
	// session's loop reads it (starved), while the reader waits.
	atGate atomic.Bool
	// starvedAtGate: the feed ended at the gate, the children waiting
	// for input (starved).
	starvedAtGate atomic.Bool
}

// feedBuffer is how much of the source a feed reads at a time; a line
// longer than this is given in pieces.
const feedBuffer = 64 << 10

// The feed's left, when it is not a count.
const (
	untilDeadline = -1
	// onePass: as many measured requests as one pass over a file holds,
	// learned at its end (the feed starts at its first line).
	onePass = -2
)

// newFeed gives warm requests then n measured ones (n 0: for dur; onePass,
// with from 0), from the source's request from on (counted in a loop over
// it).
func newFeed(ctx context.Context, src *Source, from, warm, n int, dur time.Duration, m *meter) (*feed, error) {
	f := &feed{src: src, br: bufio.NewReaderSize(&loop{s: src}, feedBuffer), warm: warm, left: n, m: m, dur: dur, stop: make(chan struct{})}
	switch {
	case n == 0:
		f.left = untilDeadline
	case n == onePass && src.requests > 0:
		f.per = src.requests // counted already
	case n == onePass && from != 0:
		return nil, errors.New("bench: one pass that does not start at the first line") // a bug of the caller's
	}
	if from == 0 {
		return f, nil
	}
	per, err := src.Requests(ctx)
	if err != nil {
		return nil, err
	}
	for range from % per {
		if err := f.skip(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// skip passes over the next request, and the blank lines before it.
func (f *feed) skip() error {
	for {
		if err := f.peek(); err != nil {
			return err
		}
		counts := f.counts()
		if err := f.drop(); err != nil || counts {
			return err
		}
	}
}

// drop passes over the next line.
func (f *feed) drop() error {
	more := f.nextMore
	f.next = nil
	for more {
		var err error
		if _, more, err = f.piece(); err != nil {
			return err
		}
	}
	return nil
}

// piece reads the next piece of a line: the whole line with its "\n", or
// as much of it as br holds (more: the line goes on).
func (f *feed) piece() ([]byte, bool, error) {
	p, err := f.br.ReadSlice('\n')
	f.passed += int64(len(p))
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return p, true, nil
	case errors.Is(err, io.EOF) && len(p) > 0:
		return p, false, nil // a last line without "\n" (not in a loop)
	}
	return p, false, err
}

// peek reads the next line, if it is not read yet.
func (f *feed) peek() error {
	if f.next != nil {
		return nil
	}
	var err error
	f.next, f.nextMore, err = f.piece()
	if err != nil || !f.src.skipEmpty || !f.nextMore || len(bytes.TrimSpace(f.next)) > 0 {
		return err
	}
	// White space longer than the buffer, with --skip-empty: a request
	// only if something else follows before the line ends, as the run
	// decides. It is held until that shows (seldom: the line is blank so
	// far).
	held := bytes.Clone(f.next)
	for f.nextMore {
		var p []byte
		if p, f.nextMore, err = f.piece(); err != nil {
			return err
		}
		held = append(held, p...)
		if len(bytes.TrimSpace(p)) > 0 {
			break
		}
	}
	f.next = held
	return nil
}

// counts reports whether the next line is a request: not a blank one
// with --skip-empty (a line that goes on beyond what is read of it is
// not blank: see peek).
func (f *feed) counts() bool {
	return !f.src.skipEmpty || f.nextMore || len(bytes.TrimSpace(f.next)) > 0
}

// starved is the session's Config.Starved: the children wait for input
// to answer what they were sent. At the gate, what they wait for is the
// input the gate holds back until they answer: the feed ends, as run's
// input would, so that they read EOF and the warm-up requests end (bc,
// which answers nothing to an assignment, ends then without answering).
// A child that is loading, however long it takes, is not waiting for
// input, and is waited for.
func (f *feed) starved() {
	if f.atGate.Load() {
		f.starvedAtGate.Store(true)
		f.Close()
	}
}

// Close ends the feed: a Read waiting at the gate, and all after, return
// EOF. The session closes its input when it stops before the end; bench
// closes it when time is up, and when the children starve at the gate.
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
	between := len(f.rest) == 0 && !f.more
	if between && f.warm == 0 && !f.gated {
		// The measured requests wait for the warm-up to be over, so
		// that they find the children started and the pipes empty.
		f.atGate.Store(true)
		select {
		case <-f.m.gate:
		case <-f.stop:
			return 0, io.EOF
		}
		f.atGate.Store(false)
		f.gated = true
		if f.left == untilDeadline {
			f.deadline = f.m.steadyAt.Add(f.dur)
		}
		if f.m.warmup > 0 && f.m.warmFailed == f.m.warmup {
			// Not one warm-up request was answered (they timed out, or
			// the children died): none of the measured ones would be.
			f.left = 0
		}
	}
	limit := len(p) // requests at most in this read
	if f.gated && f.left == untilDeadline {
		if f.m.noChild.Load() || !time.Now().Before(f.deadline) {
			f.left = 0 // time is up, or no child is left to answer
		}
		// A millisecond's worth of requests at a time, so that few are
		// still queued in the session when time is up.
		limit = f.m.perRead()
	}
	n, lines := 0, 0
	for n < len(p) {
		switch {
		case len(f.rest) > 0:
			c := copy(p[n:], f.rest)
			n, f.rest = n+c, f.rest[c:]
			continue
		case f.more:
			var err error
			if f.rest, f.more, err = f.piece(); err != nil {
				return n, err
			}
			f.endOfPass()
			continue
		}
		// Between lines: may another start?
		if lines == limit {
			break
		}
		if err := f.peek(); err != nil {
			return n, err
		}
		if !f.counts() {
			// A blank line with --skip-empty: the run would drop it.
			if err := f.drop(); err != nil {
				return n, err
			}
			f.endOfPass()
			continue
		}
		if !f.take() {
			break
		}
		f.endOfPass()
		lines++
		f.rest, f.more, f.next = f.next, f.nextMore, nil
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// take starts another request, if one may be: a warm-up one, or, past the
// gate, a measured one.
func (f *feed) take() bool {
	switch {
	case f.warm > 0:
		f.warm--
	case !f.gated || f.left == 0:
		return false
	case f.left > 0:
		f.left--
	case f.left == onePass && f.per > 0 && f.measured == f.per:
		return false
	case f.left == onePass:
		f.measured++
	}
	f.given++
	return true
}

// endOfPass learns, at the end of the first pass over the source, how
// many requests it holds, once the line that ends it has been started or
// dropped.
func (f *feed) endOfPass() {
	if f.left == onePass && f.per == 0 && f.passed >= f.src.passLen {
		f.per = f.given
	}
}
