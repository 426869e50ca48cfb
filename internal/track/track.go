// Package track is the request book of a framed conversation: a pure state
// machine, with no goroutines, no I/O and time passed in, that makes
// requests of input lines, decides what to send to which child, matches the
// children's answers to their requests (in order, or by id), charges a
// child's death to the request that caused it, expires deadlines, and hands
// back finished requests in input order.
//
// Its rules, each for a failure seen with real programs:
//   - Every request ends exactly once, answered or failed with why, and
//     requests are handed back in input order.
//   - An answer is never given to the wrong request. pipecli's own ids never
//     collide with the user's; a request whose id is in flight waits. A
//     request that timed out leaves a ghost: its late answer is recognised
//     and dropped, not taken for the next request's.
//   - In the FIFO framings a child works on one request at a time, and a
//     server answers each caller in order, so a request's --timeout clock
//     starts when it reaches the head of its child's queue: requests
//     merely queued behind a slow one are not failed, and wait behind its
//     ghost for its late answer. A child is replaced only when the ghost
//     of a timed-out request stays unanswered for another --timeout (in
//     jsonl, when the request's id was the user's, which may come again);
//     the requests behind it are sent again.
//   - A child's death is charged to the request it was handling: the
//     oldest in flight in the FIFO framings; in jsonl, where any could be
//     the cause, the requests in flight are sent again one at a time, so
//     that only the culprit is charged.
//   - Notifications (jsonl messages with a method and no id) are sent and
//     not awaited.
//
// A child is known by the number Attach gave it, and keeps it when it is
// started again (Rejoin). The caller writes to child c what Send(c, ...)
// returns (or, with several children, what Dispatch gives c), feeds what c
// says to Deliver, and tells the book when c dies.
package track

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/pipecli/pipecli/internal/frame"
)

// Config is what the book needs to know of the run.
type Config struct {
	// Framing says how requests are written and answers matched: FIFO in
	// Line and Marker mode, by id in JSONL mode.
	Framing frame.Options
	// Sentinel, if not nil, is written as a line of its own after each
	// request in the FIFO framings: a command that makes a REPL print the
	// marker (".print --END--" for sqlite3), so that requests it would not
	// answer are answered all the same.
	Sentinel []byte
	// Window is how many requests each child may have in flight.
	Window int
	// Timeout fails a request with no answer this long after it was sent
	// (in the FIFO framings and to a server: after it reached the head of
	// the queue); 0 waits as long as it takes.
	Timeout time.Duration
	// Retries is how many times a request is sent again after a child died
	// handling it.
	Retries int
	// SkipEmpty makes empty (or blank) lines no requests: they are not
	// sent.
	SkipEmpty bool
	// Reorder bounds the requests added and not yet handed back by Done:
	// those in flight and those that ended and wait, for input order, for
	// one before them. When it is reached, Wants says no, so that memory
	// stays bounded however long a slow child keeps the oldest request.
	// 0 is no bound beyond the windows.
	Reorder int
	// Unordered makes Done hand back requests as they end, not in input
	// order.
	Unordered bool
	// Lookahead, if not 0, also bounds the requests pending: Wants says no
	// once they are this many more than the ready children have room for
	// now. A server that shares its children among callers then decides
	// which caller's request comes next only when a child can take it,
	// instead of queueing windows of one caller's ahead of the others.
	// Each child's window is then kept to about 20 ms of its work, as
	// with several children, however many there are (see window).
	Lookahead int
}

// Request is one input line, from when it is added until it is handed back
// by Done.
type Request struct {
	Seq   uint64 // its number among the requests, from 1
	Input []byte // the line, without its "\n"
	// Key is, in jsonl, the id it was last sent with (its correlation key,
	// see frame.EncodeRequest).
	Key string
	// Answer is the message that answered it. It is lent by the decoder
	// when the request is handed back by the Done that follows the
	// Deliver that answered it: the caller writes it out before it feeds
	// the decoder again.
	Answer []byte
	// Partials are the answer's parts that came before it (jsonl partial
	// messages; a marker answer cut short by the child's end).
	Partials [][]byte
	Err      error         // why it failed; nil if answered
	Latency  time.Duration // from when it was first sent until it ended
	Attempts int32         // times sent
	Child    int32         // the child it was last sent to
	// Parts counts the Partial messages that came for it (each line of a
	// marker answer, with frame.Options.MarkerPartials).
	Parts int32
	// Shown is the caller's: how many parts it showed as they came.
	Shown int32
	// Notification: it expected no answer and ended once written (or, to
	// a server, the server said its pool took it for one).
	Notification bool
	// AnswerJSON: Answer is JSON, not text: a jsonl pool's answer, through
	// a server.
	AnswerJSON bool

	given    bool      // jsonl: Key is the user's id, not pipecli's
	suspect  bool      // to be sent alone: it may have killed a child
	ghost    bool      // a placeholder for a timed-out request whose answer may still come
	deaths   int32     // times a child died handling it
	killers  []int32   // the children that died handling it: with others to take it, it goes to those
	idx      int       // its place in the input, from 0
	sent     time.Time // first sent
	at       time.Time // last sent
	deadline time.Time // when it times out, or, for a ghost, is given up
}

