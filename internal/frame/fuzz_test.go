package frame

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"testing"
	"unicode/utf8"
)

var readyRE = regexp.MustCompile(`^ready`)

// fuzzOptions picks options from the bits of cfg.
func fuzzOptions(cfg uint16) Options {
	o := Options{
		Mode:           Mode(cfg & 3),
		MarkerPartials: cfg&4 != 0,
		SkipLines:      int(cfg>>3) & 3,
	}
	if cfg&32 != 0 {
		o.Ready = readyRE
	}
	o.MaxMessage = [4]int{0, 8, 64, 0}[(cfg>>6)&3]
	if cfg&256 != 0 {
		o.Marker = "END"
	}
	return o
}

// FuzzDecoder checks that any stream, split anywhere, decodes as in one
// Feed, without panicking, and that every byte lands in exactly one
// message, in order.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte("a\nb\r\nc"), uint16(1), []byte{1, 2, 3})
	f.Add([]byte("a\n\nb\nEND\r\nc"), uint16(2|4|256), []byte{0, 5})
	f.Add([]byte("ready\nbanner\n"), uint16(1|8|32), []byte{4})
	f.Add([]byte("{\"id\":1,\"partial\":true}\n{\"id\":\"\\u00e9\"}\nnot json\n{\"id\":null}\n"), uint16(3), []byte{7, 1, 30})
	f.Add([]byte("0123456789\n01234567\n"), uint16(1|64), []byte{9})
	f.Add([]byte("\xff\xfe\n{\"id\":\"\xe6\x97\xa5\"}"), uint16(3|128), []byte{1, 1, 1})
	f.Fuzz(func(t *testing.T, stream []byte, cfg uint16, cuts []byte) {
		o := fuzzOptions(cfg)
		var chunks [][]byte
		rest := stream
		for _, c := range cuts {
			n := min(int(c)%32, len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		chunks = append(chunks, rest)

		split, splitErr := decode(o, chunks...)
		if o.Mode == Raw {
			var all []byte
			for _, m := range split {
				if m.Kind != Event || len(m.Data) == 0 {
					t.Fatalf("raw message %+v", m)
				}
				all = append(all, m.Data...)
			}
			if splitErr != nil || !bytes.Equal(all, stream) {
				t.Fatalf("raw: got %q, %v", all, splitErr)
			}
			return
		}
		whole, wholeErr := decode(o, stream)
		if (splitErr == nil) != (wholeErr == nil) || !sameMsgs(toMsgs(split), toMsgs(whole)) {
			t.Fatalf("split %q:\n%v, %v\none Feed:\n%v, %v", chunks, toMsgs(split), splitErr, toMsgs(whole), wholeErr)
		}
		if wholeErr != nil && !errors.Is(wholeErr, ErrTooLong) {
			t.Fatalf("error %v is not ErrTooLong", wholeErr)
		}
		checkMessages(t, o, stream, whole, wholeErr == nil)
	})
}

// checkMessages checks the messages decoded from stream against the
// framing's rules; complete says the stream was decoded to its end.
func checkMessages(t *testing.T, o Options, stream []byte, ms []Message, complete bool) {
	t.Helper()
	lines := bytes.Split(stream, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // a final "\n" ends a line, starts none
	}
	isMarker := func(b []byte) bool { return string(b) == o.Marker || string(b) == o.Marker+"\r" }
	k := 0 // lines[k] is the next line to account for
	var answer [][]byte
	for i, m := range ms {
		if o.MaxMessage > 0 && len(m.Data) > o.MaxMessage {
			t.Fatalf("message %d has %d bytes, over the cap %d", i, len(m.Data), o.MaxMessage)
		}
		if (m.Key != "") != (o.Mode == JSONL && (m.Kind == Answer || m.Kind == Partial)) {
			t.Fatalf("message %d: key %q for a %v in %v mode", i, m.Key, m.Kind, o.Mode)
		}
		if m.NotJSON && (o.Mode != JSONL || m.Kind != Event) {
			t.Fatalf("message %d: NotJSON %v in %v mode", i, m.Kind, o.Mode)
		}
		if k >= len(lines) && !(m.Kind == Unfinished && o.MarkerPartials) {
			t.Fatalf("message %d: more messages than lines", i)
		}
		switch {
		case m.Kind == Banner || m.Kind == Ready:
			if len(answer) > 0 || !bytes.Equal(m.Data, lines[k]) {
				t.Fatalf("message %d: banner %q, line %d is %q", i, m.Data, k, lines[k])
			}
			k++
		case o.Mode == Line && m.Kind == Answer, o.Mode == JSONL && m.Kind != Unfinished:
			if !bytes.Equal(m.Data, lines[k]) {
				t.Fatalf("message %d: %v %q, line %d is %q", i, m.Kind, m.Data, k, lines[k])
			}
			if o.Mode == JSONL {
				checkJSONL(t, m)
			}
			k++
		case o.Mode == Marker && m.Kind == Partial:
			if !o.MarkerPartials || isMarker(lines[k]) || !bytes.Equal(m.Data, lines[k]) {
				t.Fatalf("message %d: partial %q, line %d is %q", i, m.Data, k, lines[k])
			}
			answer = append(answer, lines[k])
			k++
		case o.Mode == Marker && (m.Kind == Answer || m.Kind == Unfinished):
			if !o.MarkerPartials {
				for k < len(lines) && !isMarker(lines[k]) {
					answer = append(answer, lines[k])
					k++
				}
			}
			if want := bytes.Join(answer, []byte("\n")); !bytes.Equal(m.Data, want) {
				t.Fatalf("message %d: %v %q; want %q", i, m.Kind, m.Data, want)
			}
			answer = nil
			if m.Kind == Answer {
				if k >= len(lines) || !isMarker(lines[k]) {
					t.Fatalf("message %d: answer not followed by a marker", i)
				}
				k++
			} else if k != len(lines) {
				t.Fatalf("message %d: unfinished answer before the end", i)
			}
		default:
			t.Fatalf("message %d: %v in %v mode", i, m.Kind, o.Mode)
		}
	}
	if complete && k != len(lines) {
		t.Fatalf("%d lines, %d accounted for", len(lines), k)
	}
}

// checkJSONL checks how m was classified against encoding/json.
func checkJSONL(t *testing.T, m Message) {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(m.Data, &obj); err != nil || obj == nil {
		if !m.NotJSON {
			t.Fatalf("%q is not a JSON object (%v) but not marked NotJSON", m.Data, err)
		}
		return
	}
	want := Event
	id := obj["id"]
	if len(id) > 0 && (id[0] == '"' || id[0] == '-' || '0' <= id[0] && id[0] <= '9') {
		want = Answer
		var partial bool
		if json.Unmarshal(obj["partial"], &partial) == nil && partial {
			want = Partial
		}
	}
	if m.NotJSON || m.Kind != want {
		t.Fatalf("%q decoded as %v (NotJSON %v); want %v", m.Data, m.Kind, m.NotJSON, want)
	}
	if want == Event {
		return
	}
	wantKey := string(id)
	if id[0] == '"' {
		var s string
		_ = json.Unmarshal(id, &s)
		wantKey = string(appendQuoted(nil, []byte(s)))
	}
	if m.Key != wantKey {
		t.Fatalf("%q has key %q; want %q", m.Data, m.Key, wantKey)
	}
}

// FuzzEncodeJSONL checks that any line is either refused as a bad request
// or encoded as one line of valid JSON with an "id" whose key an answer
// echoing that id, or the request itself, matches.
func FuzzEncodeJSONL(f *testing.F) {
	for _, s := range []string{"hello", "", "  ", `say "hi"`, "tab\tnl\n", "\xff\xfe", "日本", `{"text":"x"}`, `{}`,
		`{"id":"\u00e9"}`, `{"id":1.5}`, `{"id":null}`, `[1]`, `[x`, `{"a":` + "\n1}", `{"partial":true}`, `{"\u0069d":"x"}`, `{"jsonrpc":"2.0","method":"n"}`} {
		f.Add([]byte(s), uint64(1))
	}
	f.Add([]byte("x"), uint64(1<<64-1))
	f.Fuzz(func(t *testing.T, line []byte, seq uint64) {
		out, key, err := EncodeRequest(nil, Options{Mode: JSONL}, seq, line)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) || out != nil {
				t.Fatalf("error %v, out %q", err, out)
			}
			if tl := trimSpace(line); len(tl) == 0 || tl[0] != '{' && tl[0] != '[' {
				t.Fatalf("plain text refused: %v", err)
			}
			return
		}
		body, ok := bytes.CutSuffix(out, []byte("\n"))
		if !ok || bytes.ContainsAny(body, "\r\n") || !json.Valid(body) || !utf8.Valid(body) {
			t.Fatalf("not one line of valid JSON: %q", out)
		}
		var req map[string]json.RawMessage
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("not an object: %q: %v", out, err)
		}
		id, ok := req["id"]
		if _, method := req["method"]; !ok && key == "" && method {
			return // a notification: sent as is, no answer awaited
		}
		if !ok || key == "" {
			t.Fatalf("no id in %q, key %q", out, key)
		}
		if tl := trimSpace(line); len(tl) == 0 || tl[0] != '{' {
			// Plain text: the line itself, with invalid UTF-8 replaced as
			// encoding/json does, and the sequence number as id.
			var got, want string
			wantJSON, _ := json.Marshal(string(line))
			if len(req) != 2 || json.Unmarshal(req["text"], &got) != nil || json.Unmarshal(wantJSON, &want) != nil || got != want {
				t.Fatalf("plain text %q encoded as %q", line, out)
			}
			if key != strconv.FormatUint(seq, 10) {
				t.Fatalf("key %q for seq %d", key, seq)
			}
		}
		for _, answer := range [][]byte{[]byte(`{"id":` + string(id) + `,"result":null}`), body} {
			ms, err := NewDecoder(Options{Mode: JSONL}).Feed(append(answer, '\n'))
			if err != nil || len(ms) != 1 || ms[0].Key != key || ms[0].Kind != Answer && ms[0].Kind != Partial {
				t.Fatalf("answer %q to request %q (key %q) decodes to %+v, %v", answer, out, key, ms, err)
			}
		}
	})
}
