package serve

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/track"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		line    string
		mode    frame.Mode
		id      string // "" for none
		fed     string
		status  bool
		wantErr string
	}{
		{line: `{"id":1,"input":"abc"}`, id: "1", fed: "abc"},
		{line: ` {"input":"abc","id":"x y"} `, id: `"x y"`, fed: "abc"},
		{line: `{"input":""}`, fed: ""},
		{line: `{"id":null,"input":"a"}`, fed: "a"},
		{line: `{"id":2.5e3,"input":"\u00e9\t"}`, id: "2.5e3", fed: "é\t"},
		{line: `{"status":true}`, status: true},
		{line: `{"id":7,"status":true}`, id: "7", status: true},
		{line: `{"id":1,"input":{"text":"a"}}`, mode: frame.JSONL, id: "1", fed: `{"text":"a"}`},
		{line: `{"id":1,"input":{ "text" : "a\nb" }}`, mode: frame.JSONL, id: "1", fed: `{"text":"a\nb"}`},
		{line: `{"id":1,"input":"a\nb"}`, mode: frame.JSONL, id: "1", fed: `{"text":"a\nb"}`},
		{line: `{"id":1,"input":"{\"x\":\n1}"}`, mode: frame.JSONL, id: "1", fed: `{"x":1}`},
		{line: ``, wantErr: "empty line"},
		{line: `hello`, wantErr: "not a JSON object"},
		{line: `[1]`, wantErr: "not a JSON object"},
		{line: `{"id":1,"input":"a"`, id: "1", wantErr: "bad JSON"},
		{line: `{"id":1,"inptu":"a"}`, id: "1", wantErr: `unknown field "inptu"`},
		{line: `{"id":1,"input":"a"} {}`, id: "1", wantErr: "more than one JSON value"},
		{line: `{"id":true,"input":"a"}`, wantErr: `"id" must be a string or a number`},
		{line: `{"id":1}`, id: "1", wantErr: `no "input"`},
		{line: `{"id":1,"input":3}`, id: "1", wantErr: `"input" must be a string`},
		{line: `{"id":1,"input":{"a":1}}`, id: "1", wantErr: "only a jsonl pool takes"},
		{line: `{"id":1,"input":"a\nb"}`, id: "1", wantErr: "holds a newline"},
		{line: `{"id":1,"input":"a\r"}`, id: "1", wantErr: `ends with "\r"`},
		{line: `{"status":1}`, wantErr: `a status request is {"status":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			mode := tt.mode
			if mode == frame.Raw {
				mode = frame.Line
			}
			r, err := parseRequest([]byte(tt.line), mode)
			if string(r.id) != tt.id {
				t.Errorf("id %s; want %s", r.id, tt.id)
			}
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v; want one with %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("error %v", err)
			case r.status != tt.status || string(r.line) != tt.fed:
				t.Errorf("fed %q, status %v; want %q, %v", r.line, r.status, tt.fed, tt.status)
			}
		})
	}
}

func TestIDOf(t *testing.T) {
	for line, want := range map[string]string{
		`{"id":12,"input":"aaaa`:   "12",
		` { "id" : "a\"b", "inp`:   `"a\"b"`,
		`{"input":"a","id":1}`:     "",
		`{"id":[1],"input":"a"}`:   "",
		`{"id":-1.5e2,"input":"a"`: "-1.5e2",
		`nonsense`:                 "",
	} {
		if got := string(idOf([]byte(line))); got != want {
			t.Errorf("idOf(%s) = %s; want %s", line, got, want)
		}
	}
}

func TestAppendAnswer(t *testing.T) {
	tests := []struct {
		name string
		id   string
		r    track.Request
		mode frame.Mode
		want string
	}{
		{"text", "1", track.Request{Answer: []byte("hi \"there\"\n"), Latency: 1500 * time.Microsecond, Attempts: 1, Child: 1}, frame.Marker,
			`{"id":1,"output":"hi \"there\"\n","latency_ms":1.5,"replica":2}`},
		{"jsonl", `"a"`, track.Request{Answer: []byte(`{"id":3,"text":"x"}`), Latency: time.Millisecond, Attempts: 2}, frame.JSONL,
			`{"id":"a","output":{"id":3,"text":"x"},"latency_ms":1,"replica":1}`},
		{"no id", "", track.Request{Answer: []byte("\xff"), Attempts: 1}, frame.Line,
			`{"id":null,"output":"` + "\ufffd" + `","latency_ms":0,"replica":1}`},
		{"failed", "9", track.Request{Err: errors.New("no answer within --timeout 1s"), Attempts: 1}, frame.Line,
			`{"id":9,"error":"no answer within --timeout 1s"}`},
		{"notification", "4", track.Request{Notification: true, Attempts: 1}, frame.JSONL,
			`{"id":4,"output":null,"notification":true,"latency_ms":0,"replica":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var id []byte
			if tt.id != "" {
				id = []byte(tt.id)
			}
			got := string(appendAnswer(nil, id, &tt.r, tt.mode))
			if got != tt.want+"\n" {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestReadRequest: lines of any length are read whole up to the limit;
// past it, only their head is kept, and the next line is read as usual.
func TestReadRequest(t *testing.T) {
	long := strings.Repeat("x", 200_000)
	in := "short\n" + `{"id":5,"input":"` + long + "\"}\n" + "\n" + "next\n" + "last"
	br := bufio.NewReaderSize(strings.NewReader(in), 16)
	type got struct {
		line string
		over bool
		err  error
	}
	want := []got{{"short", false, nil}, {`{"id":5,"input":"` + strings.Repeat("x", headLen-len(`{"id":5,"input":"`)), true, nil}, {"", false, nil}, {"next", false, nil}, {"last", false, io.EOF}}
	for i, w := range want {
		line, over, err := readRequest(br, 1000, nil)
		if string(line) != w.line || over != w.over || err != w.err {
			t.Errorf("line %d: %.40q %v %v; want %.40q %v %v", i, line, over, err, w.line, w.over, w.err)
		}
	}
}
