package frame

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// msg is a Message written compactly for tables: A answer, P partial, E
// event, N event not JSON, B banner, R ready, U unfinished.
type msg struct {
	k    byte
	key  string
	data string
}

var kindLetters = map[Kind]byte{Answer: 'A', Partial: 'P', Event: 'E', Banner: 'B', Ready: 'R', Unfinished: 'U', Failed: 'F'}

func (m msg) String() string { return fmt.Sprintf("%c[%s]%q", m.k, m.key, m.data) }

func toMsgs(ms []Message) []msg {
	var out []msg
	for _, m := range ms {
		k := kindLetters[m.Kind]
		if m.NotJSON {
			k = 'N'
		}
		out = append(out, msg{k, m.Key, string(m.Data)})
	}
	return out
}

// decode feeds chunks then ends, stopping at the first error. It keeps
// copies of the messages, which are valid only until the next call, and
// feeds each chunk from one buffer that it then overwrites, so that a
// decoder keeping a reference to what it was fed shows.
func decode(o Options, chunks ...[]byte) ([]Message, error) {
	d := NewDecoder(o)
	var all []Message
	var buf []byte
	for _, c := range chunks {
		buf = append(buf[:0], c...)
		ms, err := d.Feed(buf)
		all = appendCopies(all, ms)
		for i := range buf {
			buf[i] = '#'
		}
		if err != nil {
			return all, err
		}
	}
	ms, err := d.End()
	return appendCopies(all, ms), err
}

// appendCopies appends copies of ms, with their own Data, to all.
func appendCopies(all, ms []Message) []Message {
	for _, m := range ms {
		m.Data = bytes.Clone(m.Data)
		all = append(all, m)
	}
	return all
}

func sameMsgs(a, b []msg) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type decodeTest struct {
	name   string
	o      Options
	stream string
	want   []msg
	err    bool // ends with an ErrTooLong
}

