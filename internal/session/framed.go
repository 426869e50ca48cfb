package session

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/proc"
)

// The framed conversation ("REST over pipes"). The tracker holds every
// request, and its mutex guards it. Two goroutines take turns with it; the
// others only move bytes:
//
//	input source --(readLines)--> lines ---\
//	prompt --------------------> events ---+--> dispatcher ---\
//	child exit, timers, signals -----------/                   +--> tracker --> child stdin (inbox)
//	child stdout --(proc's pump)--> decodeSink ----------------/           \--> answers in input order
//	                                                                            (stdout, or --json records)
//
// The stdout pump handles each read in place (childOutput): it matches the
// answers to their requests, sends the next requests, taking the input
// readLines has ready, then writes the answers out, while the dispatcher
// sleeps on. Waking the dispatcher for each read would cost more than the
// read itself (issue: framed throughput). The dispatcher does the rest, and
// waits in its select with the mutex released.
//
// Nothing blocks on the child: requests go through the inbox, which never
// blocks, and input is taken only while the window has room, so memory
// stays bounded whatever the input's size. Nothing blocks on the
// dispatcher either: the pump needs only the mutex, which the dispatcher
// never holds while it waits, for the child or anything else.

// request is one input line, from when it is read until it is answered or
// has failed.
type request struct {
	idx      int    // its place in the input, from 0: output keeps this order
	seq      uint64 // the id pipecli gives it: idx+1
	input    []byte
	key      string // the correlation key, in jsonl mode
	start    time.Time
	deadline time.Time
	attempts int // times sent
	deaths   int // times its child died handling it: --retries
	partials [][]byte
	answer   []byte
	shown    bool // its marker answer was shown line by line as it came
	err      error
	latency  time.Duration
}

// decodeSink is the child's stdout sink in a framed mode: it decodes what
// arrives and hands the messages of each read, all at once, to the tracker.
// The messages' Data alias p and the decoder's buffers, valid until the
// next Feed: the tracker copies only what it keeps beyond childOutput.
type decodeSink struct {
	t   *tracker
	gen int // the child's: the tracker ignores the output of a child it replaced
	dec *frame.Decoder
}

func (d *decodeSink) Write(p []byte) (int, error) {
	msgs, err := d.dec.Feed(p)
	d.t.childOutput(d.gen, msgs, err)
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush is called by proc at the end of the child's stdout.
func (d *decodeSink) Flush() error {
	msgs, err := d.dec.End()
	d.t.childOutput(d.gen, msgs, err)
	return nil
}

// tailWriter passes writes on and keeps the last bytes, so that a child's
// death can be reported with the last lines of its stderr.
type tailWriter struct {
	w    io.Writer
	mu   sync.Mutex
	tail []byte
}

const tailSize = 4 << 10

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.tail = append(t.tail, p...)
	if len(t.tail) > tailSize {
		t.tail = append(t.tail[:0], t.tail[len(t.tail)-tailSize:]...)
	}
	t.mu.Unlock()
	return t.w.Write(p)
}

// lastLines returns up to n last lines written, and forgets them.
func (t *tailWriter) lastLines(n int) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimRight(string(t.tail), "\n"), "\n")
	t.tail = t.tail[:0]
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	return lines[max(0, len(lines)-n):]
}

