package model

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"testing/synctest"
	"time"

	"github.com/pipecli/pipecli/internal/iostreams"
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
	// One worker answers in input order, which the list below pins: with
	// more, answers with an id come as soon as they are ready
	// (TestServeOrder, TestServeEarly).
	got := serve(t, in, ServeOptions{JSONL: true, Workers: 1})
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
			tt.o.Workers = 1 // input order, JSON answers with an id included
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
	got := serve(t, string(req)+"\n"+ct+"\n"+string(rpc)+"\n", ServeOptions{Verbose: true, Workers: 1})
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

// orderLines returns n ciphertext lines of English made with Encrypt: every
// sixth under a substitution key of its own, the others under shift
// ciphers, which the solver breaks in well under a millisecond where a
// substitution takes tens: with several workers, answers are ready out of
// order.
func orderLines(t *testing.T, n int) []string {
	t.Helper()
	shifts := []EncryptOptions{{Cipher: "caesar", Shift: 7}, {Cipher: "original", Shift: 1}, {Cipher: "ascii", Shift: 20}}
	lines := make([]string, n)
	for i := range lines {
		plain := heldOut[i%len(heldOut)]
		o := shifts[i%len(shifts)]
		if i%6 == 0 {
			// Short, to spare the race detector: the order is what is
			// tested here, not the solver.
			plain = plain[:strings.LastIndexByte(plain[:30], ' ')]
			o = EncryptOptions{Seed: int64(i), HasSeed: true}
		}
		lines[i] = strings.TrimSuffix(encryptString(t, plain+"\n", o), "\n")
	}
	return lines
}

// replay returns a solver that gives for each of lines what decrypt gave
// when asked beforehand, one line at a time, progress included: the
// answers Serve must give, whatever its number of workers.
func replay(t *testing.T, lines []string) func(context.Context, []byte, string, func([]byte)) (Result, error) {
	t.Helper()
	type answer struct {
		res      Result
		progress [][]byte
	}
	answers := make(map[string]answer)
	for _, l := range lines {
		var a answer
		var err error
		a.res, err = decrypt(context.Background(), []byte(l), FamilyAuto, func(p []byte) {
			a.progress = append(a.progress, bytes.Clone(p))
		})
		if err != nil {
			t.Fatal(err)
		}
		answers[l] = a
	}
	return func(_ context.Context, line []byte, _ string, progress func([]byte)) (Result, error) {
		a, ok := answers[string(line)]
		if !ok {
			return Result{}, fmt.Errorf("no answer recorded for %q", line)
		}
		if progress != nil {
			for _, p := range a.progress {
				progress(p)
			}
		}
		return a.res, nil
	}
}

// answerBlocks cuts Serve's output into answers, each with the progress
// lines or partial messages before it, and sorts them into those that keep
// input order and those that need not: JSON answers with an id.
func answerBlocks(out string) (ordered, early []string) {
	var block strings.Builder
	for l := range strings.Lines(out) {
		block.WriteString(l)
		if strings.HasPrefix(l, progressPrefix) || strings.Contains(l, `"partial":true`) {
			continue
		}
		var a struct{ ID json.RawMessage }
		if strings.HasPrefix(l, "{") && json.Unmarshal([]byte(l), &a) == nil && a.ID != nil && string(a.ID) != "null" {
			early = append(early, block.String())
		} else {
			ordered = append(ordered, block.String())
		}
		block.Reset()
	}
	if block.Len() > 0 {
		ordered = append(ordered, block.String()) // progress with no answer: wrong
	}
	slices.Sort(early)
	return ordered, early
}