var decodeTests = []decodeTest{
	// Line.
	{"line", Options{Mode: Line}, "a\nbc\n", []msg{{'A', "", "a"}, {'A', "", "bc"}}, false},
	{"line empty lines", Options{Mode: Line}, "\n\n", []msg{{'A', "", ""}, {'A', "", ""}}, false},
	{"line CRLF kept", Options{Mode: Line}, "a\r\nb\r\n", []msg{{'A', "", "a\r"}, {'A', "", "b\r"}}, false},
	{"line unterminated", Options{Mode: Line}, "a\nb", []msg{{'A', "", "a"}, {'A', "", "b"}}, false},
	{"line UTF-8", Options{Mode: Line}, "héllo\n日本🎉\n", []msg{{'A', "", "héllo"}, {'A', "", "日本🎉"}}, false},
	{"line nothing", Options{Mode: Line}, "", nil, false},

	// Marker.
	{"marker", Options{Mode: Marker, Marker: "END"}, "a\nb\nEND\nc\nEND\n",
		[]msg{{'A', "", "a\nb"}, {'A', "", "c"}}, false},
	{"marker partials", Options{Mode: Marker, Marker: "END", MarkerPartials: true}, "a\nb\nEND\nc\nEND\n",
		[]msg{{'P', "", "a"}, {'P', "", "b"}, {'A', "", "a\nb"}, {'P', "", "c"}, {'A', "", "c"}}, false},
	{"marker empty answer", Options{Mode: Marker, Marker: "END"}, "END\nEND\n", []msg{{'A', "", ""}, {'A', "", ""}}, false},
	{"marker empty lines in answer", Options{Mode: Marker, Marker: "END"}, "\na\n\nEND\n", []msg{{'A', "", "\na\n"}}, false},
	{"marker CRLF", Options{Mode: Marker, Marker: "END"}, "a\r\nb\r\nEND\r\n", []msg{{'A', "", "a\r\nb\r"}}, false},
	{"marker only one CR ignored", Options{Mode: Marker, Marker: "END"}, "END\r\r\nEND\n", []msg{{'A', "", "END\r\r"}}, false},
	{"marker not a prefix", Options{Mode: Marker, Marker: "END"}, "xEND\nEND \nENDx\nEND\n", []msg{{'A', "", "xEND\nEND \nENDx"}}, false},
	{"marker empty", Options{Mode: Marker}, "a\nb\n\nc\n\n\n", []msg{{'A', "", "a\nb"}, {'A', "", "c"}, {'A', "", ""}}, false},
	{"marker empty CRLF", Options{Mode: Marker}, "a\r\n\r\n", []msg{{'A', "", "a\r"}}, false},
	{"marker unfinished", Options{Mode: Marker, Marker: "END"}, "a\nEND\nb\nc", []msg{{'A', "", "a"}, {'U', "", "b\nc"}}, false},
	{"marker unfinished partials", Options{Mode: Marker, Marker: "END", MarkerPartials: true}, "a\nb",
		[]msg{{'P', "", "a"}, {'P', "", "b"}, {'U', "", "a\nb"}}, false},
	{"marker unterminated marker", Options{Mode: Marker, Marker: "END"}, "a\nEND", []msg{{'A', "", "a"}}, false},
	{"marker ending in CR", Options{Mode: Marker, Marker: "END\r"}, "a\nEND\r\nb\nEND\r\r\nEND\n", []msg{{'A', "", "a"}, {'A', "", "b"}, {'U', "", "END"}}, false},

	// JSONL.
	{"jsonl any order", Options{Mode: JSONL}, "{\"id\":2,\"result\":\"b\"}\n{\"id\":1,\"result\":\"a\"}\n",
		[]msg{{'A', "2", `{"id":2,"result":"b"}`}, {'A', "1", `{"id":1,"result":"a"}`}}, false},
	{"jsonl JSON-RPC", Options{Mode: JSONL},
		`{"jsonrpc":"2.0","id":3,"result":{"id":9}}` + "\n" +
			`{"jsonrpc":"2.0","id":4,"error":{"code":-32602,"message":"bad"}}` + "\n" +
			`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}` + "\n" +
			`{"jsonrpc":"2.0","method":"progress","params":{"id":3}}` + "\n",
		[]msg{
			{'A', "3", `{"jsonrpc":"2.0","id":3,"result":{"id":9}}`},
			{'A', "4", `{"jsonrpc":"2.0","id":4,"error":{"code":-32602,"message":"bad"}}`},
			{'E', "", `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`},
			{'E', "", `{"jsonrpc":"2.0","method":"progress","params":{"id":3}}`},
		}, false},
	{"jsonl partial", Options{Mode: JSONL},
		`{"id":1,"partial":true,"text":"x"}` + "\n" + `{"id":1,"partial":false}` + "\n" + `{"partial":true}` + "\n",
		[]msg{{'P', "1", `{"id":1,"partial":true,"text":"x"}`}, {'A', "1", `{"id":1,"partial":false}`}, {'E', "", `{"partial":true}`}}, false},
	{"jsonl string ids", Options{Mode: JSONL}, `{"id":"a\u00e9"}` + "\n" + `{"id":"aé"}` + "\n" + `{"id":"1"}` + "\n",
		[]msg{{'A', `"aé"`, `{"id":"a\u00e9"}`}, {'A', `"aé"`, `{"id":"aé"}`}, {'A', `"1"`, `{"id":"1"}`}}, false},
	{"jsonl number ids by value", Options{Mode: JSONL}, `{"id":1.0}` + "\n" + `{"id":-7}` + "\n" + `{"id":25e-1}` + "\n" + `{"id":-0.0}` + "\n" + `{"id":1e999}` + "\n",
		[]msg{{'A', "1", `{"id":1.0}`}, {'A', "-7", `{"id":-7}`}, {'A', "5/2", `{"id":25e-1}`}, {'A', "0", `{"id":-0.0}`}, {'A', "1e999", `{"id":1e999}`}}, false},
	{"jsonl escaped key", Options{Mode: JSONL}, `{"\u0069d":5,"\u0070artial":true}` + "\n", []msg{{'P', "5", `{"\u0069d":5,"\u0070artial":true}`}}, false},
	{"jsonl last id wins", Options{Mode: JSONL}, `{"id":1,"id":2}` + "\n", []msg{{'A', "2", `{"id":1,"id":2}`}}, false},
	{"jsonl spaces", Options{Mode: JSONL}, " { \"id\" : 1 ,\t\"x\" : [ ] } \n", []msg{{'A', "1", " { \"id\" : 1 ,\t\"x\" : [ ] } "}}, false},
	{"jsonl CRLF", Options{Mode: JSONL}, "{\"id\":1}\r\n", []msg{{'A', "1", "{\"id\":1}\r"}}, false},
	{"jsonl other ids are events", Options{Mode: JSONL}, `{"id":{"a":1}}` + "\n" + `{"id":true}` + "\n" + `{"id":[1]}` + "\n",
		[]msg{{'E', "", `{"id":{"a":1}}`}, {'E', "", `{"id":true}`}, {'E', "", `{"id":[1]}`}}, false},
	{"jsonl not JSON", Options{Mode: JSONL}, "loading model...\n{\"id\":1,\n[1,2]\n42\n\"s\"\n\n{\"id\":1}x\n",
		[]msg{{'N', "", "loading model..."}, {'N', "", `{"id":1,`}, {'N', "", "[1,2]"}, {'N', "", "42"}, {'N', "", `"s"`}, {'N', "", ""}, {'N', "", `{"id":1}x`}}, false},
	{"jsonl unterminated", Options{Mode: JSONL}, `{"id":1}` + "\n" + `{"id":2}`, []msg{{'A', "1", `{"id":1}`}, {'A', "2", `{"id":2}`}}, false},
	{"jsonl unterminated cut", Options{Mode: JSONL}, `{"id":2,"te`, []msg{{'N', "", `{"id":2,"te`}}, false},
	{"jsonl invalid UTF-8", Options{Mode: JSONL}, "{\"id\":\"\xff\",\"t\":\"\xfe\"}\n", []msg{{'A', `"�"`, "{\"id\":\"\xff\",\"t\":\"\xfe\"}"}}, false},

	// Banner.
	{"banner skip", Options{Mode: Line, SkipLines: 2}, "b1\nb2\na\n", []msg{{'B', "", "b1"}, {'R', "", "b2"}, {'A', "", "a"}}, false},
	{"banner ready", Options{Mode: Line, Ready: regexp.MustCompile(`^ready`)}, "hello\nloading\nready>\nx\nready\n",
		[]msg{{'B', "", "hello"}, {'B', "", "loading"}, {'R', "", "ready>"}, {'A', "", "x"}, {'A', "", "ready"}}, false},
	{"banner skip then ready", Options{Mode: Line, SkipLines: 1, Ready: regexp.MustCompile(`^ok$`)}, "ok\nfoo\nok\r\nx\n",
		[]msg{{'B', "", "ok"}, {'B', "", "foo"}, {'R', "", "ok\r"}, {'A', "", "x"}}, false},
	{"banner jsonl", Options{Mode: JSONL, Ready: regexp.MustCompile(`^ready$`)}, "{\"id\":1}\nready\n{\"id\":1}\n",
		[]msg{{'B', "", `{"id":1}`}, {'R', "", "ready"}, {'A', "1", `{"id":1}`}}, false},
	{"banner marker", Options{Mode: Marker, SkipLines: 2}, "Welcome\n\nanswer\n\n",
		[]msg{{'B', "", "Welcome"}, {'R', "", ""}, {'A', "", "answer"}}, false},
	{"banner never ready", Options{Mode: Marker, Ready: regexp.MustCompile(`^go`)}, "a\nb",
		[]msg{{'B', "", "a"}, {'B', "", "b"}}, false},

	// MaxMessage.
	{"cap line", Options{Mode: Line, MaxMessage: 3}, "abc\nde\r\nabcd\nx\n", []msg{{'A', "", "abc"}, {'A', "", "de\r"}}, true},
	{"cap line unterminated", Options{Mode: Line, MaxMessage: 3}, "abc\nabcdef", []msg{{'A', "", "abc"}}, true},
	{"cap jsonl", Options{Mode: JSONL, MaxMessage: 8}, "{\"id\":1}\n{\"id\":12}\n", []msg{{'A', "1", `{"id":1}`}}, true},
	{"cap marker answer", Options{Mode: Marker, Marker: "END", MaxMessage: 5}, "ab\ncd\nEND\nab\ncde\nEND\n", []msg{{'A', "", "ab\ncd"}}, true},
	{"cap marker longer than cap", Options{Mode: Marker, Marker: "LONGMARKER", MaxMessage: 3}, "ab\nLONGMARKER\r\nLONGMARKERX\n", []msg{{'A', "", "ab"}}, true},
	{"cap banner", Options{Mode: Line, MaxMessage: 3, SkipLines: 1}, "long banner\n", nil, true},
	{"cap raw ignored", Options{Mode: Raw, MaxMessage: 1}, "", nil, false},

	// Serve: a server's answers, by id; "output" is the answer, "error" fails it.
	{"serve text", Options{Mode: Serve}, `{"id":1,"output":"hi\nthere","latency_ms":1,"replica":2}` + "\n",
		[]msg{{'A', "1", "hi\nthere"}}, false},
	{"serve object", Options{Mode: Serve}, `{"id":"a","output":{"id":3,"text":"x"}}` + "\n",
		[]msg{{'A', `"a"`, `{"id":3,"text":"x"}`}}, false},
	{"serve null", Options{Mode: Serve}, `{"id":2,"output":null}` + "\n", []msg{{'A', "2", ""}}, false},
	{"serve error", Options{Mode: Serve}, `{"id":3,"error":"no answer within --timeout 1s"}` + "\n",
		[]msg{{'F', "3", "no answer within --timeout 1s"}}, false},
	{"serve no id", Options{Mode: Serve}, `{"id":null,"error":"not a JSON object"}` + "\n" + `{"pipecli":"serve"}` + "\n",
		[]msg{{'E', "", `{"id":null,"error":"not a JSON object"}`}, {'E', "", `{"pipecli":"serve"}`}}, false},
	{"serve not JSON", Options{Mode: Serve}, "oops\n", []msg{{'N', "", "oops"}}, false},
	{"serve error not a string", Options{Mode: Serve}, `{"id":1,"error":3}` + "\n", []msg{{'E', "", `{"id":1,"error":3}`}}, false},
}

