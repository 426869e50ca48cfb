package model

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ServeOptions configures Serve.
type ServeOptions struct {
	Family string // auto (or ""), shift or substitution
	// Verbose writes a few progress guesses before each answer: lines
	// starting with "... best so far: " or, with JSONL, partial messages.
	Verbose bool
	// UseMarker ends each answer with a line equal to Marker, which may be
	// empty, so a client can tell where an answer spanning several lines
	// ends. It ends every answer, in whichever protocol the request was
	// answered, JSON ones included: a client that reads up to the marker
	// would otherwise wait for ever after a request it happened to send as
	// JSON.
	Marker    string
	UseMarker bool
	// JSONL reads requests {"id":ID,"text":"..."} (optionally "family") and
	// writes answers {"id":ID,"text":...,"cipher":...,"key":...,"score":...},
	// or {"id":ID,"error":"..."} for a bad request. A JSON-RPC 2.0 request
	// (one with a "jsonrpc" member) is answered in kind; see Serve.
	//
	// Without JSONL, a line that is a JSON request (see jsonRequestFields)
	// is still answered as JSONL would answer it, and other lines in the
	// plain protocol: a jsonl client gets its answers from a model started
	// with no flags, as in the docker image pipe_api (`pipecli run --image
	// pipe_api --framing jsonl` used to hang, the model decrypting the JSON
	// as ciphertext). A line that is not a JSON object with such a member is
	// ciphertext, even when it starts with "{".
	JSONL bool
}

// progressPrefix starts a verbose progress line in the plain protocol.
const progressPrefix = "... best so far: "

// Serve answers ciphertext lines read from in until EOF, one answer per
// line, flushed at once. It returns nil at EOF, ctx.Err() when ctx is done,
// or the error that stopped reading or writing.
//
// JSON requests, with JSONL or recognised without it, are answered on one
// line each, with partial messages {"id":ID,"partial":true,"text":...}
// before it under Verbose. A JSON-RPC 2.0 request
// {"jsonrpc":"2.0","id":ID,"method":"decrypt","params":{"text":"..."}}
// ("family" may join "text") gets {"jsonrpc":"2.0","id":ID,"result":
// {"text":...,"cipher":...,"key":...,"score":...}} or {"jsonrpc":"2.0",
// "id":ID,"error":{"code":N,"message":"..."}}, with no partial messages,
// which JSON-RPC has no place for; a notification (no "id") gets no answer
// at all, as JSON-RPC requires, but the marker still follows it under
// UseMarker, so that answers stay in step with requests.
//
// Reading runs in its own goroutine so that a cancelled ctx ends Serve even
// while in blocks: an io.Reader cannot be interrupted. That goroutine stops
// at its next line, or when its pending Read returns, which closing in
// brings about; the caller owns in and closes it.
func Serve(ctx context.Context, in io.Reader, out io.Writer, o ServeOptions) error {
	family, err := checkFamily(o.Family)
	if err != nil {
		return err
	}
	o.Family = family

	type read struct {
		line []byte
		err  error
	}
	lines := make(chan read)
	stop := make(chan struct{})
	defer close(stop) // ends the reader at its next line
	go func() {
		br := bufio.NewReaderSize(in, 64<<10)
		for {
			line, err := readLine(br)
			select {
			case lines <- read{line, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()

	w := bufio.NewWriter(out)
	for {
		var r read
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r = <-lines:
		}
		if r.line != nil {
			var err error
			if o.JSONL {
				req, bad := parseRequest(r.line)
				err = answerJSON(ctx, w, req, bad, o)
			} else if fields := jsonRequestFields(r.line); fields != nil {
				req, bad := requestOf(fields)
				err = answerJSON(ctx, w, req, bad, o)
			} else {
				err = answerPlain(ctx, w, r.line, o)
			}
			if err == nil && o.UseMarker {
				w.WriteString(o.Marker)
				err = w.WriteByte('\n')
			}
			if err == nil {
				err = w.Flush()
			}
			if err != nil {
				return fmt.Errorf("write answer: %w", err)
			}
		}
		if errors.Is(r.err, io.EOF) {
			return nil
		}
		if r.err != nil {
			return fmt.Errorf("read request: %w", r.err)
		}
	}
}

// readLine reads one line of any length without its final "\n", as a fresh
// slice; at EOF it returns the unterminated rest, or nil if there is none.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == nil {
			return line[:len(line)-1], nil
		}
		if len(line) == 0 {
			line = nil
		}
		return line, err
	}
}

