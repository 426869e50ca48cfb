package model

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

func serve(t *testing.T, in string, o ServeOptions) string {
	t.Helper()
	var out bytes.Buffer
	if err := Serve(context.Background(), strings.NewReader(in), &out, o); err != nil {
		t.Fatalf("Serve(%+v): %v", o, err)
	}
	return out.String()
}

func TestServePlain(t *testing.T) {
	// "Hello world" under the original cipher, a newline, then Caesar.
	hello := "Ifmmp!xpsme" + " " + "Ifmmp!bhbjo"
	tests := []struct {
		name string
		in   string
		o    ServeOptions
		want string
	}{
		{"plain", hello + "\n", ServeOptions{}, "Hello world\nHello again\n"},
		{"no final newline", hello, ServeOptions{}, "Hello world\nHello again\n"},
		{"empty line", "\n\n", ServeOptions{}, "\n\n"},
		{"marker", hello + "\n\n", ServeOptions{Marker: "--", UseMarker: true}, "Hello world\nHello again\n--\n\n--\n"},
		{"empty marker", hello + "\n", ServeOptions{UseMarker: true}, "Hello world\nHello again\n\n"},
		{"non-UTF-8 passes through", "\xff\xfe\n", ServeOptions{Family: "shift"}, "\xff\xfe\n"},
		{"carriage return kept", "Uryyb jbeyq\r\n", ServeOptions{Family: "shift"}, "Hello world\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := serve(t, tt.in, tt.o); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestServeBadFamily(t *testing.T) {
	err := Serve(context.Background(), strings.NewReader("x\n"), io.Discard, ServeOptions{Family: "vigenere"})
	if err == nil {
		t.Fatal("Serve with family vigenere succeeded")
	}
}

func TestServeVerbose(t *testing.T) {
	k, _ := ParseKey("qwertyuiopasdfghjklzxcvbnm")
	plain := heldOut[1]
	got := serve(t, string(k.encrypt([]byte(plain)))+"\n", ServeOptions{Verbose: true, UseMarker: true, Marker: "END"})
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("verbose answer %q: want progress, the result and the marker", got)
	}
	for _, l := range lines[:len(lines)-2] {
		if !strings.HasPrefix(l, progressPrefix) {
			t.Errorf("progress line %q lacks %q", l, progressPrefix)
		}
	}
	if lines[len(lines)-2] != plain || lines[len(lines)-1] != "END" {
		t.Errorf("verbose answer ends %q, want the plaintext then END", lines[len(lines)-2:])
	}
}

func TestServeJSONL(t *testing.T) {
	caesar := "Uryyb jbeyq, guvf vf n grfg bs gur zbqry"
	in := strings.Join([]string{
		`{"id":1,"text":"` + caesar + `"}`,
		`{"id":"req-2","text":""}`,
		`{"id":3,"text":"Ifmmp!xpsme"}`,
		`{"id":4,"text":"unterminated`,
		`{"id":{"a":[1,2]},"text":5}`,
		`not json`,
		`[1,2]`,
		`{"text":"Uryyb","id":"x","family":"nonsense"}`,
		``,
	}, "\n") + "\n"
	got := serve(t, in, ServeOptions{JSONL: true})
	want := []string{
		`{"id":1,"text":"Hello world, this is a test of the model","cipher":"caesar","key":"13","score":`,
		`{"id":"req-2","text":"","cipher":"original","key":"0","score":0}`,
		`{"id":3,"text":"Hello world","cipher":"original","key":"1","score":`,
		`{"id":4,"error":"malformed JSON request:`,
		`{"id":{"a":[1,2]},"error":"request \"text\" is not a string"}`,
		`{"id":null,"error":"malformed JSON request:`,
		`{"id":null,"error":"request is not a JSON object;`,
		`{"id":"x","error":"unknown cipher family \"nonsense\"`,
		`{"id":null,"error":"malformed JSON request:`,
	}
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d answers, want %d:\n%s", len(lines), len(want), got)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, want[i]) {
			t.Errorf("answer %d = %s\nwant prefix %s", i+1, l, want[i])
		}
		if !json.Valid([]byte(l)) {
			t.Errorf("answer %d is not valid JSON: %s", i+1, l)
		}
	}
}

