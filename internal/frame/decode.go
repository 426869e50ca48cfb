package frame

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// bigLine is the size from which a Marker answer's first line, when the
// decoder buffered it, becomes the answer's buffer instead of being copied
// into it: copying a 100 MB line once more would double its cost.
const bigLine = 32 << 10

// maxArena is the largest scratch buffer a Decoder keeps between calls; a
// bigger one came from an unusually long line or Feed and is let go.
const maxArena = 1 << 20

// tooLong is the decoder's error past Options.MaxMessage.
type tooLong struct {
	what string
	max  int
}

func (e *tooLong) Error() string {
	return fmt.Sprintf("child wrote a %s longer than %d bytes, the --max-line cap; raise --max-line, or set it to 0 for no cap", e.what, e.max)
}

func (e *tooLong) Unwrap() error { return ErrTooLong }

// A Decoder splits a child's output into messages. Feed it the output in
// chunks as they arrive, split anywhere (inside a line, a UTF-8 character,
// a JSON string): the messages do not depend on where the chunks were
// split. It is linear in the bytes fed, however long the lines. A Decoder
// is not safe for concurrent use.
//
// Lines end at "\n". Their bytes are kept exactly (a "\r" before the "\n"
// stays in Data), but the marker and the Ready regexp are matched against
// the line without one trailing "\r", so children writing CRLF work
// unchanged.
//
// Line mode: every line is an Answer. Marker mode: lines accumulate until
// a line equal to the marker (ignoring one trailing "\r"); then one Answer
// holds them all, joined by "\n", without the marker line. With
// MarkerPartials each of those lines is also delivered as a Partial first.
// JSONL mode: each line is classified on its own: a JSON object with a
// number or string "id" is an Answer, or a Partial if it has
// "partial":true, with that id's Key (so JSON-RPC 2.0 results and errors
// end their request); without an id, with "id":null (a JSON-RPC error about
// an unparsable request) or with another kind of id it is an Event; a line
// that is not a JSON object is an Event with NotJSON set. Never an error.
//
// Banner: with Options.SkipLines or Options.Ready, the first lines are
// delivered as Banner and the last banner line as Ready, whatever the mode;
// only then does the framing start. Raw mode ignores banner, marker and cap:
// each Feed gives its bytes back as one Event.
//
// The messages a call returns, and their Data, are lent: they alias the
// bytes fed and the decoder's buffers, and are valid until the next call
// to Feed or End, so that decoding copies and allocates nothing per
// message (issue: framed throughput). A caller that keeps a message's
// Data longer copies it. Keys are the exception: they are strings, and
// stay valid.
type Decoder struct {
	o     Options
	err   error // sticky: invalid Options, or a message over the cap
	ready bool  // the banner is over
	seen  int   // banner lines so far

	pending []byte // the line being received: what came after the last "\n"
	// spare is pending's other buffer. When a message aliases pending, the
	// next line is received in spare, and the two swap: the line lent out
	// stays intact until the next call, and no buffer is allocated.
	spare    []byte
	answer   []byte // Marker: the unfinished answer's lines, joined by "\n"
	inAnswer bool   // Marker: answer holds at least one line, maybe empty

	// Scratch for the messages of one call, reused by the next.
	drafts []draft
	msgs   []Message
	arena  []byte // Marker answers, copied out of answer
	keys   []byte
}

// draft is a message being built: its Data is b, or arena[d0:d1] if
// inArena (the arena may move while the call adds to it).
type draft struct {
	kind    Kind
	notJSON bool
	json    bool // Serve: Message.JSON
	note    bool // Serve: Message.Notification
	inArena bool
	b       []byte
	d0, d1  int
	k0, k1  int
}

// NewDecoder returns a decoder for o. If o is not valid (see
// Options.Validate), Feed and End return the reason.
func NewDecoder(o Options) *Decoder {
	d := &Decoder{o: o, err: o.Validate()}
	d.ready = o.Mode == Raw || o.SkipLines == 0 && o.Ready == nil
	return d
}

// Ready reports whether the banner is over, so input may be sent. It is
// true from the start when there is no banner.
func (d *Decoder) Ready() bool { return d.ready }

// Feed decodes the next chunk of output and returns the messages it
// completes. Its only error is a line or Marker answer longer than
// Options.MaxMessage (wrapping ErrTooLong), or invalid Options; the
// messages before it are returned with it, and every later call returns it
// again.
//
// The messages and their Data are valid until the next call, and may
// alias p, which the caller must leave unchanged while it uses them; the
// decoder keeps no reference to p.
func (d *Decoder) Feed(p []byte) ([]Message, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.o.Mode == Raw {
		if len(p) == 0 {
			return nil, nil
		}
		d.msgs = append(d.msgs[:0], Message{Kind: Event, Data: p[:len(p):len(p)]})
		return d.msgs, nil
	}
	if d.o.Mode == Line && d.ready && !d.o.PromptReady && len(d.pending) == 0 {
		return d.lines(p)
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			// Check now, not at the newline, so that a child that never
			// ends its line cannot make us hold more than the cap.
			if max := d.lineCap(); max > 0 && len(d.pending)+len(p) > max {
				d.err = &tooLong{"line", d.o.MaxMessage}
				break
			}
			d.pending = append(grow(d.pending, len(p)), p...)
			break
		}
		if len(d.pending) == 0 {
			d.line(p[:i], false)
		} else {
			d.pending = append(grow(d.pending, i), p[:i]...)
			d.linePending()
		}
		if d.err != nil {
			break
		}
		p = p[i+1:]
	}
	if d.err == nil && len(d.pending) > 0 && d.o.PromptReady {
		d.prompt()
	}
	return d.flush(), d.err
}