// Outcome says what Deliver made of a message.
type Outcome int

const (
	Answered Outcome = iota + 1 // it ended its request
	PartOf                      // it is part of its request's answer, still to come
	Late                        // it answers a request that timed out: dropped
	Unowned                     // it answers no request in flight: the caller shows it
	Prompt                      // with frame.Options.PromptReady, an empty answer with nothing in flight: a REPL's prompt
)

// Fate says what becomes of a child's requests in flight when it is gone.
type Fate int

const (
	// Crashed: the child died unexpectedly; the death is charged (see
	// the package doc) and the requests are sent again.
	Crashed Fate = iota
	// Replaced: the child was stopped on purpose; its requests are sent
	// again, uncharged.
	Replaced
	// Ended: the child exited when it was meant to (its input was over);
	// what it did not answer fails, with why and "without answering it".
	Ended
	// Abandoned: we gave up on the child (a signal, a decode error, a
	// deadline): what it did not answer fails, with why as it is.
	Abandoned
)

// ErrEnded is matched by the error of a request whose child ended when it
// was meant to (its input was over) without answering it: a child that
// answers nothing to some lines, or holds its answers back.
var ErrEnded = errors.New("the child ended without answering it")

type endedError struct{ msg string }

func (e endedError) Error() string        { return e.msg }
func (e endedError) Is(target error) bool { return target == ErrEnded }

// Death reports what a child left behind.
type Death struct {
	InFlight int    // requests it was handling, ghosts aside
	Oldest   uint64 // the oldest of them; 0 if none
	Input    []byte // the oldest's input
	Failed   int    // requests that failed for it
	Alone    int    // jsonl: requests now sent again one at a time
}

// child is what the book knows of one child.
type child struct {
	live     bool
	ready    bool
	closed   bool       // its stdin is closed: it takes no more, ready or not
	inflight []*Request // in the order sent; in FIFO framings and to a server with ghosts among them
	// svc estimates how long the child takes to answer a request once it
	// has it (a moving average); answered counts its answers. See window.
	svc      time.Duration
	answered int
	last     time.Time // its last answer
	// arr is the array inflight was last allocated in. Answers take
	// requests off inflight's front, so it creeps along its array: it is
	// moved back to arr's start when it empties, and when it reaches the
	// end of arr while filling at most half of it, rather than let append
	// allocate anew (issue: framed throughput).
	arr []*Request
}

// push appends r to c's requests in flight.
func (c *child) push(r *Request) {
	if len(c.inflight) == cap(c.inflight) && 2*len(c.inflight) <= cap(c.arr) {
		n := copy(c.arr, c.inflight)
		clear(c.arr[n:])
		c.inflight = c.arr[:n]
	}
	k := cap(c.inflight)
	c.inflight = append(c.inflight, r)
	if cap(c.inflight) != k { // moved
		c.arr = c.inflight[:cap(c.inflight)]
	}
}

// Book is the request book. It is not safe for concurrent use.
type Book struct {
	cfg  Config
	fifo bool
	// ordered: answers come in the order of the requests, so a request's
	// clock starts when it reaches the head of its child's queue: the
	// FIFO framings, and a server's (it answers each caller in order).
	ordered bool

	nextIdx  int
	nextSeq  uint64
	pending  []*Request // added, not yet sent, in order: requests to send again first
	children []*child
	// byKey holds, in jsonl, the requests in flight and the ghosts, by key:
	// keys are unique across children.
	byKey map[string]*Request
	// pendingKeys counts the user ids of pending requests; userKeys holds
	// every user id sent: pipecli's own ids avoid both.
	pendingKeys map[string]int
	userKeys    map[string]struct{}
	ghosts      []*Request // jsonl ghosts, in the order they expire
	// stale holds the jsonl ghosts of user ids whose time is up: kept, so
	// that the id is not given again, until their child is gone.
	stale []*Request

	open     int // requests added and not ended
	inflight int // requests in flight, all children's, ghosts in ordered queues included
	live     int // children attached and not gone
	// finished holds the requests that ended and wait for those before
	// them: a ring, the request of input index i at i % len(finished)
	// (the reorder buffer). nfinished counts them.
	finished  []*Request
	nfinished int
	nextOut   int
	out       []*Request // ended, in order, for Done
	given     []*Request // what Done last returned, recycled at the next
	free      []*Request
	keep      int   // the most requests free holds: what the book can hold at once
	closed    error // no child will come: requests fail with it
	// unlimited: the window no longer holds back what is pending (the
	// input is over and the child stalled: see Unlimit).
	unlimited bool
	scratch   []byte
}