func TestDecode(t *testing.T) {
	for _, tt := range decodeTests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := decode(tt.o, []byte(tt.stream))
			if tt.err {
				if !errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), "--max-line") {
					t.Errorf("err = %v; want ErrTooLong naming --max-line", err)
				}
			} else if err != nil {
				t.Errorf("err = %v", err)
			}
			if got := toMsgs(ms); !sameMsgs(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

// TestDecodeSplits feeds each test stream split at every byte boundary,
// at every pair of boundaries, and a byte at a time: the messages must be
// the same as from one Feed.
func TestDecodeSplits(t *testing.T) {
	for _, tt := range decodeTests {
		if tt.o.Mode == Raw {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			p := []byte(tt.stream)
			want, wantErr := decode(tt.o, p)
			check := func(how string, chunks ...[]byte) {
				t.Helper()
				got, err := decode(tt.o, chunks...)
				if (err == nil) != (wantErr == nil) || !sameMsgs(toMsgs(got), toMsgs(want)) {
					t.Fatalf("%s: got %v, %v\nwant %v, %v", how, toMsgs(got), err, toMsgs(want), wantErr)
				}
			}
			for i := 0; i <= len(p); i++ {
				for j := i; j <= len(p); j++ {
					check(fmt.Sprintf("split at %d, %d", i, j), p[:i], p[i:j], p[j:])
				}
			}
			var bytewise [][]byte
			for i := range p {
				bytewise = append(bytewise, p[i:i+1], nil)
			}
			check("byte by byte", bytewise...)
		})
	}
}

