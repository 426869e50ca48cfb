package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/proc"
	"github.com/pipecli/pipecli/internal/track"
)

// The conversation: one loop for raw and framed runs. It starts the child
// and starts it again, forwards signals, watches our output's reader, takes
// the prompt's events, gives hints, and decides when the run is over. What
// differs between the two is small and local:
//
//   - raw: the input goes straight to the child's stdin (spliced from a
//     file; the prompt's lines through the session's inbox) and its stdout
//     straight to our output. There is no book: the loop only sees the
//     child start and end.
//   - framed: the input is read in lines (readLines) and made requests by
//     the book (internal/track); the child's stdout is decoded into
//     answers (framed.go), written out in input order (output.go).
//
// mu guards the conversation: the loop holds it except while it waits in
// its select; in a framed run the child's stdout pump takes it to handle
// what it read (childOutput), see framed.go.
type conv struct {
	mu   sync.Mutex
	s    *session
	cfg  Config
	book *track.Book // nil in a raw run
	out  *output     // nil in a raw run

	// The input, in a framed run.
	lines      <-chan [][]byte // from readLines; nil at the prompt
	readErr    *error          // readLines' error, to read once lines is closed
	queued     [][]byte        // read, not yet added: taken while the book wants them
	batch      [][]byte        // the batch from lines that queued is the rest of
	freeBatch  chan [][]byte   // batches used up, given back to readLines
	inputEnded bool
	inputErr   error
	// sourceEnded is set by readLines once the source has no more: what
	// is left of it is at most a batch or two, in queued and in lines.
	sourceEnded atomic.Bool
	// draining: the source ended and the child stalled: the rest of the
	// input is taken, whatever the book wants, to be sent (Unlimit).
	draining bool

	// The child.
	child       *proc.Child
	tail        *tailWriter      // its stderr, whose last lines explain its death
	cid         int              // its number in the book
	box         *inbox           // its stdin, in a framed run
	gen         int              // counts the children started: output of an older one is ignored
	started     time.Time        // when the current child started
	ready       bool             // its banner is over
	left        bool             // the book was told it is gone
	replacing   bool             // we stopped it to start another
	stdinClosed bool             // every request is written and its stdin closed
	answered    int              // by the current child: a child that answers resets the back-off
	wire        []byte           // requests to write, written once per turn
	restarts    int              // deaths in a row without answering
	restartAt   <-chan time.Time // when to start the next child, after a death

	// The current child's channels (proc.Child), nil once they fired.
	drained, fed, outFailed <-chan struct{}
	eofTimer                *time.Timer // --eof-timeout, once its input is over
	eofC                    <-chan time.Time

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
	slowSaid    bool      // a long silence was told
	sent        bool      // the current child was sent a request
	bannerSaid  bool      // output before any request was told
	unframed    int       // marker: lines of the answer being received, no marker yet
	misaligned  int       // FIFO: answers that came with no request waiting

	timer   *time.Timer // set for the book's earliest deadline
	armed   time.Time   // the deadline the timer is set for (zero: none)
	timerOn bool

	closing      bool          // the loop is done with the child's output: the pump drops it
	waitingInput bool          // the loop waits for lines: only it may receive from them
	kick         chan struct{} // the pump wakes the loop up: see childOutput
}