// New returns an empty book.
func New(cfg Config) *Book {
	cfg.Window = max(cfg.Window, 1)
	return &Book{
		cfg:         cfg,
		keep:        2*cfg.Window + 512,
		fifo:        cfg.Framing.Mode == frame.Line || cfg.Framing.Mode == frame.Marker,
		ordered:     cfg.Framing.Mode == frame.Line || cfg.Framing.Mode == frame.Marker || cfg.Framing.Mode == frame.Serve,
		byKey:       map[string]*Request{},
		pendingKeys: map[string]int{},
		userKeys:    map[string]struct{}{},
	}
}

// Attach adds a child, not ready yet, and returns its number.
func (b *Book) Attach() int {
	b.live++
	b.children = append(b.children, &child{live: true})
	return len(b.children) - 1
}

// Rejoin says child c, which is gone, is back (started again), not ready
// yet, under the same number.
func (b *Book) Rejoin(c int) {
	ch := b.children[c]
	if !ch.live {
		b.live++
	}
	ch.live, ch.ready, ch.closed = true, false, false
}

// SetReady says child c may be sent requests: its banner is over.
func (b *Book) SetReady(c int) { b.children[c].ready = true }

// NoMore says child c takes no more requests (its stdin is closed), even
// should it say it is ready after; what it has in flight may still be
// answered.
func (b *Book) NoMore(c int) { b.children[c].closed = true }

// Add makes a request of an input line, unless Config.SkipEmpty drops it:
// it reports whether it did. A line the framing cannot send fails at once;
// so does every line once the book is closed. The request holds a copy of
// line, in memory it had before where it can (see Done): line is the
// caller's again once Add returns, and the input's reader can read into it
// again rather than allocate anew (issue: bench's overhead).
func (b *Book) Add(line []byte) bool {
	if b.cfg.SkipEmpty && len(bytes.TrimSpace(line)) == 0 {
		return false
	}
	r := b.alloc()
	r.idx, r.Input = b.nextIdx, append(r.Input[:0], line...)
	b.nextIdx++
	b.nextSeq++
	r.Seq = b.nextSeq
	b.open++
	if b.closed != nil {
		b.fail(r, b.closed)
		return true
	}
	if b.fifo {
		if bytes.IndexByte(line, '\n') >= 0 {
			_, _, err := frame.EncodeRequest(nil, b.cfg.Framing, r.Seq, line)
			b.fail(r, err)
			return true
		}
		b.pending = append(b.pending, r)
		return true
	}
	if b.cfg.Framing.Mode == frame.Serve {
		b.pending = append(b.pending, r) // any line can be sent: no id of its own
		return true
	}
	// Encoded here to check it and learn its id; Send encodes it again,
	// with the id it then chooses, straight into what is written.
	wire, key, src, err := frame.EncodeJSONL(b.scratch[:0], r.Seq, line)
	b.scratch = wire
	switch {
	case err != nil:
		b.fail(r, err)
		return true
	case src == frame.NoID:
		r.Notification = true
	case src == frame.IDGiven:
		// An id already in flight, or pending, is not refused: the
		// request waits until it is free (see send), as a JSON-RPC
		// client may use an id again once it was answered.
		r.Key, r.given = key, true
		b.pendingKeys[key]++
	}
	b.pending = append(b.pending, r)
	return true
}

// Wants reports whether the caller should add more requests: whether the
// children's windows have room beyond what is pending. Memory stays bounded
// whatever the input's size. A closed book wants everything, to fail it.
func (b *Book) Wants() bool {
	if b.closed != nil {
		return true
	}
	if b.cfg.Reorder > 0 && !b.cfg.Unordered && b.nextIdx-b.nextOut >= b.cfg.Reorder {
		return false // the reorder buffer is full: the oldest holds it up
	}
	if b.cfg.Lookahead > 0 && len(b.pending) >= b.cfg.Lookahead+b.room() {
		return false
	}
	return len(b.pending)+b.inflight < b.cfg.Window*max(b.live, 1)
}

// room is how many more requests the ready children's windows take now.
func (b *Book) room() int {
	n := 0
	for _, ch := range b.children {
		if ch.live && ch.ready && !ch.closed {
			n += max(0, b.window(ch)-len(ch.inflight))
		}
	}
	return n
}

