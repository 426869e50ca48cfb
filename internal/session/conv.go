package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/proc"
	"github.com/pipecli/pipecli/internal/track"
)

// The conversation: one loop for raw and framed runs. It starts the
// children (replicas) and starts them again, forwards signals, watches our
// output's reader, takes the prompt's events, gives hints, and decides when
// the run is over. What differs between the two is small and local:
//
//   - raw: one child; the input goes straight to its stdin (spliced from a
//     file; the prompt's lines through the session's inbox) and its
//     stdout straight to our output. There is no book: the loop only sees
//     the child start and end.
//   - framed: one child or more (replica.go); the input is read in lines
//     (readLines) and made requests by the book (internal/track), which
//     sends each to the least-loaded replica; their stdout is decoded into
//     answers (framed.go), written out in input order (output.go).
//
// mu guards the conversation: the loop holds it except while it waits in
// its select; in a framed run the children's stdout pumps take it to
// handle what they read (childOutput), see framed.go.
type conv struct {
	mu   sync.Mutex
	s    *session
	cfg  Config
	book *track.Book // nil in a raw run
	out  *output     // nil in a raw run

	// The input, in a framed run.
	lines      <-chan [][]byte // from readLines; nil at the prompt but while :load sends a file
	readErr    *error          // readLines' error, to read once lines is closed
	queued     [][]byte        // read, not yet added: taken while the book wants them
	batch      [][]byte        // the batch from lines that queued is the rest of
	freeBatch  chan [][]byte   // batches used up, given back to readLines
	inputEnded bool
	// quietSaid: a REPL's request was failed for the line it answered
	// with nothing, and the fix was said.
	quietSaid bool
	inputErr  error
	// sourceEnded is set by readLines once the source has no more: what
	// is left of it is at most a batch or two, in queued and in lines.
	sourceEnded atomic.Bool
	// draining: the source ended and a child stalled: the rest of the
	// input is taken, whatever the book wants, to be sent (Unlimit).
	draining bool
	// loading is the file :load is sending, "" if none; typed holds what
	// was typed meanwhile, sent after it.
	loading       string
	loaded        int
	typed         []string
	quitAfterLoad bool           // Ctrl-D came while a file was being sent
	readers       sync.WaitGroup // readLines goroutines
	stop          chan struct{}  // closed when the loop returns: the goroutines it started give up

	// The children.
	reps     []*replica
	gen      int              // counts the children started
	wires    [][]byte         // requests to write to each replica, written once per turn
	notes    chan note        // the children's ends, from their watchers
	watchers sync.WaitGroup   // one per child started, see watchChild
	alarm    *time.Timer      // for the replicas' restarts and --eof-timeout
	alarmAt  time.Time        // what alarm is set for (zero: nothing)
	alarmC   <-chan time.Time // alarm's channel while it is set

	events <-chan event // the prompt's, or nil

	// What happened.
	res         Result // the child's status, and whether :quit stopped it
	quit        bool   // :quit at the prompt
	interrupted syscall.Signal
	eofTimedOut bool
	fatal       error // why the run cannot go on, if it cannot
	misaligned  int   // FIFO: answers that came with no request waiting
	stray       int   // jsonl, serve: answers whose id matched no request in flight
	skipped     int   // FIFO: requests left unanswered by a child that answered others (Result.Skipped)
	deaths      int   // children that died unexpectedly
	peakRSS     int64 // the largest peak RSS of the children gone, in bytes
	heldSaid    bool  // answers held behind a slow request were told of
	starved     bool  // Config.Starved was called
	// strayTold and strayUntold count the answers to no request (and
	// late ones) said one by one, and those only counted (see sayStray).
	strayTold, strayUntold int

	timer   *time.Timer // set for the book's earliest deadline
	armed   time.Time   // the deadline the timer is set for (zero: none)
	timerOn bool

	closing      bool          // the loop is done with the children's output: the pumps drop it
	waitingInput bool          // the loop waits for lines: only it may receive from them
	kick         chan struct{} // a pump wakes the loop up: see childOutput
}

// note is what a child's watcher tells the loop.
type note struct {
	r    *replica
	gen  int // the child's, as r.gen when it started
	kind noteKind
}

type noteKind int

const (
	noteFed       noteKind = iota // its stdin was fed all there is
	noteOutFailed                 // raw: writing its stdout to ours failed
	noteDrained                   // it ended and its pipes are drained
)

// converse runs the conversation until it is over.
func (s *session) converse(ctx context.Context, sigs <-chan os.Signal) (res Result, err error) {
	cv := newConv(s)
	defer cv.timer.Stop()
	defer cv.alarm.Stop()
	if s.pr != nil {
		cv.events = s.pr.events
	}
	if cv.book != nil && s.pr == nil {
		cv.readInput(s.src, &cv.sourceEnded)
	}

	// The loop holds mu from here on, but while it waits. When it
	// returns, it lets go of the children's output before it waits for
	// the children, whose pumps may be waiting for mu; and it stops the
	// goroutines it started before it waits for them.
	cv.mu.Lock()
	defer func() {
		cv.closing = true
		var children []*proc.Child
		for _, r := range cv.reps {
			if r.child != nil {
				children = append(children, r.child)
			}
		}
		reading := cv.lines != nil
		cv.mu.Unlock()
		close(cv.stop)
		if c, ok := s.src.(io.Closer); ok && reading && cv.loading == "" {
			c.Close() // interrupt a read in progress
		}
		for _, c := range children {
			c.Terminate()
		}
		for _, c := range children {
			c.Wait()
			cv.peakRSS = max(cv.peakRSS, c.PeakRSS())
		}
		cv.watchers.Wait()
		cv.readers.Wait()
		res.PeakRSS = cv.peakRSS
	}()
	if err := cv.startAll(); err != nil {
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
		cv.setAlarm()
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
		case n := <-cv.notes:
			cv.mu.Lock()
			if n.gen != n.r.gen || n.r.child == nil {
				continue // a child gone already
			}
			switch n.kind {
			case noteFed:
				cv.inputOver(n.r)
			case noteOutFailed:
				// Writing the child's stdout to ours failed (raw; a
				// framed run writes its own output and sees that in
				// turn).
				res.OutputClosed, res.OutputErr = true, n.r.child.OutputErr()
				return cv.finish(res)
			case noteDrained:
				if err := cv.childGone(n.r); err != nil {
					return cv.finishWith(res, err)
				}
			}
		case now := <-cv.alarmC:
			cv.mu.Lock()
			cv.alarmC, cv.alarmAt = nil, time.Time{}
			if err := cv.ring(now); err != nil {
				return cv.finishWith(res, err)
			}
		case now := <-timerC:
			cv.mu.Lock()
			cv.expire(now)
		case <-tick.C:
			cv.mu.Lock()
			cv.watch()
		case sig := <-sigs:
			cv.mu.Lock()
			cv.signal(sig.(syscall.Signal))
		case <-done:
			cv.mu.Lock()
			done = nil
			cv.cancel()
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
		s:     s,
		cfg:   cfg,
		reps:  newReplicas(s, cfg),
		timer: time.NewTimer(time.Hour),
		alarm: time.NewTimer(time.Hour),
		kick:  make(chan struct{}, 1),
		notes: make(chan note),
		stop:  make(chan struct{}),
	}
	cv.alarm.Stop()
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
		// Room for every replica's window, and as much again of answers
		// that wait for a slow one's: beyond, the input waits.
		Reorder:   max(reorderMin, 2*window*len(cv.reps)),
		Unordered: cfg.Unordered,
		Lookahead: cfg.Lookahead,
	})
	for range cv.reps {
		cv.book.Attach() // numbered as cv.reps
	}
	cv.out = newOutput(s, cfg, len(cv.reps))
	return cv
}