// converse runs the conversation until it is over.
func (s *session) converse(ctx context.Context, sigs <-chan os.Signal) (res Result, err error) {
	cv := newConv(s)
	defer cv.timer.Stop()
	defer cv.stopEOFTimer()
	stop := make(chan struct{}) // closed when we return: readLines gives up
	readerDone := cv.readInput(stop)
	if s.pr != nil {
		cv.events = s.pr.events
	}

	// The loop holds mu from here on, but while it waits. When it
	// returns, it lets go of the child's output before it waits for the
	// child, whose pump may be waiting for mu; and it stops readLines
	// before it waits for it.
	cv.mu.Lock()
	defer func() {
		cv.closing = true
		child := cv.child
		cv.mu.Unlock()
		close(stop)
		if c, ok := s.src.(io.Closer); ok && cv.lines != nil {
			c.Close() // interrupt a read in progress
		}
		if child != nil {
			child.Terminate()
			child.Wait()
		}
		<-readerDone
	}()
	if err := cv.start(); err != nil {
		return res, err
	}
	cv.greet()

	var (
		timerC <-chan time.Time // the book's deadlines
		hungUp = s.hungUp
		done   = ctx.Done()
		tick   = time.NewTicker(time.Second)
	)
	defer tick.Stop()
	if cv.book != nil {
		timerC = cv.timer.C
	}
	for {
		cv.waitingInput = false
		cv.turn()
		if cv.out != nil && cv.out.err != nil {
			res.OutputClosed = true
			return cv.finish(res)
		}
		if cv.over() {
			break
		}
		var in <-chan [][]byte
		if cv.wantsInput() {
			in = cv.lines
		}
		cv.waitingInput = in != nil
		cv.mu.Unlock()
		select {
		case <-cv.kick:
			cv.mu.Lock()
		case batch, ok := <-in:
			cv.mu.Lock()
			cv.take(batch, ok)
		case ev := <-cv.events:
			cv.mu.Lock()
			cv.event(ev)
		case <-cv.fed:
			cv.mu.Lock()
			cv.inputOver()
		case <-cv.drained:
			cv.mu.Lock()
			if err := cv.childGone(); err != nil {
				return cv.finishWith(res, err)
			}
		case <-cv.restartAt:
			cv.mu.Lock()
			cv.restartAt = nil
			if err := cv.start(); err != nil {
				return res, err
			}
			s.say("%s restarted (pid %d)", s.name(), cv.child.Pid())
		case now := <-timerC:
			cv.mu.Lock()
			cv.expire(now)
		case <-tick.C:
			cv.mu.Lock()
			cv.watch()
		case <-cv.eofC:
			cv.mu.Lock()
			cv.eofTimeout()
		case sig := <-sigs:
			cv.mu.Lock()
			cv.signal(sig.(syscall.Signal))
		case <-done:
			cv.mu.Lock()
			done = nil
			cv.cancel()
		case <-cv.outFailed:
			cv.mu.Lock()
			// Writing the child's stdout to ours failed (raw; a framed
			// run writes its own output and sees that in turn).
			res.OutputClosed, res.OutputErr = true, cv.child.OutputErr()
			return cv.finish(res)
		case <-hungUp:
			cv.mu.Lock()
			res.OutputClosed = true
			return cv.finish(res)
		}
	}
	return cv.finish(res)
}

// newConv makes the conversation for s: with a book and an output in a
// framed run.
func newConv(s *session) *conv {
	cfg := s.cfg
	cv := &conv{
		s:       s,
		cfg:     cfg,
		lastOut: time.Now(),
		timer:   time.NewTimer(time.Hour),
		kick:    make(chan struct{}, 1),
		tail:    &tailWriter{w: s.childStderr()},
		ready:   true,
	}
	if cfg.Framing.Mode == frame.Raw {
		return cv
	}
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
	cv.book = track.New(track.Config{
		Framing:   cfg.Framing,
		Sentinel:  sentinel,
		Window:    window,
		Timeout:   cfg.Timeout,
		Retries:   cfg.Retries,
		SkipEmpty: cfg.SkipEmpty,
	})
	cv.out = newOutput(s, cfg)
	return cv
}

// readInput starts, in a framed run with no prompt, the goroutine that
// reads the input in lines; it blocks on the channel when the book wants
// no more. The channel it returns is closed when the goroutine is done.
func (cv *conv) readInput(stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	if cv.book == nil || cv.s.pr != nil {
		close(done)
		return done
	}
	ch := make(chan [][]byte)
	var readErr error
	cv.lines, cv.readErr = ch, &readErr
	cv.freeBatch = make(chan [][]byte, 2)
	go func() {
		defer close(done)
		defer close(ch)
		readErr = readLines(cv.s.src, ch, stop, cv.freeBatch, &cv.sourceEnded) // read after ch is closed
	}()
	return done
}