// tracker is the conversation's state: the requests, the child and the
// input. mu guards all of it: the dispatcher holds mu except while it waits
// in its select; the stdout pump takes it to handle what it read
// (childOutput).
type tracker struct {
	mu     sync.Mutex
	s      *session
	window int

	nextIdx  int
	pending  []*request // to send, in order: retries first
	inflight []*request // sent and unanswered, in the order sent: a queue in inflightArr
	// inflightArr is the array inflight was last allocated with: see
	// pushInflight.
	inflightArr []*request
	byKey       map[string]*request
	finished    map[int]*request // done, waiting for the ones before them
	nextOut     int
	stats       stats
	failed      int
	answered    int // by the current child: a child that answers resets the back-off
	// justAnswered are the requests answered in the read being handled,
	// to write out once the next requests are sent (finishAnswered).
	justAnswered []*request

	answers  io.Writer     // where answers go, without --json
	enc      *json.Encoder // for --json records
	outBuf   *bufio.Writer // answers and records, flushed at the end of each turn; nil at the prompt
	wire     []byte        // requests to write to the child, written once per turn
	scratch  []byte        // for add's encoding
	free     []*request    // finished requests, for add to reuse
	fatal    error         // why the run cannot go on, if it cannot
	timer    *time.Timer   // set for the earliest deadline in flight
	armed    time.Time     // the deadline the timer is set for (zero: none)
	timerOn  bool          // the timer is set
	outErr   error         // writing our output failed
	inputErr error         // reading our input failed
	hinted   bool          // the buffering hint was given
	lastOut  time.Time     // when the child last wrote to stdout

	// The input.
	lines      <-chan [][]byte // from readLines; nil at the prompt
	readErr    *error          // readLines' error, to read once lines is closed
	queued     [][]byte        // read, not yet made requests: taken while the window has room
	batch      [][]byte        // the batch from lines that queued is the rest of
	freeBatch  chan [][]byte   // batches used up, given back to readLines
	inputEnded bool
	quit       bool // :quit at the prompt

	// The child.
	child       *proc.Child
	gen         int       // counts the children started: output of an older one is ignored
	started     time.Time // when the current child started
	ready       bool      // its banner is over: it may be sent requests
	replacing   bool      // we stopped it to start another (a FIFO timeout, a decode error, :restart)
	noChild     bool      // it died for good: requests fail at once
	stdinClosed bool      // all requests are answered and its stdin closed

	closing      bool          // the dispatcher is done with the child's output: the pump drops it
	waitingInput bool          // the dispatcher waits for lines: only it may receive from them
	kick         chan struct{} // the pump wakes the dispatcher up: see childOutput
}

