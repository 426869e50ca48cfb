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
	// ends.
	Marker    string
	UseMarker bool
	// JSONL reads requests {"id":ID,"text":"..."} (optionally "family") and
	// writes answers {"id":ID,"text":...,"cipher":...,"key":...,"score":...},
	// or {"id":ID,"error":"..."} for a bad request.
	JSONL bool
}

// progressPrefix starts a verbose progress line in the plain protocol.
const progressPrefix = "... best so far: "

// Serve answers ciphertext lines read from in until EOF, one answer per
// line, flushed at once. It returns nil at EOF, ctx.Err() when ctx is done,
// or the error that stopped reading or writing.
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
				err = answerJSON(ctx, w, r.line, o)
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

type jsonRequest struct {
	ID     json.RawMessage
	Text   string
	Family string
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

func answerJSON(ctx context.Context, w *bufio.Writer, line []byte, o ServeOptions) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // answers are read by programs, not pasted into HTML
	req, err := parseRequest(line)
	if err != nil {
		return enc.Encode(jsonError{ID: req.ID, Error: err.Error()})
	}
	family := o.Family
	if req.Family != "" {
		family = req.Family
	}
	var progress func([]byte)
	var werr error
	if o.Verbose {
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
		return enc.Encode(jsonError{ID: req.ID, Error: err.Error()})
	}
	if werr != nil {
		return werr
	}
	return enc.Encode(jsonAnswer{ID: req.ID, Text: res.Text, Cipher: res.Cipher, Key: res.Key, Score: res.Score})
}

// parseRequest reads a JSON request. On error the returned request still
// carries the id when one can be found, so the client can match the error
// to its request.
func parseRequest(line []byte) (jsonRequest, error) {
	var req jsonRequest
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		req.ID = recoverID(line)
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || len(bytes.TrimSpace(line)) == 0 {
			return req, fmt.Errorf("malformed JSON request: %v", err)
		}
		return req, errors.New(`request is not a JSON object; send {"id":1,"text":"..."}`)
	}
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