// With several workers, answers are those of one worker: in input order,
// but for JSON ones with an id, which may come earlier, each exactly once
// and whole, progress first.
func TestServeOrder(t *testing.T) {
	prev := runtime.GOMAXPROCS(4) // Workers 0: 4, even on one core
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	n := 36
	if raceEnabled || testing.Short() {
		n = 6 // one substitution, first
	}
	lines := orderLines(t, n)
	solved := replay(t, lines)

	jsonText := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	// mixed: plain lines, JSON requests with and without an id, JSON-RPC
	// requests and a notification.
	mixed := func(lines []string) []string {
		var in []string
		for i, l := range lines {
			switch i % 5 {
			case 0, 2:
				in = append(in, l)
			case 1:
				in = append(in, fmt.Sprintf(`{"id":%d,"text":%s}`, i, jsonText(l)))
			case 3:
				in = append(in, fmt.Sprintf(`{"jsonrpc":"2.0","id":"r%d","method":"decrypt","params":{"text":%s}}`, i, jsonText(l)))
			case 4:
				in = append(in, `{"text":`+jsonText(l)+`}`)
			}
		}
		return append(in, `{"jsonrpc":"2.0","method":"decrypt","params":{"text":"x"}}`, `{"id":"no text"}`)
	}
	jsonl := func(lines []string) []string {
		var in []string
		for i, l := range lines {
			if i%4 == 3 {
				in = append(in, `{"id":null,"text":`+jsonText(l)+`}`)
			} else {
				in = append(in, fmt.Sprintf(`{"id":"%d","text":%s}`, i, jsonText(l)))
			}
		}
		return append(in, "not json", `{"id":[1],"text":5}`)
	}
	plain := func(lines []string) []string { return lines }

	tests := []struct {
		name    string
		in      func([]string) []string
		o       ServeOptions
		inOrder bool // the whole output as one worker writes it
	}{
		{"plain", plain, ServeOptions{}, true},
		{"plain verbose", plain, ServeOptions{Verbose: true}, true},
		{"marker", mixed, ServeOptions{UseMarker: true, Marker: "END"}, true},
		{"JSON in plain", mixed, ServeOptions{}, false},
		{"JSON in plain verbose", mixed, ServeOptions{Verbose: true}, false},
		{"jsonl", jsonl, ServeOptions{JSONL: true}, false},
		{"jsonl verbose", jsonl, ServeOptions{JSONL: true, Verbose: true}, false},
		{"two workers, empty marker", mixed, ServeOptions{Workers: 2, UseMarker: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.Join(tt.in(lines), "\n") + "\n"
			one := tt.o
			one.Workers, one.solve = 1, solved
			want := serve(t, in, one)
			got := serve(t, in, tt.o)
			if tt.inOrder {
				if got != want {
					t.Errorf("got\n%s\nwant\n%s", got, want)
				}
				return
			}
			gotOrdered, gotEarly := answerBlocks(got)
			wantOrdered, wantEarly := answerBlocks(want)
			if !slices.Equal(gotOrdered, wantOrdered) {
				t.Errorf("answers that keep input order: got\n%s\nwant\n%s", strings.Join(gotOrdered, ""), strings.Join(wantOrdered, ""))
			}
			if !slices.Equal(gotEarly, wantEarly) {
				t.Errorf("JSON answers with an id, sorted: got\n%s\nwant\n%s", strings.Join(gotEarly, ""), strings.Join(wantEarly, ""))
			}
			if len(wantEarly) == 0 {
				t.Errorf("no JSON answer with an id in\n%s", want)
			}
		})
	}
}

// fakeSolver stands in for the solver, to decide when each line is done:
// it upper-cases a line at once, but for one that starts with "slow", which
// waits until release is closed or ctx is done. Under Verbose it gives the
// line in lower case as its one progress guess.
type fakeSolver struct {
	release chan struct{}

	mu                sync.Mutex // guards the counts
	running, finished int
}

func newFakeSolver() *fakeSolver { return &fakeSolver{release: make(chan struct{})} }

func (f *fakeSolver) solve(ctx context.Context, line []byte, _ string, progress func([]byte)) (Result, error) {
	f.mu.Lock()
	f.running++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.finished++
		f.mu.Unlock()
	}()
	if bytes.HasPrefix(line, []byte("slow")) {
		select {
		case <-f.release:
		case <-ctx.Done():
		}
	}
	if progress != nil {
		progress(bytes.ToLower(line))
	}
	return Result{Text: strings.ToUpper(string(line)), Cipher: "fake", Key: "k"}, nil
}

// counts returns how many calls are running and how many have returned.
func (f *fakeSolver) counts() (running, finished int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running, f.finished
}

// startServe runs Serve with f as its solver in a goroutine of the current
// synctest bubble; wait waits for it to return and gives its error.
func startServe(ctx context.Context, in io.Reader, f *fakeSolver, o ServeOptions) (out *iostreams.Buffer, wait func() error) {
	out = new(iostreams.Buffer)
	o.solve = f.solve
	errc := make(chan error, 1)
	go func() { errc <- Serve(ctx, in, out, o) }()
	return out, func() error { return <-errc }
}

