package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/track"
)

// The framed part of the conversation ("REST over pipes"). The request
// book (internal/track) decides everything about requests; this file moves
// bytes and time to it and acts on what it returns. Two goroutines take
// turns with the conversation's mutex; the others only move bytes:
//
//	input source --(readLines)--> lines ---\
//	prompt --------------------> events ---+--> loop (conv.go) ---\
//	child exit, timers, signals -----------/                       +--> book --> child stdin (inbox)
//	child stdout --(proc's pump)--> decodeSink --------------------/         \--> answers in input order
//	                                                                              (output.go)
//
// The stdout pump handles each read in place (childOutput): it delivers
// the messages to the book, sends the next requests, taking the input
// readLines has ready, then writes the answers out, while the loop sleeps
// on. Waking the loop for each read would cost more than the read itself
// (issue: framed throughput). The loop does the rest, and waits in its
// select with the mutex released.
//
// Nothing blocks on the child: requests go through the inbox, which never
// blocks, and input is taken only while the book wants it, so memory stays
// bounded whatever the input's size. Nothing blocks on the loop either:
// the pump needs only the mutex, which the loop never holds while it
// waits.

// decodeSink is the child's stdout sink in a framed mode: it decodes what
// arrives and hands the messages of each read, all at once, to childOutput.
// The messages' Data alias p and the decoder's buffers, valid until the
// next Feed: the book copies what it keeps beyond childOutput.
type decodeSink struct {
	cv  *conv
	r   *replica
	gen int // the child's: the output of a child that was replaced is ignored
	dec *frame.Decoder
	// failed: the decoder failed, and childOutput was told: what the
	// child writes after is dropped.
	failed bool
}

func (d *decodeSink) Write(p []byte) (int, error) {
	if d.failed {
		return len(p), nil // the child is being replaced: the rest is dropped
	}
	msgs, err := d.dec.Feed(p)
	// A REPL's continuation prompt ("   ...> ") is a line left open.
	d.r.tailOpen.Store(len(p) > 0 && p[len(p)-1] != '\n')
	d.cv.childOutput(d.r, d.gen, msgs, err)
	// An error (a line over --max-line) is the child's, and childOutput
	// replaced it: not one of our output, which would end the run.
	d.failed = err != nil
	return len(p), nil
}

// Flush is called by proc at the end of the child's stdout.
func (d *decodeSink) Flush() error {
	if d.failed {
		return nil
	}
	open := d.dec.LineOpen()
	msgs, err := d.dec.End()
	if n := len(msgs); open && err == nil && n > 0 && d.cv.cfg.Framing.Mode == frame.Line && msgs[n-1].Kind == frame.Answer {
		// A last line with no "\n": an answer if the child exits 0
		// (printf without a newline), a line cut off if it died; held
		// until its status is known (see childGone).
		m := msgs[n-1]
		m.Data = bytes.Clone(m.Data)
		d.r.cutLine.Store(&m)
		msgs = msgs[:n-1]
	}
	d.cv.childOutput(d.r, d.gen, msgs, err)
	d.cv.outputEnded(d.r, d.gen)
	return nil
}

// outputEnded notes that the stdout of r's child of generation gen ended.
// A child that exits closes it just before: the watch acts only if it
// still runs a while after (see watchReplica).
func (cv *conv) outputEnded(r *replica, gen int) {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	if gen == r.gen {
		r.outEnded = time.Now()
	}
}

// childOutput handles the messages one read of the child's stdout completed,
// and the decoder's error after them (a line over --max-line). It runs in
// the stdout pump of r's child of generation gen; see the top of the file.
func (cv *conv) childOutput(r *replica, gen int, msgs []frame.Message, err error) {
	if len(msgs) == 0 && err == nil {
		return
	}
	cv.mu.Lock()
	defer cv.mu.Unlock()
	if cv.closing || gen != r.gen || r.replacing || r.left {
		return // the run is over, or the child being replaced: its requests go again
	}
	now := time.Now()
	if len(msgs) > 0 {
		r.lastOut = now
	}
	for _, m := range msgs {
		// They came in one read: one clock reading for all.
		cv.message(r, m, now)
	}
	if err != nil {
		cv.s.say("%s: %v", r.name, err)
		if errors.Is(err, frame.ErrTooLong) && cv.book.Fifo() {
			// The line over the cap is the oldest request's answer: it
			// fails, and the others go again to the next child.
			cv.book.FailOldest(r.n, err, now)
		} else {
			cv.leave(r, err.Error(), track.Abandoned)
		}
		cv.replace(r)
	}
	// The next requests first, then the answers: the child works on the
	// former while we write out the latter.
	cv.turn()
	if cv.over() || cv.out.err != nil || cv.wantsInput() && cv.lines != nil && !cv.waitingInput {
		// The loop has to see to it: the run is over, or the input it did
		// not wait for, as the book wanted none, is wanted now.
		select {
		case cv.kick <- struct{}{}:
		default: // kicked already
		}
	}
}