// DropAnswer forgets, in Marker mode, the lines of the answer begun: they
// were printed before any request, and answer none. The caller must not
// be in a Feed.
func (d *Decoder) DropAnswer() {
	if d.inAnswer {
		d.answer = d.answer[:0]
		d.inAnswer = false
	}
}

// LineOpen reports whether the decoder holds a line begun and not ended
// with "\n": what End would deliver as if it had one.
func (d *Decoder) LineOpen() bool { return len(d.pending) > 0 }

// End is Feed at the end of the output: a last line without "\n" is
// delivered as if it had one, and in Marker mode an answer whose marker
// never came is delivered as Unfinished. Nothing is silently dropped. Its
// messages too are valid until the next call.
func (d *Decoder) End() ([]Message, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.o.Mode == Raw {
		return nil, nil
	}
	if len(d.pending) > 0 {
		d.linePending()
	}
	if d.err == nil && d.inAnswer {
		d.endAnswer(Unfinished)
	}
	return d.flush(), d.err
}

// lineCap is the longest unfinished line the decoder holds: one longer is
// sure to break the cap once complete. A Marker line could be the marker
// (plus "\r"), which is no part of an answer, so it may be that long.
// lines is Feed in line framing once the banner is over, with no line
// begun in an earlier call: each line is an answer, lent straight out of
// p, with none of the drafts that other framings need to build their
// messages (issue: bench's overhead).
func (d *Decoder) lines(p []byte) ([]Message, error) {
	clear(d.msgs) // let go of the last call's lines
	d.msgs = d.msgs[:0]
	max := d.o.MaxMessage
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			break
		}
		if max > 0 && i > max {
			d.err = &tooLong{"line", max}
			break
		}
		d.msgs = append(d.msgs, Message{Kind: Answer, Data: p[:i:i]})
		p = p[i+1:]
	}
	if d.err == nil && len(p) > 0 {
		if max > 0 && len(p) > max {
			d.err = &tooLong{"line", max}
		} else {
			d.pending = append(grow(d.pending, len(p)), p...)
		}
	}
	if len(d.msgs) == 0 {
		return nil, d.err
	}
	return d.msgs, d.err
}

func (d *Decoder) lineCap() int {
	max := d.o.MaxMessage
	if d.o.Mode == Marker && max > 0 && len(d.o.Marker)+1 > max {
		max = len(d.o.Marker) + 1
	}
	return max
}

// grow makes room for n more bytes in b. It doubles, where append grows
// big slices by a quarter: a 100 MB line arriving in 64 KiB chunks then
// costs about twice its size in copies and garbage, not five times.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), 2*cap(b)+n)
	copy(nb, b)
	return nb
}

// use is what line did with the buffer of a line.
type use int

const (
	unused use = iota // free again
	lent              // a message of this call aliases it
	taken             // it became the Marker answer's buffer
)

// linePending decodes the line in d.pending, and makes room for the next
// line where no message of this call points. A call decodes at most one
// line from pending (the first it completes; the others are whole in p),
// so spare is never lent twice in one call.
func (d *Decoder) linePending() {
	b := d.pending
	switch d.line(b, true) {
	case unused:
		d.pending = keep(b)
	case lent:
		d.pending, d.spare = keep(d.spare), keep(b)
	case taken:
		d.pending, d.spare = keep(d.spare), nil
	}
}

// keep returns b emptied for reuse, or nil if it is too big to keep.
func keep(b []byte) []byte {
	if cap(b) > maxArena {
		return nil
	}
	return b[:0]
}

// line decodes one complete line b, without its "\n". buffered says b is
// d.pending; line reports what it did with it. A line not buffered is in
// the p of the current Feed, which messages may alias.
func (d *Decoder) line(b []byte, buffered bool) use {
	max := d.o.MaxMessage
	if !d.ready {
		if max > 0 && len(b) > max {
			d.err = &tooLong{"line", max}
			return unused
		}
		d.seen++
		kind := Banner
		if d.seen == d.o.SkipLines && d.o.Ready == nil ||
			d.seen > d.o.SkipLines && d.o.Ready.Match(trimCR(b)) {
			kind = Ready
			d.ready = true
		}
		return d.emit(kind, b, buffered, false, 0, 0)
	}
	switch d.o.Mode {
	case Line:
		if max > 0 && len(b) > max {
			d.err = &tooLong{"line", max}
			return unused
		}
		return d.emit(Answer, b, buffered, false, 0, 0)
	case JSONL, Serve:
		if max > 0 && len(b) > max {
			d.err = &tooLong{"line", max}
			return unused
		}
		if d.o.Mode == Serve {
			return d.serve(b, buffered)
		}
		return d.jsonl(b, buffered)
	}
	// Marker.
	if d.isMarker(b) {
		d.endAnswer(Answer)
		return unused
	}
	n := len(b)
	if d.inAnswer {
		n += len(d.answer) + 1
	}
	if max > 0 && n > max {
		d.err = &tooLong{"marker answer", max}
		return unused
	}
	u := unused
	if d.o.MarkerPartials {
		u = d.emit(Partial, b, buffered, false, 0, 0)
	}
	if d.inAnswer {
		d.answer = append(append(grow(d.answer, 1+len(b)), '\n'), b...)
		return u
	}
	d.inAnswer = true
	if buffered && len(b) >= bigLine {
		// No copy of a long first line. A Partial may alias it too: the
		// answer only appends to it.
		d.answer = b
		return taken
	}
	d.answer = append(d.answer, b...)
	return u
}

