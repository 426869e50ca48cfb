package frame

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseMode(t *testing.T) {
	for _, m := range []Mode{Raw, Line, Marker, JSONL} {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", m.String(), got, err, m)
		}
	}
	for _, s := range []string{"", "JSONL", "json", "lines"} {
		_, err := ParseMode(s)
		if err == nil || !strings.Contains(err.Error(), "raw, line, marker, jsonl") {
			t.Errorf("ParseMode(%q) error = %v; want one listing the modes", s, err)
		}
	}
	var m Mode
	if err := m.Set("marker"); err != nil || m != Marker || m.Type() != "framing" {
		t.Errorf("Set(marker) = %v, mode %v", err, m)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"zero", Options{}, true},
		{"empty marker", Options{Mode: Marker}, true},
		{"marker with newline", Options{Mode: Marker, Marker: "a\nb"}, false},
		{"newline ignored outside marker mode", Options{Mode: Line, Marker: "a\nb"}, true},
		{"negative cap", Options{Mode: Line, MaxMessage: -1}, false},
		{"negative skip", Options{Mode: Line, SkipLines: -1}, false},
		{"unknown mode", Options{Mode: 9}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v; want ok %v", err, tt.ok)
			}
			if err != nil {
				if _, ferr := NewDecoder(tt.o).Feed([]byte("x\n")); ferr == nil {
					t.Error("Feed with invalid options succeeded")
				}
			}
		})
	}
}