func (s *session) runFramed(ctx context.Context, sigs <-chan os.Signal) (res Result, err error) {
	cfg := s.cfg
	t := &tracker{
		s:        s,
		window:   cfg.Window,
		byKey:    map[string]*request{},
		finished: map[int]*request{},
		stats:    stats{start: time.Now()},
		lastOut:  time.Now(),
		answers:  s.childStdout(),
		timer:    time.NewTimer(time.Hour),
		kick:     make(chan struct{}, 1),
	}
	defer t.timer.Stop()
	if t.window <= 0 {
		t.window = 64
		if s.pr != nil {
			t.window = 1
		}
	}
	var out io.Writer = s.out
	if s.pr == nil {
		// Buffered, and flushed at the end of each turn: one write per
		// batch of answers, not one per answer.
		t.outBuf = bufio.NewWriterSize(t.answers, 64<<10)
		t.answers = t.outBuf
		if cfg.JSON {
			out = t.outBuf
		}
	}
	if cfg.JSON {
		t.enc = json.NewEncoder(out)
		t.enc.SetEscapeHTML(false)
	}

	// Input: lines from the source, read by a goroutine that blocks on
	// the channel when the window is full.
	stop := make(chan struct{}) // closed when we return: readLines gives up
	readerDone := make(chan struct{})
	if s.pr == nil {
		ch := make(chan [][]byte)
		var readErr error
		t.lines, t.readErr = ch, &readErr
		t.freeBatch = make(chan [][]byte, 2)
		go func() {
			defer close(readerDone)
			defer close(ch)
			readErr = readLines(s.src, ch, stop, t.freeBatch) // read after ch is closed
		}()
	} else {
		close(readerDone)
	}
	var events <-chan event
	if s.pr != nil {
		events = s.pr.events
	}

	stderrTail := &tailWriter{w: s.childStderr()}
	var (
		drained   <-chan struct{}
		restarts  int
		restartAt <-chan time.Time
		hungUp    = s.hungUp
	)
	start := func() error {
		t.gen++
		t.s.box.reset()
		stdin := s.box.reader()
		c, err := s.startChild(proc.Options{
			Stdin:  stdin,
			Stdout: &decodeSink{t: t, gen: t.gen, dec: frame.NewDecoder(cfg.Framing)},
			Stderr: stderrTail,
		})
		if err != nil {
			return err
		}
		s.box.attach(stdin, c.WriteNow)
		// Not dec.Ready(): the decoder is the pump's from now on.
		t.child, drained = c, c.Drained()
		t.ready = cfg.Framing.SkipLines == 0 && cfg.Framing.Ready == nil
		t.stdinClosed, t.started = false, time.Now()
		return nil
	}

	// The dispatcher holds mu from here on, but while it waits. When it
	// returns, it lets go of the child's output before it waits for the
	// child, whose pump may be waiting for mu; and it stops readLines
	// before it waits for it.
	t.mu.Lock()
	defer func() {
		t.closing = true
		child := t.child
		t.mu.Unlock()
		close(stop)
		if c, ok := s.src.(io.Closer); ok && t.lines != nil {
			c.Close() // interrupt a read in progress
		}
		if child != nil {
			child.Stop()
			child.Signal(syscall.SIGTERM)
			child.Wait()
		}
		<-readerDone
	}()
	if err := start(); err != nil {
		return res, err
	}
	if s.pr != nil {
		s.say("%s started (pid %d), framing %s; type a line to send it, :help for commands, Ctrl-D to end", s.name(), t.child.Pid(), cfg.Framing.Mode)
		if !t.ready {
			s.say("%s is loading: what you type is held until it is ready", s.name())
			s.pr.setPrompt(loadingPrompt(0))
		}
	}

	hint := time.NewTicker(time.Second)
	defer hint.Stop()

	for {
		t.waitingInput = false
		t.turn()
		t.flush()
		if t.outErr != nil {
			res.OutputClosed = true
			return t.finish(res)
		}
		if t.over() {
			break
		}

		var in <-chan [][]byte
		if t.wantsInput() {
			in = t.lines
		}
		t.waitingInput = in != nil
		t.mu.Unlock()
		select {
		case <-t.kick:
			t.mu.Lock()
		case batch, ok := <-in:
			t.mu.Lock()
			t.take(batch, ok)
		case ev := <-events:
			t.mu.Lock()
			switch ev.kind {
			case evLine:
				t.add([]byte(ev.line))
			case evStats:
				s.say("%s", t.stats.String())
			case evEOF, evQuit:
				t.inputEnded = true
				events = nil
				s.pr.Close()
				s.pr = nil
				if ev.kind == evQuit {
					t.quit = true
					t.failAll(t.pending, "not sent: :quit")
					t.pending = nil
					if t.child != nil {
						t.child.Stop()
					}
				}
			case evRestart:
				if t.child != nil {
					t.replacing = true
					t.child.Stop()
				}
			}
		case <-drained:
			t.mu.Lock()
			// The pumps are done: the pump wants mu no more, and Wait
			// waits for the exit alone.
			child := t.child
			st, _ := child.Wait()
			stage, stopped := child.StoppedBy()
			t.child, drained = nil, nil
			expected := (t.stdinClosed && len(t.inflight) == 0) || t.quit
			if t.inputEnded && len(t.inflight) == 0 && len(t.pending) == 0 && !t.quit && (!expected || (st.Signal != 0 && !stopped)) {
				// It died with every request answered: nothing was lost, so
				// the run succeeded; still, say so.
				s.say("%s %s after answering every request", s.name(), st)
				st, expected = proc.Status{}, true
			}
			switch {
			case t.replacing:
				t.replacing = false
				t.requeue("")
				if err := start(); err != nil {
					return res, err
				}
				if s.pr != nil {
					s.say("%s restarted (pid %d)", s.name(), t.child.Pid())
				}
			case expected:
				res.Status = st
				res.Quit = t.quit && stopped && stage != proc.StoppedByEOF
				t.inputEnded = true
				t.noChild = true
			case st.ExitCode() == dockerFailed && s.runsDocker() && t.answered == 0:
				// docker itself failed (no such image, a bad option):
				// starting it again would fail the same way.
				t.fatal = s.containerError(stderrTail)
				res.Status = st
				t.noChild = true
				t.failAll(t.inflight, t.fatal.Error())
				t.failAll(t.pending, t.fatal.Error())
				t.inflight, t.pending = nil, nil
			default:
				why := fmt.Sprintf("%s %s", s.name(), st)
				t.report(why, stderrTail.lastLines(3))
				t.requeue(why)
				if t.answered > 0 {
					restarts = 0 // it worked for a while: a fresh start
				}
				t.answered = 0
				work := !t.inputEnded || len(t.pending) > 0
				if work && cfg.Restart && restarts < cfg.MaxRestarts {
					restarts++
					backoff := min(100*time.Millisecond<<(restarts-1), 5*time.Second)
					s.say("restarting %s (%d of at most %d in a row) in %s", s.name(), restarts, cfg.MaxRestarts, backoff)
					restartAt = time.After(backoff)
				} else {
					if work && cfg.Restart {
						s.say("not restarting %s: it died %d times in a row without answering (--max-restarts)", s.name(), restarts+1)
					}
					res.Status = st
					t.noChild = true
					t.failAll(t.pending, why+"; not restarted")
					t.pending = nil
				}
			}
		case <-restartAt:
			t.mu.Lock()
			restartAt = nil
			if err := start(); err != nil {
				return res, err
			}
			s.say("%s restarted (pid %d)", s.name(), t.child.Pid())
		case now := <-t.timer.C:
			t.mu.Lock()
			t.timerOn = false
			if t.expire(now) && cfg.Framing.Mode != frame.JSONL && t.child != nil {
				// In a FIFO framing the late answer would be taken for
				// the next request's: start afresh.
				t.replace()
			}
		case <-hint.C:
			t.mu.Lock()
			if !t.hinted && t.child != nil && len(t.inflight) > 0 && time.Since(t.lastOut) > hintAfter && time.Since(t.inflight[0].start) > hintAfter {
				t.hinted = true
				silent := min(time.Since(t.lastOut), time.Since(t.inflight[0].start))
				s.say("%s", s.bufferingHint(silent))
			}
			if s.pr != nil && !t.ready && t.child != nil {
				s.pr.setPrompt(loadingPrompt(time.Since(t.started)))
			}
		case sig := <-sigs:
			t.mu.Lock()
			res.Interrupted = sig.(syscall.Signal)
			if child := t.child; child != nil {
				child.Signal(res.Interrupted)
				child.Stop()
				// Its last words on stderr come before ours. Without mu:
				// its pump may be waiting for it.
				t.closing = true
				t.mu.Unlock()
				child.Wait()
				t.mu.Lock()
				t.child = nil
			}
			t.failAll(t.inflight, "interrupted")
			t.failAll(t.pending, "interrupted")
			t.inflight, t.pending = nil, nil
			return t.finish(res)
		case <-ctx.Done():
			t.mu.Lock()
			return t.finish(res)
		case <-hungUp:
			t.mu.Lock()
			res.OutputClosed = true
			return t.finish(res)
		}
	}
	return t.finish(res)
}