// Send appends to dst what to write to child c at now: pending requests,
// while its window has room.
func (b *Book) Send(c int, dst []byte, now time.Time) []byte {
	ch := b.children[c]
	if !ch.live || !ch.ready || ch.closed || len(ch.inflight) > 0 && ch.inflight[0].suspect && !b.unlimited {
		return dst // a suspect is sent alone (see takes)
	}
	n := 0
	for n < len(b.pending) && (len(ch.inflight) < b.sendWindow(ch) || b.unlimited) {
		r := b.pending[n]
		if r.suspect && len(ch.inflight) > 0 && !b.unlimited {
			break // alone, or not at all
		}
		var ok bool
		if dst, ok = b.send(c, ch, r, dst, now); !ok {
			break
		}
		n++
		if r.suspect && !b.unlimited {
			break
		}
	}
	if n > 0 {
		// Shift what is left to the front, so that the array is reused.
		m := copy(b.pending, b.pending[n:])
		clear(b.pending[m:])
		b.pending = b.pending[:m]
	}
	return dst
}

// Dispatch appends to dst[c] what to write to child c at now, for every
// child: each pending request, in order, goes to the ready child with the
// fewest in flight whose window has room. dst is grown to hold every child;
// it is returned.
func (b *Book) Dispatch(dst [][]byte, now time.Time) [][]byte {
	for len(dst) < len(b.children) {
		dst = append(dst, nil)
	}
	if b.live <= 1 {
		for c, ch := range b.children {
			if ch.live {
				dst[c] = b.Send(c, dst[c], now)
			}
		}
		return dst
	}
	// The pending requests that stay, filtered in place. One that avoids
	// the child it was on is passed over while it waits for another; the
	// first that no child can take for want of room stops the rest, and
	// so does a suspect, which waits for a child to have none in flight:
	// were the others sent, none might ever have none.
	kept, prev, full := b.pending[:0], -1, false
	for _, r := range b.pending {
		if full {
			kept = append(kept, r)
			continue
		}
		c := b.leastLoaded(r, prev)
		if c < 0 {
			kept = append(kept, r)
			full = len(r.killers) == 0 || r.suspect
			continue
		}
		var ok bool
		if dst[c], ok = b.send(c, b.children[c], r, dst[c], now); !ok {
			kept, full = append(kept, r), true // its id is in use: it waits, and those after it
			continue
		}
		prev = c
	}
	clear(b.pending[len(kept):])
	b.pending = kept
	return dst
}

// sendWindow is the window Send keeps to, with one child live: the whole
// Config.Window, except for a server (Lookahead), which keeps each child's
// queue short (see window).
func (b *Book) sendWindow(ch *child) int {
	if b.cfg.Lookahead == 0 {
		return b.cfg.Window
	}
	return b.window(ch)
}

// balance is how much of a child's work, by its own pace, its window holds
// when several children share the requests (see window).
const balance = 20 * time.Millisecond

// window is how many requests child ch may have in flight. With one child
// it is Config.Window. With several (live or not), it is what keeps ch busy without
// holding more than about balance of its work: the requests queued at a
// child cannot go to another, so a deep queue at one would leave the
// others idle at the end of the input while it works through it. A fast
// child (an answer in microseconds) gets the whole Config.Window, a
// CPU-bound model (tens of milliseconds) two: one it works on, one
// waiting for it. Until it has answered, a child gets two. With Lookahead
// (a server), a lone child's window is kept so too: what is queued at it
// is what a new caller's request waits behind.
func (b *Book) window(ch *child) int {
	w := b.cfg.Window
	if len(b.children) <= 1 && b.cfg.Lookahead == 0 {
		return w // also while the others are away, restarting
	}
	least := min(2, w)
	if ch.answered == 0 {
		return least
	}
	if ch.svc > 0 {
		w = min(w, int(balance/ch.svc))
	}
	return max(w, least)
}

// served takes into ch's pace the answer to r at now: the time it took
// from when ch had both r and its previous answer out of the way.
func (ch *child) served(r *Request, now time.Time) {
	from := r.at
	if ch.last.After(from) {
		from = ch.last
	}
	d := now.Sub(from)
	if ch.answered == 0 {
		ch.svc = d
	} else {
		ch.svc += (d - ch.svc) / 4
	}
	ch.answered++
	ch.last = now
}

// leastLoaded is the ready child with the fewest requests in flight and
// room for r (a suspect goes alone, to a child with none), or -1. A
// child that died handling r is passed over while another is live: a
// replica that keeps dying (a broken host) must not make the requests it
// is sent look like the cause, and a request that kills every child it is
// sent to is found out sooner.
//
// prev, the child the request before went to in this Dispatch, is kept
// while it is within a quarter of its window of the least loaded: requests
// to one child go in one write and come back in one read, where taking
// turns request by request would cost a write and a read each.
func (b *Book) leastLoaded(r *Request, prev int) int {
	avoid := false
	if len(r.killers) > 0 {
		killers := 0
		for _, k := range r.killers {
			if b.children[k].live {
				killers++
			}
		}
		avoid = b.live > killers
	}
	best := -1
	for c, ch := range b.children {
		if b.takes(c, r, avoid) && (best < 0 || len(ch.inflight) < len(b.children[best].inflight)) {
			best = c
		}
	}
	if prev >= 0 && best >= 0 && prev != best && b.takes(prev, r, avoid) {
		if p, slack := b.children[prev], b.window(b.children[prev])/4; slack > 0 && len(p.inflight)-len(b.children[best].inflight) <= slack {
			return prev
		}
	}
	return best
}