// start starts a child: in a raw run, its stdin is the input (or the
// prompt's inbox) and its stdout our output; in a framed run, its stdin is
// an inbox of its own, and its stdout is decoded.
func (cv *conv) start() error {
	s, cfg := cv.s, cv.cfg
	cv.gen++
	o := proc.Options{Grace: cfg.Grace, Stderr: cv.tail}
	if cv.book != nil {
		cv.box = newInbox()
		o.Stdin = cv.box.reader()
		o.Stdout = &decodeSink{cv: cv, gen: cv.gen, dec: frame.NewDecoder(cfg.Framing)}
	} else {
		o.Stdin, o.Stdout = s.src, s.childStdout()
		if s.box != nil {
			o.Stdin = s.box.reader()
		}
	}
	c, err := cfg.Target.Start(o)
	if err != nil {
		return err
	}
	cv.child, cv.drained, cv.fed, cv.outFailed = c, c.Drained(), c.Fed(), c.OutputFailed()
	cv.stopEOFTimer()
	cv.left, cv.stdinClosed, cv.answered, cv.started = false, false, 0, time.Now()
	cv.noise, cv.lastNoise, cv.waitSaid, cv.sent, cv.unframed = 0, nil, false, false, 0
	if cv.book != nil {
		cv.box.attach(o.Stdin, c.WriteNow)
		cv.cid = cv.book.Attach()
		cv.ready = cfg.Framing.SkipLines == 0 && cfg.Framing.Ready == nil
		if cv.ready {
			cv.book.SetReady(cv.cid)
		}
	}
	return nil
}

// greet tells the person at the prompt that the child started.
func (cv *conv) greet() {
	s := cv.s
	if s.pr == nil {
		return
	}
	how := ""
	if cv.book != nil {
		how = ", framing " + cv.cfg.Framing.Mode.String()
	}
	s.say("%s started (pid %d)%s; type a line to send it, :help for commands, Ctrl-D to end", s.name(), cv.child.Pid(), how)
	if !cv.ready {
		s.say("%s is loading: what you type is held until it is ready", s.name())
		s.pr.setPrompt(loadingPrompt(0))
	}
}

// inputOver is called when the child's stdin has been fed all there is
// (raw: its source ended; framed: every request is written), or the child
// went: --eof-timeout counts from then.
func (cv *conv) inputOver() {
	cv.fed = nil
	if cv.cfg.EOFTimeout > 0 && (cv.book == nil || cv.stdinClosed) {
		cv.eofTimer = time.NewTimer(cv.cfg.EOFTimeout)
		cv.eofC = cv.eofTimer.C
	}
}

func (cv *conv) stopEOFTimer() {
	if cv.eofTimer != nil {
		cv.eofTimer.Stop()
		cv.eofTimer, cv.eofC = nil, nil
	}
}

// eofTimeout stops a child still running --eof-timeout after its input.
func (cv *conv) eofTimeout() {
	cv.eofC = nil
	if cv.child == nil {
		return
	}
	cv.eofTimedOut = true
	cv.abandon(fmt.Sprintf("%s was still running --eof-timeout %s after its input ended", cv.s.name(), cv.cfg.EOFTimeout))
	cv.child.Terminate() // its stdin is closed already: no --grace first
}

// expire handles the book's deadlines at now.
func (cv *conv) expire(now time.Time) {
	cv.timerOn = false
	if stuck := cv.book.Expire(now); len(stuck) > 0 && cv.child != nil && !cv.replacing {
		// A FIFO framing, and the child answered a timed-out request
		// neither in time nor in the --timeout after: what it says next
		// cannot be trusted to answer what it seems to.
		t := cv.cfg.Timeout
		cv.s.say("restarting %s: request #%d had no answer within --timeout %s, nor in the %s after; whatever state it held is lost", cv.s.name(), stuck[0].Seq, t, t)
		cv.replace()
	}
}