func answerPlain(ctx context.Context, w *bufio.Writer, line []byte, o ServeOptions) error {
	var progress func([]byte)
	var werr error
	if o.Verbose {
		progress = func(text []byte) {
			// A guess spanning lines would read as several answers.
			w.WriteString(progressPrefix)
			w.Write(bytes.ReplaceAll(text, []byte("\n"), []byte(" ")))
			w.WriteByte('\n')
			if err := w.Flush(); err != nil && werr == nil {
				werr = err
			}
		}
	}
	res, err := decrypt(ctx, line, o.Family, progress)
	if err != nil {
		return err // cannot happen: the family was checked
	}
	if werr != nil {
		return werr
	}
	w.WriteString(res.Text)
	return w.WriteByte('\n')
}

// jsonRequest is a request read from a JSON line.
type jsonRequest struct {
	ID     json.RawMessage // nil when absent or null, but for JSON-RPC
	Text   string
	Family string
	// RPC marks a JSON-RPC 2.0 request, answered in kind; Notify one
	// without an "id", which gets no answer.
	RPC, Notify bool
}

type jsonAnswer struct {
	ID     json.RawMessage `json:"id"`
	Text   string          `json:"text"`
	Cipher string          `json:"cipher"`
	Key    string          `json:"key"`
	Score  float64         `json:"score"`
}

type jsonPartial struct {
	ID      json.RawMessage `json:"id"`
	Partial bool            `json:"partial"`
	Text    string          `json:"text"`
}

type jsonError struct {
	ID    json.RawMessage `json:"id"`
	Error string          `json:"error"`
}

type rpcResult struct {
	Text   string  `json:"text"`
	Cipher string  `json:"cipher"`
	Key    string  `json:"key"`
	Score  float64 `json:"score"`
}

type rpcErrorObject struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type rpcAnswer struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  *rpcResult      `json:"result,omitempty"`
	Error   *rpcErrorObject `json:"error,omitempty"`
}

// JSON-RPC 2.0 error codes.
const (
	rpcInvalidRequest = -32600
	rpcMethodNotFound = -32601
	rpcInvalidParams  = -32602
)

// rpcError is a bad JSON-RPC request: its message and its error code.
type rpcError struct {
	code int
	msg  string
}

func (e *rpcError) Error() string { return e.msg }

// answerJSON answers req, or bad, the error that made it a bad request, on
// one line (after partial messages under Verbose).
func answerJSON(ctx context.Context, w *bufio.Writer, req jsonRequest, bad error, o ServeOptions) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // answers are read by programs, not pasted into HTML
	fail := func(err error) error {
		if !req.RPC {
			return enc.Encode(jsonError{ID: req.ID, Error: err.Error()})
		}
		code := rpcInvalidParams // a family that does not exist
		var re *rpcError
		if errors.As(err, &re) {
			code = re.code
		}
		return enc.Encode(rpcAnswer{JSONRPC: "2.0", ID: req.ID, Error: &rpcErrorObject{Code: code, Message: err.Error()}})
	}
	if req.Notify {
		return nil // nothing to say, and no one to say it to
	}
	if bad != nil {
		return fail(bad)
	}
	family := o.Family
	if req.Family != "" {
		family = req.Family
	}
	var progress func([]byte)
	var werr error
	if o.Verbose && !req.RPC {
		progress = func(text []byte) {
			err := enc.Encode(jsonPartial{ID: req.ID, Partial: true, Text: string(text)})
			if err == nil {
				err = w.Flush()
			}
			if err != nil && werr == nil {
				werr = err
			}
		}
	}
	res, err := decrypt(ctx, []byte(req.Text), family, progress)
	if err != nil {
		return fail(err)
	}
	if werr != nil {
		return werr
	}
	if req.RPC {
		return enc.Encode(rpcAnswer{JSONRPC: "2.0", ID: req.ID, Result: &rpcResult{Text: res.Text, Cipher: res.Cipher, Key: res.Key, Score: res.Score}})
	}
	return enc.Encode(jsonAnswer{ID: req.ID, Text: res.Text, Cipher: res.Cipher, Key: res.Key, Score: res.Score})
}