// childOutput handles the messages one read of the child's stdout completed,
// and the decoder's error after them (a line over --max-line). It runs in
// the stdout pump of the child of generation gen; see the top of the file.
func (t *tracker) childOutput(gen int, msgs []frame.Message, err error) {
	if len(msgs) == 0 && err == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing || gen != t.gen || t.replacing {
		return // the run is over, or the child being replaced: its requests go again
	}
	if len(msgs) > 0 {
		t.lastOut = time.Now()
	}
	for _, m := range msgs {
		// They came in one read: one clock reading for all.
		if t.message(m, t.lastOut) && !t.ready {
			t.ready = true
			if t.s.pr != nil {
				t.s.say("%s is ready after %s", t.s.name(), time.Since(t.started).Round(time.Millisecond))
				t.s.pr.setPrompt(readyPrompt)
			}
		}
	}
	if err != nil {
		t.s.say("%v", err)
		t.failAll(t.inflight, err.Error())
		t.inflight = nil
		t.byKey = map[string]*request{}
		t.replace()
	}
	// The next requests first, then the answers: the child works on the
	// former while we write out the latter.
	t.turn()
	t.finishAnswered()
	t.flush()
	if t.over() || t.outErr != nil || t.wantsInput() && t.lines != nil && !t.waitingInput {
		// The dispatcher has to see to it: the run is over, or the input
		// it did not wait for, as the window was full, is wanted now.
		select {
		case t.kick <- struct{}{}:
		default: // kicked already
		}
	}
}