// signal handles a signal sent to pipecli: forwarded to the child, which
// is then stopped; a second one kills it at once.
func (cv *conv) signal(sig syscall.Signal) {
	if cv.interrupted != 0 {
		if cv.child != nil {
			cv.child.Kill() // no more waiting
		}
		return
	}
	cv.interrupted = sig
	cv.inputEnded = true
	cv.closeBook("interrupted")
	if cv.child != nil {
		cv.abandon("interrupted")
		cv.child.Signal(sig)
		cv.child.Stop()
	}
	cv.closePrompt()
}

// cancel ends the run when its context is done.
func (cv *conv) cancel() {
	cv.inputEnded = true
	cv.closeBook("cancelled")
	if cv.child != nil {
		cv.abandon("cancelled")
		cv.child.Terminate()
	}
	cv.closePrompt()
}

// event handles what the person at the prompt did.
func (cv *conv) event(ev event) {
	s := cv.s
	switch ev.kind {
	case evLine:
		if cv.book == nil {
			s.box.Write([]byte(ev.line + "\n"))
		} else if ev.line != "" { // an empty line typed is no request
			cv.book.Add([]byte(ev.line))
		}
	case evStats:
		if cv.book == nil {
			s.say("no requests to count: statistics need --framing line, marker or jsonl")
			return
		}
		s.say("%s", cv.out.stats.String())
	case evEOF, evQuit:
		cv.inputEnded = true
		if cv.book == nil {
			s.box.CloseWrite()
		} else {
			// The person is done: what they typed goes now, and the
			// child's input closes after it, whatever it left unanswered.
			cv.book.Unlimit()
		}
		cv.closePrompt()
		if ev.kind == evQuit {
			cv.quit = true
			cv.closeBook(":quit")
			if cv.child != nil {
				cv.child.Stop()
			}
		}
	case evRestart:
		if cv.child != nil {
			if cv.book != nil {
				s.say("restarting %s (:restart)", s.name())
			}
			cv.replace()
		}
	}
}

// slowAfter is how long a child known not to buffer may keep every
// request in flight unanswered before that is said.
const slowAfter = 10 * time.Second

// closeBook fails what was not sent, and all that comes, with "not sent:
// why"; in a raw run there is no book.
func (cv *conv) closeBook(why string) {
	if cv.book != nil {
		cv.book.Close(errors.New("not sent: " + why))
	}
}

// abandon gives up on the child's requests in flight, with why.
func (cv *conv) abandon(why string) {
	if cv.book != nil {
		cv.leave(why, track.Abandoned)
	}
}

// childGone handles the end of the child whose pipes are drained: it says
// why, and tells the book what becomes of its requests; it starts another
// child, or schedules one, if there is work left and it may.
func (cv *conv) childGone() error {
	s := cv.s
	cv.drained, cv.fed, cv.outFailed = nil, nil, nil
	// The pumps are done: the pump wants mu no more, and Wait waits for
	// the exit alone.
	child := cv.child
	st, err := child.Wait()
	stage, stopped := child.StoppedBy()
	cv.child = nil
	cv.res.Status = st
	if cv.replacing {
		cv.replacing = false
		if cv.book != nil {
			cv.leave(fmt.Sprintf("%s %s", s.name(), st), track.Replaced)
		}
		if err := cv.start(); err != nil {
			return err
		}
		s.say("%s restarted (pid %d)", s.name(), cv.child.Pid())
		return nil
	}
	if cv.book == nil {
		// A raw run ends with its child.
		cv.res.Quit = cv.quit && stopped && stage != proc.StoppedByEOF
		if err != nil {
			return err
		}
		if child.InputCut() && !stopped {
			s.say("%s %s before reading all its input", s.name(), st)
		}
		return cv.cfg.Target.Explain(st, cv.tail.lastLines)
	}
	return cv.requestsOf(st, stage, stopped)
}