// reorderMin is the least room the reorder buffer has, in requests: answers
// that came before the oldest request's.
const reorderMin = 1024

// readInput starts the goroutine that reads src in lines, for the loop to
// take while the book wants them; it blocks on the channel meanwhile.
func (cv *conv) readInput(src io.Reader, ended *atomic.Bool) {
	ch := make(chan [][]byte)
	readErr := new(error)
	cv.lines, cv.readErr = ch, readErr
	cv.freeBatch = make(chan [][]byte, 2)
	free := cv.freeBatch
	cv.readers.Add(1)
	go func() {
		defer cv.readers.Done()
		defer close(ch)
		*readErr = readLines(src, ch, cv.stop, free, ended) // read after ch is closed
	}()
}

// start starts replica r's child: in a raw run, its stdin is the input (or
// the prompt's inbox) and its stdout our output; in a framed run, its
// stdin is an inbox of its own, and its stdout is decoded.
func (cv *conv) start(r *replica) error {
	s, cfg := cv.s, cv.cfg
	cv.gen++
	r.gen = cv.gen
	o := proc.Options{Grace: cfg.Grace, Stderr: r.tail}
	if cv.book != nil {
		r.box = newInbox()
		o.Stdin = r.box.reader()
		sink := &decodeSink{cv: cv, r: r, gen: r.gen, dec: frame.NewDecoder(cfg.Framing)}
		r.dec, o.Stdout = sink.dec, sink
	} else {
		o.Stdin, o.Stdout = s.src, s.childStdout()
		if s.box != nil {
			o.Stdin = s.box.reader()
		}
	}
	c, err := r.target.Start(o)
	if err != nil {
		return err
	}
	r.child, r.replacing = c, false
	r.reset(time.Now())
	cv.watchChild(r, c)
	if cv.book != nil {
		r.box.attach(o.Stdin, c.WriteNow)
		cv.book.Rejoin(r.n)
		r.ready = cfg.Framing.SkipLines == 0 && cfg.Framing.Ready == nil
		if r.ready {
			cv.book.SetReady(r.n)
		}
	}
	return nil
}

// startAll starts the replicas. One of several that cannot start (a
// command not found on one host) is retired, and the others carry on; the
// run fails only when none started, with the first one's error.
func (cv *conv) startAll() error {
	var first error
	for _, r := range cv.reps {
		err := cv.start(r)
		if err == nil {
			continue
		}
		if len(cv.reps) == 1 {
			return err
		}
		if first == nil {
			first = err
		}
		r.retired = true
		cv.s.say("%s could not start, and is retired: %s", r.name, strings.TrimSuffix(err.Error(), "; check the command after --"))
	}
	if !cv.serving() {
		return first
	}
	return nil
}

// watchChild starts the goroutine that tells the loop when r's child c
// was fed all its input, and when it ended; the loop waits for it when it
// returns.
func (cv *conv) watchChild(r *replica, c *proc.Child) {
	gen := r.gen
	cv.watchers.Add(1)
	go func() {
		defer cv.watchers.Done()
		fed, failed, drained := c.Fed(), c.OutputFailed(), c.Drained()
		for drained != nil {
			var k noteKind
			select {
			case <-fed:
				fed, k = nil, noteFed
			case <-failed:
				failed, k = nil, noteOutFailed
			case <-drained:
				drained, k = nil, noteDrained
			}
			select {
			case cv.notes <- note{r, gen, k}:
			case <-cv.stop:
				return
			}
		}
	}()
}

// greet tells the person at the prompt that the children started.
func (cv *conv) greet() {
	s := cv.s
	if s.pr == nil {
		return
	}
	how := ""
	if cv.book != nil {
		how = ", framing " + cv.cfg.Framing.Mode.String()
	}
	if len(cv.reps) == 1 {
		s.say("%s started (pid %d)%s; type a line to send it, :help for commands, Ctrl-D to end", cv.reps[0].name, cv.reps[0].child.Pid(), how)
	} else {
		pids := make([]string, len(cv.reps))
		for i, r := range cv.reps {
			pids[i] = strconv.Itoa(r.child.Pid())
		}
		s.say("%d replicas of %s started (pids %s)%s; type a line to send it, :help for commands, Ctrl-D to end", len(cv.reps), s.name(), strings.Join(pids, ", "), how)
	}
	if !cv.anyReady() {
		s.say("%s is loading: what you type is held until it is ready", s.name())
		s.pr.setPrompt(loadingPrompt(0))
	}
}

// anyReady reports whether some replica's banner is over.
func (cv *conv) anyReady() bool {
	for _, r := range cv.reps {
		if r.child != nil && r.ready {
			return true
		}
	}
	return false
}

// closeInput closes r's stdin: every request is written, and the child
// reads EOF; its answers are still read (tr, bc: some answer only then).
func (cv *conv) closeInput(r *replica) {
	r.box.CloseWrite()
	r.stdinClosed = true
	cv.book.NoMore(r.n)
}

// holdEOF reports whether r, one of several replicas, is to be sent EOF
// later than now, though every request is written: it has some
// unanswered, and may be a worker that ends after so many requests. One
// that exits before its input is closed has its unanswered requests sent
// to the others, as a death; one that exits at EOF has chosen to leave
// them unanswered (a REPL that skipped them), and they fail. Closing at
// once would make a race of the two. It is held only while the child can
// be watched, and is not seen waiting for input: then it is sent EOF (see
// lookForEOF), which a program that answers only at EOF (sort), or
// buffers its output, needs.
func (cv *conv) holdEOF(r *replica) bool {
	held := cv.eofHeld(r)
	if held && r.eofLookAt.IsZero() {
		r.eofLookAt = time.Now().Add(eofLook)
		select {
		case cv.kick <- struct{}{}: // the loop sets the alarm
		default:
		}
	}
	return held
}

// eofHeld is holdEOF's condition, without arming the looks.
func (cv *conv) eofHeld(r *replica) bool {
	return len(cv.reps) > 1 && !r.eofDue && cv.book.Oldest(r.n) != nil && !r.target.Elsewhere() && cv.interrupted == 0 && !cv.quit
}

// eofLook is how often a replica whose EOF is held (see holdEOF) is looked
// at; it is sent EOF once seen waiting for input, silent, at two looks in a
// row.
const eofLook = 100 * time.Millisecond

// lookForEOF looks at r, whose EOF is held, at now: is it waiting for
// input with requests unanswered? Then it has read every request it was
// sent, and it is no worker about to end: it answers at EOF (sort), or
// skipped them, and reads EOF now. Silent for two looks, so that an answer
// written just before it read again is not taken for none; its stdin is
// empty (a worker that ends after so many requests leaves the rest unread).
func (cv *conv) lookForEOF(r *replica, now time.Time) {
	if !r.running() || r.stdinClosed || !cv.eofHeld(r) {
		r.eofWaits = false
		return
	}
	waits := now.Sub(r.lastOut) >= 2*eofLook && r.child.WaitsForInput()
	if waits && r.eofWaits {
		r.eofDue = true
		cv.closeInput(r)
		return
	}
	r.eofWaits = waits
	r.eofLookAt = now.Add(eofLook)
}

// quietLook is how often a REPL known to say nothing to some lines is
// looked at while its one request in flight is unanswered, for
// quietLooks looks: two looks in a row that see it waiting for the next
// line fail the request (see lookQuiet). After that, the watch looks once
// a second.
const (
	quietLook  = 100 * time.Millisecond
	quietLooks = 20
)

