package session

import (
	"bufio"
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
	"unicode/utf8"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/proc"
	"github.com/pipecli/pipecli/internal/track"
)

// The framed conversation ("REST over pipes"). The request book
// (internal/track) decides everything about requests; this file moves
// bytes and time to it and acts on what it returns. mu guards the book and
// the rest of framed. Two goroutines take turns with it; the others only
// move bytes:
//
//	input source --(readLines)--> lines ---\
//	prompt --------------------> events ---+--> dispatcher ---\
//	child exit, timers, signals -----------/                   +--> book --> child stdin (inbox)
//	child stdout --(proc's pump)--> decodeSink ----------------/         \--> answers in input order
//	                                                                          (stdout, or --json records)
//
// The stdout pump handles each read in place (childOutput): it delivers
// the messages to the book, sends the next requests, taking the input
// readLines has ready, then writes the answers out, while the dispatcher
// sleeps on. Waking the dispatcher for each read would cost more than the
// read itself (issue: framed throughput). The dispatcher does the rest, and
// waits in its select with the mutex released.
//
// Nothing blocks on the child: requests go through the inbox, which never
// blocks, and input is taken only while the book wants it, so memory stays
// bounded whatever the input's size. Nothing blocks on the dispatcher
// either: the pump needs only the mutex, which the dispatcher never holds
// while it waits.

// decodeSink is the child's stdout sink in a framed mode: it decodes what
// arrives and hands the messages of each read, all at once, to childOutput.
// The messages' Data alias p and the decoder's buffers, valid until the
// next Feed: the book copies what it keeps beyond childOutput.
type decodeSink struct {
	f   *framed
	gen int // the child's: the output of a child that was replaced is ignored
	dec *frame.Decoder
}

