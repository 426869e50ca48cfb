// Package replay sends the inputs of recorded requests to a child again and
// compares its new answers with the recorded ones: a regression test of a
// model, whose golden file is what `pipecli run --json` wrote.
package replay

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"github.com/pipecli/pipecli/internal/session"
)

// Record is one request as `pipecli run --json` recorded it, or as any JSON
// line with an "input" and an "output" gives it.
type Record struct {
	Line  int    // its line in the file, from 1
	Input string // the line to send, without its line end
	// Output is the recorded "output", compacted: a JSON string (the
	// answer's text), in jsonl the answer's object, with partial messages
	// an array of them all, the answer last; null when there was none.
	Output json.RawMessage
	// Exact is the recorded "output_base64", decoded: the answer's bytes,
	// which Output holds with U+FFFD where they are not UTF-8 (line and
	// marker framing); nil if there is none.
	Exact []byte
	// Err is the recorded "error": why the request failed then; nil if it
	// was answered.
	Err *string
	// LatencyMS is the recorded "latency_ms", nil if there is none.
	LatencyMS    *float64
	Notification bool // jsonl: it expected no answer
	// Framing is the recorded "framing": the flags of the run that made
	// it; nil if it has none (an older pipecli's, another tool's).
	Framing *session.FramingFlags

	members []field // the line's members, in order, for Update
}

// field is one member of a record's JSON object.
type field struct {
	key   string
	value json.RawMessage
}

// Records are the records of a file, with what Update needs to write it
// again as it was, but for the records it changes.
type Records struct {
	Path string // as given; "-" is stdin
	List []*Record
	// JSONL reports whether the recorded answers are JSON objects, as in
	// a run with --framing jsonl: then a replay with no framing flag
	// speaks jsonl.
	JSONL bool

	bom   bool
	lines []line // every line of the file, blank ones too
}

// line is one line of a records file, as it was read.
type line struct {
	text []byte // without its line end
	eol  string // "\n", "\r\n" or "" (the last line, unended)
	rec  *Record
}

// BadInput says why a records file cannot be replayed: it cannot be read,
// holds no records, or a line of it is no record.
type BadInput struct {
	Path string
	Line int // from 1; 0 when it is about the whole file
	Why  string
}

func (e *BadInput) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.Path, e.Why)
	}
	return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Why)
}

// recordShape is said after each complaint about a line.
const recordShape = `each line must be a record as 'pipecli run --json' writes it, {"input":"...","output":...}`

// Load reads the records at path; "-" reads them from stdin.
func Load(path string, stdin io.Reader) (*Records, error) {
	var (
		data []byte
		err  error
	)
	if path == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is said once, by BadInput
		}
		return nil, &BadInput{Path: path, Why: fmt.Sprintf("cannot read the records: %v", err)}
	}
	return Parse(path, data)
}

// Parse reads records from data, the contents of the file called path: one
// JSON object a line; blank lines are passed over. A UTF-8 byte order mark
// and CRLF line ends are allowed, and kept by Update.
func Parse(path string, data []byte) (*Records, error) {
	rs := &Records{Path: path}
	if rest, ok := bytes.CutPrefix(data, []byte("\uFEFF")); ok {
		rs.bom, data = true, rest
	}
	objects := 0
	for n := 1; len(data) > 0; n++ {
		text, rest, found := bytes.Cut(data, []byte("\n"))
		l := line{text: text}
		if found {
			l.eol = "\n"
			if t, ok := bytes.CutSuffix(text, []byte("\r")); ok {
				l.text, l.eol = t, "\r\n"
			}
		}
		data = rest
		if len(bytes.TrimSpace(l.text)) > 0 {
			rec, err := parseRecord(l.text)
			if err != nil {
				return nil, &BadInput{Path: path, Line: n, Why: err.Error()}
			}
			rec.Line, l.rec = n, rec
			rs.List = append(rs.List, rec)
			if final(rec.Output, true)[0] == '{' {
				objects++
			}
		}
		rs.lines = append(rs.lines, l)
	}
	if len(rs.List) == 0 {
		return nil, &BadInput{Path: path, Why: "holds no records; make them with 'pipecli run --json --file INPUT -- CMD > RECORDS'"}
	}
	rs.JSONL = objects > 0
	return rs, nil
}