// replace stops the child so that the dispatcher starts another when it is
// gone; the requests in flight then go to the new one.
func (t *tracker) replace() {
	t.replacing = true
	t.child.Stop()
	t.child.Signal(syscall.SIGTERM)
}

// turn does what the state allows without waiting: make requests of the
// input while the window has room, send them, and close the child's stdin
// once all is answered. The dispatcher calls it before it waits, the stdout
// pump after each read.
func (t *tracker) turn() {
	for {
		for len(t.queued) > 0 && len(t.pending)+len(t.inflight) < t.window {
			t.add(t.queued[0])
			t.queued[0] = nil
			t.queued = t.queued[1:]
		}
		// More input, if readLines has it at hand: the pump takes it
		// without waking the dispatcher, unless the dispatcher waits for
		// it (two receivers could take batches out of order).
		if !t.wantsInput() || t.lines == nil || t.waitingInput {
			break
		}
		select {
		case batch, ok := <-t.lines:
			t.take(batch, ok)
		default:
		}
		if len(t.queued) == 0 {
			break
		}
	}
	if t.child != nil && t.ready && !t.replacing && len(t.pending) > 0 && len(t.inflight) < t.window {
		// One clock reading for all: they go in one write.
		now := time.Now()
		n := 0
		for n < len(t.pending) && len(t.inflight) < t.window {
			t.send(t.pending[n], now)
			n++
		}
		// Shift what is left to the front, so that the array is reused.
		m := copy(t.pending, t.pending[n:])
		clear(t.pending[m:])
		t.pending = t.pending[:m]
		t.s.box.Write(t.wire)
		t.wire = t.wire[:0]
	}
	if t.noChild {
		t.failAll(t.pending, "no child to send it to")
		t.pending = nil
	}
	if t.allDone() && t.child != nil && !t.stdinClosed {
		t.s.box.CloseWrite()
		t.stdinClosed = true
	}
	t.resetTimer()
}

// flush writes out the buffered answers.
func (t *tracker) flush() {
	if t.outBuf != nil && t.outBuf.Buffered() > 0 && t.outErr == nil {
		t.outErr = t.outBuf.Flush()
	}
}

// wantsInput reports whether the window has room for requests that are
// not read yet.
func (t *tracker) wantsInput() bool {
	return !t.inputEnded && !t.quit && len(t.queued) == 0 && len(t.pending)+len(t.inflight) < t.window
}

// take handles a receive from lines. It is called only once queued is
// used up: the batch before is given back to readLines to reuse.
func (t *tracker) take(batch [][]byte, ok bool) {
	if t.batch != nil {
		select {
		case t.freeBatch <- t.batch: // its lines are nil: turn let go of them
		default:
		}
		t.batch = nil
	}
	if !ok {
		t.inputEnded = true
		if *t.readErr != nil {
			t.inputErr = &InputError{fmt.Errorf("reading the input: %w; the lines before were sent", *t.readErr)}
		}
		return
	}
	t.queued, t.batch = batch, batch
}

// allDone reports whether every request is answered or has failed.
func (t *tracker) allDone() bool {
	return t.inputEnded && len(t.pending) == 0 && len(t.inflight) == 0
}

// over reports whether the run is over: all done, and no child to wait for.
func (t *tracker) over() bool {
	return t.allDone() && (t.child == nil || t.noChild)
}

// maxBatch is the most lines readLines hands over at once, so the most
// the tracker holds beyond its window.
const maxBatch = 256