func TestDecodeRaw(t *testing.T) {
	d := NewDecoder(Options{Mode: Raw, SkipLines: 3, MaxMessage: 1})
	if !d.Ready() {
		t.Error("raw decoder not ready")
	}
	for _, chunk := range []string{"pro", "", "mpt> no newline"} {
		ms, err := d.Feed([]byte(chunk))
		var want []msg
		if chunk != "" {
			want = []msg{{'E', "", chunk}}
		}
		if err != nil || !sameMsgs(toMsgs(ms), want) {
			t.Errorf("Feed(%q) = %v, %v", chunk, toMsgs(ms), err)
		}
	}
	if ms, err := d.End(); ms != nil || err != nil {
		t.Errorf("End() = %v, %v", ms, err)
	}
}

func TestReady(t *testing.T) {
	d := NewDecoder(Options{Mode: Line, Ready: regexp.MustCompile(`>`)})
	if d.Ready() {
		t.Fatal("ready before the banner")
	}
	d.Feed([]byte("hi\n"))
	if d.Ready() {
		t.Fatal("ready after a banner line")
	}
	d.Feed([]byte(">\n"))
	if !d.Ready() {
		t.Fatal("not ready after the ready line")
	}
	if !NewDecoder(Options{Mode: JSONL}).Ready() {
		t.Fatal("not ready without a banner")
	}
}

