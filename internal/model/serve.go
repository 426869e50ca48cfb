package model

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
)

// Serve runs three kinds of goroutine, one reader, Workers workers and the
// writer, which is Serve's own:
//
//	read ──jobs──▶ work ×Workers ──done──▶ Serve writes ──▶ out
//	  ▲                                        │
//	  └──────────────── slots ◀────────────────┘
//
// The reader takes a slot for each line it reads and the writer gives it
// back once the line's answer is written, so that no more than 2×Workers
// lines are read and not yet answered (and one more in the reader's hands):
// memory stays bounded whatever the input's size, even when the lines
// behind a slow one are done and wait for it, their answers being in input
// order. An answer written as soon as it is ready (job.early) frees its
// slot at once.

// ServeOptions configures Serve.
type ServeOptions struct {
	Family string // auto (or ""), shift or substitution
	// Verbose writes a few progress guesses before each answer: lines
	// starting with "... best so far: " or, with JSONL, partial messages.
	Verbose bool
	// UseMarker ends each answer with a line equal to Marker, which may be
	// empty, so a client can tell where an answer spanning several lines
	// ends; an answer line equal to the marker is written as U+FFFD
	// instead. It ends every answer, in whichever protocol the request was
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
	// Workers is how many lines are solved at once; 0 means GOMAXPROCS.
	// A line takes 10-50 ms of CPU, and batches come with cores to spare.
	Workers int

	// solve breaks one line; nil means decrypt. Tests fake it to decide
	// when each line is done.
	solve func(ctx context.Context, line []byte, family string, progress func([]byte)) (Result, error)
}

// progressPrefix starts a verbose progress line in the plain protocol.
const progressPrefix = "... best so far: "

// Serve answers ciphertext lines read from in until EOF, one answer per
// line, up to o.Workers lines at once. It returns nil at EOF, once every
// line read is answered, ctx.Err() when ctx is done, or the error that
// stopped reading or writing.
//
// Answers are written in input order, but for JSON answers that carry an
// id (not null) when there is no marker: those are written as soon as they
// are ready, so that a client with several requests in flight gets each
// answer when it can, and matches it by its id. Each answer is written in
// one piece, its progress lines or partial messages first; the writer
// flushes whenever it has nothing more to write, so a lone line gets its
// answer at once.
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
// The workers have ended when Serve returns. The reader has not always:
// it runs in its own goroutine so that a cancelled ctx ends Serve even
// while in blocks, and an io.Reader cannot be interrupted. It stops at its
// next line, or when its pending Read returns, which closing in brings
// about; the caller owns in and closes it.
func Serve(ctx context.Context, in io.Reader, out io.Writer, o ServeOptions) error {
	family, err := checkFamily(o.Family)
	if err != nil {
		return err
	}
	o.Family = family
	if o.solve == nil {
		o.solve = decrypt
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ahead := 2 * workers // lines read and not yet answered, at most

	var wg sync.WaitGroup // the workers
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the workers, and the reader at its next line

	jobs := make(chan *job)
	done := make(chan *job, ahead) // room for every line in flight: workers never wait
	slots := make(chan struct{}, ahead)
	ended := make(chan readEnd, 1)
	go read(ctx, in, o, jobs, slots, ended)
	for range workers {
		wg.Go(func() { work(ctx, o, jobs, done) })
	}
	return write(ctx, out, done, slots, ended)
}

// A job is one request line on its way from the reader, through a worker,
// to the writer.
type job struct {
	// seq is the job's place among the answers written in input order, or
	// -1 for one written as soon as it is ready (see early).
	seq  int
	line []byte // the ciphertext of a plain request
	// json marks a JSON request: req, or bad, the error that made it a bad
	// one.
	json bool
	req  jsonRequest
	bad  error
	// out is the whole answer, progress and marker included, written in one
	// piece; err is what stopped answering.
	out bytes.Buffer
	err error
}

// newJob reads a request line. JSON requests are parsed here, in the
// reader, which must know whether their answers keep input order.
func newJob(line []byte, o ServeOptions) *job {
	j := &job{line: line}
	if o.JSONL {
		j.json = true
		j.req, j.bad = parseRequest(line)
	} else if fields := jsonRequestFields(line); fields != nil {
		j.json = true
		j.req, j.bad = requestOf(fields)
	}
	if j.json {
		j.line = nil // parsed into req
	}
	return j
}

// early reports whether j's answer is written as soon as it is ready: a JSON
// answer with an id, by which the client tells it from the others, when no
// marker is in use (a client that reads up to the marker counts answers).
func (j *job) early(o ServeOptions) bool {
	return j.json && !o.UseMarker && !j.req.Notify && j.req.ID != nil && !bytes.Equal(j.req.ID, []byte("null"))
}

// answer solves j and puts its whole answer in j.out.
func (j *job) answer(ctx context.Context, o ServeOptions) {
	if j.json {
		j.err = answerJSON(ctx, &j.out, j.req, j.bad, o)
	} else {
		j.err = answerPlain(ctx, &j.out, j.line, o)
	}
	if o.UseMarker {
		guardMarker(&j.out, o.Marker)
		j.out.WriteString(o.Marker)
		j.out.WriteByte('\n')
	}
	j.line = nil // the answer has it now
}

// markerStandIn is written instead of an answer line that equals the
// marker: a line of ciphertext can decrypt to it (a line of "\x1e", an
// empty line under an empty --marker), and the client would take it for the end
// of the answer, and every later answer for the wrong request's.
const markerStandIn = "\uFFFD"

// guardMarker replaces each line of the answer in b that equals marker
// with markerStandIn.
func guardMarker(b *bytes.Buffer, marker string) {
	if marker != "" && !bytes.Contains(b.Bytes(), []byte(marker)) {
		return
	}
	var out bytes.Buffer
	for line := range bytes.Lines(b.Bytes()) {
		if string(bytes.TrimSuffix(line, []byte("\n"))) == marker {
			out.WriteString(markerStandIn + "\n")
		} else {
			out.Write(line)
		}
	}
	*b = out
}

// readEnd is how reading ended: after lines lines, with err (io.EOF at the
// end of the input).
type readEnd struct {
	lines int
	err   error
}

// read reads request lines from in and hands them to the workers, each once
// it has a slot, until the input ends, which it then reports on ended, or
// ctx is done.
func read(ctx context.Context, in io.Reader, o ServeOptions, jobs chan<- *job, slots chan<- struct{}, ended chan<- readEnd) {
	br := bufio.NewReaderSize(in, 64<<10)
	n, seq := 0, 0
	for {
		line, err := readLine(br)
		if line != nil {
			j := newJob(line, o)
			j.seq = -1
			if !j.early(o) {
				j.seq = seq
				seq++
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- j:
				n++
			case <-ctx.Done():
				return
			}
		}
		if err != nil {
			ended <- readEnd{n, err}
			return
		}
	}
}

// work answers jobs until ctx is done.
func work(ctx context.Context, o ServeOptions, jobs <-chan *job, done chan<- *job) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-jobs:
			j.answer(ctx, o)
			done <- j
		}
	}
}