// While the first line is being solved, the answers that may come early
// (JSON with an id, no marker) are written, and only those; the others wait
// for their turn. The solver is a fake, so that "while" is certain.
func TestServeEarly(t *testing.T) {
	tests := []struct {
		name          string
		in            []string
		o             ServeOptions
		before, after string // the output while the first line is solved, then in the end
	}{
		{"plain", []string{"slow", "b", "c"}, ServeOptions{}, "", "SLOW\nB\nC\n"},
		{"jsonl", []string{`{"id":1,"text":"slow"}`, `{"id":2,"text":"b"}`, `{"id":"x","text":"c"}`}, ServeOptions{JSONL: true},
			`{"id":2,"text":"B","cipher":"fake","key":"k","score":0}` + "\n" + `{"id":"x","text":"C","cipher":"fake","key":"k","score":0}` + "\n",
			`{"id":2,"text":"B","cipher":"fake","key":"k","score":0}` + "\n" + `{"id":"x","text":"C","cipher":"fake","key":"k","score":0}` + "\n" +
				`{"id":1,"text":"SLOW","cipher":"fake","key":"k","score":0}` + "\n"},
		{"jsonl verbose", []string{`{"id":1,"text":"slow"}`, `{"id":2,"text":"B"}`}, ServeOptions{JSONL: true, Verbose: true},
			`{"id":2,"partial":true,"text":"b"}` + "\n" + `{"id":2,"text":"B","cipher":"fake","key":"k","score":0}` + "\n",
			`{"id":2,"partial":true,"text":"b"}` + "\n" + `{"id":2,"text":"B","cipher":"fake","key":"k","score":0}` + "\n" +
				`{"id":1,"partial":true,"text":"slow"}` + "\n" + `{"id":1,"text":"SLOW","cipher":"fake","key":"k","score":0}` + "\n"},
		{"jsonl without id", []string{`{"text":"slow"}`, `{"id":null,"text":"b"}`, `{"id":3,"text":"c"}`, `[]`}, ServeOptions{JSONL: true},
			`{"id":3,"text":"C","cipher":"fake","key":"k","score":0}` + "\n",
			`{"id":3,"text":"C","cipher":"fake","key":"k","score":0}` + "\n" + `{"id":null,"text":"SLOW","cipher":"fake","key":"k","score":0}` + "\n" +
				`{"id":null,"text":"B","cipher":"fake","key":"k","score":0}` + "\n" + `{"id":null,"error":"request is not a JSON object; send {\"id\":1,\"text\":\"...\"}"}` + "\n"},
		{"JSON in plain", []string{"slow", `{"id":2,"text":"b"}`, "c", `{"jsonrpc":"2.0","id":4,"method":"decrypt","params":{"text":"d"}}`, `{"jsonrpc":"2.0","method":"decrypt","params":{"text":"e"}}`},
			ServeOptions{},
			`{"id":2,"text":"B","cipher":"fake","key":"k","score":0}` + "\n" + `{"jsonrpc":"2.0","id":4,"result":{"text":"D","cipher":"fake","key":"k","score":0}}` + "\n",
			`{"id":2,"text":"B","cipher":"fake","key":"k","score":0}` + "\n" + `{"jsonrpc":"2.0","id":4,"result":{"text":"D","cipher":"fake","key":"k","score":0}}` + "\n" +
				"SLOW\nC\n"},
		{"marker", []string{`{"id":1,"text":"slow"}`, `{"id":2,"text":"b"}`, "c"}, ServeOptions{UseMarker: true, Marker: "END"}, "",
			`{"id":1,"text":"SLOW","cipher":"fake","key":"k","score":0}` + "\nEND\n" + `{"id":2,"text":"B","cipher":"fake","key":"k","score":0}` + "\nEND\nC\nEND\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeSolver()
				tt.o.Workers = 2
				out, wait := startServe(t.Context(), strings.NewReader(strings.Join(tt.in, "\n")+"\n"), f, tt.o)
				synctest.Wait() // every line read and solved, but the first
				if got := out.String(); got != tt.before {
					t.Errorf("while the first line is solved, got\n%s\nwant\n%s", got, tt.before)
				}
				close(f.release)
				if err := wait(); err != nil {
					t.Fatalf("Serve: %v", err)
				}
				if got := out.String(); got != tt.after {
					t.Errorf("in the end, got\n%s\nwant\n%s", got, tt.after)
				}
			})
		})
	}
}

// Workers lines are solved at once, GOMAXPROCS by default.
func TestServeWorkers(t *testing.T) {
	tests := []struct {
		workers, gomaxprocs, want int
	}{
		{1, 4, 1},
		{2, 1, 2},
		{3, 1, 3},
		{0, 3, 3},
		{0, 1, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("workers %d gomaxprocs %d", tt.workers, tt.gomaxprocs), func(t *testing.T) {
			prev := runtime.GOMAXPROCS(tt.gomaxprocs)
			defer runtime.GOMAXPROCS(prev)
			synctest.Test(t, func(t *testing.T) {
				f := newFakeSolver()
				in := strings.Repeat("slow\n", 10)
				out, wait := startServe(t.Context(), strings.NewReader(in), f, ServeOptions{Workers: tt.workers})
				synctest.Wait()
				if running, _ := f.counts(); running != tt.want {
					t.Errorf("%d lines solved at once, want %d", running, tt.want)
				}
				close(f.release)
				if err := wait(); err != nil {
					t.Fatalf("Serve: %v", err)
				}
				if got, want := out.String(), strings.Repeat("SLOW\n", 10); got != want {
					t.Errorf("got %q, want %q", got, want)
				}
			})
		})
	}
}