// parseRecord reads one record from a line that is not blank.
func parseRecord(text []byte) (*Record, error) {
	if !json.Valid(text) {
		err := json.Unmarshal(text, new(json.RawMessage))
		return nil, fmt.Errorf("not JSON (%v); %s", err, recordShape)
	}
	if t := bytes.TrimSpace(text); t[0] != '{' {
		return nil, fmt.Errorf("a JSON %s, not an object; %s", kind(t), recordShape)
	}
	ms, err := members(text)
	if err != nil {
		return nil, fmt.Errorf("%v; %s", err, recordShape)
	}
	rec := &Record{members: ms}
	var input, input64, output, output64, failure json.RawMessage
	for _, m := range ms {
		switch m.key {
		case "input":
			input = m.value
		case "input_base64":
			input64 = m.value
		case "output":
			output = m.value
		case "output_base64":
			output64 = m.value
		case "error":
			failure = m.value
		case "latency_ms":
			var f float64
			if json.Unmarshal(m.value, &f) == nil {
				rec.LatencyMS = &f
			}
		case "notification":
			rec.Notification = string(m.value) == "true"
		case "framing":
			ff, err := parseFraming(m.value)
			if err != nil {
				return nil, err
			}
			rec.Framing = ff
		}
	}
	switch {
	case input == nil:
		return nil, fmt.Errorf(`no "input"; %s`, recordShape)
	case input[0] == '"':
		_ = json.Unmarshal(input, &rec.Input) // valid: checked above
	case input[0] == '{':
		var b bytes.Buffer
		_ = json.Compact(&b, input)
		rec.Input = b.String() // one line: JSON escapes newlines in strings
	default:
		return nil, fmt.Errorf(`"input" is a JSON %s; it must be a string, the line to send (or, for jsonl, an object)`, kind(input))
	}
	if input64 != nil {
		// The line as it was sent, which "input" holds with U+FFFD for
		// the bytes that are not UTF-8.
		raw, err := decodeBase64(input64)
		if err != nil {
			return nil, fmt.Errorf(`"input_base64" %w: it must be the input as it was sent, as 'pipecli run --json' writes it`, err)
		}
		rec.Input = string(raw)
	}
	if output64 != nil {
		// The answer as it came, which "output" holds with U+FFFD.
		raw, err := decodeBase64(output64)
		if err != nil {
			return nil, fmt.Errorf(`"output_base64" %w: it must be the answer as it came, as 'pipecli run --json' writes it`, err)
		}
		rec.Exact = raw
	}
	switch {
	case strings.Contains(rec.Input, "\n"):
		return nil, fmt.Errorf(`the input holds a newline, so it cannot be sent as one line; make it a record of its own for each line`)
	case strings.HasSuffix(rec.Input, "\r"):
		return nil, fmt.Errorf(`the input ends with a carriage return, which would be taken for part of its line end and not sent; remove it`)
	}
	if failure != nil && failure[0] != 'n' {
		if failure[0] != '"' {
			return nil, fmt.Errorf(`"error" is a JSON %s; it must be a string (why the request failed) or null`, kind(failure))
		}
		var e string
		_ = json.Unmarshal(failure, &e)
		rec.Err = &e
	}
	if output == nil {
		if rec.Err == nil && !rec.Notification {
			return nil, fmt.Errorf(`no "output": give the answer expected ("output":null for none)`)
		}
		output = json.RawMessage("null")
	}
	rec.Output = output
	return rec, nil
}

// decodeBase64 decodes v, a JSON string of standard base64; null is none.
func decodeBase64(v json.RawMessage) ([]byte, error) {
	if string(v) == "null" {
		return nil, nil
	}
	var b64 string
	if err := json.Unmarshal(v, &b64); err != nil {
		return nil, fmt.Errorf("is a JSON %s, not base64 in a string", kind(v))
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("is not base64 (%w)", err)
	}
	return raw, nil
}

// members returns the members of obj, a valid JSON object, in order, their
// values compacted.
func members(obj []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	var ms []field
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		var b bytes.Buffer
		if err := json.Compact(&b, v); err != nil {
			return nil, err
		}
		ms = append(ms, field{key: key, value: b.Bytes()})
	}
	return ms, nil
}