func (d *decodeSink) Write(p []byte) (int, error) {
	msgs, err := d.dec.Feed(p)
	d.f.childOutput(d.gen, msgs, err)
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush is called by proc at the end of the child's stdout.
func (d *decodeSink) Flush() error {
	msgs, err := d.dec.End()
	d.f.childOutput(d.gen, msgs, err)
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

// maxFailLines is how many failed requests are told one by one on stderr;
// the others are counted in one line at the end (--json records them all).
const maxFailLines = 20

// framed is one framed run: the book, the child, the input and the output.
// mu guards all of it: the dispatcher holds mu except while it waits in its
// select; the stdout pump takes it to handle what it read (childOutput).
type framed struct {
	mu   sync.Mutex
	s    *session
	cfg  Config
	book *track.Book
	out  *output

	// The input.
	lines      <-chan [][]byte // from readLines; nil at the prompt
	readErr    *error          // readLines' error, to read once lines is closed
	queued     [][]byte        // read, not yet added: taken while the book wants them
	batch      [][]byte        // the batch from lines that queued is the rest of
	freeBatch  chan [][]byte   // batches used up, given back to readLines
	inputEnded bool
	inputErr   error

	// The child.
	child       *proc.Child
	cid         int       // its number in the book
	box         *inbox    // its stdin
	gen         int       // counts the children started: output of an older one is ignored
	started     time.Time // when the current child started
	ready       bool      // its banner is over
	left        bool      // the book was told it is gone
	replacing   bool      // we stopped it to start another
	stdinClosed bool      // every request is written and its stdin closed
	answered    int       // by the current child: a child that answers resets the back-off
	wire        []byte    // requests to write, written once per turn

	events <-chan event // the prompt's, or nil

	// What happened.
	res         Result // the child's status, and whether :quit stopped it
	quit        bool   // :quit at the prompt
	interrupted syscall.Signal
	eofTimedOut bool
	fatal       error     // why the run cannot go on, if it cannot
	lastOut     time.Time // when the child last wrote to stdout
	noise       int       // lines since the last answer that answered nothing
	lastNoise   []byte    // the last of them
	hinted      bool      // a hint about a silent or mismatched child was given
	waitSaid    bool      // the wait for --ready was told

	timer   *time.Timer // set for the book's earliest deadline
	armed   time.Time   // the deadline the timer is set for (zero: none)
	timerOn bool

	closing      bool          // the dispatcher is done with the child's output: the pump drops it
	waitingInput bool          // the dispatcher waits for lines: only it may receive from them
	kick         chan struct{} // the pump wakes the dispatcher up: see childOutput
}

func (s *session) runFramed(ctx context.Context, sigs <-chan os.Signal) (res Result, err error) {
	cfg := s.cfg
	window := cfg.Window
	if window <= 0 {
		window = 64
		if s.pr != nil {
			window = 1
		}
	}
	var sentinel []byte
	if cfg.Sentinel != nil {
		sentinel = []byte(*cfg.Sentinel)
	}
	f := &framed{
		s:   s,
		cfg: cfg,
		book: track.New(track.Config{
			Framing:   cfg.Framing,
			Sentinel:  sentinel,
			Window:    window,
			Timeout:   cfg.Timeout,
			Retries:   cfg.Retries,
			SkipEmpty: cfg.SkipEmpty,
		}),
		lastOut: time.Now(),
		timer:   time.NewTimer(time.Hour),
		kick:    make(chan struct{}, 1),
	}
	f.out = newOutput(s, cfg)
	defer f.timer.Stop()

	// Input: lines from the source, read by a goroutine that blocks on
	// the channel when the book wants no more.
	stop := make(chan struct{}) // closed when we return: readLines gives up
	readerDone := make(chan struct{})
	if s.pr == nil {
		ch := make(chan [][]byte)
		var readErr error
		f.lines, f.readErr = ch, &readErr
		f.freeBatch = make(chan [][]byte, 2)
		go func() {
			defer close(readerDone)
			defer close(ch)
			readErr = readLines(s.src, ch, stop, f.freeBatch) // read after ch is closed
		}()
	} else {
		close(readerDone)
	}
	if s.pr != nil {
		f.events = s.pr.events
	}

	stderrTail := &tailWriter{w: s.childStderr()}
	var (
		drained   <-chan struct{}
		restarts  int
		restartAt <-chan time.Time
		eofTimer  <-chan time.Time
		hungUp    = s.hungUp
		done      = ctx.Done()
	)
	start := func() error {
		f.gen++
		f.box = newInbox()
		stdin := f.box.reader()
		c, err := cfg.Target.Start(proc.Options{
			Grace:  cfg.Grace,
			Stdin:  stdin,
			Stdout: &decodeSink{f: f, gen: f.gen, dec: frame.NewDecoder(cfg.Framing)},
			Stderr: stderrTail,
		})
		if err != nil {
			return err
		}
		f.box.attach(stdin, c.WriteNow)
		f.child, drained = c, c.Drained()
		f.cid = f.book.Attach()
		f.ready = cfg.Framing.SkipLines == 0 && cfg.Framing.Ready == nil
		if f.ready {
			f.book.SetReady(f.cid)
		}
		f.left, f.stdinClosed, f.answered, f.started = false, false, 0, time.Now()
		f.noise, f.lastNoise, f.waitSaid = 0, nil, false
		return nil
	}

	// The dispatcher holds mu from here on, but while it waits. When it
	// returns, it lets go of the child's output before it waits for the
	// child, whose pump may be waiting for mu; and it stops readLines
	// before it waits for it.
	f.mu.Lock()
	defer func() {
		f.closing = true
		child := f.child
		f.mu.Unlock()
		close(stop)
		if c, ok := s.src.(io.Closer); ok && f.lines != nil {
			c.Close() // interrupt a read in progress
		}
		if child != nil {
			child.Terminate()
			child.Wait()
		}
		<-readerDone
	}()
	if err := start(); err != nil {
		return res, err
	}
	if s.pr != nil {
		s.say("%s started (pid %d), framing %s; type a line to send it, :help for commands, Ctrl-D to end", s.name(), f.child.Pid(), cfg.Framing.Mode)
		if !f.ready {
			s.say("%s is loading: what you type is held until it is ready", s.name())
			s.pr.setPrompt(loadingPrompt(0))
		}
	}

	tick := time.NewTicker(time.Second)
	defer tick.Stop()

	for {
		f.waitingInput = false
		f.turn()
		if f.out.err != nil {
			res.OutputClosed = true
			return f.finish(res)
		}
		if f.stdinClosed && eofTimer == nil && cfg.EOFTimeout > 0 && f.child != nil {
			t := time.NewTimer(cfg.EOFTimeout)
			defer t.Stop()
			eofTimer = t.C
		}
		if f.over() {
			break
		}
		var in <-chan [][]byte
		if f.wantsInput() {
			in = f.lines
		}
		f.waitingInput = in != nil
		f.mu.Unlock()
		select {
		case <-f.kick:
			f.mu.Lock()
		case batch, ok := <-in:
			f.mu.Lock()
			f.take(batch, ok)
		case ev := <-f.events:
			f.mu.Lock()
			switch ev.kind {
			case evLine:
				if ev.line != "" { // an empty line typed is no request
					f.book.Add([]byte(ev.line))
				}
			case evStats:
				s.say("%s", f.out.stats.String())
			case evEOF, evQuit:
				f.inputEnded = true
				f.closePrompt()
				if ev.kind == evQuit {
					f.quit = true
					f.book.Close(errors.New("not sent: :quit"))
					if f.child != nil {
						f.child.Stop()
					}
				}
			case evRestart:
				if f.child != nil {
					s.say("restarting %s (:restart)", s.name())
					f.replace()
				}
			}
		case <-drained:
			f.mu.Lock()
			drained = nil
			if err := f.childGone(stderrTail, &restarts, &restartAt, start); err != nil {
				return res, err
			}
		case <-restartAt:
			f.mu.Lock()
			restartAt = nil
			if err := start(); err != nil {
				return res, err
			}
			s.say("%s restarted (pid %d)", s.name(), f.child.Pid())
		case now := <-f.timer.C:
			f.mu.Lock()
			f.timerOn = false
			if stuck := f.book.Expire(now); len(stuck) > 0 && f.child != nil && !f.replacing {
				// A FIFO framing, and the child answered a timed-out
				// request neither in time nor in the --timeout after:
				// what it says next cannot be trusted to answer what it
				// seems to.
				s.say("restarting %s: request #%d had no answer within --timeout %s, nor in the %s after; whatever state it held is lost", s.name(), stuck[0].Seq, cfg.Timeout, cfg.Timeout)
				f.replace()
			}
		case <-tick.C:
			f.mu.Lock()
			f.watch()
		case <-eofTimer:
			f.mu.Lock()
			eofTimer = nil
			if f.child != nil {
				f.eofTimedOut = true
				f.leave(fmt.Sprintf("%s was still running --eof-timeout %s after its input ended", s.name(), cfg.EOFTimeout), track.Abandoned)
				f.terminate()
			}
		case sig := <-sigs:
			f.mu.Lock()
			if f.interrupted != 0 {
				if f.child != nil {
					f.child.Kill() // a second signal: no more waiting
				}
				continue
			}
			f.interrupted = sig.(syscall.Signal)
			f.inputEnded = true
			f.book.Close(errors.New("not sent: interrupted"))
			if f.child != nil {
				f.leave("interrupted", track.Abandoned)
				f.child.Signal(f.interrupted)
				f.child.Stop()
			}
			f.closePrompt()
		case <-done:
			f.mu.Lock()
			done = nil
			f.inputEnded = true
			f.book.Close(errors.New("not sent: cancelled"))
			if f.child != nil {
				f.leave("cancelled", track.Abandoned)
				f.terminate()
			}
		case <-hungUp:
			f.mu.Lock()
			res.OutputClosed = true
			return f.finish(res)
		}
	}
	return f.finish(res)
}

// childGone handles the end of the child whose pipes are drained: it says
// why, and tells the book what becomes of its requests; it starts another
// child, or schedules one, if there is work left and it may.
func (f *framed) childGone(stderrTail *tailWriter, restarts *int, restartAt *<-chan time.Time, start func() error) error {
	s, cfg := f.s, f.cfg
	// The pumps are done: the pump wants mu no more, and Wait waits for
	// the exit alone.
	child := f.child
	st, _ := child.Wait()
	stage, stopped := child.StoppedBy()
	f.child = nil
	why := fmt.Sprintf("%s %s", s.name(), st)
	f.res.Status = st
	switch {
	case f.replacing:
		f.replacing = false
		f.leave(why, track.Replaced)
		if err := start(); err != nil {
			return err
		}
		s.say("%s restarted (pid %d)", s.name(), f.child.Pid())
		return nil
	case f.left:
		// We ended it (a signal, :quit, --eof-timeout, a decode
		// error): its requests are settled already.
		f.res.Quit = f.quit && stopped && stage != proc.StoppedByEOF
		f.book.Close(fmt.Errorf("not sent: %s", why))
		if f.quit {
			f.res.Status = proc.Status{}
		}
		return nil
	case f.quit:
		f.res.Quit = stopped && stage != proc.StoppedByEOF
		f.leave(why, track.Ended)
		f.res.Status = proc.Status{}
		return nil
	case st.Success() || f.stdinClosed && stopped && stage != proc.StoppedByEOF:
		// It ended, with code 0, or when we stopped it with every request
		// answered and its input closed: what it did not answer fails, and
		// would not be answered by another either. A child that exits 0 is
		// not restarted: it chose to end (a REPL told to quit).
		d := f.leave(why, track.Ended)
		if stopped && stage != proc.StoppedByEOF {
			s.say("%s still ran --grace %s after every request was answered and its input closed; stopped it", s.name(), cfg.Grace)
		}
		if d.Failed > 0 && f.stdinClosed && f.cfg.Framing.Mode != frame.JSONL {
			s.say("%s ended without answering %d request(s): it may not answer every line (an empty one, a command); --skip-empty, or --sentinel with --framing marker, make sure each is answered", s.name(), d.Failed)
		}
		if !f.inputEnded || f.book.Pending() > 0 || !f.queuedEmpty() {
			f.book.Close(fmt.Errorf("not sent: %s before its input ended", why))
			f.inputEnded = f.inputEnded || f.lines == nil // the prompt has no more to send it to
			if f.s.pr != nil {
				s.say("%s before its input ended", why)
				f.closePrompt()
			}
		}
		f.res.Status = proc.Status{}
		return nil
	case f.answered == 0 && cfg.Target.Explain(st, stderrTail.lastLines) != nil:
		// docker itself failed (no such image, a bad option): starting
		// it again would fail the same way.
		f.fatal = cfg.Target.Explain(st, stderrTail.lastLines)
		f.leave(f.fatal.Error(), track.Abandoned)
		f.book.Close(fmt.Errorf("not sent: %w", f.fatal))
		return nil
	}
	// It died unexpectedly.
	d := f.leave(why, track.Crashed)
	if f.book.Open() == 0 && f.inputEnded && f.queuedEmpty() {
		// Every request was answered: nothing was lost, so the run
		// succeeded; still, say so.
		s.say("%s %s after answering every request", s.name(), st)
		f.res.Status = proc.Status{}
		return nil
	}
	msg := why
	if d.InFlight > 0 {
		msg += fmt.Sprintf(" with %d request(s) in flight, the oldest #%d %q", d.InFlight, d.Oldest, clip(d.Input))
	}
	s.say("%s", msg)
	for _, l := range stderrTail.lastLines(3) {
		s.say("  stderr: %s", l)
	}
	if d.Alone > 0 {
		s.say("sending those %d again one at a time, so that only the one that kills it fails", d.Alone)
	}
	if f.answered > 0 {
		*restarts = 0 // it worked for a while: a fresh start
	}
	if cfg.Restart && *restarts < cfg.MaxRestarts {
		*restarts++
		backoff := min(100*time.Millisecond<<(*restarts-1), 5*time.Second)
		s.say("restarting %s (%d of at most %d in a row) in %s", s.name(), *restarts, cfg.MaxRestarts, backoff)
		*restartAt = time.After(backoff)
		return nil
	}
	reason := why + "; not restarted (--restart never)"
	if cfg.Restart {
		reason = fmt.Sprintf("%s; not restarted: it died %d times in a row without answering (--max-restarts)", why, *restarts+1)
		s.say("not restarting %s: it died %d times in a row without answering (--max-restarts)", s.name(), *restarts+1)
	}
	f.book.Close(fmt.Errorf("not sent: %s", reason))
	if f.s.pr != nil {
		f.inputEnded = true
		f.closePrompt()
	}
	return nil
}

// leave tells the book the current child is gone, once.
func (f *framed) leave(why string, fate track.Fate) track.Death {
	if f.left {
		return track.Death{}
	}
	f.left = true
	d := f.book.Gone(f.cid, why, fate)
	f.out.write(f.book.Done()) // what failed is told before what is said of it
	return d
}

// replace stops the child so that the dispatcher starts another when it is
// gone; its requests in flight then go to the new one.
func (f *framed) replace() {
	f.replacing = true
	f.child.Terminate()
}

// terminate stops the child at once: SIGTERM now, SIGKILL after --grace.
func (f *framed) terminate() { f.child.Terminate() }

// closePrompt takes the prompt off the screen: the input is over.
func (f *framed) closePrompt() {
	if f.s.pr != nil {
		f.s.pr.Close()
		f.s.pr, f.events = nil, nil
	}
}

// watch runs every second: it tells the person what a child that keeps
// them waiting is doing, and keeps the loading prompt's clock.
func (f *framed) watch() {
	s, cfg := f.s, f.cfg
	if f.child == nil || f.replacing {
		return
	}
	now := time.Now()
	if !f.ready {
		waited := now.Sub(f.started)
		if s.pr != nil {
			s.pr.setPrompt(loadingPrompt(waited))
		}
		if cfg.ReadyTimeout > 0 && waited >= cfg.ReadyTimeout {
			err := fmt.Errorf("%s printed no line %s within --ready-timeout %s", s.name(), f.readyWhat(), cfg.ReadyTimeout)
			f.book.Close(fmt.Errorf("not sent: %w", err))
			f.inputEnded = f.inputEnded || f.lines == nil
			f.leave(err.Error(), track.Abandoned)
			f.terminate()
			return
		}
		if !f.waitSaid && waited >= hintAfter {
			f.waitSaid = true
			give := "; --ready-timeout gives up after a while"
			if cfg.ReadyTimeout > 0 {
				give = fmt.Sprintf("; giving up after --ready-timeout %s", cfg.ReadyTimeout)
			}
			s.say("waiting for %s to print a line %s (%s so far; input is held until then)%s", s.name(), f.readyWhat(), waited.Truncate(time.Second), give)
		}
		return
	}
	oldest := f.book.Oldest(f.cid)
	if f.hinted || oldest == nil {
		return
	}
	waiting := now.Sub(f.lastAnswerOr(oldest))
	if waiting < hintAfter {
		return
	}
	if cfg.Framing.Mode == frame.Marker && oldest.Parts > f.noise {
		f.noise = oldest.Parts // lines, but no marker
	}
	switch {
	case f.noise > 0:
		f.hinted = true
		s.say("%s", f.mismatchHint())
	case now.Sub(f.lastOut) >= hintAfter && !f.stdinClosed && f.answered == 0:
		// A child that answered before flushes its output: it is slow,
		// not buffering.
		f.hinted = true
		if h := cfg.Target.Hint(min(now.Sub(f.lastOut), waiting), s.ios.Getenv); h != "" {
			s.say("%s", h)
		}
	case f.stdinClosed:
		f.hinted = true
		s.say("waiting for %s to answer %d request(s); its input is closed (--timeout or --eof-timeout give up)", s.name(), f.book.Open())
	}
}

// lastAnswerOr is when the child last answered, or, if later, when r
// started waiting.
func (f *framed) lastAnswerOr(r *track.Request) time.Time {
	t := f.out.lastAnswer
	if s := r.SentAt(); s.After(t) {
		t = s
	}
	return t
}

func (f *framed) readyWhat() string {
	if f.cfg.Framing.Ready != nil {
		return fmt.Sprintf("matching --ready %q", f.cfg.Framing.Ready.String())
	}
	return fmt.Sprintf("beyond its --skip-banner %d", f.cfg.Framing.SkipLines)
}

// mismatchHint is what to say when the child writes, but nothing it writes
// answers a request: it does not speak the framing.
func (f *framed) mismatchHint() string {
	s, o := f.s, f.cfg.Framing
	last := clip(f.lastNoise)
	switch o.Mode {
	case frame.JSONL:
		return fmt.Sprintf("%s writes lines that answer no request (%d so far, the last %q): it may not speak jsonl, or not echo each request's \"id\"; check its protocol, or try --framing line", s.name(), f.noise, last)
	case frame.Marker:
		m := fmt.Sprintf("line equal to --marker %q", o.Marker)
		if o.MarkerRE != nil {
			m = fmt.Sprintf("line matching --marker-regexp %q", strings.TrimSuffix(strings.TrimPrefix(o.MarkerRE.String(), "^(?:"), ")$"))
		}
		return fmt.Sprintf("%s has written %d line(s) since its last answer but no %s, which ends each answer (the last line %q); check the marker, or use --sentinel to make it print one", s.name(), f.noise, m, last)
	}
	return fmt.Sprintf("%s writes lines that answer no request (%d so far, the last %q): it answers more lines than it is sent", s.name(), f.noise, last)
}

// childOutput handles the messages one read of the child's stdout completed,
// and the decoder's error after them (a line over --max-line). It runs in
// the stdout pump of the child of generation gen; see the top of the file.
func (f *framed) childOutput(gen int, msgs []frame.Message, err error) {
	if len(msgs) == 0 && err == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing || gen != f.gen || f.replacing || f.left {
		return // the run is over, or the child being replaced: its requests go again
	}
	now := time.Now()
	if len(msgs) > 0 {
		f.lastOut = now
	}
	for _, m := range msgs {
		// They came in one read: one clock reading for all.
		f.message(m, now)
	}
	if err != nil {
		f.s.say("%v", err)
		f.leave(err.Error(), track.Abandoned)
		f.replace()
	}
	// The next requests first, then the answers: the child works on the
	// former while we write out the latter.
	f.turn()
	if f.over() || f.out.err != nil || f.stdinClosed && f.cfg.EOFTimeout > 0 || f.wantsInput() && f.lines != nil && !f.waitingInput {
		// The dispatcher has to see to it: the run is over, its stdin was
		// closed (the --eof-timeout clock), or the input it did not wait
		// for, as the book wanted none, is wanted now.
		select {
		case f.kick <- struct{}{}:
		default: // kicked already
		}
	}
}

// message handles one decoded message, read at now.
func (f *framed) message(m frame.Message, now time.Time) {
	s := f.s
	switch m.Kind {
	case frame.Ready:
		s.sayLine("banner", m.Data)
		if !f.ready {
			f.ready = true
			f.book.SetReady(f.cid)
			if s.pr != nil {
				s.say("%s is ready after %s", s.name(), now.Sub(f.started).Round(time.Millisecond))
				s.pr.setPrompt(readyPrompt)
			}
		}
		return
	case frame.Banner:
		s.sayLine("banner", m.Data)
		return
	case frame.Event:
		s.sayLine("event", m.Data)
		// Events are fine (progress, notifications), but only events,
		// and no answer, may be a child that does not echo ids.
		f.noted(m.Data)
		return
	}
	outcome, r := f.book.Deliver(f.cid, m, now)
	switch outcome {
	case track.Answered:
		f.answered++
		f.noise = 0
		f.out.lastAnswer = now
	case track.PartOf:
		f.out.partial(r, m.Data)
		if f.cfg.Framing.Mode == frame.Marker {
			f.lastNoise = append(f.lastNoise[:0], m.Data[:min(len(m.Data), 80)]...)
		}
	case track.Late:
		s.sayLine(fmt.Sprintf("late answer to request #%d, which timed out; dropped", r.Seq), m.Data)
	case track.Unowned:
		s.sayLine("answer to no request in flight", m.Data)
		f.noted(m.Data)
	}
}

// noted counts a line of output that answered nothing.
func (f *framed) noted(data []byte) {
	f.noise++
	f.lastNoise = append(f.lastNoise[:0], data[:min(len(data), 80)]...)
}

// turn does what the state allows without waiting: add requests of the
// input while the book wants them, send them, close the child's stdin once
// every request is written, and write out the requests that ended. The
// dispatcher calls it before it waits, the stdout pump after each read.
func (f *framed) turn() {
	for {
		for len(f.queued) > 0 && f.book.Wants() {
			f.book.Add(f.queued[0])
			f.queued[0] = nil
			f.queued = f.queued[1:]
		}
		// More input, if readLines has it at hand: the pump takes it
		// without waking the dispatcher, unless the dispatcher waits for
		// it (two receivers could take batches out of order).
		if !f.wantsInput() || f.lines == nil || f.waitingInput {
			break
		}
		select {
		case batch, ok := <-f.lines:
			f.take(batch, ok)
		default:
		}
		if len(f.queued) == 0 {
			break
		}
	}
	if f.child != nil && !f.replacing && !f.left {
		f.wire = f.book.Send(f.cid, f.wire[:0], time.Now())
		if len(f.wire) > 0 {
			f.box.Write(f.wire)
		}
		if f.inputEnded && f.queuedEmpty() && f.book.Pending() == 0 && !f.stdinClosed {
			// Every request is written: the child reads EOF, and its
			// answers are still read (tr, bc: some answer only then).
			f.box.CloseWrite()
			f.stdinClosed = true
			if f.book.Open() == 0 {
				f.child.Stop() // nothing more to wait for: --grace, then SIGTERM
			}
		}
		if f.stdinClosed && f.book.Open() == 0 {
			f.child.Stop()
		}
	}
	f.out.write(f.book.Done())
	f.resetTimer()
}

func (f *framed) queuedEmpty() bool { return len(f.queued) == 0 }

// wantsInput reports whether the book wants lines that are not read yet.
func (f *framed) wantsInput() bool {
	return !f.inputEnded && len(f.queued) == 0 && f.book.Wants()
}

// take handles a receive from lines. It is called only once queued is
// used up: the batch before is given back to readLines to reuse.
func (f *framed) take(batch [][]byte, ok bool) {
	if f.batch != nil {
		select {
		case f.freeBatch <- f.batch: // its lines are nil: turn let go of them
		default:
		}
		f.batch = nil
	}
	if !ok {
		f.inputEnded = true
		if *f.readErr != nil {
			f.inputErr = &InputError{fmt.Errorf("reading the input: %w; the lines before were sent", *f.readErr)}
		}
		return
	}
	f.queued, f.batch = batch, batch
}

// over reports whether the run is over: every request ended, and no child
// to wait for.
func (f *framed) over() bool {
	return f.inputEnded && f.queuedEmpty() && f.book.Open() == 0 && f.child == nil
}

// resetTimer sets the timer for the book's earliest deadline, unless it is
// set for it already.
func (f *framed) resetTimer() {
	next := f.book.Deadline()
	if f.timerOn && next.Equal(f.armed) {
		return
	}
	d := time.Hour
	if !next.IsZero() {
		d = max(time.Until(next), 0)
	}
	f.timer.Reset(d)
	f.armed, f.timerOn = next, true
}

func (f *framed) finish(res Result) (Result, error) {
	res.Status = f.res.Status
	res.Quit = f.res.Quit
	res.Interrupted = f.interrupted
	res.TimedOut = f.eofTimedOut
	f.out.close()
	if res.OutputClosed && res.OutputErr == nil {
		res.OutputErr = f.out.err
	} else if f.out.err != nil {
		res.OutputClosed, res.OutputErr = true, f.out.err
	}
	res.Requests, res.Failed = f.out.stats.ok+f.out.stats.fail, f.out.failed
	if f.interrupted != 0 || res.OutputClosed {
		return res, nil
	}
	if f.inputErr != nil {
		return res, f.inputErr
	}
	if f.fatal != nil {
		return res, f.fatal
	}
	return res, nil
}

// output writes the requests that ended, in input order: their answers, or
// --json records; failures are told on stderr. It also keeps the
// statistics.
type output struct {
	s       *session
	cfg     Config
	answers io.Writer     // where answers go, without --json
	enc     *json.Encoder // for --json records
	buf     *bufio.Writer // answers and records, flushed at the end of each turn; nil at the prompt
	err     error         // writing failed
	// partials: show the parts of an answer as they come (on a terminal,
	// or --partials), else only in --json records.
	partials   bool
	stats      stats
	failed     int
	lastSeq    uint64 // the last request written out
	lastAnswer time.Time
	told       int            // failures told one by one
	untold     int            // failures past maxFailLines
	notSent    map[string]int // requests that failed unsent, by why: told in one line each at the end
	whys       []string       // notSent's keys, in the order they came
	utf8Said   bool
}

func newOutput(s *session, cfg Config) *output {
	o := &output{s: s, cfg: cfg, answers: s.childStdout(), stats: stats{start: time.Now()}, notSent: map[string]int{}}
	o.partials = !cfg.JSON && (cfg.Partials || s.outTTY)
	var recs io.Writer = s.out
	if s.pr == nil {
		// Buffered, and flushed at the end of each turn: one write per
		// batch of answers, not one per answer.
		o.buf = bufio.NewWriterSize(o.answers, 64<<10)
		o.answers = o.buf
		if cfg.JSON {
			recs = o.buf
		}
	}
	if cfg.JSON {
		o.enc = json.NewEncoder(recs)
		o.enc.SetEscapeHTML(false)
	}
	return o
}

// partial shows a part of r's answer as it comes, when r is the next to be
// written out and parts are shown: the answers stay in input order.
func (o *output) partial(r *track.Request, data []byte) {
	if !o.partials || r.Seq != o.lastSeq+1 || o.err != nil {
		return
	}
	if o.cfg.Framing.Mode == frame.Marker {
		// A line of a marker answer: shown only if every line before it
		// was, else the whole answer is written at its end.
		if r.Shown != r.Parts-1 {
			return
		}
		o.line(data)
		r.Shown++
		return
	}
	for _, p := range r.Partials[r.Shown:] {
		o.line(p)
	}
	r.Shown = len(r.Partials)
	o.flush()
}

func (o *output) line(b []byte) {
	if o.err != nil {
		return
	}
	if o.buf != nil {
		o.buf.Write(b)
		o.err = o.buf.WriteByte('\n')
		return
	}
	_, o.err = o.answers.Write(append(append([]byte(nil), b...), '\n'))
}

func (o *output) flush() {
	if o.buf != nil && o.buf.Buffered() > 0 && o.err == nil {
		o.err = o.buf.Flush()
	}
}

// write writes out rs, which ended in this order, then flushes.
func (o *output) write(rs []*track.Request) {
	for _, r := range rs {
		o.one(r)
	}
	o.flush()
}

func (o *output) one(r *track.Request) {
	o.lastSeq = r.Seq
	o.stats.add(r.Latency, r.Err != nil)
	if r.Err != nil {
		o.failed++
	}
	if o.err != nil {
		return
	}
	if o.cfg.Framing.Mode == frame.JSONL && !o.utf8Said && !utf8.Valid(r.Input) || o.enc != nil && !o.utf8Said && !utf8.Valid(r.Input) {
		o.utf8Said = true
		o.s.say("request #%d holds bytes that are not UTF-8, which JSON cannot carry: they were written as U+FFFD (said once)", r.Seq)
	}
	if o.enc != nil {
		rec := record{ID: r.Seq, Input: string(r.Input), Output: o.recordOutput(r), LatencyMS: float64(r.Latency.Microseconds()) / 1000, Attempts: r.Attempts, Notification: r.Notification}
		if r.Err != nil {
			e := r.Err.Error()
			rec.Error = &e
		}
		o.err = o.enc.Encode(rec)
		return
	}
	if r.Err != nil {
		o.tell(r)
		return
	}
	if r.Notification {
		return
	}
	if o.partials && o.cfg.Framing.Mode == frame.JSONL {
		for _, p := range r.Partials[r.Shown:] {
			o.line(p)
		}
	}
	if r.Shown > 0 && o.cfg.Framing.Mode == frame.Marker {
		return // its lines were shown as they came
	}
	o.line(r.Answer)
}

// tell says on stderr that r failed: one by one up to maxFailLines, and
// requests that were never sent in one line per reason at the end.
func (o *output) tell(r *track.Request) {
	if r.Attempts == 0 && strings.HasPrefix(r.Err.Error(), "not sent: ") {
		why := strings.TrimPrefix(r.Err.Error(), "not sent: ")
		if o.notSent[why] == 0 {
			o.whys = append(o.whys, why)
		}
		o.notSent[why]++
		return
	}
	why := r.Err.Error()
	if r.Attempts > 0 {
		why = strings.TrimPrefix(why, "not sent: ") // it was, to a child that died
	}
	if o.told >= maxFailLines {
		o.untold++
		return
	}
	o.told++
	// The answers before it come first, as they would unbuffered.
	o.flush()
	o.s.say("request #%d %q failed: %s", r.Seq, clip(r.Input), why)
}

// close flushes the output and tells what tell kept for the end.
func (o *output) close() {
	o.flush()
	if o.untold > 0 {
		o.s.say("and %d more request(s) failed (--json records each, with why)", o.untold)
	}
	for _, why := range o.whys {
		o.s.say("%d request(s) not sent: %s", o.notSent[why], why)
	}
	if o.cfg.Stats {
		o.s.say("%s", o.stats.String())
	}
}

// record is one line of --json output.
type record struct {
	ID           uint64          `json:"id"`
	Input        string          `json:"input"`
	Output       json.RawMessage `json:"output"`
	LatencyMS    float64         `json:"latency_ms"`
	Attempts     int             `json:"attempts"`
	Error        *string         `json:"error"`
	Notification bool            `json:"notification,omitempty"`
}

// recordOutput is a record's "output": the answer's text, or its JSON
// object in jsonl; with partial messages, all of them in order.
func (o *output) recordOutput(r *track.Request) json.RawMessage {
	if r.Notification || r.Err != nil && len(r.Partials) == 0 {
		return json.RawMessage("null")
	}
	one := func(b []byte) json.RawMessage {
		if o.cfg.Framing.Mode == frame.JSONL && json.Valid(b) {
			return b
		}
		s, _ := json.Marshal(string(b))
		return s
	}
	if len(r.Partials) == 0 {
		return one(r.Answer)
	}
	all := make([]json.RawMessage, 0, len(r.Partials)+1)
	for _, p := range r.Partials {
		all = append(all, one(p))
	}
	if r.Err == nil {
		all = append(all, one(r.Answer))
	}
	b, _ := json.Marshal(all)
	return b
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