// quietWatched reports whether r is a REPL known to say nothing to some
// lines (launch.REPL), framed in order without a sentinel or prompt, with
// one request in flight, which it has printed nothing for: the request
// whose answer may never come, and whose next answer would be another's.
func (cv *conv) quietWatched(r *replica) (*track.Request, bool) {
	if !r.quiet || !cv.book.Fifo() || cv.replFraming() || cv.draining || !r.running() || r.stdinClosed || r.left || cv.book.InFlight(r.n) != 1 {
		return nil, false
	}
	q := cv.book.Oldest(r.n)
	if q == nil || q.Parts > 0 || !r.lastOut.Before(q.SentAt()) {
		return nil, false
	}
	return q, true
}

// armQuiet arms the quick looks at r once a request was sent to it, if
// it is a REPL that may say nothing to it.
func (cv *conv) armQuiet(r *replica) {
	if !r.quietLookAt.IsZero() {
		return
	}
	if _, ok := cv.quietWatched(r); !ok {
		return
	}
	r.quietLookAt, r.quietSeq = time.Now().Add(quietLook), 0
	select {
	case cv.kick <- struct{}{}: // the loop sets the alarm
	default:
	}
}

// lookQuiet looks at r, a REPL with one request unanswered (armQuiet), at
// now: seen twice in a row blocked reading its empty stdin, nothing of it
// running, with nothing printed since the request was sent, it read the
// request and says nothing to it, and the request fails (failQuiet).
func (cv *conv) lookQuiet(r *replica, now time.Time) {
	q, ok := cv.quietWatched(r)
	if !ok {
		return
	}
	waits := r.child.WaitsForInput()
	switch {
	case waits && r.quietSeq == q.Seq:
		cv.failQuiet(r, q, now)
		return
	case waits:
		r.quietSeq = q.Seq
	default:
		r.quietSeq = 0
	}
	if now.Sub(q.SentAt()) < quietLooks*quietLook {
		r.quietLookAt = now.Add(quietLook)
	}
}

// failQuiet fails q, the request in flight at r, a REPL seen waiting for
// the next line with nothing printed for it (bc after an assignment,
// sqlite3 after CREATE). It never will answer it, or will only after a
// later line (part of a statement): either way, its next answer is not
// this request's. The REPL, its state kept, is sent the next request; the
// first time, the fix is said.
func (cv *conv) failQuiet(r *replica, q *track.Request, now time.Time) {
	repl, _ := r.target.REPL()
	if !cv.quietSaid {
		cv.quietSaid = true
		cv.s.say("%s printed nothing for request #%d %q and waits for the next line: %s; such requests fail, so that no answer goes to the wrong one", r.name, q.Seq, clip(q.Input), cv.quietREPL(r))
	}
	cv.book.FailOldest(r.n, fmt.Errorf("%s answered nothing to it and waited for the next line (it says nothing to %s)", r.name, repl.Quiet), now)
	r.waitsSince, r.quietSeq = time.Time{}, 0
}

// inputOver is called when r's child's stdin has been fed all there is
// (raw: its source ended; framed: every request is written): its
// --eof-timeout counts from then.
func (cv *conv) inputOver(r *replica) {
	if cv.cfg.EOFTimeout > 0 && (cv.book == nil || r.stdinClosed) {
		r.eofAt = time.Now().Add(cv.cfg.EOFTimeout)
	}
}