// write writes the answers of the jobs done to out, until every line read
// is answered or ctx is done. It flushes whenever no other answer is ready.
func write(ctx context.Context, out io.Writer, done <-chan *job, slots <-chan struct{}, ended <-chan readEnd) error {
	w := &writer{w: bufio.NewWriter(out), slots: slots, pending: make(map[int]*job)}
	answered, total := 0, -1 // total: lines read, once reading has ended
	var readErr error
	for total < 0 || answered < total {
		if err := ctx.Err(); err != nil {
			return err // at once, not after the answers that are ready
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-ended:
			total, readErr = e.lines, e.err
		case j := <-done:
			answered++
			if j.err != nil {
				return fmt.Errorf("answer request: %w", j.err)
			}
			err := w.put(j)
			if err == nil && len(done) == 0 {
				err = w.w.Flush()
			}
			if err != nil {
				return fmt.Errorf("write answer: %w", err)
			}
		}
	}
	if errors.Is(readErr, io.EOF) {
		return nil
	}
	return fmt.Errorf("read request: %w", readErr)
}

// writer puts answers in order: those that keep input order once all
// before them are written, the others as soon as they come.
type writer struct {
	w     *bufio.Writer
	slots <-chan struct{} // the reader's: one is freed per answer written
	// pending holds the answers that came before their turn, by seq; next
	// is the seq of the answer whose turn it is.
	pending map[int]*job
	next    int
}

// put writes j's answer, or keeps it in pending until its turn, and then
// writes every answer whose turn has come.
func (w *writer) put(j *job) error {
	if j.seq < 0 {
		return w.write(j)
	}
	w.pending[j.seq] = j
	for {
		j, ok := w.pending[w.next]
		if !ok {
			return nil
		}
		delete(w.pending, w.next)
		w.next++
		if err := w.write(j); err != nil {
			return err
		}
	}
}

// write writes j's answer and frees its slot.
func (w *writer) write(j *job) error {
	<-w.slots
	_, err := w.w.Write(j.out.Bytes())
	return err
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

// answerPlain puts the answer to a plain request in w: progress lines under
// Verbose, then the plaintext.
func answerPlain(ctx context.Context, w *bytes.Buffer, line []byte, o ServeOptions) error {
	var progress func([]byte)
	if o.Verbose {
		progress = func(text []byte) {
			// A guess spanning lines would read as several answers.
			w.WriteString(progressPrefix)
			w.Write(bytes.ReplaceAll(text, []byte("\n"), []byte(" ")))
			w.WriteByte('\n')
		}
	}
	res, err := o.solve(ctx, line, o.Family, progress)
	if err != nil {
		return err // cannot happen: the family was checked
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

// answerJSON puts in w the answer to req, or to bad, the error that made it
// a bad request: one line, after partial messages under Verbose.
func answerJSON(ctx context.Context, w *bytes.Buffer, req jsonRequest, bad error, o ServeOptions) error {
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
	var perr error
	if o.Verbose && !req.RPC {
		progress = func(text []byte) {
			if err := enc.Encode(jsonPartial{ID: req.ID, Partial: true, Text: string(text)}); err != nil && perr == nil {
				perr = err
			}
		}
	}
	res, err := o.solve(ctx, []byte(req.Text), family, progress)
	if err != nil {
		return fail(err)
	}
	if perr != nil {
		return perr
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
	line = bytes.TrimPrefix(line, []byte(byteOrderMark))
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

// byteOrderMark starts the first line of some editors' and Windows tools'
// UTF-8 files; JSON does not allow it, so it is dropped before parsing.
const byteOrderMark = "\ufeff"

// parseRequest reads a JSON request. On error the returned request still
// carries the id when one can be found, so the client can match the error
// to its request.
func parseRequest(line []byte) (jsonRequest, error) {
	line = bytes.TrimPrefix(line, []byte(byteOrderMark))
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