// takes reports whether child c may be sent r now; avoid: not if it died
// handling r.
func (b *Book) takes(c int, r *Request, avoid bool) bool {
	ch := b.children[c]
	n := len(ch.inflight)
	switch {
	case !ch.live || !ch.ready || ch.closed:
		return false
	case avoid && slices.Contains(r.killers, int32(c)):
		return false
	case n > 0 && (r.suspect || ch.inflight[0].suspect) && !b.unlimited:
		// One at a time, to find the culprit; unless the child was seen
		// waiting for input with one unanswered (Unlimit): it would wait
		// for ever.
		return false
	case n >= b.window(ch) && !b.unlimited:
		return false
	}
	return true
}

// send appends r to dst for child c; it reports false, and appends
// nothing, when r must wait: its id is still in use.
func (b *Book) send(c int, ch *child, r *Request, dst []byte, now time.Time) ([]byte, bool) {
	if b.fifo {
		dst = append(append(dst, r.Input...), '\n')
		if b.cfg.Sentinel != nil {
			dst = append(append(dst, b.cfg.Sentinel...), '\n')
		}
	} else if b.cfg.Framing.Mode == frame.Serve {
		r.Key = b.ownKey(r.Seq)
		dst = frame.EncodeServe(dst, r.Key, r.Input)
	} else {
		switch {
		case r.Notification:
		case r.given:
			if b.byKey[r.Key] != nil {
				return dst, false // one of pipecli's ids, or a ghost's: wait for it
			}
			if b.pendingKeys[r.Key]--; b.pendingKeys[r.Key] <= 0 {
				delete(b.pendingKeys, r.Key)
			}
			b.userKeys[r.Key] = struct{}{}
		default:
			r.Key = b.ownKey(r.Seq)
		}
		seq, _ := strconv.ParseUint(r.Key, 10, 64) // own keys are numbers
		dst, _, _, _ = frame.EncodeJSONL(dst, seq, r.Input)
	}
	r.Attempts++
	r.Child = int32(c)
	r.at = now
	if r.Attempts == 1 {
		r.sent = now
	}
	if r.Notification {
		b.finish(r)
		return dst, true
	}
	if !b.ordered || len(ch.inflight) == 0 {
		r.deadline = b.deadline(now)
	}
	if !b.fifo {
		b.byKey[r.Key] = r
	}
	ch.push(r)
	b.inflight++
	return dst, true
}

// ownKey is the id pipecli gives request seq: seq itself, unless that is
// in use or is, or was, a user's id.
func (b *Book) ownKey(seq uint64) string {
	for n := seq; ; n++ {
		k := strconv.FormatUint(n, 10)
		_, inFlight := b.byKey[k]
		_, user := b.userKeys[k]
		if !inFlight && !user && b.pendingKeys[k] == 0 {
			return k
		}
	}
}

func (b *Book) deadline(now time.Time) time.Time {
	if b.cfg.Timeout <= 0 {
		return time.Time{}
	}
	return now.Add(b.cfg.Timeout)
}

// Deliver handles message m of child c's output, read at now. Banner,
// Ready and Event messages are the caller's: they answer nothing.
func (b *Book) Deliver(c int, m frame.Message, now time.Time) (Outcome, *Request) {
	ch := b.children[c]
	var r *Request
	if b.fifo {
		if len(ch.inflight) == 0 {
			if b.cfg.Framing.PromptReady && m.Kind == frame.Answer && len(m.Data) == 0 {
				return Prompt, nil
			}
			return Unowned, nil
		}
		r = ch.inflight[0]
	} else {
		r = b.byKey[m.Key]
		if r == nil || r.Child != int32(c) {
			return Unowned, nil
		}
	}
	if r.ghost {
		if m.Kind == frame.Answer {
			b.dropGhost(c, r, now)
		}
		return Late, r
	}
	switch m.Kind {
	case frame.Partial, frame.Unfinished:
		r.Parts++
		// A marker answer's lines come again, whole, in its Answer.
		if b.cfg.Framing.Mode != frame.Marker || m.Kind == frame.Unfinished {
			r.Partials = append(r.Partials, bytes.Clone(m.Data)) // kept past this read
		}
		return PartOf, r
	case frame.Answer:
		ch.served(r, now)
		b.unqueue(c, r, now)
		r.Answer = m.Data
		r.AnswerJSON, r.Notification = m.JSON, m.Notification
		r.Latency = now.Sub(r.sent)
		r.suspect = false
		b.finish(r)
		return Answered, r
	case frame.Failed:
		// The child answered that it failed (a server's "error"): it
		// is alive and well, the request is not sent again.
		ch.served(r, now)
		b.unqueue(c, r, now)
		r.suspect = false
		b.fail(r, errors.New(string(m.Data)))
		return Answered, r
	}
	return Unowned, nil
}