// setAlarm sets the alarm for the replicas' earliest restart or
// --eof-timeout, unless it is set for it already.
func (cv *conv) setAlarm() {
	var next time.Time
	for _, r := range cv.reps {
		for _, t := range []time.Time{r.restartAt, r.eofAt, r.eofLookAt, r.quietLookAt} {
			if !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	if next.Equal(cv.alarmAt) {
		return
	}
	cv.alarm.Stop()
	cv.alarmAt, cv.alarmC = next, nil
	if !next.IsZero() {
		cv.alarm.Reset(max(time.Until(next), 0))
		cv.alarmC = cv.alarm.C
	}
}

// ring does what the alarm was set for: --eof-timeout, restarts, a look at
// a replica whose EOF is held.
func (cv *conv) ring(now time.Time) error {
	for _, r := range cv.reps {
		if !r.eofLookAt.IsZero() && !now.Before(r.eofLookAt) {
			r.eofLookAt = time.Time{}
			cv.lookForEOF(r, now)
		}
		if !r.quietLookAt.IsZero() && !now.Before(r.quietLookAt) {
			r.quietLookAt = time.Time{}
			cv.lookQuiet(r, now)
		}
		if !r.eofAt.IsZero() && !now.Before(r.eofAt) {
			r.eofAt = time.Time{}
			cv.eofTimeout(r)
		}
		if !r.restartAt.IsZero() && !now.Before(r.restartAt) {
			r.restartAt = time.Time{}
			if !cv.workLeft() {
				r.idle = true // the others did it all
				continue
			}
			if err := cv.restart(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// restart starts r again after a death, and says so. If it cannot start,
// it is retired, and that is the run's error only if no replica is left.
func (cv *conv) restart(r *replica) error {
	if err := cv.start(r); err != nil {
		r.retired = true
		if !cv.serving() {
			return err
		}
		cv.s.say("%s could not start again, and is retired: %v", r.name, err)
		return nil
	}
	r.restartN++
	cv.s.say("%s restarted (pid %d)", r.name, r.child.Pid())
	return nil
}

// eofTimeout stops r's child, still running --eof-timeout after its input
// ended.
func (cv *conv) eofTimeout(r *replica) {
	if r.child == nil {
		return
	}
	cv.eofTimedOut = true
	cv.abandon(r, fmt.Sprintf("%s was still running --eof-timeout %s after its input ended", r.name, cv.cfg.EOFTimeout))
	r.child.Terminate() // its stdin is closed already: no --grace first
}

// expire handles the book's deadlines at now.
func (cv *conv) expire(now time.Time) {
	cv.timerOn = false
	t := cv.cfg.Timeout
	for _, r := range cv.reps {
		// A child that has answered nothing yet, and read nothing of
		// its input (or read it only since the last look), is loading:
		// its requests' clocks start once it reads them. (All it was
		// written is still in the pipe, or the pipe is full.)
		unread := false
		if r.running() && r.answered == 0 && r.written > 0 && !r.target.Elsewhere() {
			n := r.child.Unread()
			unread = n > 0 && (n >= r.written || n >= 64<<10)
		}
		if unread || r.wasUnread {
			cv.book.Postpone(r.n, now)
		}
		if unread && !r.loadSaid {
			r.loadSaid = true
			cv.s.say("%s has not read its input yet, --timeout %s after it was sent its first request: it is still starting; a request's --timeout counts from when it reads it", r.name, t)
		}
		r.wasUnread = unread
	}
	for _, st := range cv.book.Expire(now) {
		r := cv.reps[st.Child]
		switch {
		case !r.running():
		case !st.First && cv.cfg.Framing.Mode == frame.Serve:
			// The server answers in order: the answers behind the
			// timed-out request's wait on it. They are asked for again
			// on a new connection; the server drops the old one's.
			cv.s.say("reconnecting: request #%d had no answer within --timeout %s, nor in the %s after; the %d request(s) waiting behind it are sent again on a new connection", st.Seq, t, t, cv.book.InFlight(r.n)-1)
			cv.replace(r)
		case !st.First && !cv.book.Fifo() && cv.inputEnded && cv.queuedEmpty() && cv.book.Pending() == 0:
			// No request is left to give the id again.
		case !st.First && !cv.book.Fifo():
			// jsonl: a request that gave its own id timed out, and its
			// answer did not come in the --timeout after either. The id
			// may come again, and that request would take the late
			// answer for its own, or wait for ever.
			cv.s.say("restarting %s: request #%d, which gave its own \"id\", had no answer within --timeout %s, nor in the %s after; a later request may give the same id, and must not take that late answer for its own; whatever state %s held is lost", r.name, st.Seq, t, t, r.name)
			cv.replace(r)
		case !st.First:
			// A FIFO framing, and the child answered a timed-out request
			// neither in time nor in the --timeout after: what it says
			// next cannot be trusted to answer what it seems to.
			cv.s.say("restarting %s: request #%d had no answer within --timeout %s, nor in the %s after; whatever state it held is lost; %s", r.name, st.Seq, t, t, cv.skipHint())
			cv.replace(r)
		case len(cv.reps) > 1 && cv.book.InFlight(r.n) > 1:
			// One of several replicas is stuck, or slow: the requests
			// queued behind it go to the others, rather than wait for it.
			cv.s.say("restarting %s: request #%d had no answer within --timeout %s; the %d request(s) queued behind it are sent again, to whichever replica takes them first", r.name, st.Seq, t, cv.book.InFlight(r.n)-1)
			cv.replace(r)
		}
	}
}

// signal handles a signal sent to pipecli: forwarded to the children,
// which are then stopped; a second one kills them at once.
func (cv *conv) signal(sig syscall.Signal) {
	if cv.interrupted != 0 {
		for _, r := range cv.reps {
			if r.child != nil {
				r.child.Kill() // no more waiting
				r.child.Terminate()
			}
		}
		return
	}
	cv.interrupted = sig
	cv.giveUp(whyInterrupted, func(c *proc.Child) {
		c.Signal(sig)
		c.Stop()
	})
}

// cancel ends the run when its context is done.
func (cv *conv) cancel() {
	cv.giveUp(whyCancelled, (*proc.Child).Terminate)
}

// giveUp ends the input, fails what was not answered with why, and stops
// every child with stop: no restart follows.
func (cv *conv) giveUp(why string, stop func(*proc.Child)) {
	cv.inputEnded = true
	cv.closeBook(why)
	for _, r := range cv.reps {
		r.restartAt = time.Time{}
		if r.child != nil {
			cv.abandon(r, why)
			stop(r.child)
		}
	}
	cv.closePrompt()
}

// event handles what the person at the prompt did.
func (cv *conv) event(ev event) {
	s := cv.s
	switch ev.kind {
	case evLine:
		switch {
		case cv.book == nil:
			s.box.Write([]byte(ev.line + "\n"))
		case ev.line == "": // an empty line typed is no request
		case cv.loading != "":
			cv.typed = append(cv.typed, ev.line) // after the file
		default:
			cv.book.Add([]byte(ev.line))
		}
	case evLoad:
		cv.load(ev.line)
	case evStats:
		if cv.book == nil {
			s.say("no requests to count: statistics need --framing line, marker or jsonl")
			return
		}
		s.say("%s", cv.out.statsText(cv.reps))
	case evEOF, evQuit:
		if cv.loading != "" && ev.kind == evEOF {
			cv.quitAfterLoad = true
			cv.closePrompt()
			return
		}
		cv.inputEnded = true
		if cv.book == nil {
			s.box.CloseWrite()
		} else {
			// The person is done: what they typed goes now, and the
			// children's input closes after it, whatever they left
			// unanswered.
			cv.book.Unlimit()
		}
		cv.closePrompt()
		if ev.kind == evQuit {
			cv.quit = true
			cv.closeBook(":quit")
			for _, r := range cv.reps {
				r.restartAt = time.Time{}
				if r.child != nil {
					r.child.Stop()
				}
			}
		}
	case evRestart:
		for _, r := range cv.reps {
			if r.running() {
				if cv.book != nil {
					s.say("restarting %s (:restart)", r.name)
				}
				cv.replace(r)
			}
		}
	}
}

// load starts sending the lines of the file at path as if typed (:load).
func (cv *conv) load(path string) {
	s := cv.s
	if strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			path = home + path[1:]
		}
	}
	if cv.loading != "" {
		s.say(":load %s: %s is still being sent; try again when it is done", path, cv.loading)
		return
	}
	f, err := os.Open(path)
	if err == nil {
		var fi os.FileInfo
		if fi, err = f.Stat(); err == nil && fi.IsDir() {
			err = fmt.Errorf("%s is a directory", path)
		}
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		s.say(":load: cannot read %v", unwrapPath(err))
		return
	}
	if cv.book == nil {
		// Raw: the bytes go as they are, through the prompt's inbox.
		defer f.Close()
		data, err := io.ReadAll(f)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			data = append(data, '\n')
		}
		s.box.Write(data)
		if err != nil {
			s.say(":load: reading %s: %v; the %d bytes before were sent", path, err, len(data))
			return
		}
		s.say(":load: sent %s (%d bytes)", path, len(data))
		return
	}
	cv.loading, cv.loaded = path, 0
	cv.readInput(closeAtEOF{f}, nil)
}

// closeAtEOF closes its file once read to the end (or an error).
type closeAtEOF struct{ f *os.File }

func (c closeAtEOF) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	if err != nil {
		c.f.Close()
	}
	return n, err
}

// loadDone is called when the file :load was sending is all read.
func (cv *conv) loadDone() {
	s := cv.s
	if *cv.readErr != nil {
		s.say(":load: reading %s: %v; the %d line(s) before were sent", cv.loading, *cv.readErr, cv.loaded)
	} else {
		s.say(":load: %d line(s) of %s sent", cv.loaded, cv.loading)
	}
	cv.lines, cv.loading = nil, ""
	for _, l := range cv.typed {
		cv.book.Add([]byte(l))
	}
	cv.typed = nil
	if cv.quitAfterLoad {
		cv.event(event{kind: evEOF})
	}
}

// slowAfter is how long a child known not to buffer may keep every
// request in flight unanswered before that is said.
const slowAfter = 10 * time.Second

// starvedAfter is how long a child must be seen waiting for input, with
// requests unanswered, before Config.Starved is called.
const starvedAfter = 4 * time.Second

// outEndedAfter is how long a child may still run after its stdout ended,
// with requests unanswered, before it is stopped: one that exits closes
// its stdout just before, and its end is then handled as such.
const outEndedAfter = time.Second

// needsMoreAfter is how long a child must be seen waiting for input, with
// requests unanswered and the rest of the input held back by the window,
// before it is sent the rest (see watchReplica): more than one look.
const needsMoreAfter = time.Second

// closeBook fails what was not sent, and all that comes, with "not sent:
// why"; in a raw run there is no book.
func (cv *conv) closeBook(why string) {
	if cv.book != nil {
		cv.book.Close(errors.New("not sent: " + why))
	}
}

// abandon gives up on r's requests in flight, with why.
func (cv *conv) abandon(r *replica, why string) {
	if cv.book != nil {
		cv.leave(r, why, track.Abandoned)
	}
}

// childGone handles the end of r's child, whose pipes are drained: it says
// why, and tells the book what becomes of its requests; it starts another
// child, or schedules one, if there is work left and it may.
func (cv *conv) childGone(r *replica) error {
	s := cv.s
	// The pumps are done: the pump wants mu no more, and Wait waits for
	// the exit alone.
	child := r.child
	st, err := child.Wait()
	cv.peakRSS = max(cv.peakRSS, child.PeakRSS())
	stage, stopped := child.StoppedBy()
	r.child, r.eofAt = nil, time.Time{}
	cv.res.Status = st
	if r.replacing {
		r.replacing = false
		if r.answered > 0 {
			r.restarts = 0
		} else {
			r.restarts++
		}
		if len(cv.reps) > 1 && r.restarts > cv.cfg.MaxRestarts {
			// One of several that is stuck each time it is started (a
			// host that hangs): the others do without it.
			r.retired = true
			s.say("not restarting %s: it was replaced %d times in a row without answering (--max-restarts); the other replicas carry on", r.name, r.restarts)
			cv.carryOn(fmt.Sprintf("%s was replaced %d times in a row without answering (--max-restarts)", r.name, r.restarts))
			return nil
		}
		return cv.restart(r)
	}
	if cv.book == nil {
		// A raw run ends with its child.
		cv.res.Quit = cv.quit && stopped && stage != proc.StoppedByEOF
		if err != nil {
			return err
		}
		if child.InputCut() && !stopped {
			s.say("%s %s before reading all its input", r.name, st)
		}
		return r.target.Explain(st, r.tail.lastLines)
	}
	if m := r.cutLine.Swap(nil); m != nil {
		if st.Success() {
			cv.message(r, *m, time.Now())
		} else {
			s.say("%s %s after writing %q with no newline after it: a line cut off, no answer", r.name, st, clip(m.Data))
		}
	}
	return cv.requestsOf(r, st, stage, stopped)
}

// requestsOf decides, in a framed run, what becomes of the requests of r's
// child, which ended with st, and whether it is started again.
func (cv *conv) requestsOf(r *replica, st proc.Status, stage proc.StopStage, stopped bool) error {
	s, cfg := cv.s, cv.cfg
	why := fmt.Sprintf("%s %s", r.name, st)
	if cfg.Framing.Mode == frame.Serve && !r.left {
		// The relay (pipecli connect) ends when the server closes the
		// connection: its status says nothing of the request.
		why = fmt.Sprintf("%s was closed by the server (it stopped, or died)", r.name)
	}
	var explained error // docker failing to run the container, before any answer
	if r.answered == 0 {
		explained = r.target.Explain(st, r.tail.lastLines)
	}
	switch {
	case r.left:
		// We ended it (a signal, :quit, --eof-timeout, --ready-timeout):
		// its requests are settled already.
		cv.res.Quit = cv.quit && stopped && stage != proc.StoppedByEOF
		if cv.quit {
			cv.res.Status = proc.Status{}
		}
		// Not started again; retired, unless the run is ending anyway.
		r.retired = cv.interrupted == 0 && !cv.quit && !cv.eofTimedOut
		cv.carryOn(r.leftWhy)
		return nil
	case cv.quit:
		cv.res.Quit = stopped && stage != proc.StoppedByEOF
		cv.leave(r, why, track.Ended)
		cv.res.Status = proc.Status{}
		return nil
	case st.Success() && !r.stdinClosed && (len(cv.reps) > 1 || cfg.Endless):
		// One of several replicas, or a server's, whose input never
		// ends, ended by itself before its input ended: as a death, its
		// requests go to the others, the one it was handling charged (a
		// line that makes it quit fails alone, once it did so --retries
		// times), and it is started again (a worker that ends after so
		// many requests, to be replaced; a caller's "quit" does not stop
		// the server for the others).
	case st.Success() || r.stdinClosed && stopped && stage != proc.StoppedByEOF:
		// It ended, with code 0, or when we stopped it with every request
		// answered and its input closed: what it did not answer fails, and
		// would not be answered by another either. A child that exits 0 is
		// not restarted: it chose to end (a REPL told to quit).
		d := cv.leave(r, why, track.Ended)
		if stopped && stage != proc.StoppedByEOF {
			s.say("%s still ran --grace %s after every request was answered and its input closed; stopped it", r.name, cfg.Grace)
		}
		switch {
		case d.Failed > 0 && r.unframed > 0:
			r.noise = r.unframed
			s.say("%s", cv.mismatchHint(r))
		case d.Failed > 0 && r.stdinClosed && cv.book.Fifo() && !cv.quit:
			s.say("%s ended without answering %d request(s): %s", r.name, d.Failed, cv.skipHint())
			if r.answered > 0 {
				cv.skipped += d.Failed
			}
		}
		cv.res.Status = proc.Status{}
		if r.stdinClosed {
			r.idle = true
			cv.carryOn(why)
			return nil
		}
		r.retired = true
		what := why + " before its input ended"
		if !r.ready {
			what = fmt.Sprintf("%s before printing a line %s", why, cv.readyWhat())
		}
		if cv.serving() {
			s.say("%s; it is not started again: the other replicas carry on", what)
			return nil
		}
		if cv.s.pr != nil && cv.workLeft() {
			s.say("%s", what)
		}
		cv.carryOn(what)
		return nil
	case explained != nil:
		// docker itself failed (no such image, a bad option): starting
		// it again would fail the same way.
		r.retired = true
		if cv.serving() {
			cv.leave(r, explained.Error(), track.Replaced)
			s.say("%v; %s is retired, the other replicas carry on", explained, r.name)
			return nil
		}
		cv.fatal = explained
		cv.leave(r, cv.fatal.Error(), track.Abandoned)
		cv.book.Close(fmt.Errorf("not sent: %w", cv.fatal))
		return nil
	}
	// It died unexpectedly.
	d := cv.leave(r, why, track.Crashed)
	if d.InFlight == 0 && cv.book.Open() == 0 && cv.inputEnded && cv.queuedEmpty() {
		// Every request was answered: nothing was lost, and it is no
		// death (sqlite3 exits 1 at EOF after an error); still, say so.
		s.say("%s %s after answering every request", r.name, st)
		r.idle = true
		return nil // its status is passed on, as in a raw run
	}
	cv.deaths++
	msg := why
	if d.InFlight > 0 {
		msg += fmt.Sprintf(" with %d request(s) in flight, the oldest #%d %q", d.InFlight, d.Oldest, clip(d.Input))
	}
	s.say("%s", msg)
	for _, l := range r.tail.lastLines(3) {
		s.say("  stderr: %s", l)
	}
	if d.Alone > 0 {
		s.say("sending those %d again one at a time, so that only the one that kills it fails", d.Alone)
	}
	if !cv.workLeft() {
		r.idle = true
		if len(cv.reps) > 1 {
			s.say("not restarting %s: no requests are left for it", r.name)
		}
		return nil
	}
	if r.answered > 0 {
		r.restarts = 0 // it worked for a while: a fresh start
	}
	if cfg.Restart && r.restarts < cfg.MaxRestarts {
		r.restarts++
		backoff := min(100*time.Millisecond<<(r.restarts-1), 5*time.Second)
		s.say("restarting %s (%d of at most %d in a row) in %s", r.name, r.restarts, cfg.MaxRestarts, backoff)
		r.restartAt = time.Now().Add(backoff)
		cv.wakeIdle() // meanwhile, another may take its requests
		return nil
	}
	r.retired = true
	reason := why + "; not restarted (--restart never)"
	if cfg.Restart {
		reason = fmt.Sprintf("%s; not restarted: it died %d times in a row without answering (--max-restarts)", why, r.restarts+1)
		s.say("not restarting %s: it died %d times in a row without answering (--max-restarts)", r.name, r.restarts+1)
	}
	if cv.serving() {
		s.say("%s is retired; the other replicas carry on", r.name)
		return nil
	}
	cv.carryOn(reason)
	return nil
}

// workLeft reports whether requests wait to be sent, or may come.
func (cv *conv) workLeft() bool {
	return cv.book.Pending() > 0 || !cv.inputEnded || !cv.queuedEmpty()
}

// serving reports whether some replica has a child, or will have one
// (a restart is scheduled).
func (cv *conv) serving() bool {
	for _, r := range cv.reps {
		if r.child != nil || !r.restartAt.IsZero() {
			return true
		}
	}
	return false
}

// carryOn is called when a replica ended and is not restarted. If work is
// left and no replica serves, one that ended when its input was over is
// started again for it (wakeIdle); if there is none, no replica is left:
// what remains fails with why.
func (cv *conv) carryOn(why string) {
	if !cv.workLeft() || cv.wakeIdle() || cv.serving() {
		return
	}
	cv.book.Close(fmt.Errorf("not sent: %s", why))
	switch {
	case cv.s.pr != nil:
		cv.inputEnded = true // the prompt has no more to send it to
		cv.closePrompt()
	case cv.loading != "":
		cv.inputEnded = true
	case !cv.inputEnded && !regularFile(cv.s.src):
		// A pipe or a terminal may not end for a long time (tail -f):
		// what was read fails, and the rest is not waited for. A file
		// is read to its end, its lines counted as not sent.
		cv.inputEnded = true
		cv.s.say("no child is left to send the input to: the run ends without reading the rest of it")
	}
}

// regularFile reports whether src is a regular file, whose reading ends
// soon.
func regularFile(src io.Reader) bool {
	f, ok := src.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode().IsRegular()
}

// wakeIdle starts again a replica that ended when its input was over, if
// requests came back (another died with them in flight) and no replica
// can take them now. It reports whether it did.
func (cv *conv) wakeIdle() bool {
	if cv.book.Pending() == 0 {
		return false
	}
	for _, r := range cv.reps {
		if r.sendable() {
			return false
		}
	}
	for {
		// The one that died the fewest times in a row.
		var r *replica
		for _, q := range cv.reps {
			if q.idle && !q.retired && (r == nil || q.restarts < r.restarts) {
				r = q
			}
		}
		if r == nil {
			return false
		}
		if err := cv.start(r); err != nil {
			r.retired = true
			continue
		}
		cv.s.say("%s started again (pid %d) for the %d request(s) left", r.name, r.child.Pid(), cv.book.Pending())
		return true
	}
}

// leave tells the book r's child is gone, once.
func (cv *conv) leave(r *replica, why string, fate track.Fate) track.Death {
	if r.left {
		return track.Death{}
	}
	r.left, r.leftWhy = true, why
	d := cv.book.Gone(r.n, why, fate)
	cv.out.write(cv.book.Done()) // what failed is told before what is said of it
	return d
}

// replace stops r's child so that the loop starts another when it is
// gone; its requests in flight go to the next child to take them.
func (cv *conv) replace(r *replica) {
	r.replacing = true
	if cv.book == nil {
		r.child.Stop() // raw (:restart): its input is closed, it may finish
		return
	}
	cv.leave(r, r.name+" replaced", track.Replaced)
	r.child.Terminate()
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
	s := cv.s
	if cv.book == nil {
		r := cv.reps[0]
		if !r.running() {
			return
		}
		// While more input may come: after it, the child may rightly be
		// working on it all (sort).
		if d := r.child.Unanswered(); !s.hinted && d >= hintAfter && !cv.inputEnded && !fedDone(r.child) {
			s.hinted = true
			if h := r.target.Hint(d, s.ios.Getenv); h != "" {
				s.say("%s", h)
			}
		}
		return
	}
	now := time.Now()
	for _, r := range cv.reps {
		if r.running() {
			cv.watchReplica(r, now)
		}
	}
	cv.watchOrder(now)
}

// watchOrder says, once, when answers are held for order behind a request
// one replica has kept for long: the output stops there, and once the
// reorder buffer is full, so does the input.
func (cv *conv) watchOrder(now time.Time) {
	if cv.heldSaid || len(cv.reps) < 2 || cv.cfg.Unordered || cv.book.Held() == 0 {
		return
	}
	var oldest *track.Request
	var on *replica
	for _, r := range cv.reps {
		if q := cv.book.Oldest(r.n); q != nil && (oldest == nil || q.Seq < oldest.Seq) {
			oldest, on = q, r
		}
	}
	if oldest == nil || now.Sub(oldest.SentAt()) < slowAfter {
		return
	}
	cv.heldSaid = true
	cv.s.say("%d answer(s) wait for request #%d %q, which %s has not answered for %s, to be written in input order; --timeout gives up on a request, --unordered writes answers as they come", cv.book.Held(), oldest.Seq, clip(oldest.Input), on.name, now.Sub(oldest.SentAt()).Truncate(time.Second))
}

// watchReplica is watch for one replica of a framed run.
func (cv *conv) watchReplica(r *replica, now time.Time) {
	s, cfg := cv.s, cv.cfg
	if !r.ready {
		waited := now.Sub(r.started)
		if s.pr != nil && !cv.anyReady() {
			s.pr.setPrompt(loadingPrompt(waited))
		}
		if cfg.ReadyTimeout > 0 && waited >= cfg.ReadyTimeout {
			err := fmt.Errorf("%s printed no line %s within --ready-timeout %s", r.name, cv.readyWhat(), cfg.ReadyTimeout)
			if len(cv.reps) > 1 {
				s.say("%v", err)
			}
			cv.leave(r, err.Error(), track.Abandoned)
			r.child.Terminate()
			return
		}
		if !r.waitSaid && waited >= hintAfter {
			r.waitSaid = true
			give := "; --ready-timeout gives up after a while"
			if cfg.ReadyTimeout > 0 {
				give = fmt.Sprintf("; giving up after --ready-timeout %s", cfg.ReadyTimeout)
			}
			s.say("waiting for %s to print a line %s (%s so far; input is held until then)%s", r.name, cv.readyWhat(), waited.Truncate(time.Second), give)
		}
		return
	}
	oldest := cv.book.Oldest(r.n)
	if oldest == nil {
		return
	}
	if !r.outEnded.IsZero() && now.Sub(r.outEnded) >= outEndedAfter && r.child != nil && !r.left {
		// Its stdout is closed, and it still runs: what it was sent can
		// never be answered.
		s.say("%s closed its output, and still runs a while after, with %d request(s) unanswered: they never can be; stopping it", r.name, cv.book.InFlight(r.n))
		cv.abandon(r, r.name+" closed its output")
		r.child.Terminate()
		return
	}
	waiting := now.Sub(cv.lastAnswerOr(oldest))
	held := len(cv.queued) > 0 || cv.book.Pending() > 0 || !cv.inputEnded && !cv.book.Wants()
	// Is it waiting for input, and for nothing else? Asked only where the
	// answer is acted on, of a child silent for a while, once a watch: it
	// reads /proc. Silent, so that an answer written just before it read
	// again is not taken for none.
	repl := cv.replFraming() && s.pr == nil && !cv.draining
	// quiet: a REPL known to answer some lines with nothing, with one
	// request in flight, printed nothing for (see quietWatched).
	_, quiet := cv.quietWatched(r)
	// At the prompt, a REPL waiting for the rest of a statement is said,
	// once: the person decides (:restart).
	promptREPL := cv.replFraming() && s.pr != nil && !r.stmtSaid
	acted := held && !cv.draining && s.pr == nil || !held && cfg.Resync && cv.book.Fifo() || cfg.Starved != nil && !cv.starved || repl || quiet || promptREPL
	idle := acted && now.Sub(r.lastOut) >= needsMoreAfter && !r.stdinClosed && !r.target.Elsewhere() && r.child.WaitsForInput()
	switch {
	case !idle:
		r.waitsSince = time.Time{}
	case r.waitsSince.IsZero():
		r.waitsSince = now
	}
	idleFor := now.Sub(r.waitsSince)
	// stmtOpen: nothing ended the answer, and what was printed since is
	// not whole lines that a marker should have followed.
	stmtOpen := r.unframed == 0 && oldest.Parts == 0 || r.tailOpen.Load()
	if idle && repl && idleFor >= needsMoreAfter && !r.left && stmtOpen {
		// A REPL that waits for more input without ending its answer
		// with the prompt or the sentinel's marker: the request is not
		// a whole statement to it (a "for ...:" line, an open quote or
		// bracket, SQL without its ";"), and the next lines would be
		// read as the rest of it, their answers run together. The
		// request fails, and the REPL is started afresh for the rest.
		// Not at the prompt: there the person types the rest. Not when
		// it printed whole lines since, and nothing after them: then the
		// marker is what is wrong (see mismatchHint); a line left open
		// is a continuation prompt (sqlite3 -interactive's "   ...> ",
		// after it echoed the request).
		s.say("%s waits for more input after request #%d %q without ending its answer %s: to it the request is not a whole statement (it continues on the next line: a block, an open quote or bracket, a missing \";\"), and the lines after it would be read as its rest; the request fails, and %s is restarted for the rest, losing its state; give each request whole on one line", r.name, oldest.Seq, clip(oldest.Input), cv.answerEnd(), r.name)
		cv.leave(r, r.name+" waited for more input after it: not a whole statement (give each request whole on one line)", track.Abandoned)
		cv.replace(r)
		return
	}
	if idle && promptREPL && idleFor >= needsMoreAfter && !r.left && stmtOpen {
		r.stmtSaid, r.hinted = true, true
		s.say("%s waits for more input after request #%d %q without ending its answer %s: to it the request is not a whole statement, and what is typed after it waits until it ends; :restart starts %s afresh (losing its state); give each request whole on one line", r.name, oldest.Seq, clip(oldest.Input), cv.answerEnd(), r.name)
		return
	}
	if idle && quiet && idleFor >= needsMoreAfter {
		// Missed by the quick looks (lookQuiet): it was busy a while.
		cv.failQuiet(r, oldest, now)
		return
	}
	if idle && !cv.draining && held && idleFor >= needsMoreAfter && s.pr == nil {
		// It waits for input with requests unanswered, and the window
		// holds the rest of the input back until it answers: it never
		// will. sort reads all before it answers; bc answers nothing to
		// an assignment, and a window of them fills up; a program that
		// buffers its output answers once its buffer fills. It gets the
		// rest now, then EOF. The evidence is what /proc shows, at two
		// looks at least: nothing of its runs, and it is blocked reading
		// its empty stdin; a slow model is busy, and keeps to its window.
		// Not at the prompt: there the person is told, and may :restart.
		cv.draining = true
		cv.book.Unlimit()
		why := "it reads all its input before it answers (as sort does), buffers its answers, or answers nothing to some lines"
		if cv.book.Fifo() && r.answered > 0 {
			why += "; " + cv.skipHint()
		}
		s.say("%s waits for more input with %d request(s) unanswered, while --window holds the rest back: sending it the rest of the input, past the window; %s", r.name, cv.book.InFlight(r.n), why)
		return
	}
	if idle && cfg.Resync && cv.book.Fifo() && !held && idleFor >= needsMoreAfter && !r.left {
		s.say("%s waits for input with %d request(s) unanswered and nothing more to send it: it skipped a line, and its next answers would go to other requests, or it buffers its output; restarting it (a REPL needs --sentinel or --prompt; a program that buffers, --pty or flushing each answer)", r.name, cv.book.InFlight(r.n))
		cv.leave(r, r.name+" waited for input without answering it (a skipped line, or buffered output)", track.Abandoned)
		cv.replace(r)
		return
	}
	if waiting < hintAfter {
		return
	}
	if idle && cfg.Starved != nil && !cv.starved && !cv.inputEnded && cv.book.Pending() == 0 && cv.queuedEmpty() &&
		now.Sub(r.lastOut) >= hintAfter && idleFor >= starvedAfter {
		// The child waits for input that the source holds back until it
		// answers: the source ends, and the child reads EOF. Only once it
		// has been seen so at every watch for starvedAfter: a server whose
		// reader waits for input while a worker waits for something else
		// (an upstream call) looks the same for a moment.
		cv.starved = true
		cfg.Starved()
	}
	if !cv.draining && !cv.replFraming() && (cv.inputEnded || cv.sourceEnded.Load()) && cv.book.Pending()+len(cv.queued) > 0 && now.Sub(r.lastOut) >= hintAfter {
		// The input is over, and the child stopped answering with its
		// window full: the rest would wait for ever. (Not a REPL framed
		// by its prompt or a sentinel: one waiting for the rest of a
		// statement fails that request above; one busy is waited for,
		// as more in flight would run statements together.) It gets them now
		// (a batch or two at most), then EOF, which makes many programs
		// answer, or end.
		cv.draining = true
		cv.book.Unlimit()
		s.say("%s has not answered request #%d %q for %s, and the input is over: sending it the requests left and closing its input", r.name, oldest.Seq, clip(oldest.Input), waiting.Truncate(time.Second))
		return
	}
	if r.hinted {
		switch {
		case r.stdinClosed && !r.closedSaid && !cv.quit:
			// Its input was closed since the hint (bench ends the input
			// of a child that waits for more): what it is waited for
			// now is said too.
			cv.sayClosed(r)
		case !r.stdinClosed && waiting >= slowAfter && !r.slowSaid && !cv.quit && s.pr == nil:
			// A hint that may not fit (a container, whose program
			// cannot be seen, loading or stalled): that it is still
			// waited for, and what gives up, is said too, once.
			cv.saySlow(r, waiting)
		}
		return
	}
	if cfg.Framing.Mode == frame.Marker && int(oldest.Parts) > r.noise {
		r.noise = int(oldest.Parts) // lines, but no marker
	}
	switch {
	case r.noise > 0:
		r.hinted = true
		s.say("%s", cv.mismatchHint(r))
	case s.pr != nil && cv.book.Pending() > 0:
		// At the prompt, what was typed after it waits unseen.
		r.hinted = true
		fix := "a REPL that does not answer every line needs --sentinel or --prompt, and a program that buffers its output --pty"
		if !cv.book.Fifo() {
			fix = "is it answering each request with its \"id\"?"
		}
		s.say("%s has not answered request #%d %q for %s, and %d line(s) typed after it wait to be sent: %s; :restart starts it afresh", r.name, oldest.Seq, clip(oldest.Input), waiting.Truncate(time.Second), cv.book.Pending(), fix)
	case now.Sub(r.lastOut) >= hintAfter && !r.stdinClosed && cv.book.Fifo() && !cv.replFraming() && cv.book.InFlight(r.n) > 1 && cv.quietREPL(r) != "":
		// A REPL that flushes, and answers some lines with nothing, sent
		// more than one at a time (--window): the next line's answer
		// would be taken for this one. (One at a time, the request
		// fails once it is seen waiting for the next line.)
		r.hinted = true
		s.say("%s has not answered request #%d %q for %s: %s; in %s framing the answer to a line after it would be taken for it", r.name, oldest.Seq, clip(oldest.Input), waiting.Truncate(time.Second), cv.quietREPL(r), cfg.Framing.Mode)
	case now.Sub(r.lastOut) >= hintAfter && !r.stdinClosed && r.answered == 0 && r.target.HintAs(r.name, waiting, s.ios.Getenv) != "":
		// A child that answered before flushes its output: it is slow,
		// not buffering; so is one the hint knows not to buffer.
		r.hinted = true
		s.say("%s", r.target.HintAs(r.name, min(now.Sub(r.lastOut), waiting), s.ios.Getenv))
	case r.stdinClosed && !cv.quit:
		r.hinted = true
		cv.sayClosed(r)
	case waiting >= slowAfter && !r.slowSaid && !cv.quit:
		// Not buffering (the hint said nothing), but silent for long: say
		// that it is waited for, once.
		cv.saySlow(r, waiting)
	}
}

// saySlow says, once, that r has answered nothing for waiting and is
// still waited for.
func (cv *conv) saySlow(r *replica, waiting time.Duration) {
	r.slowSaid = true
	more := ""
	if cv.book.InFlight(r.n) > 1 && (cv.book.Pending() > 0 || len(cv.queued) > 0) {
		// The window holds requests back.
		more = "; if it waits for more requests before answering, raise --window"
	}
	if cv.book.Fifo() && r.answered > 0 && !cv.cfg.Framing.PromptReady {
		// It answered before, and now, with requests in flight, says
		// nothing: a slow request, or lines it will never answer.
		more += "; if it answers nothing to some lines, it never will: " + cv.skipHint()
	}
	cv.s.say("%s has answered none of the %d request(s) in flight for %s; still waiting (--timeout gives up on a request)%s", r.name, cv.book.InFlight(r.n), waiting.Truncate(time.Second), more)
}

// sayClosed says, once, that r is waited for with its input closed.
func (cv *conv) sayClosed(r *replica) {
	r.closedSaid = true
	give := "--timeout gives up on a request"
	if cv.cfg.HasEOFTimeout {
		give = "--timeout or --eof-timeout give up"
	}
	cv.s.say("waiting for %s to answer %d request(s); its input is closed (%s)", r.name, cv.book.InFlight(r.n), give)
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
	if o := cv.cfg.Framing; cv.promptFraming() {
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
func (cv *conv) mismatchHint(r *replica) string {
	o := cv.cfg.Framing
	last := clip(r.lastNoise)
	switch o.Mode {
	case frame.JSONL:
		return fmt.Sprintf("%s writes lines that answer no request (%d so far, the last %q): it may not speak jsonl, or not echo each request's \"id\"; check its protocol, or try --framing line", r.name, r.noise, last)
	case frame.Marker:
		m := fmt.Sprintf("line equal to --marker %q", o.Marker)
		fix := "check the marker, or use --sentinel to make it print one"
		if cv.cfg.Sentinel != nil {
			fix = fmt.Sprintf("check the marker, and that --sentinel %q makes it print it", *cv.cfg.Sentinel)
		}
		switch {
		case cv.promptFraming():
			// --prompt: the marker is the prompt, on a line of its own
			// or with no newline after it.
			m = fmt.Sprintf("prompt matching --prompt %q", unanchor(o.MarkerRE.String()))
			fix = "check the prompt; a statement that takes several lines leaves the answers after it shifted: give each request whole on one line"
		case o.MarkerRE != nil:
			m = fmt.Sprintf("line matching --marker-regexp %q", unanchor(o.MarkerRE.String()))
		}
		return fmt.Sprintf("%s has written %d line(s) since its last answer but no %s, which ends each answer (the last line %q); %s", r.name, r.noise, m, last, fix)
	}
	return fmt.Sprintf("%s writes lines that answer no request (%d so far, the last %q): it answers more lines than it is sent", r.name, r.noise, last)
}

// replFraming reports whether the framing is a REPL's: --prompt, or
// marker framing with a --sentinel, where every request is answered with
// the marker unless the REPL waits for more of it.
func (cv *conv) replFraming() bool {
	return cv.cfg.Framing.Mode == frame.Marker && (cv.cfg.Sentinel != nil || cv.promptFraming())
}

// promptFraming reports whether answers end at the REPL's prompt (--prompt).
func (cv *conv) promptFraming() bool {
	o := cv.cfg.Framing
	return o.PromptReady && o.Ready != nil && o.Ready == o.MarkerRE
}

// answerEnd says how an answer ends in a REPL's framing: "with" and
// endNoun, and the sentinel that makes the REPL print it.
func (cv *conv) answerEnd() string {
	end := "with " + cv.endNoun()
	if cv.cfg.Sentinel != nil {
		end += fmt.Sprintf(" (--sentinel %q)", *cv.cfg.Sentinel)
	}
	return end
}

// endNoun names what ends an answer in marker framing, as a noun.
func (cv *conv) endNoun() string {
	o := cv.cfg.Framing
	switch {
	case cv.promptFraming():
		return fmt.Sprintf("the prompt %q", unanchor(o.MarkerRE.String()))
	case o.MarkerRE != nil:
		return fmt.Sprintf("a line matching --marker-regexp %q", unanchor(o.MarkerRE.String()))
	}
	return fmt.Sprintf("the marker line %q", o.Marker)
}

// skipHint says, for a framing that matches answers in order, what a
// child that answers nothing to some lines does to them, and the cure.
func (cv *conv) skipHint() string {
	o := cv.cfg.Framing
	switch {
	case cv.cfg.Sentinel != nil:
		// The cure is in use: it did not work.
		return fmt.Sprintf("in %s framing answers are matched in order, and --sentinel %q is written after each request so that it answers each; if it answered nothing to one, check that the sentinel makes it print the marker on a line of its own, even after an error", o.Mode, *cv.cfg.Sentinel)
	case cv.promptFraming():
		return fmt.Sprintf("with --prompt, each answer ends at the prompt; if it printed none after a request (a statement that takes several lines, a continuation prompt), the answers after it went to the wrong requests; check --prompt %q, and give each request whole on one line", unanchor(o.MarkerRE.String()))
	}
	if repl, ok := cv.reps[0].target.REPL(); ok {
		return fmt.Sprintf("in %s framing answers are matched in order, and %s says nothing to %s, after which its answers went to the wrong requests; make it answer each line: run it with %s", o.Mode, cv.reps[0].target.Name(), repl.Quiet, repl.Flags)
	}
	fix := "--sentinel with --framing marker, or --prompt"
	if !cv.cfg.SkipEmpty {
		fix += ", or --skip-empty for empty lines"
	}
	return fmt.Sprintf("in %s framing answers are matched in order, so if it skipped a line (an empty one, a command such as an assignment), the answers after that line went to the wrong requests; make it answer each: %s", o.Mode, fix)
}

// quietREPL says, of a REPL known to answer some lines with nothing (bc,
// sqlite3), which, and how to make it answer each; "" for other programs.
func (cv *conv) quietREPL(r *replica) string {
	repl, ok := r.target.REPL()
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s says nothing to %s; make it answer each line: run it with %s", r.target.Name(), repl.Quiet, repl.Flags)
}

// fedDone reports whether c's stdin has been fed all there is.
func fedDone(c *proc.Child) bool {
	select {
	case <-c.Fed():
		return true
	default:
		return false
	}
}

// over reports whether the run is over: in a framed run, every request
// ended and no child to wait for; in a raw one, its child ended.
func (cv *conv) over() bool {
	for _, r := range cv.reps {
		if r.child != nil {
			return false
		}
	}
	return cv.book == nil || cv.inputEnded && cv.queuedEmpty() && cv.book.Open() == 0
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
	if cv.strayUntold > 0 {
		cv.s.say("and %d more answer(s) to no request in flight, or late, not shown", cv.strayUntold)
	}
	if cv.out != nil {
		cv.out.close()
		if cv.cfg.Stats {
			cv.s.say("%s", cv.out.statsText(cv.reps))
		}
		if res.OutputClosed && res.OutputErr == nil {
			res.OutputErr = cv.out.err
		} else if cv.out.err != nil {
			res.OutputClosed, res.OutputErr = true, cv.out.err
		}
		res.Requests, res.Failed = cv.out.stats.ok+cv.out.stats.fail+cv.out.stats.notes, cv.out.failed
		res.Misaligned, res.Skipped, res.Deaths = cv.misaligned, cv.skipped, cv.deaths
		res.Stray = cv.stray
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