// add makes a request of an input line.
func (t *tracker) add(line []byte) {
	var r *request // zero: new, or cleared by recycle
	if n := len(t.free); n > 0 {
		r, t.free = t.free[n-1], t.free[:n-1]
	} else {
		r = new(request)
	}
	r.idx, r.seq, r.input = t.nextIdx, uint64(t.nextIdx+1), line
	t.nextIdx++
	if t.s.cfg.Framing.Mode != frame.JSONL && bytes.IndexByte(line, '\n') < 0 {
		// The FIFO framings refuse a line only for a newline, and send
		// it as is, with no key (see frame.EncodeRequest): send appends
		// it to the wire itself.
		t.pending = append(t.pending, r)
		return
	}
	// Encoded here to check it and learn its key, into a scratch buffer:
	// send encodes it again, straight into what is written to the child.
	wire, key, err := frame.EncodeRequest(t.scratch[:0], t.s.cfg.Framing, r.seq, line)
	if err != nil {
		t.fail(r, err.Error())
		return
	}
	if key != "" { // jsonl: the FIFO framings need no map
		if _, dup := t.byKey[key]; dup {
			t.fail(r, fmt.Sprintf("id %s is already in flight; give each request its own id", key))
			return
		}
	}
	t.scratch = wire
	r.key = key
	t.pending = append(t.pending, r)
}

// send makes r go to the child at now, in the next write.
func (t *tracker) send(r *request, now time.Time) {
	if r.attempts == 0 {
		r.start = now
	}
	r.attempts++
	if t.s.cfg.Timeout > 0 {
		r.deadline = now.Add(t.s.cfg.Timeout)
	}
	if r.key != "" {
		t.byKey[r.key] = r
	}
	t.pushInflight(r)
	if r.key == "" {
		// A FIFO framing: the line as is (see frame.EncodeRequest), which
		// add checked has no newline.
		t.wire = append(append(t.wire, r.input...), '\n')
		return
	}
	t.wire, _, _ = frame.EncodeRequest(t.wire, t.s.cfg.Framing, r.seq, r.input) // add checked it
}

// pushInflight appends r to inflight. remove takes answered requests off
// its front by reslicing, so inflight creeps along its array: rather than
// let append move it to a new array each time it reaches the end, an
// allocation every window or so requests, pushInflight moves it back to
// the start of the array it has, if it fills at most half of it.
func (t *tracker) pushInflight(r *request) {
	// Full up to the end of its array, inflight is that array's tail (or
	// nil): remove and requeue only shorten it or take from its front.
	if len(t.inflight) == cap(t.inflight) && 2*len(t.inflight) <= cap(t.inflightArr) {
		n := copy(t.inflightArr, t.inflight)
		clear(t.inflightArr[n:])
		t.inflight = t.inflightArr[:n]
	}
	c := cap(t.inflight)
	t.inflight = append(t.inflight, r)
	if cap(t.inflight) != c { // moved
		t.inflightArr = t.inflight[:cap(t.inflight)]
	}
}

// message handles one decoded message, read at now; it reports whether the
// child is now ready for input.
func (t *tracker) message(m frame.Message, now time.Time) (ready bool) {
	switch m.Kind {
	case frame.Ready:
		t.s.sayLine("banner", m.Data)
		return true
	case frame.Banner:
		t.s.sayLine("banner", m.Data)
	case frame.Event:
		t.s.sayLine("event", m.Data)
	case frame.Answer, frame.Partial, frame.Unfinished:
		r := t.owner(m)
		if r == nil {
			t.s.sayLine("answer to no request in flight", m.Data)
			return false
		}
		if m.Kind == frame.Partial || m.Kind == frame.Unfinished {
			if t.s.pr != nil && !t.s.cfg.JSON {
				// At the prompt (window 1), show an answer as it comes.
				t.answers.Write(append(append([]byte(nil), m.Data...), '\n'))
				r.shown = true
			}
			// A marker answer's lines come again, whole, in its Answer.
			if t.s.cfg.Framing.Mode != frame.Marker || m.Kind == frame.Unfinished {
				r.partials = append(r.partials, bytes.Clone(m.Data)) // kept past this read
			}
			return false
		}
		t.remove(r)
		r.answer = m.Data // lent: finishAnswered writes it out, or copies it, before this read is over
		r.latency = now.Sub(r.start)
		t.answered++
		t.justAnswered = append(t.justAnswered, r)
	}
	return false
}