// message handles one decoded message of r's, read at now.
func (cv *conv) message(r *replica, m frame.Message, now time.Time) {
	s := cv.s
	switch m.Kind {
	case frame.Ready:
		s.sayLine("banner", m.Data)
		if !r.ready {
			if s.pr != nil {
				if !cv.anyReady() {
					s.pr.setPrompt(readyPrompt)
				}
				s.say("%s is ready after %s", r.name, now.Sub(r.started).Round(time.Millisecond))
			}
			r.ready = true
			cv.book.SetReady(r.n)
		}
		return
	case frame.Banner:
		s.sayLine("banner", m.Data)
		return
	case frame.Event:
		label := "event"
		if t := bytes.TrimSpace(m.Data); m.NotJSON && len(t) > 0 && t[0] == '[' && json.Valid(t) {
			label = "a JSON array, not an object, so it answers no request by its \"id\" (a batch's answers cannot be told apart)"
		} else if m.NotJSON {
			label = "not jsonl"
		}
		if cv.cfg.Framing.Mode == frame.JSONL && !m.NotJSON {
			if why, ok := nullIDError(m.Data); ok {
				// JSON-RPC's answer to a request it could not read (a parse
				// error): with one request in flight, that one's.
				if n := cv.book.InFlight(r.n); n == 1 && cv.book.Oldest(r.n) != nil {
					cv.book.FailOldest(r.n, fmt.Errorf("%s answered it with an error and \"id\":null, as JSON-RPC answers a request it could not read: %s", r.name, why), now)
					r.lastOut = now
					return
				}
				label = fmt.Sprintf("an error with \"id\":null, which answers a request it could not read, but which of the %d in flight cannot be told", cv.book.InFlight(r.n))
			}
		}
		s.sayLine(label, m.Data)
		// Events are fine (progress, notifications), but only events,
		// and no answer, may be a child that does not echo ids.
		r.noted(m.Data)
		return
	}
	outcome, q := cv.book.Deliver(r.n, m, now)
	switch outcome {
	case track.Answered:
		r.unframed = 0
		r.answered++
		r.noise = 0
		cv.out.lastAnswer = now
	case track.PartOf:
		cv.out.partial(q, m.Data)
		if cv.cfg.Framing.Mode == frame.Marker && m.Kind == frame.Partial {
			r.unframed++ // a line, and no marker yet
			r.lastNoise = append(r.lastNoise[:0], m.Data[:min(len(m.Data), 80)]...)
		}
	case track.Late:
		cv.sayStray(fmt.Sprintf("late answer to request #%d, which timed out; dropped", q.Seq), m.Data)
	case track.Unowned:
		switch {
		case m.Kind == frame.Partial:
			if !r.sent {
				// Before anything was sent: a banner, not the first
				// answer's first line.
				r.dec.DropAnswer()
				cv.unowned(r, m.Data)
			}
			return // a line of a marker answer: the Answer that ends it is told
		case m.Kind == frame.Unfinished:
			// What it wrote after its last marker, at its end: a REPL's
			// newline at EOF, last words; no answer to anything.
			if len(bytes.TrimSpace(m.Data)) > 0 {
				s.sayLine("after its last answer", m.Data)
			}
			return
		}
		r.noted(m.Data)
		if cv.book.Fifo() {
			cv.unowned(r, m.Data)
			return
		}
		cv.stray++
		cv.sayStray("answer to no request in flight", m.Data)
	}
}

// unowned handles, in a FIFO framing, an answer with no request waiting
// for it. Before any request was sent, it is a banner; after, the child
// answered more than it was asked, and since answers are matched in order
// the ones before may have gone to the wrong requests: that is said, and
// the run fails.
func (cv *conv) unowned(r *replica, data []byte) {
	s := cv.s
	if !r.sent {
		s.sayLine("before any request", data)
		if !r.bannerSaid {
			r.bannerSaid = true
			s.say("%s printed that before it was sent anything: a banner? --skip-banner N or --ready REGEXP keep one from being taken for answers", r.name)
		}
		return
	}
	cv.sayStray("answer to no request in flight", data)
	cv.misaligned++
	if cv.misaligned == 1 {
		why := "a banner needs --skip-banner or --ready; a child that answers a line twice, or skips one, --sentinel with --framing marker, or --prompt"
		if cv.replFraming() {
			// The cure is in use: what breaks it is an answer that
			// ends early.
			why = fmt.Sprintf("an answer holding %s ends there, and its rest goes to the next request: as when a request prints the marker itself", cv.endNoun())
		}
		s.say("%s answered more than it was asked: in %s framing answers are matched in order, so the answers before this one may have gone to the wrong requests (%s)", r.name, cv.cfg.Framing.Mode, why)
	}
}