// prompt checks the unfinished line a read ended with for a prompt: the
// Ready regexp's, which ends the banner, or the MarkerRE's, which ends an
// answer. The line is then consumed.
func (d *Decoder) prompt() {
	switch {
	case !d.ready && d.o.Ready != nil && d.seen >= d.o.SkipLines && d.o.Ready.Match(d.pending):
		d.ready = true
		// Copied: the message outlives pending, which the next line reuses.
		r := draft{kind: Ready, inArena: true, d0: len(d.arena)}
		d.arena = append(d.arena, d.pending...)
		r.d1 = len(d.arena)
		d.drafts = append(d.drafts, r)
	case d.ready && d.o.Mode == Marker && d.o.MarkerRE != nil && d.o.MarkerRE.Match(d.pending):
		d.endAnswer(Answer)
	default:
		return
	}
	d.pending = d.pending[:0]
}

func (d *Decoder) isMarker(b []byte) bool {
	if d.o.MarkerRE != nil {
		return d.o.MarkerRE.Match(trimCR(b))
	}
	return string(trimCR(b)) == d.o.Marker || string(b) == d.o.Marker
}

// trimCR removes one trailing "\r".
func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// endAnswer delivers the Marker answer being accumulated. It is copied to
// the arena, as the next answer of the same call goes in the same buffer,
// unless it is long: then the message takes the buffer, and the next
// answer starts a new one.
func (d *Decoder) endAnswer(kind Kind) {
	if len(d.answer) >= bigLine {
		d.drafts = append(d.drafts, draft{kind: kind, b: d.answer[:len(d.answer):len(d.answer)]})
		d.answer = nil
	} else {
		r := draft{kind: kind, inArena: true, d0: len(d.arena)}
		d.arena = append(d.arena, d.answer...)
		r.d1 = len(d.arena)
		d.drafts = append(d.drafts, r)
		d.answer = d.answer[:0]
	}
	d.inAnswer = false
}

// jsonl decodes one JSONL line.
func (d *Decoder) jsonl(b []byte, buffered bool) use {
	t := trimSpace(b)
	if len(t) == 0 || t[0] != '{' || !json.Valid(t) {
		return d.emit(Event, b, buffered, true, 0, 0)
	}
	m := scanObject(t)
	if m.id == nil || idType(m.id) == 0 {
		return d.emit(Event, b, buffered, false, 0, 0)
	}
	k0 := len(d.keys)
	d.keys = appendKey(d.keys, m.id)
	kind := Answer
	if string(m.partial) == "true" {
		kind = Partial
	}
	return d.emit(kind, b, buffered, false, k0, len(d.keys))
}

// emit adds a message with data b, which it aliases, and key
// d.keys[k0:k1]; buffered says b is d.pending. It reports whether the
// message lent d.pending.
func (d *Decoder) emit(kind Kind, b []byte, buffered, notJSON bool, k0, k1 int) use {
	d.drafts = append(d.drafts, draft{kind: kind, notJSON: notJSON, b: b[:len(b):len(b)], k0: k0, k1: k1})
	if buffered {
		return lent
	}
	return unused
}

// flush turns the drafts into the messages of this call. The arena and
// the slice are reused by the next call; the keys, strings, are not.
func (d *Decoder) flush() []Message {
	clear(d.msgs) // let go of the last call's lines
	d.msgs = d.msgs[:0]
	if len(d.drafts) == 0 {
		return nil
	}
	var keys string
	if len(d.keys) > 0 {
		keys = string(d.keys)
	}
	for _, r := range d.drafts {
		m := Message{Kind: r.kind, NotJSON: r.notJSON, JSON: r.json, Notification: r.note, Key: keys[r.k0:r.k1], Data: r.b}
		if r.inArena {
			m.Data = d.arena[r.d0:r.d1:r.d1]
		}
		d.msgs = append(d.msgs, m)
	}
	clear(d.drafts) // let go of the lines: the messages hold them now
	d.drafts = d.drafts[:0]
	d.keys = d.keys[:0]
	if cap(d.arena) > maxArena {
		d.arena = nil // the messages still hold it until the next call
	} else {
		d.arena = d.arena[:0]
	}
	return d.msgs
}