// finishAnswered writes out the requests message answered. childOutput
// calls it once it has sent the next requests, so that the child can work
// on them meanwhile, and before it returns: their answers are still the
// decoder's to lend.
func (t *tracker) finishAnswered() {
	for i, r := range t.justAnswered {
		t.finish1(r)
		t.justAnswered[i] = nil
	}
	t.justAnswered = t.justAnswered[:0]
}

// owner is the request a message belongs to: by key in jsonl, else the
// oldest in flight.
func (t *tracker) owner(m frame.Message) *request {
	if t.s.cfg.Framing.Mode == frame.JSONL {
		return t.byKey[m.Key]
	}
	if len(t.inflight) == 0 {
		return nil
	}
	return t.inflight[0]
}

func (t *tracker) remove(r *request) {
	if len(t.inflight) > 0 && t.inflight[0] == r {
		// The usual case, and the only one in FIFO framings: no copy.
		t.inflight[0] = nil
		t.inflight = t.inflight[1:]
		if r.key != "" {
			delete(t.byKey, r.key)
		}
		return
	}
	for i, q := range t.inflight {
		if q == r {
			t.inflight = append(t.inflight[:i], t.inflight[i+1:]...)
			break
		}
	}
	if r.key != "" {
		delete(t.byKey, r.key)
	}
}

// requeue puts the requests in flight back in front of the queue after
// their child died; those that used up --retries fail with why. why ""
// means the child was replaced on purpose: no request is charged.
//
// In the FIFO framings the child answers in order, so it died handling the
// oldest request in flight: only that one is charged an attempt, and the
// others are sent again as they were. Otherwise (jsonl) any of them may
// have been the cause, and each is charged.
func (t *tracker) requeue(why string) {
	var again []*request
	fifo := t.s.cfg.Framing.Mode != frame.JSONL
	for i, r := range t.inflight {
		if why != "" && (i == 0 || !fifo) {
			r.deaths++
		}
		if r.deaths > t.s.cfg.Retries {
			t.fail(r, fmt.Sprintf("%s while handling it, %d times", why, r.deaths))
			continue
		}
		r.partials = nil
		again = append(again, r)
	}
	t.inflight = nil
	t.byKey = map[string]*request{}
	t.pending = append(again, t.pending...)
}

// report says that the child died unexpectedly, and what it was doing.
func (t *tracker) report(why string, stderrTail []string) {
	msg := why
	if n := len(t.inflight); n > 0 {
		msg += fmt.Sprintf(" with %d request(s) in flight, the oldest #%d %q", n, t.inflight[0].seq, clip(t.inflight[0].input))
	}
	t.s.say("%s", msg)
	for _, l := range stderrTail {
		t.s.say("  stderr: %s", l)
	}
}

// expire fails the requests past their deadline; it reports whether any did.
func (t *tracker) expire(now time.Time) bool {
	var expired bool
	for _, r := range append([]*request(nil), t.inflight...) {
		if !r.deadline.IsZero() && !now.Before(r.deadline) {
			t.remove(r)
			t.fail(r, fmt.Sprintf("no answer within --timeout %s", t.s.cfg.Timeout))
			expired = true
		}
	}
	return expired
}

// resetTimer sets the timer for the earliest deadline in flight, unless it
// is set for it already. The earliest is the first's: every request gets
// the same --timeout when it is sent, and inflight is in the order sent.
func (t *tracker) resetTimer() {
	var next time.Time
	if len(t.inflight) > 0 {
		next = t.inflight[0].deadline
	}
	if t.timerOn && next.Equal(t.armed) {
		return
	}
	d := time.Hour
	if !next.IsZero() {
		d = max(time.Until(next), 0)
	}
	t.timer.Reset(d)
	t.armed, t.timerOn = next, true
}

func (t *tracker) fail(r *request, why string) {
	r.err = errors.New(why)
	if !r.start.IsZero() {
		r.latency = time.Since(r.start)
	}
	t.finish1(r)
}

func (t *tracker) failAll(rs []*request, why string) {
	for _, r := range rs {
		t.fail(r, why)
	}
}