func TestEncodeRequest(t *testing.T) {
	tests := []struct {
		name string
		mode Mode
		line string
		want string // without the "\n"; "" with err
		key  string
		err  string // part of the error message
	}{
		{name: "raw", mode: Raw, line: "a b", want: "a b"},
		{name: "raw keeps newlines", mode: Raw, line: "a\nb", want: "a\nb"},
		{name: "line", mode: Line, line: "hello", want: "hello"},
		{name: "line empty", mode: Line, line: "", want: ""},
		{name: "line keeps CR", mode: Line, line: "a\r", want: "a\r"},
		{name: "line newline", mode: Line, line: "a\nb", err: "contains a newline"},
		{name: "marker", mode: Marker, line: "hello", want: "hello"},
		{name: "marker newline", mode: Marker, line: "a\n", err: "contains a newline"},

		{name: "text", mode: JSONL, line: "hello", want: `{"id":7,"text":"hello"}`, key: "7"},
		{name: "text empty", mode: JSONL, line: "", want: `{"id":7,"text":""}`, key: "7"},
		{name: "text spaces kept", mode: JSONL, line: "  hi ", want: `{"id":7,"text":"  hi "}`, key: "7"},
		{name: "text quotes", mode: JSONL, line: `say "hi" \o/`, want: `{"id":7,"text":"say \"hi\" \\o/"}`, key: "7"},
		{name: "text controls", mode: JSONL, line: "t\tn\nr\rb\bf\f\x01\x1f\x7f", want: `{"id":7,"text":"t\tn\nr\rb\bf\f\u0001\u001f` + "\x7f" + `"}`, key: "7"},
		{name: "text unicode", mode: JSONL, line: "héllo 日本 🎉 \u2028", want: `{"id":7,"text":"héllo 日本 🎉 ` + "\u2028" + `"}`, key: "7"},
		{name: "text invalid UTF-8", mode: JSONL, line: "\xff\xfeok\xe6\x97", want: `{"id":7,"text":"��ok��"}`, key: "7"},
		{name: "text number", mode: JSONL, line: "42", want: `{"id":7,"text":"42"}`, key: "7"},
		{name: "text JSON string", mode: JSONL, line: `"q"`, want: `{"id":7,"text":"\"q\""}`, key: "7"},
		{name: "text bracket", mode: JSONL, line: "[draft] hi", want: `{"id":7,"text":"[draft] hi"}`, key: "7"},
		{name: "array", mode: JSONL, line: " [1,2]", err: "a JSON array (a JSON-RPC batch?)"},
		{name: "notification", mode: JSONL, line: `{"jsonrpc":"2.0","method":"notify"}`, want: `{"jsonrpc":"2.0","method":"notify"}`, key: ""},
		{name: "notification with params", mode: JSONL, line: ` {"method":"m","params":{"id":1}}`, want: `{"method":"m","params":{"id":1}}`, key: ""},
		{name: "call with id is no notification", mode: JSONL, line: `{"method":"m","id":"a"}`, want: `{"method":"m","id":"a"}`, key: `"a"`},
		{name: "object", mode: JSONL, line: `{"text":"x"}`, want: `{"id":7,"text":"x"}`, key: "7"},
		{name: "object trimmed", mode: JSONL, line: " \t{\"a\":1} \r", want: `{"id":7,"a":1}`, key: "7"},
		{name: "object empty", mode: JSONL, line: `{}`, want: `{"id":7}`, key: "7"},
		{name: "object empty spaced", mode: JSONL, line: `{ }`, want: `{"id":7 }`, key: "7"},
		{name: "object nested id", mode: JSONL, line: `{"params":{"id":1}}`, want: `{"id":7,"params":{"id":1}}`, key: "7"},
		{name: "object multiline compacted", mode: JSONL, line: "{\"a\":\r\n 1,\n\"b\":\"x y\"}", want: `{"id":7,"a":1,"b":"x y"}`, key: "7"},
		{name: "object invalid UTF-8", mode: JSONL, line: "{\"a\":\"\xff\"}", want: `{"id":7,"a":"�"}`, key: "7"},
		{name: "id number kept", mode: JSONL, line: `{"jsonrpc":"2.0","id":42,"method":"m"}`, want: `{"jsonrpc":"2.0","id":42,"method":"m"}`, key: "42"},
		{name: "id float kept, keyed by value", mode: JSONL, line: `{"id": 1.5e3 }`, want: `{"id": 1.5e3 }`, key: "1500"},
		{name: "id string kept", mode: JSONL, line: `{"id":"abc"}`, want: `{"id":"abc"}`, key: `"abc"`},
		{name: "id string canonical", mode: JSONL, line: `{"id":"\u00e9\/"}`, want: `{"id":"\u00e9\/"}`, key: `"é/"`},
		{name: "id escaped key", mode: JSONL, line: `{"\u0069d":3}`, want: `{"\u0069d":3}`, key: "3"},
		{name: "id last wins", mode: JSONL, line: `{"id":1,"id":"two"}`, want: `{"id":1,"id":"two"}`, key: `"two"`},
		{name: "id null", mode: JSONL, line: `{"id":null}`, err: "not a number or a string"},
		{name: "id bool", mode: JSONL, line: `{"id":true}`, err: "not a number or a string"},
		{name: "id object", mode: JSONL, line: `{"id":{"a":1}}`, err: "not a number or a string"},
		{name: "bad JSON", mode: JSONL, line: `{"text":"x"`, err: "not valid JSON"},
		{name: "bad JSON key", mode: JSONL, line: `{text}`, err: "not valid JSON"},
		{name: "bad JSON trailing", mode: JSONL, line: `{} x`, err: "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("prev")
			out, key, err := EncodeRequest(dst, Options{Mode: tt.mode}, 7, []byte(tt.line))
			if tt.err != "" {
				if err == nil || !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v; want ErrBadRequest containing %q", err, tt.err)
				}
				if string(out) != "prev" {
					t.Errorf("out = %q on error; want dst unchanged", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(out), "prev"+tt.want+"\n"; got != want {
				t.Errorf("out = %q\nwant  %q", got, want)
			}
			if key != tt.key {
				t.Errorf("key = %q; want %q", key, tt.key)
			}
			if tt.mode == JSONL && !json.Valid(out[4:]) {
				t.Errorf("output is not valid JSON: %q", out)
			}
		})
	}
}

// TestEncodeDecodeKeys checks that a child echoing the id of a request, as
// it got it or re-encoded by a JSON library, answers that request.
func TestEncodeDecodeKeys(t *testing.T) {
	for _, line := range []string{"plain", `{"a":1}`, `{"id":"é"}`, `{"id":"\u00e9"}`, `{"id":-0.5}`, `{"id":"a\"b\\c\u0001"}`, `{"id":"\ud83c\udf89"}`} {
		out, key, err := EncodeRequest(nil, Options{Mode: JSONL}, 99, []byte(line))
		if err != nil {
			t.Fatal(err)
		}
		var req struct{ ID json.RawMessage }
		if err := json.Unmarshal(out, &req); err != nil {
			t.Fatal(err)
		}
		var v any
		_ = json.Unmarshal(req.ID, &v)
		reencoded, _ := json.Marshal(map[string]any{"id": v, "result": 1}) // escapes differently
		for _, answer := range []string{`{"id":` + string(req.ID) + `,"result":1}`, string(reencoded)} {
			msgs, err := NewDecoder(Options{Mode: JSONL}).Feed([]byte(answer + "\n"))
			if err != nil || len(msgs) != 1 || msgs[0].Kind != Answer || msgs[0].Key != key {
				t.Errorf("request %s (key %q): answer %s decodes to %+v, %v", line, key, answer, msgs, err)
			}
		}
	}
}
