package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/session"
	"github.com/pipecli/pipecli/internal/track"
)

// The wire protocol: JSON lines over a Unix socket, one request or answer
// a line. The server speaks first, with its greeting:
//
//	{"pipecli":"serve","version":1,"framing":"line","framing_flags":{"mode":"line"},"replicas":2,"serving":"the demo model"}
//
// A request is {"id":ID,"input":"LINE"}. ID is any JSON string or number
// the caller chooses (or none: its answer then has "id":null); answers come
// in the order of the requests, each with its request's id, so that ids
// are for the caller's own checking. In a jsonl pool "input" may also be a
// JSON object, sent to the model as `pipecli run --framing jsonl` sends
// one (an "id" of its own is kept, so it must be unique among every
// caller's requests in flight: better leave it out, and one is added).
// {"status":true} (with an "id" or not) asks for the status document.
//
// An answer is one of
//
//	{"id":ID,"output":"TEXT","latency_ms":12.5,"replica":1}
//	{"id":ID,"output":{...the model's JSON answer...},"latency_ms":12.5,"replica":2}
//	{"id":ID,"output":null,"notification":true,"latency_ms":0.1,"replica":2}
//	{"id":ID,"error":"why it failed"}
//	{"id":ID,"status":{...}}
//
// A line that is no request, or is longer than --max-request, is answered
// {"id":null,"error":"..."} (with its id, when it can be read), in its
// place among the answers; the connection stays open.

// Version is the protocol's version, in the greeting: a change that old
// callers would misread makes a new one.
const Version = 1

// Greeting is the line the server greets each connection with.
type Greeting struct {
	Pipecli string `json:"pipecli"` // always "serve"
	Version int    `json:"version"`
	Framing string `json:"framing"` // how the replicas frame their answers
	// FramingFlags are the framing flags the server was started with,
	// as `run --json` records them: replay compares them with its
	// records'.
	FramingFlags *session.FramingFlags `json:"framing_flags,omitempty"`
	Replicas     int                   `json:"replicas"` // how many
	Serving      string                `json:"serving"`  // what they run, as messages call it
}

// request is a line a client sent, read.
type request struct {
	id     json.RawMessage // as the client wrote it; nil if none
	line   []byte          // what the pool is fed: one line
	status bool            // a request for the status document
}

// wireRequest is a request as sent; Input and Status are checked by hand.
type wireRequest struct {
	ID     json.RawMessage `json:"id"`
	Input  json.RawMessage `json:"input"`
	Status json.RawMessage `json:"status"`
}

// shape is what a request looks like, for error messages.
const shape = `a request is {"id":ID,"input":"LINE"}, one a line`

// parseRequest reads one line a client sent (without its "\n"), for a
// pool whose framing is mode. On error, the request's id is still
// returned when it could be read, and the error says what was wrong and
// what a request looks like.
func parseRequest(b []byte, mode frame.Mode) (request, error) {
	var w wireRequest
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return request{}, fmt.Errorf("empty line; %s", shape)
	}
	if b[0] != '{' {
		return request{}, fmt.Errorf("not a JSON object; %s", shape)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&w); err != nil {
		return request{id: idOf(b)}, fmt.Errorf("bad JSON (%v); %s", jsonWhy(err), shape)
	}
	if d.More() {
		return request{id: w.ID}, fmt.Errorf("more than one JSON value on the line; %s", shape)
	}
	r := request{id: w.ID}
	if string(w.ID) == "null" {
		r.id = nil
	}
	if r.id != nil && w.ID[0] != '"' && !isNumber(w.ID) {
		return request{}, fmt.Errorf(`"id" must be a string or a number, not %s; %s`, clipJSON(w.ID), shape)
	}
	if w.Status != nil {
		if string(w.Status) != "true" || w.Input != nil {
			return r, fmt.Errorf(`a status request is {"status":true}`)
		}
		r.status = true
		return r, nil
	}
	if w.Input == nil {
		return r, fmt.Errorf(`no "input"; %s`, shape)
	}
	switch w.Input[0] {
	case '"':
		var s string
		if err := json.Unmarshal(w.Input, &s); err != nil {
			return r, fmt.Errorf("bad JSON (%v); %s", jsonWhy(err), shape)
		}
		line, err := inputLine([]byte(s), mode)
		r.line = line
		return r, err
	case '{':
		if mode != frame.JSONL {
			return r, fmt.Errorf(`"input" is an object, which only a jsonl pool takes; this one's framing is %s: send the line as a JSON string`, mode)
		}
		var c bytes.Buffer
		_ = json.Compact(&c, w.Input) // valid: Decode took it
		r.line = c.Bytes()
		return r, nil
	}
	return r, fmt.Errorf(`"input" must be a string (or, in a jsonl pool, an object), not %s; %s`, clipJSON(w.Input), shape)
}