// unqueue takes r off child c's queue, and starts the clock of the request
// that is now at its head, in the FIFO framings.
func (b *Book) unqueue(c int, r *Request, now time.Time) {
	ch := b.children[c]
	if !b.fifo {
		delete(b.byKey, r.Key)
	}
	b.inflight--
	if len(ch.inflight) > 0 && ch.inflight[0] == r {
		// The usual case, and the only one in FIFO framings.
		ch.inflight[0] = nil
		ch.inflight = ch.inflight[1:]
		if len(ch.inflight) == 0 {
			ch.inflight = ch.arr[:0] // back to the array's start
		} else if b.ordered && !ch.inflight[0].ghost {
			ch.inflight[0].deadline = b.deadline(now)
		}
		return
	}
	for i, q := range ch.inflight {
		if q == r {
			ch.inflight = append(ch.inflight[:i], ch.inflight[i+1:]...)
			return
		}
	}
	b.inflight++ // not there after all
}

// FailOldest fails, with err, the oldest request in flight at child c,
// unless it is a ghost: in a FIFO framing, the one the child was
// answering when its output broke the framing (an answer over the cap).
func (b *Book) FailOldest(c int, err error, now time.Time) {
	ch := b.children[c]
	if len(ch.inflight) == 0 || ch.inflight[0].ghost {
		return
	}
	r := ch.inflight[0]
	b.unqueue(c, r, now)
	b.fail(r, err)
}

// dropGhost forgets a ghost whose late answer came, or whose time is up.
func (b *Book) dropGhost(c int, g *Request, now time.Time) {
	if b.ordered {
		b.unqueue(c, g, now)
		return
	}
	delete(b.byKey, g.Key)
	for _, list := range []*[]*Request{&b.ghosts, &b.stale} {
		if i := slices.Index(*list, g); i >= 0 {
			*list = slices.Delete(*list, i, i+1)
			return
		}
	}
}

// Stuck is a child that did not answer request Seq in time. Then, with
// First (the FIFO framings, a server), the request failed and the child is kept: its
// late answer will be recognised and dropped, and the requests queued
// behind it wait for it (with several children, the caller may rather
// replace it, and have them sent to another). Without First, the child
// answered neither in time nor in the --timeout after: in a FIFO framing,
// nothing else it says can be trusted to answer what it seems to; from a
// server, the answers behind it will not come before it; in
// jsonl, the request's id was the user's, which a later request may give
// again and would wait for for ever. It must be replaced.
type Stuck struct {
	Child int
	Seq   uint64
	First bool
}

// Expire fails the requests past their deadline at now, and forgets the
// ghosts past theirs. It returns, in the FIFO framings, the children that
// did not answer in time (see Stuck).
func (b *Book) Expire(now time.Time) (replace []Stuck) {
	if b.cfg.Timeout <= 0 {
		return nil
	}
	for c, ch := range b.children {
		if b.ordered {
			if len(ch.inflight) == 0 {
				continue
			}
			h := ch.inflight[0]
			if h.ghost {
				if !now.Before(h.deadline) {
					replace = append(replace, Stuck{c, h.Seq, false})
				}
				continue
			}
			if !h.deadline.IsZero() && !now.Before(h.deadline) {
				// The ghost stays at the head: the answers behind it
				// come after its own.
				g := &Request{Seq: h.Seq, Key: h.Key, ghost: true, Child: int32(c), deadline: now.Add(b.cfg.Timeout)}
				ch.inflight[0] = g
				if !b.fifo {
					b.byKey[g.Key] = g
				}
				b.timedOut(h)
				replace = append(replace, Stuck{c, h.Seq, true})
			}
			continue
		}
		for len(ch.inflight) > 0 {
			r := ch.inflight[0]
			if r.deadline.IsZero() || now.Before(r.deadline) {
				break
			}
			b.unqueue(c, r, now)
			g := &Request{Seq: r.Seq, Key: r.Key, ghost: true, given: r.given, Child: int32(c), deadline: now.Add(b.cfg.Timeout)}
			b.byKey[r.Key] = g
			b.ghosts = append(b.ghosts, g)
			b.timedOut(r)
		}
	}
	for len(b.ghosts) > 0 && !now.Before(b.ghosts[0].deadline) {
		g := b.ghosts[0]
		b.ghosts[0] = nil
		b.ghosts = b.ghosts[1:]
		if !g.given {
			delete(b.byKey, g.Key) // pipecli's id, never used again
			continue
		}
		// The user's id, which a later request may give again (a
		// JSON-RPC client, bench's loop, replay's records): the late
		// answer would be taken for that request's. The ghost stays, and
		// the child, which answered neither in time nor in the --timeout
		// after, is replaced, as in the FIFO framings.
		b.stale = append(b.stale, g)
		replace = append(replace, Stuck{int(g.Child), g.Seq, false})
	}
	return replace
}