// requestsOf decides, in a framed run, what becomes of the requests of the
// child that ended with st, and whether another is started.
func (cv *conv) requestsOf(st proc.Status, stage proc.StopStage, stopped bool) error {
	s, cfg := cv.s, cv.cfg
	why := fmt.Sprintf("%s %s", s.name(), st)
	var explained error // docker failing to run the container, before any answer
	if cv.answered == 0 {
		explained = cfg.Target.Explain(st, cv.tail.lastLines)
	}
	switch {
	case cv.left:
		// We ended it (a signal, :quit, --eof-timeout, a decode
		// error): its requests are settled already.
		cv.res.Quit = cv.quit && stopped && stage != proc.StoppedByEOF
		cv.book.Close(fmt.Errorf("not sent: %s", why))
		if cv.quit {
			cv.res.Status = proc.Status{}
		}
		return nil
	case cv.quit:
		cv.res.Quit = stopped && stage != proc.StoppedByEOF
		cv.leave(why, track.Ended)
		cv.res.Status = proc.Status{}
		return nil
	case st.Success() || cv.stdinClosed && stopped && stage != proc.StoppedByEOF:
		// It ended, with code 0, or when we stopped it with every request
		// answered and its input closed: what it did not answer fails, and
		// would not be answered by another either. A child that exits 0 is
		// not restarted: it chose to end (a REPL told to quit).
		d := cv.leave(why, track.Ended)
		if stopped && stage != proc.StoppedByEOF {
			s.say("%s still ran --grace %s after every request was answered and its input closed; stopped it", s.name(), cfg.Grace)
		}
		switch {
		case d.Failed > 0 && cv.unframed > 0:
			cv.noise = cv.unframed
			s.say("%s", cv.mismatchHint())
		case d.Failed > 0 && cv.stdinClosed && cv.book.Fifo() && !cv.quit:
			fix := "--sentinel with --framing marker, or --prompt"
			if !cfg.SkipEmpty {
				fix += ", or --skip-empty for empty lines"
			}
			s.say("%s ended without answering %d request(s): in %s framing answers are matched in order, so if it skipped a line (an empty one, a command), the answers after that line went to the wrong requests; make it answer each: %s", s.name(), d.Failed, cfg.Framing.Mode, fix)
		}
		if !cv.inputEnded || cv.book.Pending() > 0 || !cv.queuedEmpty() {
			what := why + " before its input ended"
			if !cv.ready {
				what = fmt.Sprintf("%s before printing a line %s", why, cv.readyWhat())
			}
			cv.book.Close(fmt.Errorf("not sent: %s", what))
			cv.inputEnded = cv.inputEnded || cv.lines == nil // the prompt has no more to send it to
			if cv.s.pr != nil {
				s.say("%s", what)
				cv.closePrompt()
			}
		}
		cv.res.Status = proc.Status{}
		return nil
	case explained != nil:
		// docker itself failed (no such image, a bad option): starting
		// it again would fail the same way.
		cv.fatal = explained
		cv.leave(cv.fatal.Error(), track.Abandoned)
		cv.book.Close(fmt.Errorf("not sent: %w", cv.fatal))
		return nil
	}
	// It died unexpectedly.
	d := cv.leave(why, track.Crashed)
	if d.InFlight == 0 && cv.book.Open() == 0 && cv.inputEnded && cv.queuedEmpty() {
		// Every request was answered: nothing was lost; still, say so.
		s.say("%s %s after answering every request", s.name(), st)
		return nil // its status is passed on, as in a raw run
	}
	msg := why
	if d.InFlight > 0 {
		msg += fmt.Sprintf(" with %d request(s) in flight, the oldest #%d %q", d.InFlight, d.Oldest, clip(d.Input))
	}
	s.say("%s", msg)
	for _, l := range cv.tail.lastLines(3) {
		s.say("  stderr: %s", l)
	}
	if d.Alone > 0 {
		s.say("sending those %d again one at a time, so that only the one that kills it fails", d.Alone)
	}
	if cv.book.Open() == 0 && cv.inputEnded && cv.queuedEmpty() {
		return nil // nothing left to restart it for
	}
	if cv.answered > 0 {
		cv.restarts = 0 // it worked for a while: a fresh start
	}
	if cfg.Restart && cv.restarts < cfg.MaxRestarts {
		cv.restarts++
		backoff := min(100*time.Millisecond<<(cv.restarts-1), 5*time.Second)
		s.say("restarting %s (%d of at most %d in a row) in %s", s.name(), cv.restarts, cfg.MaxRestarts, backoff)
		cv.restartAt = time.After(backoff)
		return nil
	}
	reason := why + "; not restarted (--restart never)"
	if cfg.Restart {
		reason = fmt.Sprintf("%s; not restarted: it died %d times in a row without answering (--max-restarts)", why, cv.restarts+1)
		s.say("not restarting %s: it died %d times in a row without answering (--max-restarts)", s.name(), cv.restarts+1)
	}
	cv.book.Close(fmt.Errorf("not sent: %s", reason))
	if cv.s.pr != nil {
		cv.inputEnded = true
		cv.closePrompt()
	}
	return nil
}