// jsonRequestFields returns the members of line if it is a JSON request,
// else nil. A JSON request is a JSON object, with only JSON whitespace
// around it, that has a "text", an "id" or a "jsonrpc" member: "text" with
// any value, so that {"id":1,"text":42} gets an error with its id rather
// than a decryption.
//
// No ciphertext of a realistic plaintext is one. The shift ciphers move
// '"', ':' and '}' (the original one keeps '{', which is not in its
// alphabet), so a JSON ciphertext would need a plaintext with
// other punctuation where the JSON's is, which no prose has. Caesar and
// substitution keep all but letters, so they turn a JSON plaintext into a
// JSON ciphertext, but with its member names encrypted: "text" or "id" only
// if the key leaves those letters as they are (Caesar only with shift 0,
// when the line is its own plaintext; a random substitution key, for "id",
// once in 650), and "jsonrpc" is no word.
func jsonRequestFields(line []byte) map[string]json.RawMessage {
	i := 0
	for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n') {
		i++
	}
	if i == len(line) || line[i] != '{' {
		return nil // the common case, decided without parsing
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(line, &fields) != nil {
		return nil
	}
	for _, name := range []string{"text", "id", "jsonrpc"} {
		if _, ok := fields[name]; ok {
			return fields
		}
	}
	return nil
}

// parseRequest reads a JSON request. On error the returned request still
// carries the id when one can be found, so the client can match the error
// to its request.
func parseRequest(line []byte) (jsonRequest, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		req := jsonRequest{ID: recoverID(line)}
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || len(bytes.TrimSpace(line)) == 0 {
			return req, fmt.Errorf("malformed JSON request: %v", err)
		}
		return req, errors.New(`request is not a JSON object; send {"id":1,"text":"..."}`)
	}
	return requestOf(fields)
}

// requestOf reads a request from the members of a JSON object; errors are
// as parseRequest's.
func requestOf(fields map[string]json.RawMessage) (jsonRequest, error) {
	if _, ok := fields["jsonrpc"]; ok {
		return rpcRequestOf(fields)
	}
	var req jsonRequest
	if id, ok := fields["id"]; ok && !bytes.Equal(id, []byte("null")) {
		req.ID = id
	}
	text, ok := fields["text"]
	if !ok {
		return req, errors.New(`request has no "text"`)
	}
	if err := json.Unmarshal(text, &req.Text); err != nil {
		return req, errors.New(`request "text" is not a string`)
	}
	if f, ok := fields["family"]; ok {
		if err := json.Unmarshal(f, &req.Family); err != nil {
			return req, errors.New(`request "family" is not a string`)
		}
	}
	return req, nil
}

// rpcRequestOf reads a JSON-RPC 2.0 request; its errors are *rpcError. The
// id is echoed as given, null included, as JSON-RPC wants; a request that
// is not valid JSON-RPC is answered even without an id (with "id":null),
// as JSON-RPC also wants, and a valid one without an id is a notification.
func rpcRequestOf(fields map[string]json.RawMessage) (jsonRequest, error) {
	req := jsonRequest{RPC: true}
	id, hasID := fields["id"]
	req.ID = id
	var version, method string
	if json.Unmarshal(fields["jsonrpc"], &version) != nil || version != "2.0" {
		return req, &rpcError{rpcInvalidRequest, `"jsonrpc" must be "2.0"`}
	}
	if json.Unmarshal(fields["method"], &method) != nil {
		return req, &rpcError{rpcInvalidRequest, `request has no "method" string; use "decrypt"`}
	}
	req.Notify = !hasID
	if method != "decrypt" {
		return req, &rpcError{rpcMethodNotFound, fmt.Sprintf(`method %q not found; use "decrypt"`, method)}
	}
	var params map[string]json.RawMessage
	if json.Unmarshal(fields["params"], &params) != nil || params == nil {
		return req, &rpcError{rpcInvalidParams, `"params" must be an object {"text":"..."}`}
	}
	text, ok := params["text"]
	if !ok {
		return req, &rpcError{rpcInvalidParams, `"params" has no "text"`}
	}
	if json.Unmarshal(text, &req.Text) != nil {
		return req, &rpcError{rpcInvalidParams, `"params" "text" is not a string`}
	}
	if f, ok := params["family"]; ok {
		if json.Unmarshal(f, &req.Family) != nil {
			return req, &rpcError{rpcInvalidParams, `"params" "family" is not a string`}
		}
	}
	return req, nil
}

// recoverID finds the value of a top-level-looking "id" key in a line that
// is not valid JSON as a whole, e.g. {"id":7,"text":"unterminated.
func recoverID(line []byte) json.RawMessage {
	s := string(line)
	for i := strings.Index(s, `"id"`); i >= 0; {
		rest := strings.TrimLeft(s[i+len(`"id"`):], " \t\r")
		if v, ok := strings.CutPrefix(rest, ":"); ok {
			var id json.RawMessage
			if json.NewDecoder(strings.NewReader(v)).Decode(&id) == nil && string(id) != "null" {
				return id
			}
		}
		j := strings.Index(s[i+1:], `"id"`)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return nil
}