func TestServeJSONLVerbose(t *testing.T) {
	k, _ := ParseKey("qwertyuiopasdfghjklzxcvbnm")
	req, _ := json.Marshal(map[string]any{"id": "a", "text": string(k.encrypt([]byte(heldOut[0])))})
	got := serve(t, string(req)+"\n", ServeOptions{JSONL: true, Verbose: true})
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) < 2 {
		t.Fatalf("got %q, want partial answers then the answer", got)
	}
	for _, l := range lines[:len(lines)-1] {
		var m struct {
			ID      string
			Partial bool
			Text    string
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil || !m.Partial || m.ID != "a" {
			t.Errorf("partial answer %s: want id \"a\" and partial true", l)
		}
	}
	var final Result
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &final); err != nil || final.Text != heldOut[0] {
		t.Errorf("final answer %s: want text %q", lines[len(lines)-1], heldOut[0])
	}
}

// scoreRE matches the score in a JSON answer, which tests do not pin.
var scoreRE = regexp.MustCompile(`"score":-?[0-9][0-9.e+-]*`)

// Without JSONL, a line that is a JSON request is answered in jsonl, other
// lines, those that start with "{" included, in the plain protocol: a jsonl
// client can talk to a model started with no flags (pipe_api's).
func TestServeJSONInPlain(t *testing.T) {
	caesar := "Uryyb jbeyq, guvf vf n grfg bs gur zbqry"
	hello := "Hello world, this is a test of the model"
	answer := func(id string) string {
		return `{"id":` + id + `,"text":"` + hello + `","cipher":"caesar","key":"13","score":N}`
	}
	tests := []struct {
		name string
		in   []string
		o    ServeOptions
		want []string // "score":N stands for any score
	}{
		{"jsonl request", []string{`{"id":1,"text":"` + caesar + `"}`}, ServeOptions{}, []string{answer("1")}},
		{"amid plain lines", []string{"Ifmmp!xpsme", `{"id":"req-2","text":"` + caesar + `"}`, caesar, ""},
			ServeOptions{}, []string{"Hello world", answer(`"req-2"`), hello, ""}},
		{"id after text, whitespace around", []string{" \t{ \"text\" : \"Ifmmp!xpsme\", \"id\" : [7] } \r"}, ServeOptions{},
			[]string{`{"id":[7],"text":"Hello world","cipher":"original","key":"1","score":N}`}},
		{"no id", []string{`{"text":"Ifmmp!xpsme"}`}, ServeOptions{}, []string{`{"id":null,"text":"Hello world","cipher":"original","key":"1","score":N}`}},
		{"family", []string{`{"id":3,"text":"` + caesar + `","family":"shift"}`}, ServeOptions{Family: "substitution"}, []string{answer("3")}},
		{"no text", []string{`{"id":9}`}, ServeOptions{}, []string{`{"id":9,"error":"request has no \"text\""}`}},
		{"text not a string", []string{`{"id":10,"text":42}`}, ServeOptions{}, []string{`{"id":10,"error":"request \"text\" is not a string"}`}},
		{"bad family", []string{`{"id":11,"text":"Wkh","family":"bogus"}`}, ServeOptions{},
			[]string{`{"id":11,"error":"unknown cipher family \"bogus\"; use auto, shift or substitution"}`}},

		// Ciphertext that starts with "{" is ciphertext.
		{"original cipher of {", []string{"{Ifmmp!xpsme-!uijt!jt!uif!foe~"}, ServeOptions{}, []string{"{Hello world, this is the end}"}},
		{"ascii shift to {", []string{"{pp!lffqfst!gffe!uif!{fcsbt!bu!oppo"}, ServeOptions{}, []string{"zoo keepers feed the zebras at noon"}},
		{"caesar of a JSON request", []string{`{"vq":1,"grkg":"` + caesar + `"}`}, ServeOptions{},
			[]string{`{"id":1,"text":"` + hello + `"}`}},
		{"invalid JSON", []string{`{"id":4,"text":"` + caesar}, ServeOptions{}, []string{`{"vq":4,"grkg":"` + hello}},
		{"not an object", []string{`["id",4,"text","` + caesar + `"]`}, ServeOptions{}, []string{`["vq",4,"grkg","` + hello + `"]`}},
		{"no id, text or jsonrpc", []string{`{"n":"` + caesar + `"}`}, ServeOptions{}, []string{`{"a":"` + hello + `"}`}},

		// The marker ends every answer, whatever its protocol.
		{"marker", []string{`{"id":1,"text":"Ifmmp!xpsme"}`, "Ifmmp!xpsme", `{"id":2}`}, ServeOptions{UseMarker: true, Marker: "END"},
			[]string{`{"id":1,"text":"Hello world","cipher":"original","key":"1","score":N}`, "END", "Hello world", "END", `{"id":2,"error":"request has no \"text\""}`, "END"}},

		// JSON-RPC 2.0, without JSONL or with it.
		{"json-rpc", []string{`{"jsonrpc":"2.0","id":1,"method":"decrypt","params":{"text":"` + caesar + `"}}`}, ServeOptions{},
			[]string{`{"jsonrpc":"2.0","id":1,"result":{"text":"` + hello + `","cipher":"caesar","key":"13","score":N}}`}},
		{"json-rpc with jsonl", []string{`{"jsonrpc":"2.0","id":"a","method":"decrypt","params":{"text":"Ifmmp!xpsme","family":"shift"}}`}, ServeOptions{JSONL: true},
			[]string{`{"jsonrpc":"2.0","id":"a","result":{"text":"Hello world","cipher":"original","key":"1","score":N}}`}},
		{"json-rpc errors", []string{
			`{"jsonrpc":"2.0","id":1,"method":"encrypt","params":{"text":"x"}}`,
			`{"jsonrpc":"2.0","id":2,"method":"decrypt","params":["x"]}`,
			`{"jsonrpc":"2.0","id":3,"method":"decrypt"}`,
			`{"jsonrpc":"2.0","id":4,"method":"decrypt","params":{"txt":"x"}}`,
			`{"jsonrpc":"2.0","id":5,"method":"decrypt","params":{"text":"x","family":"bogus"}}`,
			`{"jsonrpc":"1.0","id":6,"method":"decrypt","params":{"text":"x"}}`,
			`{"jsonrpc":"2.0","method":7}`,
		}, ServeOptions{}, []string{
			`{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"method \"encrypt\" not found; use \"decrypt\""}}`,
			`{"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"\"params\" must be an object {\"text\":\"...\"}"}}`,
			`{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"\"params\" must be an object {\"text\":\"...\"}"}}`,
			`{"jsonrpc":"2.0","id":4,"error":{"code":-32602,"message":"\"params\" has no \"text\""}}`,
			`{"jsonrpc":"2.0","id":5,"error":{"code":-32602,"message":"unknown cipher family \"bogus\"; use auto, shift or substitution"}}`,
			`{"jsonrpc":"2.0","id":6,"error":{"code":-32600,"message":"\"jsonrpc\" must be \"2.0\""}}`,
			`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"request has no \"method\" string; use \"decrypt\""}}`,
		}},
		{"json-rpc notification", []string{`{"jsonrpc":"2.0","method":"decrypt","params":{"text":"x"}}`, `{"jsonrpc":"2.0","method":"nothing"}`, "Ifmmp!xpsme"},
			ServeOptions{UseMarker: true, Marker: "END"}, []string{"END", "END", "Hello world", "END"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := serve(t, strings.Join(tt.in, "\n")+"\n", tt.o)
			got = scoreRE.ReplaceAllString(got, `"score":N`)
			if want := strings.Join(tt.want, "\n") + "\n"; got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// A JSON request encrypted by any shift but Caesar's 0 (the identity) is
// not a JSON request: jsonRequestFields reads it as the ciphertext it is.
func TestJSONRequestNotCiphertext(t *testing.T) {
	reqs := []string{
		`{"id":1,"text":"Hello world"}`,
		`{"text":"Hello world"}`,
		`{"id":"abc"}`,
		`{"jsonrpc":"2.0","id":1,"method":"decrypt","params":{"text":"Hello world"}}`,
	}
	for _, c := range []struct {
		cipher string
		size   int
	}{{"original", len(originalAlphabet)}, {"ascii", len(asciiAlphabet)}, {"caesar", 26}} {
		for shift := 1; shift < c.size; shift++ {
			for _, req := range reqs {
				ct := strings.TrimSuffix(encryptString(t, req+"\n", EncryptOptions{Cipher: c.cipher, Shift: shift}), "\n")
				if jsonRequestFields([]byte(ct)) != nil {
					t.Errorf("%s shift %d of %s is %s, read as a JSON request", c.cipher, shift, req, ct)
				}
			}
		}
	}
}

// Verbose, without JSONL: progress in each request's protocol, partial
// messages for a jsonl request, lines for a plain one, none for JSON-RPC.
func TestServeJSONInPlainVerbose(t *testing.T) {
	k, _ := ParseKey("qwertyuiopasdfghjklzxcvbnm")
	ct := string(k.encrypt([]byte(heldOut[0])))
	req, _ := json.Marshal(map[string]any{"id": "a", "text": ct})
	rpc, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": "b", "method": "decrypt", "params": map[string]any{"text": ct}})
	got := serve(t, string(req)+"\n"+ct+"\n"+string(rpc)+"\n", ServeOptions{Verbose: true})
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	i := 0
	for ; i < len(lines) && strings.HasPrefix(lines[i], `{"id":"a","partial":true,"text":`); i++ {
	}
	if i == 0 || i == len(lines) || !strings.HasPrefix(lines[i], `{"id":"a","text":"`+heldOut[0]+`",`) {
		t.Fatalf("got\n%s\nwant partial messages with id \"a\", then the answer", got)
	}
	j := i + 1
	for ; j < len(lines) && strings.HasPrefix(lines[j], progressPrefix); j++ {
	}
	if j == i+1 || j != len(lines)-2 || lines[j] != heldOut[0] || !strings.HasPrefix(lines[j+1], `{"jsonrpc":"2.0","id":"b","result":{"text":"`+heldOut[0]+`",`) {
		t.Errorf("got\n%s\nwant after the first answer progress lines, the plaintext, then one JSON-RPC result", got)
	}
}

// Lines of a megabyte are read whole and answered whole; the solver works on
// a sample.
func TestServeLongLine(t *testing.T) {
	size := 1 << 20
	if raceEnabled || testing.Short() {
		size = 64 << 10
	}
	plain := strings.Repeat(heldOut[2]+" ", size/len(heldOut[2]))
	for _, o := range []EncryptOptions{{Cipher: "caesar", Shift: 7}, {Seed: 3, HasSeed: true}} {
		ct := encryptString(t, plain+"\n", o)
		got := serve(t, ct, ServeOptions{})
		if got != plain+"\n" {
			t.Errorf("%s: %d-byte line decrypted wrong (got %d bytes)", o.Cipher, len(plain), len(got))
		}
	}
}

func TestServeCancel(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close() // ends the reading goroutine Serve leaves behind
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- Serve(ctx, pr, &out, ServeOptions{}) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Serve after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context was cancelled")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestServeWriteError(t *testing.T) {
	err := Serve(context.Background(), strings.NewReader("abc\n"), failWriter{}, ServeOptions{})
	if err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Errorf("Serve to a failing writer: %v, want the write error", err)
	}
}