// leave tells the book the current child is gone, once.
func (cv *conv) leave(why string, fate track.Fate) track.Death {
	if cv.left {
		return track.Death{}
	}
	cv.left = true
	d := cv.book.Gone(cv.cid, why, fate)
	cv.out.write(cv.book.Done()) // what failed is told before what is said of it
	return d
}

// replace stops the child so that the loop starts another when it is
// gone; its requests in flight then go to the new one.
func (cv *conv) replace() {
	cv.replacing = true
	if cv.book == nil {
		cv.child.Stop() // raw (:restart): its input is closed, it may finish
		return
	}
	cv.child.Terminate()
}

// closePrompt takes the prompt off the screen: the input is over.
func (cv *conv) closePrompt() {
	if cv.s.pr != nil {
		cv.s.pr.Close()
		cv.s.pr, cv.events = nil, nil
	}
}

// watch runs every second: it tells the person what a child that keeps
// them waiting is doing, and keeps the loading prompt's clock.
func (cv *conv) watch() {
	s, cfg := cv.s, cv.cfg
	if cv.child == nil || cv.replacing {
		return
	}
	now := time.Now()
	if cv.book == nil {
		// While more input may come: after it, the child may rightly be
		// working on it all (sort).
		if d := cv.child.Unanswered(); !s.hinted && d >= hintAfter && !cv.inputEnded && !cv.fedDone() {
			s.hinted = true
			if h := cfg.Target.Hint(d, s.ios.Getenv); h != "" {
				s.say("%s", h)
			}
		}
		return
	}
	if !cv.ready {
		waited := now.Sub(cv.started)
		if s.pr != nil {
			s.pr.setPrompt(loadingPrompt(waited))
		}
		if cfg.ReadyTimeout > 0 && waited >= cfg.ReadyTimeout {
			err := fmt.Errorf("%s printed no line %s within --ready-timeout %s", s.name(), cv.readyWhat(), cfg.ReadyTimeout)
			cv.book.Close(fmt.Errorf("not sent: %w", err))
			cv.inputEnded = cv.inputEnded || cv.lines == nil
			cv.leave(err.Error(), track.Abandoned)
			cv.child.Terminate()
			return
		}
		if !cv.waitSaid && waited >= hintAfter {
			cv.waitSaid = true
			give := "; --ready-timeout gives up after a while"
			if cfg.ReadyTimeout > 0 {
				give = fmt.Sprintf("; giving up after --ready-timeout %s", cfg.ReadyTimeout)
			}
			s.say("waiting for %s to print a line %s (%s so far; input is held until then)%s", s.name(), cv.readyWhat(), waited.Truncate(time.Second), give)
		}
		return
	}
	oldest := cv.book.Oldest(cv.cid)
	if oldest == nil {
		return
	}
	waiting := now.Sub(cv.lastAnswerOr(oldest))
	if waiting < hintAfter {
		return
	}
	if !cv.draining && (cv.inputEnded || cv.sourceEnded.Load()) && cv.book.Pending()+len(cv.queued) > 0 && now.Sub(cv.lastOut) >= hintAfter {
		// The input is over, and the child stopped answering with its
		// window full: the rest would wait for ever. It gets them now
		// (a batch or two at most), then EOF, which makes many programs
		// answer, or end.
		cv.draining = true
		cv.book.Unlimit()
		s.say("%s has not answered request #%d %q for %s, and the input is over: sending it the requests left and closing its input", s.name(), oldest.Seq, clip(oldest.Input), waiting.Truncate(time.Second))
		return
	}
	if cv.hinted {
		return
	}
	if cfg.Framing.Mode == frame.Marker && int(oldest.Parts) > cv.noise {
		cv.noise = int(oldest.Parts) // lines, but no marker
	}
	switch {
	case cv.noise > 0:
		cv.hinted = true
		s.say("%s", cv.mismatchHint())
	case s.pr != nil && cv.book.Pending() > 0:
		// At the prompt, what was typed after it waits unseen.
		cv.hinted = true
		fix := "a REPL that does not answer every line needs --sentinel or --prompt, and a program that buffers its output --pty"
		if !cv.book.Fifo() {
			fix = "is it answering each request with its \"id\"?"
		}
		s.say("%s has not answered request #%d %q for %s, and %d line(s) typed after it wait to be sent: %s; :restart starts it afresh", s.name(), oldest.Seq, clip(oldest.Input), waiting.Truncate(time.Second), cv.book.Pending(), fix)
	case now.Sub(cv.lastOut) >= hintAfter && !cv.stdinClosed && cv.answered == 0 && cfg.Target.Hint(waiting, s.ios.Getenv) != "":
		// A child that answered before flushes its output: it is slow,
		// not buffering; so is one the hint knows not to buffer.
		cv.hinted = true
		s.say("%s", cfg.Target.Hint(min(now.Sub(cv.lastOut), waiting), s.ios.Getenv))
	case cv.stdinClosed && !cv.quit:
		cv.hinted = true
		s.say("waiting for %s to answer %d request(s); its input is closed (--timeout or --eof-timeout give up)", s.name(), cv.book.Open())
	case waiting >= slowAfter && !cv.slowSaid && !cv.quit:
		// Not buffering (the hint said nothing), but silent for long: say
		// that it is waited for, once.
		cv.slowSaid = true
		more := ""
		if cv.book.InFlight(cv.cid) > 1 {
			more = "; if it waits for more requests before answering, raise --window"
		}
		s.say("%s has answered none of the %d request(s) in flight for %s; still waiting (--timeout gives up on a request)%s", s.name(), cv.book.InFlight(cv.cid), waiting.Truncate(time.Second), more)
	}
}

