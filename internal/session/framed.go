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

// The framed conversation ("REST over pipes"). One goroutine, the
// dispatcher (runFramed), owns every request; the others only move bytes and
// hand it what they read:
//
//	input source --(readLines)--> lines ----\
//	prompt --------------------> events ----+--> dispatcher --> child stdin (inbox)
//	child stdout --(proc pump, decodeSink)--> msgs --/     \--> answers in input order
//	child exit/drain, timers, signals ----------------/          (stdout, or --json records)
//
// The dispatcher never blocks on the child: requests go through the inbox,
// which never blocks, and it takes input only while the window has room, so
// memory stays bounded whatever the input's size.

// request is one input line, from when it is read until it is answered or
// has failed.
type request struct {
	idx      int    // its place in the input, from 0: output keeps this order
	seq      uint64 // the id pipecli gives it: idx+1
	input    []byte
	key      string // the correlation key, in jsonl mode
	start    time.Time
	deadline time.Time
	attempts int
	partials [][]byte
	answer   []byte
	shown    bool // its marker answer was shown line by line as it came
	err      error
	latency  time.Duration
}

// childMsg is what the decoder made of the child's stdout, tagged with the
// child it came from, so that output of a child being replaced is ignored.
type childMsg struct {
	gen int
	ms  []frame.Message // all that one read of the child's stdout completed
	err error           // the decoder's, after ms: a line over --max-line
}

// decodeSink is the child's stdout sink in a framed mode: it decodes what
// arrives and hands the messages to the dispatcher.
type decodeSink struct {
	gen  int
	dec  *frame.Decoder
	out  chan<- childMsg
	stop <-chan struct{} // closed when the dispatcher has returned
}

var errStopped = errors.New("session over")