// lineReader gives lines "slow", "1", "2", ... up to n, one a Read, and
// counts them.
type lineReader struct {
	n, read int
}

func (r *lineReader) Read(p []byte) (int, error) {
	if r.read == r.n {
		return 0, io.EOF
	}
	line := strconv.Itoa(r.read) + "\n"
	if r.read == 0 {
		line = "slow\n"
	}
	r.read++
	return copy(p, line), nil // p, bufio.Reader's, has room
}

// Behind a slow line, reading stops after a few lines: a large input is
// not read into memory while the line is solved.
func TestServeReadAhead(t *testing.T) {
	for _, workers := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("workers %d", workers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeSolver()
				in := &lineReader{n: 10000}
				out, wait := startServe(t.Context(), in, f, ServeOptions{Workers: workers})
				synctest.Wait()
				// Serve holds 2×Workers lines, and the reader one more.
				if max := 2*workers + 1; in.read > max {
					t.Errorf("read %d lines behind a slow one, want at most %d", in.read, max)
				}
				// The other workers solve the other lines Serve holds.
				want := 2*workers - 1
				if workers == 1 {
					want = 0
				}
				if _, finished := f.counts(); finished != want {
					t.Errorf("%d lines solved behind a slow one, want %d", finished, want)
				}
				close(f.release)
				if err := wait(); err != nil {
					t.Fatalf("Serve: %v", err)
				}
				if n := strings.Count(out.String(), "\n"); n != in.n {
					t.Errorf("%d answers, want %d", n, in.n)
				}
			})
		})
	}
}

// Cancelling ends Serve while lines are being solved, their workers ended;
// a write error ends it too, with that error, whatever is in flight.
func TestServeStop(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name   string
		in     io.Reader
		out    io.Writer
		cancel bool
		want   error
	}{
		{"cancel", strings.NewReader(strings.Repeat("slow\n", 20)), io.Discard, true, context.Canceled},
		{"write error", strings.NewReader(strings.Repeat("a\nslow\n", 20)), failWriter{}, false, nil},
		{"read error", io.MultiReader(strings.NewReader("a\nb\n"), iotest.ErrReader(errBoom)), io.Discard, false, errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				f := newFakeSolver()
				o := ServeOptions{Workers: 3, solve: f.solve}
				errc := make(chan error, 1)
				go func() { errc <- Serve(ctx, tt.in, tt.out, o) }()
				synctest.Wait()
				if tt.cancel {
					cancel()
				}
				err := <-errc
				switch {
				case tt.want != nil && !errors.Is(err, tt.want):
					t.Errorf("Serve: %v, want %v", err, tt.want)
				case tt.want == nil && (err == nil || !strings.Contains(err.Error(), "broken pipe")):
					t.Errorf("Serve: %v, want the write error", err)
				}
				if running, _ := f.counts(); running != 0 {
					t.Errorf("%d lines still being solved after Serve returned", running)
				}
				close(f.release)
			})
		})
	}
}

// TestServeMarkerInAnswer checks that an answer line equal to the marker,
// which would end the answer early and shift every later one onto the
// wrong request, is written as U+FFFD: a line of the marker byte itself,
// and an empty line under an empty marker.
func TestServeMarkerInAnswer(t *testing.T) {
	for _, tt := range []struct {
		name, marker, in, want string
	}{
		{"record separator", "\x1e", "Uryyb\n\x1e\nIfmmp\n", "Hello\n\x1e\n\uFFFD\n\x1e\nHello\n\x1e\n"},
		{"empty marker", "", "Uryyb\n\nIfmmp\n", "Hello\n\n\uFFFD\n\nHello\n\n"},
		{"marker inside a line", "end", "Uryyb\nraq bs gur yvar\n", "Hello\nend\nend of the line\nend\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Serve(context.Background(), strings.NewReader(tt.in), &out, ServeOptions{Marker: tt.marker, UseMarker: true})
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("answers %q, want %q", out.String(), tt.want)
			}
		})
	}
}

// TestServeByteOrderMark checks that a JSON request after a UTF-8 byte
// order mark, as the first line of a file some editors save, is a request,
// in plain mode and with JSONL.
func TestServeByteOrderMark(t *testing.T) {
	for _, jsonl := range []bool{false, true} {
		var out bytes.Buffer
		in := "\ufeff{\"id\":2,\"text\":\"Uryyb\"}\n"
		if err := Serve(context.Background(), strings.NewReader(in), &out, ServeOptions{JSONL: jsonl}); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.String(), `{"id":2,"text":"Hello"`) {
			t.Errorf("JSONL %v: answer %q, want the request's", jsonl, out.String())
		}
	}
}