// TestErrorSticks checks that after the cap is broken every call fails,
// and that the error comes before the newline of an endless line.
func TestErrorSticks(t *testing.T) {
	d := NewDecoder(Options{Mode: Line, MaxMessage: 10})
	if _, err := d.Feed(bytes.Repeat([]byte("x"), 11)); !errors.Is(err, ErrTooLong) {
		t.Fatalf("Feed of 11 bytes without newline: %v", err)
	}
	if _, err := d.Feed([]byte("\nok\n")); !errors.Is(err, ErrTooLong) {
		t.Fatalf("Feed after the error: %v", err)
	}
	if _, err := d.End(); !errors.Is(err, ErrTooLong) {
		t.Fatalf("End after the error: %v", err)
	}
}

// TestDataLent checks that the Data of returned messages stays as it was
// until the next call, whatever else the call decoded, that the decoder
// keeps no reference to what it was fed, and that the buffers it lends
// are reused: a line at a time, decoding allocates nothing.
func TestDataLent(t *testing.T) {
	big := strings.Repeat("b", bigLine+5)
	for _, o := range []Options{{Mode: Line}, {Mode: Marker, Marker: "."}, {Mode: JSONL}, {Mode: Marker, Marker: ".", MarkerPartials: true}} {
		stream := "one\ntwo\n.\n" + big + "\n.\nthree\n.\nfour\n.\n"
		want, _ := decode(o, []byte(stream))
		// Lines split across calls (so that pending is lent), several
		// messages in one call, a long line, an unfinished one at the end.
		d := NewDecoder(o)
		var got []msg
		var buf []byte
		for _, chunk := range []string{"on", "e\ntw", "o\n.\n", big[:100], big[100:] + "\n.\nth", "ree\n.\nfour\n", ".\n"} {
			buf = append(buf[:0], chunk...)
			ms, err := d.Feed(buf)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, toMsgs(ms)...)
			for i := range buf {
				buf[i] = '#' // the decoder must not need it any more
			}
		}
		if !sameMsgs(got, toMsgs(want)) {
			t.Errorf("%v: got  %.200v\nwant %.200v", o.Mode, got, toMsgs(want))
		}
	}
	// A steady stream of lines split across reads costs no allocation.
	d := NewDecoder(Options{Mode: Line})
	chunks := [][]byte{[]byte("first li"), []byte("ne\nsecond line\nthi"), []byte("rd line\n")}
	allocs := testing.AllocsPerRun(100, func() {
		for _, c := range chunks {
			if _, err := d.Feed(c); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run of 3 Feeds; want 0", allocs)
	}
}

// TestLongLineLinear feeds a 32 MiB line in 64 KiB chunks: the bytes
// allocated must stay a small multiple of the line (about 2 for the
// doubling buffer, up to 4 at a power of two), where a quadratic decoder
// would allocate gigabytes.
func TestLongLineLinear(t *testing.T) {
	const size, chunk = 32 << 20, 64 << 10
	for _, o := range []Options{{Mode: Line}, {Mode: JSONL}, {Mode: Marker, Marker: "END"}} {
		line := bytes.Repeat([]byte("x"), chunk)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d := NewDecoder(o)
		var got []Message
		for n := 0; n < size; n += chunk {
			ms, err := d.Feed(line)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ms...)
		}
		ms, err := d.Feed([]byte("\nEND\n"))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ms...)
		runtime.ReadMemStats(&after)
		if len(got) == 0 || len(got[0].Data) != size {
			t.Fatalf("%v: got %d messages, first %d bytes", o.Mode, len(got), len(got[0].Data))
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%v: %d MiB allocated for a %d MiB line", o.Mode, alloc>>20, size>>20)
		if alloc > 6*size {
			t.Errorf("%v: allocated %d MiB for a %d MiB line", o.Mode, alloc>>20, size>>20)
		}
	}
}