// nullIDError reports whether data is a JSON-RPC error answer whose "id"
// is null, and its error's message (or the error's JSON).
func nullIDError(data []byte) (string, bool) {
	var a struct {
		ID    json.RawMessage `json:"id"`
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(data, &a) != nil || string(a.ID) != "null" || len(a.Error) == 0 || string(a.Error) == "null" {
		return "", false
	}
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(a.Error, &e) == nil && e.Message != "" {
		return e.Message, true
	}
	return string(a.Error), true
}

// sayStray says an answer that goes to no request, with label: the first
// maxFailLines of a run one by one, the rest counted at its end (a child
// that answers every line twice would double the output on stderr). At
// the prompt, each is told.
func (cv *conv) sayStray(label string, data []byte) {
	if cv.strayTold >= maxFailLines && cv.s.pr == nil {
		cv.strayUntold++
		return
	}
	cv.strayTold++
	cv.s.sayLine(label, data)
}

// noted counts a line of r's output that answered nothing.
func (r *replica) noted(data []byte) {
	r.noise++
	r.lastNoise = append(r.lastNoise[:0], data[:min(len(data), 80)]...)
}

// turn does what the state allows without waiting: add requests of the
// input while the book wants them, send them, close the child's stdin once
// every request is written, and write out the requests that ended. The
// loop calls it before it waits, the stdout pump after each read.
func (cv *conv) turn() {
	if cv.book == nil {
		return // raw: the bytes move by themselves
	}
	for {
		for len(cv.queued) > 0 && (cv.book.Wants() || cv.draining) {
			cv.book.Add(cv.queued[0])
			cv.queued[0] = nil
			cv.queued = cv.queued[1:]
		}
		// More input, if readLines has it at hand: the pump takes it
		// without waking the loop, unless the loop waits for it (two
		// receivers could take batches out of order).
		if !cv.wantsInput() || cv.lines == nil || cv.waitingInput {
			break
		}
		select {
		case batch, ok := <-cv.lines:
			cv.take(batch, ok)
		default:
		}
		if len(cv.queued) == 0 {
			break
		}
	}
	if cv.book.Pending() > 0 { // else no clock reading
		cv.wires = cv.book.Dispatch(cv.wires, time.Now())
		for i, w := range cv.wires {
			if len(w) > 0 {
				r := cv.reps[i]
				r.box.Write(w)
				r.sent = true
				r.written += len(w)
				cv.wires[i] = w[:0]
				if r.quiet {
					cv.armQuiet(r)
				}
			}
		}
	}
	over := cv.inputEnded && cv.queuedEmpty() && cv.book.Pending() == 0
	for _, r := range cv.reps {
		if cv.s.bar != nil {
			cv.s.bar.Load(r.n, cv.book.InFlight(r.n))
		}
		if cv.cfg.Replica != nil {
			cv.cfg.Replica(r.n, ReplicaState{Running: r.running(), Ready: r.running() && r.ready, InFlight: cv.book.InFlight(r.n), Restarts: r.restartN, Retired: r.retired})
		}
		if !r.running() {
			continue
		}
		if over && !r.stdinClosed && !cv.holdEOF(r) {
			cv.closeInput(r)
		}
		switch {
		case !r.stdinClosed || cv.book.Oldest(r.n) != nil:
		case cv.cfg.Framing.Mode == frame.Serve && cv.book.Ghosts(r.n) > 0:
			// Only late answers are to come, which the server holds
			// the connection open for: it is closed now, and the
			// server drops them.
			cv.leave(r, r.name+" closed with every request ended", track.Ended)
			r.child.Terminate()
		default:
			r.child.Stop() // nothing more to wait for: --grace, then SIGTERM
		}
	}
	cv.out.write(cv.book.Done())
	cv.resetTimer()
}

func (cv *conv) queuedEmpty() bool { return len(cv.queued) == 0 }

// wantsInput reports whether the book wants lines that are not read yet.
func (cv *conv) wantsInput() bool {
	if cv.book == nil {
		return false
	}
	return !cv.inputEnded && len(cv.queued) == 0 && (cv.book.Wants() || cv.draining)
}

// take handles a receive from lines. It is called only once queued is
// used up: the batch before is given back to readLines to reuse.
func (cv *conv) take(batch [][]byte, ok bool) {
	if cv.batch != nil {
		select {
		case cv.freeBatch <- cv.batch: // its lines are nil: turn let go of them
		default:
		}
		cv.batch = nil
	}
	if !ok && cv.loading != "" {
		cv.loadDone()
		return
	}
	if !ok {
		cv.inputEnded = true
		if *cv.readErr != nil {
			cv.inputErr = &InputError{fmt.Errorf("reading the input: %w; the lines before were sent", *cv.readErr)}
		}
		return
	}
	cv.queued, cv.batch = batch, batch
	cv.loaded += len(batch)
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
