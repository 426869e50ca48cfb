package model

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
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