// TestMarkerRegexp checks a marker given as a regexp: whole lines it
// matches end answers, and so does a prompt, a line without "\n" that a
// read ends with.
func TestMarkerRegexp(t *testing.T) {
	re := regexp.MustCompile(`^(?:sqlite> |--END--)$`)
	tests := []struct {
		name   string
		chunks []string
		want   []msg
	}{
		{"marker lines", []string{"1\n--END--\n2\n3\n--END--\r\n"}, []msg{{'A', "", "1"}, {'A', "", "2\n3"}}},
		{"prompt", []string{"sqlite> ", "1|a\n", "sqlite> "}, []msg{{'A', "", ""}, {'A', "", "1|a"}}},
		{"prompt after answer in one read", []string{"x\ny\nsqlite> "}, []msg{{'A', "", "x\ny"}}},
		{"no prompt mid-line", []string{"sqlite> x", "\n--END--\n"}, []msg{{'A', "", "sqlite> x"}}},
		{"not a match", []string{"--END--x\n--END--\n"}, []msg{{'A', "", "--END--x"}}},
	}
	// The first prompt as the end of the banner.
	ms, err := decode(Options{Mode: Marker, MarkerRE: re, Ready: re, PromptReady: true}, []byte("SQLite v3\nsqlite> "), []byte("1\nsqlite> "))
	if got, want := toMsgs(ms), []msg{{'B', "", "SQLite v3"}, {'R', "", "sqlite> "}, {'A', "", "1"}}; err != nil || !sameMsgs(got, want) {
		t.Errorf("prompt as ready: got %v, %v\nwant %v", got, err, want)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var chunks [][]byte
			for _, c := range tt.chunks {
				chunks = append(chunks, []byte(c))
			}
			ms, err := decode(Options{Mode: Marker, MarkerRE: re, PromptReady: true}, chunks...)
			if err != nil {
				t.Fatal(err)
			}
			if got := toMsgs(ms); !sameMsgs(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

// TestServeAnswerKinds: a server's answer tells a jsonl pool's answer
// object (JSON) from a text, and a notification from an empty answer, so
// that the caller records each as a direct run would.
func TestServeAnswerKinds(t *testing.T) {
	in := `{"id":1,"output":{"id":7,"text":"HI"}}` + "\n" +
		`{"id":2,"output":"{\"not\":\"json\"}"}` + "\n" +
		`{"id":3,"output":null,"notification":true}` + "\n" +
		`{"id":4,"output":""}` + "\n"
	ms, err := NewDecoder(Options{Mode: Serve}).Feed([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		key, data    string
		json, notify bool
	}
	want := []got{{"1", `{"id":7,"text":"HI"}`, true, false}, {"2", `{"not":"json"}`, false, false}, {"3", "", false, true}, {"4", "", false, false}}
	if len(ms) != len(want) {
		t.Fatalf("%d messages; want %d", len(ms), len(want))
	}
	for i, m := range ms {
		if g := (got{m.Key, string(m.Data), m.JSON, m.Notification}); g != want[i] {
			t.Errorf("message %d: %+v; want %+v", i, g, want[i])
		}
	}
}