// Postpone moves the deadlines of child c's requests in flight to a
// --timeout from now, where they are earlier: the child has not read them
// yet (it is still loading), and a request's clock counts from when the
// child can work on it. Ghosts keep theirs.
func (b *Book) Postpone(c int, now time.Time) {
	if b.cfg.Timeout <= 0 {
		return
	}
	d := now.Add(b.cfg.Timeout)
	for _, r := range b.children[c].inflight {
		if !r.ghost && !r.deadline.IsZero() && r.deadline.Before(d) {
			r.deadline = d
		}
	}
}

func (b *Book) timedOut(r *Request) {
	b.fail(r, timeoutError{b.cfg.Timeout})
}

// ErrTimeout is what the error of a request that had no answer within
// Config.Timeout is, for errors.Is: its text says more.
var ErrTimeout = errors.New("timed out")

// timeoutError is the error of a request that timed out.
type timeoutError struct{ after time.Duration }

func (e timeoutError) Error() string { return fmt.Sprintf("no answer within --timeout %s", e.after) }

func (e timeoutError) Is(target error) bool { return target == ErrTimeout }

// Deadline is the earliest time Expire has something to do; zero if none.
func (b *Book) Deadline() time.Time {
	var d time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	for _, ch := range b.children {
		if len(ch.inflight) > 0 {
			earlier(ch.inflight[0].deadline)
		}
	}
	if len(b.ghosts) > 0 {
		earlier(b.ghosts[0].deadline)
	}
	return d
}

// Gone tells the book that child c is gone: why says how (for messages
// such as "testchild exited with code 3"), fate what becomes of its
// requests.
func (b *Book) Gone(c int, why string, fate Fate) Death {
	ch := b.children[c]
	if ch.live {
		b.live--
	}
	ch.live, ch.ready = false, false
	var live []*Request
	for _, r := range ch.inflight {
		if r.ghost {
			switch {
			case b.ordered && !b.fifo:
				delete(b.byKey, r.Key)
			case !b.fifo:
				b.dropGhost(c, r, time.Time{})
			}
			continue
		}
		if !b.fifo {
			delete(b.byKey, r.Key)
		}
		live = append(live, r)
	}
	// jsonl ghosts of this child: it will answer them no more.
	for _, list := range []*[]*Request{&b.ghosts, &b.stale} {
		for i := 0; i < len(*list); {
			if g := (*list)[i]; g.Child == int32(c) {
				b.dropGhost(c, g, time.Time{})
				continue
			}
			i++
		}
	}
	d := Death{InFlight: len(live)}
	if len(live) > 0 {
		d.Oldest, d.Input = live[0].Seq, live[0].Input
	}
	headGhost := len(ch.inflight) > 0 && ch.inflight[0].ghost
	b.inflight -= len(ch.inflight)
	clear(ch.arr)
	ch.inflight = ch.arr[:0]
	var culprit *Request
	alone := false
	if fate == Crashed {
		switch {
		case b.fifo && !headGhost && len(live) > 0:
			culprit = live[0]
		case !b.fifo && len(live) == 1:
			culprit = live[0]
		case !b.fifo && b.cfg.Retries == 0:
			// Any of them may have done it, and none may be sent again
			// to find out which: all fail.
			for _, r := range live {
				b.fail(r, fmt.Errorf("%s while handling it or another of the %d requests in flight (--retries 0: none is sent again)", why, len(live)))
				d.Failed++
			}
			live = nil
		case !b.fifo:
			alone = true // any of them may have done it
		}
	}
	var again []*Request
	for _, r := range live {
		switch fate {
		case Ended:
			b.fail(r, endedError{why + " without answering it"})
			d.Failed++
			continue
		case Abandoned:
			b.fail(r, errors.New(why))
			d.Failed++
			continue
		}
		if r == culprit {
			r.deaths++
			if !slices.Contains(r.killers, int32(c)) {
				r.killers = append(r.killers, int32(c))
			}
			if int(r.deaths) > b.cfg.Retries {
				b.fail(r, fmt.Errorf("%s while handling it; sent %d time(s)", why, r.Attempts))
				d.Failed++
				continue
			}
			// Sent again alone: were it the cause again, it alone
			// would be charged.
			r.suspect = r.suspect || !b.fifo
		}
		if alone {
			r.suspect = true
			if !b.unlimited {
				d.Alone++ // else they go together: see takes
			}
		}
		if fate == Replaced && !slices.Contains(r.killers, int32(c)) {
			// It waited on a child that was stuck: another takes it,
			// if there is one.
			r.killers = append(r.killers, int32(c))
		}
		r.Partials = nil
		if r.given {
			b.pendingKeys[r.Key]++
		}
		again = append(again, r)
	}
	if len(again) > 0 {
		b.pending = append(again, b.pending...)
	}
	if b.closed != nil {
		b.failPending()
	}
	return d
}