// lastAnswerOr is when the child last answered, or, if later, when r
// started waiting.
func (cv *conv) lastAnswerOr(r *track.Request) time.Time {
	t := cv.out.lastAnswer
	if s := r.SentAt(); s.After(t) {
		t = s
	}
	return t
}

func (cv *conv) readyWhat() string {
	if o := cv.cfg.Framing; o.PromptReady && o.Ready != nil && o.Ready == o.MarkerRE {
		return fmt.Sprintf("matching --prompt %q (many REPLs print their prompt only on a terminal: try --pty, or sqlite3 -interactive; python3 -i prints it on stderr: sh -c 'exec python3 -i 2>&1')", unanchor(o.Ready.String()))
	}
	if cv.cfg.Framing.Ready != nil {
		return fmt.Sprintf("matching --ready %q", cv.cfg.Framing.Ready.String())
	}
	return fmt.Sprintf("beyond its --skip-banner %d", cv.cfg.Framing.SkipLines)
}

// unanchor takes off the anchors cmd puts around a regexp the user gave.
func unanchor(re string) string {
	return strings.TrimSuffix(strings.TrimPrefix(re, "^(?:"), ")$")
}

// mismatchHint is what to say when the child writes, but nothing it writes
// answers a request: it does not speak the framing.
func (cv *conv) mismatchHint() string {
	s, o := cv.s, cv.cfg.Framing
	last := clip(cv.lastNoise)
	switch o.Mode {
	case frame.JSONL:
		return fmt.Sprintf("%s writes lines that answer no request (%d so far, the last %q): it may not speak jsonl, or not echo each request's \"id\"; check its protocol, or try --framing line", s.name(), cv.noise, last)
	case frame.Marker:
		m := fmt.Sprintf("line equal to --marker %q", o.Marker)
		if o.MarkerRE != nil {
			m = fmt.Sprintf("line matching --marker-regexp %q", unanchor(o.MarkerRE.String()))
		}
		return fmt.Sprintf("%s has written %d line(s) since its last answer but no %s, which ends each answer (the last line %q); check the marker, or use --sentinel to make it print one", s.name(), cv.noise, m, last)
	}
	return fmt.Sprintf("%s writes lines that answer no request (%d so far, the last %q): it answers more lines than it is sent", s.name(), cv.noise, last)
}