// kind names the type of a JSON value, for messages.
func kind(v []byte) string {
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// Inputs returns the records' inputs, one a line: what is sent.
func (rs *Records) Inputs() io.Reader {
	var b bytes.Buffer
	for _, r := range rs.List {
		b.WriteString(r.Input)
		b.WriteByte('\n')
	}
	return &b
}

// Framing returns the framing flags the records carry, which a replay
// with no framing flag uses: nil if none carries any (an older pipecli's,
// another tool's); records without are passed over. Records that carry
// different ones are a *BadInput: no one framing replays them all.
func (rs *Records) Framing() (*session.FramingFlags, error) {
	var first *Record
	for _, rec := range rs.List {
		switch {
		case rec.Framing == nil:
		case first == nil:
			first = rec
		case !reflect.DeepEqual(rec.Framing, first.Framing):
			return nil, &BadInput{Path: rs.Path, Line: rec.Line, Why: fmt.Sprintf("made with other framing flags (%s) than line %d (%s); replay them apart, or give the framing flags to use", FlagsText(rec.Framing), first.Line, FlagsText(first.Framing))}
		}
	}
	if first == nil {
		return nil, nil
	}
	return first.Framing, nil
}

// parseFraming reads a record's "framing", as 'pipecli run --json' writes
// it: null is none.
func parseFraming(v json.RawMessage) (*session.FramingFlags, error) {
	if string(v) == "null" {
		return nil, nil
	}
	const shape = `it must be the framing flags the record was made with, {"mode":"line"} or {"mode":"marker","marker":"...","sentinel":"..."}`
	var ff session.FramingFlags
	if v[0] != '{' || json.Unmarshal(v, &ff) != nil {
		return nil, fmt.Errorf(`"framing" is not what 'pipecli run --json' writes: %s`, shape)
	}
	switch ff.Mode {
	case "line", "marker", "jsonl":
	default:
		return nil, fmt.Errorf(`"framing" has mode %q, which replay cannot use; %s`, ff.Mode, shape)
	}
	if ff.Mode == "marker" && ff.Marker == nil && ff.MarkerRegexp == nil && ff.Prompt == nil {
		return nil, fmt.Errorf(`"framing" has mode marker but no "marker", "marker_regexp" or "prompt" to say what ends an answer`)
	}
	return &ff, nil
}

// FlagsText is ff as the flags to give on a command line, quoted for a
// shell where they need it.
func FlagsText(ff *session.FramingFlags) string {
	args := ff.Args()
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return strings.Join(args, " ")
}

// shellQuote quotes s for a POSIX shell, unless it needs none.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=+.,/:@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// lineHint is what CheckLine suggests when the records do not say how
// they were made: the framing of a REPL that answers some lines with
// nothing, as in README's examples.
const lineHint = "such as --framing marker --marker --END-- --sentinel '.print --END--' for sqlite3, or --prompt REGEXP"

// CheckLine tells, before anything is sent, whether line framing can
// replay the records: a record it cannot have made would be given another
// record's answer, and the records after it too, and the changes would be
// blamed on the child. A recorded text answer that holds a newline cannot
// be one line. An empty one to an input that is not empty is what a REPL
// that answers nothing leaves with a marker; line framing would wait for
// a line, the next record's answer. As a child may answer with an empty
// line, that is told only when guessed: line framing was picked for want
// of other, neither given nor carried by the records. The error is a
// *BadInput for the first such record.
func (rs *Records) CheckLine(guessed bool) error {
	for _, rec := range rs.List {
		var out string
		if rec.Err != nil || rec.Output[0] != '"' || json.Unmarshal(rec.Output, &out) != nil {
			continue // no text answer: a failure, or not text
		}
		var why string
		switch {
		case strings.Contains(out, "\n"):
			why = fmt.Sprintf("the recorded output holds %d lines, which line framing cannot have recorded", strings.Count(out, "\n")+1)
		case guessed && out == "" && rec.Input != "":
			why = "the recorded output is empty, as when a REPL answers nothing, and line framing would take the next line it writes for it"
		default:
			continue
		}
		hint := lineHint
		if rec.Framing != nil && rec.Framing.Mode != "line" {
			hint = "it says " + FlagsText(rec.Framing)
		}
		why += fmt.Sprintf(": replayed so, records would get each other's answers; give the framing flags the records were made with (%s)", hint)
		if out == "" {
			why += ", or --framing line if the child answers this input with an empty line"
		}
		return &BadInput{Path: rs.Path, Line: rec.Line, Why: why}
	}
	return nil
}