// Unlimit lets Send send all that is pending, whatever the window: the
// caller's input is over, and its child has stopped answering, so that
// waiting for room would wait for ever. Once every request is written, the
// child's stdin can be closed: many programs answer, or end, only then.
func (b *Book) Unlimit() { b.unlimited = true }

// Close says no child will come: the pending requests fail with why, and
// so does every request added from now on.
func (b *Book) Close(why error) {
	if b.closed == nil {
		b.closed = why
	}
	b.failPending()
}

func (b *Book) failPending() {
	for _, r := range b.pending {
		b.fail(r, b.closed)
	}
	clear(b.pending)
	b.pending = b.pending[:0]
	clear(b.pendingKeys)
}

// Ghosts is how many requests child c was sent that timed out and may
// still be answered late.
func (b *Book) Ghosts(c int) int {
	n := 0
	for _, list := range [][]*Request{b.children[c].inflight, b.ghosts, b.stale} {
		for _, g := range list {
			if g.ghost && g.Child == int32(c) {
				n++
			}
		}
	}
	return n
}

// Fifo reports whether answers are matched in order (line and marker
// framing), not by id.
func (b *Book) Fifo() bool { return b.fifo }

// Open is how many requests were added and have not ended.
func (b *Book) Open() int { return b.open }

// Held is how many requests ended and wait, for input order, for one
// before them.
func (b *Book) Held() int { return b.nfinished }

// Pending is how many requests wait to be sent.
func (b *Book) Pending() int { return len(b.pending) }

// InFlight is how many requests child c is handling, ghosts included.
func (b *Book) InFlight(c int) int { return len(b.children[c].inflight) }

// SentAt is when r was first sent.
func (r *Request) SentAt() time.Time { return r.sent }

// Oldest is the oldest request child c is handling that has not timed out,
// or nil.
func (b *Book) Oldest(c int) *Request {
	for _, r := range b.children[c].inflight {
		if !r.ghost {
			return r
		}
	}
	return nil
}

// fail ends r with err.
func (b *Book) fail(r *Request, err error) {
	r.Err = err
	if !r.sent.IsZero() {
		r.Latency = 0 // not a latency: it did not answer
	}
	b.finish(r)
}

// finish ends r and queues it, and those now in order after it, for Done.
func (b *Book) finish(r *Request) {
	b.open--
	if b.cfg.Unordered {
		b.nextOut++ // counts those handed back
		b.out = append(b.out, r)
		return
	}
	if r.idx == b.nextOut && b.nfinished == 0 {
		// The usual case: in order, none waiting for it.
		b.nextOut++
		b.out = append(b.out, r)
		return
	}
	// It waits past this read of the child's output: its answer, lent by
	// the decoder, is copied.
	r.Answer = bytes.Clone(r.Answer)
	if r.idx-b.nextOut >= len(b.finished) {
		b.growFinished(r.idx - b.nextOut + 1)
	}
	b.finished[r.idx%len(b.finished)] = r
	b.nfinished++
	for {
		i := b.nextOut % len(b.finished)
		q := b.finished[i]
		if q == nil {
			return
		}
		b.finished[i] = nil
		b.nfinished--
		b.nextOut++
		b.out = append(b.out, q)
	}
}

// growFinished makes the ring of finished requests hold at least n from
// nextOut on.
func (b *Book) growFinished(n int) {
	size := max(64, len(b.finished))
	for size < n {
		size *= 2
	}
	ring := make([]*Request, size)
	for _, q := range b.finished {
		if q != nil {
			ring[q.idx%size] = q
		}
	}
	b.finished = ring
}

// Done returns the requests that ended since the last call, in input
// order, each exactly once. They are the caller's until the next call,
// which reuses them.
func (b *Book) Done() []*Request {
	for i, r := range b.given {
		if len(b.free) < b.keep {
			in := r.Input[:0] // its memory is kept for the next input, unless large
			*r = Request{}
			if cap(in) <= keptInput {
				r.Input = in
			}
			b.free = append(b.free, r)
		}
		b.given[i] = nil
	}
	b.given, b.out = b.out, b.given[:0]
	return b.given
}

// keptInput is the largest input memory a recycled request keeps: the
// book holds up to Config.Window*2+512 of them.
const keptInput = 4 << 10

// alloc returns a zero request, but for its Input's memory: recycled, or new. Memory used again soon
// is still in the CPU's caches, and the garbage collector has less to do
// (issue: framed throughput).
func (b *Book) alloc() *Request {
	if n := len(b.free); n > 0 {
		r := b.free[n-1]
		b.free = b.free[:n-1]
		return r
	}
	return new(Request)
}