// fedDone reports whether the child's stdin has been fed all there is.
func (cv *conv) fedDone() bool {
	select {
	case <-cv.child.Fed():
		return true
	default:
		return false
	}
}

// over reports whether the run is over: in a framed run, every request
// ended and no child to wait for; in a raw one, its child ended.
func (cv *conv) over() bool {
	if cv.book == nil {
		return cv.child == nil
	}
	return cv.inputEnded && cv.queuedEmpty() && cv.book.Open() == 0 && cv.child == nil
}

// resetTimer sets the timer for the book's earliest deadline, unless it is
// set for it already.
func (cv *conv) resetTimer() {
	next := cv.book.Deadline()
	if cv.timerOn && next.Equal(cv.armed) {
		return
	}
	d := time.Hour
	if !next.IsZero() {
		d = max(time.Until(next), 0)
	}
	cv.timer.Reset(d)
	cv.armed, cv.timerOn = next, true
}

// finishWith is finish for a run that ends with err.
func (cv *conv) finishWith(res Result, err error) (Result, error) {
	res, ferr := cv.finish(res)
	if ferr != nil {
		return res, ferr
	}
	return res, err
}

// finish completes res with what happened, writes out what is left and
// says what was kept for the end.
func (cv *conv) finish(res Result) (Result, error) {
	res.Status = cv.res.Status
	res.Quit = cv.res.Quit
	res.Interrupted = cv.interrupted
	res.TimedOut = cv.eofTimedOut
	if cv.out != nil {
		cv.out.close()
		if res.OutputClosed && res.OutputErr == nil {
			res.OutputErr = cv.out.err
		} else if cv.out.err != nil {
			res.OutputClosed, res.OutputErr = true, cv.out.err
		}
		res.Requests, res.Failed = cv.out.stats.ok+cv.out.stats.fail, cv.out.failed
		res.Misaligned = cv.misaligned
	}
	if cv.interrupted != 0 || res.OutputClosed {
		return res, nil
	}
	if cv.inputErr != nil {
		return res, cv.inputErr
	}
	if cv.fatal != nil {
		return res, cv.fatal
	}
	return res, nil
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
