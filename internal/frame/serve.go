package frame

import (
	"encoding/json"
)

// The Serve mode is how `pipecli run --connect` talks to a `pipecli serve`:
// one JSON object a line each way (the protocol is described in full in
// internal/serve). A request is {"id":KEY,"input":"LINE"}; an answer is
// {"id":KEY,"output":...} or {"id":KEY,"error":"..."}; a line with no id,
// or "id":null (the server's word on a line it could not read), is an
// Event.

// EncodeServe appends to dst the request line with correlation key key (a
// number, in decimal) in Serve mode, ending with "\n". The line becomes a
// JSON string: bytes that are not UTF-8 become U+FFFD, as JSON carries
// only UTF-8. Any line can be sent, newlines included.
func EncodeServe(dst []byte, key string, line []byte) []byte {
	dst = append(append(append(dst, `{"id":`...), key...), `,"input":`...)
	dst = appendQuoted(dst, line)
	return append(dst, '}', '\n')
}

// serveAnswer is what the decoder reads of a Serve answer.
type serveAnswer struct {
	ID           json.RawMessage `json:"id"`
	Output       json.RawMessage `json:"output"`
	Error        *string         `json:"error"`
	Notification bool            `json:"notification"`
}

// serve decodes one line of a server's answers. An answer's Data is its
// "output": a string's text, or the JSON of anything else (a jsonl pool's
// answer is the model's object), empty for null; an "error" makes it
// Failed, with the error's text. An "output" that is not a string makes
// it JSON; "notification":true, a Notification.
func (d *Decoder) serve(b []byte, buffered bool) use {
	t := trimSpace(b)
	if len(t) == 0 || t[0] != '{' || !json.Valid(t) {
		return d.emit(Event, b, buffered, true, 0, 0)
	}
	var a serveAnswer
	if err := json.Unmarshal(t, &a); err != nil || idType(a.ID) == 0 {
		// A string where an object belongs ("error": 3), or no id.
		return d.emit(Event, b, buffered, false, 0, 0)
	}
	k0 := len(d.keys)
	d.keys = appendKey(d.keys, a.ID)
	r := draft{kind: Answer, inArena: true, d0: len(d.arena), k0: k0, k1: len(d.keys), note: a.Notification}
	switch {
	case a.Error != nil:
		r.kind = Failed
		d.arena = append(d.arena, *a.Error...)
	case len(a.Output) > 0 && a.Output[0] == '"':
		var s string
		_ = json.Unmarshal(a.Output, &s) // valid: t was
		d.arena = append(d.arena, s...)
	case len(a.Output) > 0 && string(a.Output) != "null":
		r.json = true
		d.arena = append(d.arena, a.Output...)
	}
	r.d1 = len(d.arena)
	d.drafts = append(d.drafts, r)
	return unused
}

// AppendJSONString appends s to dst as a JSON string: quotes, backslashes
// and control characters escaped, bytes that are not UTF-8 as U+FFFD.
func AppendJSONString(dst, s []byte) []byte { return appendQuoted(dst, s) }