// inputLine is the line the pool is fed for the text s. The pool reads
// lines: a line pool cannot take one holding a newline (its model would
// read two requests, and every later answer would go to the wrong one); a
// jsonl pool is sent it as {"text":"..."}, which is what it would make of
// a line anyway.
func inputLine(s []byte, mode frame.Mode) ([]byte, error) {
	if bytes.IndexByte(s, '\n') < 0 && !bytes.HasSuffix(s, []byte("\r")) {
		return s, nil
	}
	if mode == frame.JSONL {
		if t := bytes.TrimSpace(s); len(t) > 0 && t[0] == '{' && json.Valid(t) {
			var c bytes.Buffer
			_ = json.Compact(&c, t)
			return c.Bytes(), nil
		}
		return append(frame.AppendJSONString([]byte(`{"text":`), s), '}'), nil
	}
	if bytes.IndexByte(s, '\n') < 0 {
		return nil, fmt.Errorf(`"input" ends with "\r", which a line cannot keep; leave it out`)
	}
	return nil, fmt.Errorf(`"input" holds a newline, which the model would read as two requests (%s framing); send one line per request`, mode)
}

// idOf reads the id at the start of a request that could not be read
// whole (bad JSON later on, or cut at --max-request): {"id":ID,...}, as
// pipecli's own clients write it. nil if there is none.
func idOf(b []byte) json.RawMessage {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	if t, err := d.Token(); err != nil || t != "id" {
		return nil
	}
	t, err := d.Token()
	if err != nil {
		return nil
	}
	switch v := t.(type) {
	case json.Number:
		return json.RawMessage(v.String())
	case string:
		return frame.AppendJSONString(nil, []byte(v))
	}
	return nil
}

func isNumber(b []byte) bool {
	_, err := strconv.ParseFloat(string(b), 64)
	return err == nil
}

// jsonWhy says what encoding/json found wrong, without its "json: "
// prefix.
func jsonWhy(err error) string {
	var ut *json.UnmarshalTypeError
	if errors.As(err, &ut) {
		return fmt.Sprintf("%q is a %s, which does not belong there", ut.Field, ut.Value)
	}
	s := err.Error()
	s = strings.TrimPrefix(s, "json: ")
	return s
}

func clipJSON(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// appendID appends id, or null.
func appendID(dst []byte, id json.RawMessage) []byte {
	if id == nil {
		return append(dst, "null"...)
	}
	return append(dst, id...)
}

// appendAnswer appends the answer line to the request with id that the
// pool ended as r: its output (text, or in a jsonl pool the model's JSON),
// its latency and the replica that answered, or its error.
func appendAnswer(dst []byte, id json.RawMessage, r *track.Request, mode frame.Mode) []byte {
	if r.Err != nil {
		return appendError(dst, id, r.Err.Error())
	}
	dst = appendID(append(dst, `{"id":`...), id)
	dst = append(dst, `,"output":`...)
	switch {
	case r.Notification:
		dst = append(dst, `null,"notification":true`...)
	case mode == frame.JSONL:
		dst = append(dst, r.Answer...) // a JSON object: the decoder checked it
	default:
		dst = frame.AppendJSONString(dst, r.Answer)
	}
	dst = append(dst, `,"latency_ms":`...)
	dst = strconv.AppendFloat(dst, float64(r.Latency.Microseconds())/1000, 'f', -1, 64)
	if r.Attempts > 0 {
		dst = append(dst, `,"replica":`...)
		dst = strconv.AppendInt(dst, int64(r.Child)+1, 10)
	}
	return append(dst, "}\n"...)
}

// appendError appends an error answer to the request with id.
func appendError(dst []byte, id json.RawMessage, msg string) []byte {
	dst = appendID(append(dst, `{"id":`...), id)
	dst = append(dst, `,"error":`...)
	dst = frame.AppendJSONString(dst, []byte(msg))
	return append(dst, "}\n"...)
}

// appendStatus appends the answer to a status request.
func appendStatus(dst []byte, id json.RawMessage, st *Status) []byte {
	b, _ := json.Marshal(st) // plain data: cannot fail
	dst = appendID(append(dst, `{"id":`...), id)
	dst = append(append(dst, `,"status":`...), b...)
	return append(dst, "}\n"...)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain data
	}
	return b
}