func (d *decodeSink) Write(p []byte) (int, error) {
	msgs, err := d.dec.Feed(p)
	if !d.send(msgs, err) {
		return 0, errStopped
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush is called by proc at the end of the child's stdout.
func (d *decodeSink) Flush() error {
	msgs, err := d.dec.End()
	d.send(msgs, err)
	return nil
}

// send hands the dispatcher all the messages of one read at once: one
// channel operation, and one wake-up of the dispatcher, per read rather
// than per message.
func (d *decodeSink) send(msgs []frame.Message, err error) bool {
	if len(msgs) == 0 && err == nil {
		return true
	}
	select {
	case d.out <- childMsg{gen: d.gen, ms: msgs, err: err}:
		return true
	case <-d.stop:
		return false
	}
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

// tracker is the dispatcher's state.
type tracker struct {
	s      *session
	window int

	nextIdx  int
	pending  []*request // to send, in order: retries first
	inflight []*request // sent and unanswered, in the order sent
	byKey    map[string]*request
	finished map[int]*request // done, waiting for the ones before them
	nextOut  int
	stats    stats
	failed   int
	answered int // by the current child: a child that answers resets the back-off

	answers  io.Writer     // where answers go, without --json
	enc      *json.Encoder // for --json records
	outBuf   *bufio.Writer // answers and records, flushed before the dispatcher waits; nil at the prompt
	wire     []byte        // requests to write to the child, written once per turn of the loop
	scratch  []byte        // for add's encoding
	armed    time.Time     // the deadline the timer is set for (zero: none)
	timerOn  bool          // the timer is set
	outErr   error         // writing our output failed
	inputErr error         // reading our input failed
	hinted   bool          // the buffering hint was given
	lastOut  time.Time     // when the child last wrote to stdout
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
	}
	if t.window <= 0 {
		t.window = 64
		if s.pr != nil {
			t.window = 1
		}
	}
	var out io.Writer = s.out
	if s.pr == nil {
		// Buffered, and flushed before the dispatcher waits: one write
		// per batch of answers, not one per answer.
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
	stop := make(chan struct{})
	defer close(stop)

	// Input: lines from the source, read by a goroutine that blocks on
	// the channel when the window is full.
	var (
		lines      <-chan [][]byte
		queued     [][]byte // read, not yet made requests: taken while the window has room
		inputEnded bool
		readErr    error
		readerDone = make(chan struct{})
	)
	if s.pr == nil {
		ch := make(chan [][]byte)
		lines = ch
		go func() {
			defer close(readerDone)
			defer close(ch)
			readErr = readLines(s.src, ch, stop) // read after ch is closed
		}()
		defer func() {
			if c, ok := s.src.(io.Closer); ok {
				c.Close() // interrupt a read in progress
			}
			<-readerDone
		}()
	} else {
		close(readerDone)
	}
	var events <-chan event
	if s.pr != nil {
		events = s.pr.events
	}

	msgs := make(chan childMsg)
	stderrTail := &tailWriter{w: s.childStderr()}
	var (
		gen         int
		child       *proc.Child
		drained     <-chan struct{}
		ready       bool
		restarts    int
		restartAt   <-chan time.Time
		noChild     bool // the child died for good: requests fail at once
		replacing   bool // we stopped the child to restart it (a FIFO timeout)
		stdinClosed bool
		quit        bool
		hungUp      = s.hungUp
		started     time.Time // when the current child started
	)
	start := func() error {
		gen++
		t.s.box.reset()
		dec := frame.NewDecoder(cfg.Framing)
		c, err := proc.Start(cfg.Argv, proc.Options{
			Stdin:  s.box.reader(),
			Stdout: &decodeSink{gen: gen, dec: dec, out: msgs, stop: stop},
			Stderr: stderrTail,
			Grace:  cfg.Grace,
			Path:   cfg.Path,
		})
		if err != nil {
			return err
		}
		// Not dec.Ready(): the decoder is the pump's from now on.
		child, drained, ready = c, c.Drained(), cfg.Framing.SkipLines == 0 && cfg.Framing.Ready == nil
		stdinClosed, started = false, time.Now()
		return nil
	}
	if err := start(); err != nil {
		return res, err
	}
	if s.pr != nil {
		s.say("%s started (pid %d), framing %s; type a line to send it, :help for commands, Ctrl-D to end", s.name(), child.Pid(), cfg.Framing.Mode)
		if !ready {
			s.say("%s is loading: what you type is held until it is ready", s.name())
		}
	}
	defer func() {
		if child != nil {
			child.Stop()
			child.Signal(syscall.SIGTERM)
			child.Wait()
		}
	}()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	hint := time.NewTicker(time.Second)
	defer hint.Stop()

	for {
		for len(queued) > 0 && len(t.pending)+len(t.inflight) < t.window {
			t.add(queued[0])
			queued[0] = nil
			queued = queued[1:]
		}
		// Send what the window allows, then see whether all is done.
		if child != nil && ready && !replacing {
			for len(t.pending) > 0 && len(t.inflight) < t.window {
				t.send(t.pending[0])
				t.pending[0] = nil
				t.pending = t.pending[1:]
			}
			if len(t.wire) > 0 {
				t.s.box.Write(t.wire)
				t.wire = t.wire[:0]
			}
		}
		if noChild {
			t.failAll(t.pending, "no child to send it to")
			t.pending = nil
		}
		allDone := inputEnded && len(t.pending) == 0 && len(t.inflight) == 0
		if allDone && child != nil && !stdinClosed {
			s.box.CloseWrite()
			stdinClosed = true
		}
		if allDone && (child == nil || noChild) {
			break
		}
		t.resetTimer(timer)
		if t.outBuf != nil && t.outBuf.Buffered() > 0 && t.outErr == nil {
			if t.outErr = t.outBuf.Flush(); t.outErr != nil {
				res.OutputClosed = true
				return t.finish(res)
			}
		}

		var in <-chan [][]byte
		if !inputEnded && !quit && len(queued) == 0 && len(t.pending)+len(t.inflight) < t.window {
			in = lines
		}
		select {
		case batch, ok := <-in:
			if !ok {
				inputEnded = true
				if readErr != nil {
					t.inputErr = &InputError{fmt.Errorf("reading the input: %w; the lines before were sent", readErr)}
				}
				continue
			}
			queued = batch
		case ev := <-events:
			switch ev.kind {
			case evLine:
				t.add([]byte(ev.line))
			case evStats:
				s.say("%s", t.stats.String())
			case evEOF, evQuit:
				inputEnded = true
				events = nil
				s.pr.Close()
				s.pr = nil
				if ev.kind == evQuit {
					quit = true
					t.failAll(t.pending, "not sent: :quit")
					t.pending = nil
					if child != nil {
						child.Stop()
					}
				}
			case evRestart:
				if child != nil {
					replacing = true
					child.Stop()
				}
			}
		case cm := <-msgs:
			if cm.gen != gen || replacing {
				continue // from a child being replaced: its requests go again
			}
			if len(cm.ms) > 0 {
				t.lastOut = time.Now()
			}
			for _, m := range cm.ms {
				if t.message(m) && !ready {
					ready = true
					if s.pr != nil {
						s.say("%s is ready after %s", s.name(), time.Since(started).Round(time.Millisecond))
					}
				}
			}
			if cm.err != nil {
				s.say("%v", cm.err)
				t.failAll(t.inflight, cm.err.Error())
				t.inflight = nil
				t.byKey = map[string]*request{}
				replacing = true
				child.Stop()
				child.Signal(syscall.SIGTERM)
				continue
			}
		case <-drained:
			st, _ := child.Wait()
			stage, stopped := child.StoppedBy()
			child, drained = nil, nil
			expected := (stdinClosed && len(t.inflight) == 0) || quit
			if inputEnded && len(t.inflight) == 0 && len(t.pending) == 0 && !quit && (!expected || (st.Signal != 0 && !stopped)) {
				// It died with every request answered: nothing was lost, so
				// the run succeeded; still, say so.
				s.say("%s %s after answering every request", s.name(), st)
				st, expected = proc.Status{}, true
			}
			switch {
			case replacing:
				replacing = false
				t.requeue("")
				if err := start(); err != nil {
					return res, err
				}
				if s.pr != nil {
					s.say("%s restarted (pid %d)", s.name(), child.Pid())
				}
			case expected:
				res.Status = st
				res.Quit = quit && stopped && stage != proc.StoppedByEOF
				inputEnded = true
				noChild = true
			default:
				why := fmt.Sprintf("%s %s", s.name(), st)
				t.report(why, stderrTail.lastLines(3))
				t.requeue(why)
				if t.answered > 0 {
					restarts = 0 // it worked for a while: a fresh start
				}
				t.answered = 0
				work := !inputEnded || len(t.pending) > 0
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
					noChild = true
					t.failAll(t.pending, why+"; not restarted")
					t.pending = nil
				}
			}
		case <-restartAt:
			restartAt = nil
			if err := start(); err != nil {
				return res, err
			}
			s.say("%s restarted (pid %d)", s.name(), child.Pid())
		case now := <-timer.C:
			t.timerOn = false
			if t.expire(now) && cfg.Framing.Mode != frame.JSONL && child != nil {
				// In a FIFO framing the late answer would be taken for
				// the next request's: start afresh.
				replacing = true
				child.Stop()
				child.Signal(syscall.SIGTERM)
			}
		case <-hint.C:
			if !t.hinted && child != nil && len(t.inflight) > 0 && time.Since(t.lastOut) > 3*time.Second && time.Since(t.inflight[0].start) > 3*time.Second {
				t.hinted = true
				s.say("%s has not answered for %s; if it is buffering its output, make it flush each answer (Python: python3 -u, or PYTHONUNBUFFERED=1)", s.name(), time.Since(t.lastOut).Round(time.Second))
			}
		case sig := <-sigs:
			res.Interrupted = sig.(syscall.Signal)
			if child != nil {
				child.Signal(res.Interrupted)
				child.Stop()
				child.Wait()
				child = nil
			}
			t.failAll(t.inflight, "interrupted")
			t.failAll(t.pending, "interrupted")
			t.inflight, t.pending = nil, nil
			return t.finish(res)
		case <-ctx.Done():
			return t.finish(res)
		case <-hungUp:
			res.OutputClosed = true
			return t.finish(res)
		}
		if t.outErr != nil {
			res.OutputClosed = true
			return t.finish(res)
		}
	}
	return t.finish(res)
}

// maxBatch is the most lines readLines hands over at once, so the most
// the dispatcher holds beyond its window.
const maxBatch = 256

// readLines sends the lines of src, without their line endings, until EOF
// or stop. No line is too long: bufio.Reader grows as needed. It sends in
// one batch the lines it has without waiting for more input (those its
// buffer holds, up to maxBatch): a file costs one channel operation, and
// one wake-up of the dispatcher, per batch, while a line that comes alone
// is sent at once.
func readLines(src io.Reader, out chan<- [][]byte, stop <-chan struct{}) error {
	r := bufio.NewReaderSize(src, 64<<10)
	for {
		var batch [][]byte
		var err error
		for len(batch) < maxBatch {
			var line []byte
			line, err = r.ReadBytes('\n')
			if len(line) > 0 {
				batch = append(batch, bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")))
			}
			if err != nil || !lineBuffered(r) {
				break
			}
		}
		if len(batch) > 0 {
			select {
			case out <- batch:
			case <-stop:
				return nil
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// lineBuffered reports whether r holds a complete line, which it can then
// return without reading.
func lineBuffered(r *bufio.Reader) bool {
	b, _ := r.Peek(r.Buffered())
	return bytes.IndexByte(b, '\n') >= 0
}

// add makes a request of an input line.
func (t *tracker) add(line []byte) {
	r := &request{idx: t.nextIdx, seq: uint64(t.nextIdx + 1), input: line}
	t.nextIdx++
	// Encoded here to check it and learn its key, into a scratch buffer:
	// send encodes it again, straight into what is written to the child.
	wire, key, err := frame.EncodeRequest(t.scratch[:0], t.s.cfg.Framing, r.seq, line)
	if err != nil {
		t.fail(r, err.Error())
		return
	}
	if _, dup := t.byKey[key]; dup && key != "" {
		t.fail(r, fmt.Sprintf("id %s is already in flight; give each request its own id", key))
		return
	}
	t.scratch = wire
	r.key = key
	t.pending = append(t.pending, r)
}

func (t *tracker) send(r *request) {
	now := time.Now()
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
	t.inflight = append(t.inflight, r)
	t.wire, _, _ = frame.EncodeRequest(t.wire, t.s.cfg.Framing, r.seq, r.input) // add checked it
}

// message handles one decoded message; it reports whether the child is now
// ready for input.
func (t *tracker) message(m frame.Message) (ready bool) {
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
				r.partials = append(r.partials, m.Data)
			}
			return false
		}
		t.remove(r)
		r.answer = m.Data
		r.latency = time.Since(r.start)
		t.answered++
		t.finish1(r)
	}
	return false
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
// their child died; those out of attempts fail with why. why "" means the
// child was replaced on purpose: no attempt is lost.
func (t *tracker) requeue(why string) {
	var again []*request
	for _, r := range t.inflight {
		switch {
		case why == "":
			r.attempts--
			again = append(again, r)
		case r.attempts > t.s.cfg.Retries:
			t.fail(r, fmt.Sprintf("%s while handling it, %d times", why, r.attempts))
		default:
			r.partials = nil
			again = append(again, r)
		}
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
func (t *tracker) resetTimer(timer *time.Timer) {
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
	timer.Reset(d)
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
		return
	}
	t.finished[r.idx] = r
	for {
		q, ok := t.finished[t.nextOut]
		if !ok {
			return
		}
		delete(t.finished, t.nextOut)
		t.nextOut++
		t.emit(q)
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
	if t.s.cfg.Stats {
		t.s.say("%s", t.stats.String())
	}
	if t.inputErr != nil {
		return res, t.inputErr
	}
	return res, nil
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
