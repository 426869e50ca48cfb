package frame

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// badRequest is an EncodeRequest error; it prints as its message alone and
// matches ErrBadRequest.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }
func (e *badRequest) Unwrap() error { return ErrBadRequest }

// EncodeRequest appends to dst the bytes to write to the child for the
// request line with sequence number seq, ending with "\n", and returns the
// request's correlation key: "" in the FIFO modes, the canonical JSON text
// of its "id" in JSONL mode. line is one line without its "\n". On error
// (one wrapping ErrBadRequest) dst is returned unchanged.
//
// Raw, Line, Marker: line is written as is. In Line and Marker mode a line
// containing "\n" is an error: the child would see two requests and every
// later answer would be matched to the wrong one. A lone "\r" is sent as
// is: line-reading programs (Python's sys.stdin, which splits at "\n" only
// on Linux, C's fgets, Go's bufio) keep it inside the line.
//
// JSONL: after trimming JSON whitespace, a line that
//   - starts with "{" must be a valid JSON object, else it is an error.
//     Without an "id" member, "id":seq is inserted first and the key is
//     seq in decimal. With one, the id is kept: it must be a number or a
//     string, and the key is its canonical text (see below). The object is
//     otherwise sent as typed, except that it is compacted if it spans
//     several lines, and bytes that are not UTF-8 become U+FFFD.
//     An object with a "method" member and no "id" is a JSON-RPC
//     notification: it is sent as typed, and the key is "", since no
//     answer will come.
//   - starts with "[" and is valid JSON is an error: the request is not a
//     JSON object (JSON-RPC batches are not supported: their answers come
//     as one array, which cannot be matched to the requests one by one).
//   - is anything else is plain text, sent as {"id":seq,"text":"..."} with
//     the line, untrimmed, as a JSON string: quotes, backslashes and control
//     characters escaped, and each byte that is not valid UTF-8 replaced by
//     U+FFFD (as encoding/json does), so the output is always one line of
//     valid JSON. Text that happens to be a JSON number, string, true,
//     false or null is plain text too: at a prompt, "42" is a question.
//
// Keys: a number's key is its value (1, 1.0 and 1e0 are one key: a child
// that parses ids and writes them anew, as jq does, answers 1.0 with 1,
// and two requests in flight must not be told apart by spelling only); a
// string's is the JSON quoting of its contents with only ", \ and control
// characters escaped, so "é" and "\u00e9" match. Keys of numbers and
// strings never collide. Duplicate keys in flight are for the caller to
// refuse.
func EncodeRequest(dst []byte, o Options, seq uint64, line []byte) (out []byte, key string, err error) {
	switch o.Mode {
	case Raw:
		return append(append(dst, line...), '\n'), "", nil
	case Line, Marker:
		if bytes.IndexByte(line, '\n') >= 0 {
			return dst, "", &badRequest{fmt.Sprintf("request %q contains a newline, which would make it two requests in %v framing; send one line", clip(line), o.Mode)}
		}
		return append(append(dst, line...), '\n'), "", nil
	case JSONL:
		out, key, _, err := EncodeJSONL(dst, seq, line)
		return out, key, err
	}
	return dst, "", &badRequest{fmt.Sprintf("unknown framing %v", o.Mode)}
}

// IDSource says where a JSONL request's id comes from.
type IDSource int

const (
	IDAdded IDSource = iota // the line had none: the encoder added seq
	IDGiven                 // the line's own "id"
	NoID                    // a notification: no id, no answer
)

// EncodeJSONL is EncodeRequest in JSONL mode, also saying where the key
// came from: a caller that numbers requests itself must not give a number
// already in use as someone else's id.
func EncodeJSONL(dst []byte, seq uint64, line []byte) (out []byte, key string, src IDSource, err error) {
	t := trimSpace(line)
	if len(t) == 0 || t[0] != '{' && t[0] != '[' || t[0] == '[' && !json.Valid(t) {
		key := strconv.FormatUint(seq, 10)
		dst = append(append(append(dst, `{"id":`...), key...), `,"text":`...)
		dst = appendQuoted(dst, line)
		return append(dst, '}', '\n'), key, IDAdded, nil
	}
	if t[0] == '[' {
		return dst, "", 0, &badRequest{fmt.Sprintf(`request %q is a JSON array (a JSON-RPC batch?), not an object, so its answers could not be told apart; send each call as an object on a line of its own`, clip(t))}
	}
	if !json.Valid(t) {
		// Unmarshal only to say where the syntax error is.
		jerr := json.Unmarshal(t, new(json.RawMessage))
		return dst, "", 0, &badRequest{fmt.Sprintf(`request %q starts with "{" but is not valid JSON (%v); fix it, or send plain text`, clip(t), jerr)}
	}
	if bytes.IndexByte(t, '\n') >= 0 || bytes.IndexByte(t, '\r') >= 0 {
		var b bytes.Buffer
		_ = json.Compact(&b, t) // cannot fail: t is valid
		t = b.Bytes()
	}
	if !utf8.Valid(t) {
		t = appendValidUTF8(nil, t) // non-UTF-8 bytes can only be inside strings
	}
	m := scanObject(t)
	if m.id != nil {
		if idType(m.id) == 0 {
			return dst, "", 0, &badRequest{fmt.Sprintf(`request id %s is not a number or a string; use one, or leave "id" out and one is added`, clip(m.id))}
		}
		key := string(appendKey(nil, m.id))
		return append(append(dst, t...), '\n'), key, IDGiven, nil
	}
	if m.method != nil {
		return append(append(dst, t...), '\n'), "", NoID, nil
	}
	key = strconv.FormatUint(seq, 10)
	dst = append(append(dst, `{"id":`...), key...)
	if m.n > 0 {
		dst = append(dst, ',')
	}
	dst = append(dst, t[1:]...)
	return append(dst, '\n'), key, IDAdded, nil
}

// clip shortens b for an error message.
func clip(b []byte) string {
	const max = 60
	if len(b) <= max {
		return string(b)
	}
	return string(b[:max]) + "..."
}