// finish1 records a finished request and writes out those now in order.
func (t *tracker) finish1(r *request) {
	t.stats.add(r.latency, r.err != nil)
	if r.err != nil {
		t.failed++
	}
	if r.idx == t.nextOut && len(t.finished) == 0 {
		// The usual case: in order, none waiting for it.
		t.nextOut++
		t.emit(r)
		t.recycle(r)
		return
	}
	// It waits past this read of the child's output: its answer, lent by
	// the decoder, must be copied.
	r.answer = bytes.Clone(r.answer)
	t.finished[r.idx] = r
	for {
		q, ok := t.finished[t.nextOut]
		if !ok {
			return
		}
		delete(t.finished, t.nextOut)
		t.nextOut++
		t.emit(q)
		t.recycle(q)
	}
}

// recycle keeps r, written out and referenced no more, for add to reuse:
// memory used again soon is still in the CPU's caches, and the garbage
// collector has less to do (issue: framed throughput). It keeps no more
// than the tracker can hold at once.
func (t *tracker) recycle(r *request) {
	if len(t.free) < t.window+2*maxBatch {
		*r = request{}
		t.free = append(t.free, r)
	}
}

// record is one line of --json output.
type record struct {
	ID        uint64          `json:"id"`
	Input     string          `json:"input"`
	Output    json.RawMessage `json:"output"`
	LatencyMS float64         `json:"latency_ms"`
	Attempts  int             `json:"attempts"`
	Error     *string         `json:"error"`
}

func (t *tracker) emit(r *request) {
	if t.outErr != nil {
		return
	}
	if t.enc != nil {
		rec := record{ID: r.seq, Input: string(r.input), Output: t.output(r), LatencyMS: float64(r.latency.Microseconds()) / 1000, Attempts: r.attempts}
		if r.err != nil {
			e := r.err.Error()
			rec.Error = &e
		}
		t.outErr = t.enc.Encode(rec)
		return
	}
	if r.err != nil {
		if t.outBuf != nil {
			// The answers before it come first, as they did unbuffered.
			if t.outErr = t.outBuf.Flush(); t.outErr != nil {
				return
			}
		}
		t.s.say("request #%d %q failed: %v", r.seq, clip(r.input), r.err)
		return
	}
	if r.shown && t.s.cfg.Framing.Mode == frame.Marker {
		return
	}
	if t.outBuf != nil {
		// Buffered: no need to join the answer and its newline first.
		t.outBuf.Write(r.answer)
		t.outErr = t.outBuf.WriteByte('\n')
		return
	}
	_, t.outErr = t.answers.Write(append(append([]byte(nil), r.answer...), '\n'))
}

// output is a record's "output": the answer's text, or its JSON object in
// jsonl; with partial messages, all of them in order.
func (t *tracker) output(r *request) json.RawMessage {
	if r.err != nil && len(r.partials) == 0 {
		return json.RawMessage("null")
	}
	one := func(b []byte) json.RawMessage {
		if t.s.cfg.Framing.Mode == frame.JSONL && json.Valid(b) {
			return b
		}
		s, _ := json.Marshal(string(b))
		return s
	}
	if len(r.partials) == 0 {
		return one(r.answer)
	}
	all := make([]json.RawMessage, 0, len(r.partials)+1)
	for _, p := range r.partials {
		all = append(all, one(p))
	}
	if r.err == nil {
		all = append(all, one(r.answer))
	}
	b, _ := json.Marshal(all)
	return b
}

func (t *tracker) finish(res Result) (Result, error) {
	if t.outBuf != nil && t.outErr == nil {
		if t.outErr = t.outBuf.Flush(); t.outErr != nil {
			res.OutputClosed = true
		}
	}
	res.Requests, res.Failed = t.stats.ok+t.stats.fail, t.failed
	if res.OutputClosed && res.OutputErr == nil {
		res.OutputErr = t.outErr
	}
	if t.s.cfg.Stats {
		t.s.say("%s", t.stats.String())
	}
	if t.inputErr != nil {
		return res, t.inputErr
	}
	if t.fatal != nil {
		return res, t.fatal
	}
	return res, nil
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
