// Package frame implements the framings pipecli uses to tell which of a child's output answers which request.
package frame

import (
	"errors"
	"fmt"
	"regexp"
)

// Mode is a framing (--framing): how requests are written and answers
// recognised.
//
//	mode    request written          answer ends                          correlation
//	raw     the line as typed        never: bytes shown as they arrive    none
//	line    one line                 after exactly one line               FIFO
//	marker  one line                 at a line equal to Options.Marker    FIFO
//	jsonl   a JSON object per line   at the message with the same "id"    by Key, any order
//	serve   {"id":N,"input":LINE}    at the answer with the same "id"     by Key, any order
//
// Serve is no --framing value: it is how `pipecli run --connect` talks to a
// `pipecli serve` (see serve.go).
//
// Everything in this package is a pure function of bytes, with no
// goroutines and no I/O: the conversation writes what EncodeRequest
// returns to the child's stdin, and feeds the child's stdout, in chunks as
// they arrive, to a Decoder, whose Messages say which bytes end which
// request.
type Mode int

// The framings, in the order ParseMode lists them.
const (
	Raw    Mode = iota // no framing: the line as typed; output shown as it arrives
	Line               // one line in, exactly one line out, FIFO
	Marker             // one line in, lines up to a marker line out, FIFO
	JSONL              // a JSON object per line both ways, matched by "id"
	Serve              // pipecli serve's protocol: answers by "id", "output" or "error"
)

var modeNames = [...]string{Raw: "raw", Line: "line", Marker: "marker", JSONL: "jsonl", Serve: "serve"}

// String returns the mode's --framing name.
func (m Mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Sprintf("Mode(%d)", int(m))
	}
	return modeNames[m]
}

// ParseMode returns the mode called s (raw, line, marker or jsonl; Serve is
// no --framing value).
func ParseMode(s string) (Mode, error) {
	for m, name := range modeNames {
		if s == name && Mode(m) != Serve {
			return Mode(m), nil
		}
	}
	return Raw, fmt.Errorf("unknown framing %q; use one of raw, line, marker, jsonl", s)
}

// Set parses s into m, so that a *Mode is a flag value (flag.Value and
// pflag.Value, with Type).
func (m *Mode) Set(s string) error {
	v, err := ParseMode(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Type names the flag value type in help output.
func (m *Mode) Type() string { return "framing" }

// Options configure the encoder and the decoder.
type Options struct {
	Mode Mode
	// Marker is the line that ends an answer in Marker mode; "" means an
	// empty line. It cannot contain a newline.
	Marker string
	// MarkerRE, if not nil, replaces Marker: a line it matches ends an
	// answer (the caller anchors it to match whole lines).
	MarkerRE *regexp.Regexp
	// PromptReady makes the decoder also match Ready and MarkerRE against
	// the unfinished line a Feed ends with: a REPL's prompt, which has no
	// newline after it. As with expect, a prompt is recognised by what has
	// arrived when a read ends, so a line that merely starts like the
	// prompt and comes in two reads could be taken for it: a prompt
	// regexp should match the prompt alone.
	PromptReady bool
	// MarkerPartials makes the decoder also deliver each line of a Marker
	// answer as a Partial as soon as it is complete, so a prompt can print
	// a long answer as it comes; the Answer still carries the whole text.
	MarkerPartials bool
	// MaxMessage caps, in bytes, every line and every Marker answer the
	// decoder holds (the --max-line flag); 0 means no cap. Going past it is
	// an error wrapping ErrTooLong, never a silent cut.
	MaxMessage int
	// SkipLines says the child's first SkipLines lines are a banner.
	SkipLines int
	// Ready, if not nil, says that after the SkipLines lines every line up
	// to and including the first one Ready matches is banner too. The
	// caller should not send input before the decoder is Ready.
	Ready *regexp.Regexp
}

// Validate reports options no decoder can work with.
func (o Options) Validate() error {
	switch {
	case o.Mode < Raw || o.Mode > Serve:
		return fmt.Errorf("unknown framing %v", o.Mode)
	case o.Mode == Marker && containsNewline(o.Marker):
		return fmt.Errorf("marker %q contains a newline, so no line can equal it; use a single line", o.Marker)
	case o.MaxMessage < 0:
		return fmt.Errorf("--max-line is %d; use a positive size, or 0 for no cap", o.MaxMessage)
	case o.SkipLines < 0:
		return fmt.Errorf("--skip-banner is %d; use a count of lines, 0 or more", o.SkipLines)
	}
	return nil
}

func containsNewline(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return true
		}
	}
	return false
}

// Kind says what a decoded message means for the request it belongs to.
type Kind int

// The kinds of message. The zero Kind is invalid, so a zero Message is
// never taken for an answer.
const (
	// Answer ends a request: the oldest in flight in Line and Marker mode,
	// the one with the message's Key in JSONL and Serve mode.
	Answer Kind = iota + 1
	// Partial is part of an answer that does not end the request: a JSONL
	// message with "partial":true, or (with Options.MarkerPartials) one
	// line of a Marker answer.
	Partial
	// Event belongs to no request: a JSONL message without an id, or whose
	// id is null, or a line that is not a JSON object (NotJSON).
	Event
	// Banner is a line the child printed before it was ready.
	Banner
	// Ready is the last banner line: from now on the child takes input.
	Ready
	// Unfinished is, at End in Marker mode, an answer whose marker never
	// came: all its lines, like an Answer's, but the request is not
	// answered.
	Unfinished
	// Failed, in Serve mode, ends the request with Key as a failure: the
	// server's "error", whose text is Data.
	Failed
)

var kindNames = [...]string{Answer: "answer", Partial: "partial", Event: "event", Banner: "banner", Ready: "ready", Unfinished: "unfinished", Failed: "failed"}

func (k Kind) String() string {
	if k <= 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Message is one piece of the child's output, as the framing sees it.
type Message struct {
	Kind Kind
	// Key is, in JSONL mode, the correlation key of an Answer or Partial:
	// the canonical JSON text of its "id" (see EncodeRequest). It is ""
	// in the other modes and for other kinds.
	Key string
	// Data holds the message's bytes, never a line's "\n": a line; in
	// Marker mode an Answer's (or Unfinished's) lines joined by "\n",
	// without the marker line; in JSONL mode the raw JSON line; in Raw
	// mode a chunk as fed. Data is lent: it may alias the bytes fed and
	// the decoder's buffers, and is valid, and to be read only, until the
	// next Feed or End (see Decoder). An answer of no lines and one of an
	// empty line both have empty Data.
	Data []byte
	// NotJSON marks, in JSONL mode, an Event whose line is not a JSON
	// object (not JSON at all, or an array, a string, a number...).
	NotJSON bool
	// JSON marks, in Serve mode, an Answer whose Data is the JSON of its
	// "output" (a jsonl pool's answer object), not a string's text.
	JSON bool
	// Notification marks, in Serve mode, the answer to a request the
	// server's pool took for a notification: it was sent, and awaited no
	// answer.
	Notification bool
}

// ErrBadRequest is wrapped by every EncodeRequest error: the request cannot
// be sent in this framing, and nothing was written.
var ErrBadRequest = errors.New("bad request")

// ErrTooLong is wrapped by the decoder's error when a line or an answer is
// longer than Options.MaxMessage.
var ErrTooLong = errors.New("message too long")
