package replay

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		inputs []string // each record's input
		lines  []int    // each record's line
		output string   // the first record's output
		jsonl  bool
		err    string // "" for none: what the error says
	}{
		{
			name:   "as run --json writes",
			data:   `{"id":1,"input":"abc","output":"ABC","latency_ms":1.5,"attempts":1,"replica":1,"error":null}` + "\n",
			inputs: []string{"abc"}, lines: []int{1}, output: `"ABC"`,
		},
		{
			name:   "blank lines, a BOM and CRLF",
			data:   "\uFEFF{\"input\":\"a\",\"output\":\"A\"}\r\n\r\n  \n{\"input\":\"b\",\"output\":\"B\"}",
			inputs: []string{"a", "b"}, lines: []int{1, 4}, output: `"A"`,
		},
		{
			name:   "jsonl answers",
			data:   `{"input":"x","output":{"id":1, "text":"X"}}` + "\n",
			inputs: []string{"x"}, lines: []int{1}, output: `{"id":1,"text":"X"}`, jsonl: true,
		},
		{
			name:   "jsonl answers with partial messages",
			data:   `{"input":"x","output":[{"id":1,"partial":true},{"id":1,"text":"X"}]}` + "\n",
			inputs: []string{"x"}, lines: []int{1}, output: `[{"id":1,"partial":true},{"id":1,"text":"X"}]`, jsonl: true,
		},
		{
			name:   "an object input is sent as one line",
			data:   `{"input":{"id":"a", "text":"x\ny"},"output":{"id":"a"}}` + "\n",
			inputs: []string{`{"id":"a","text":"x\ny"}`}, lines: []int{1}, output: `{"id":"a"}`, jsonl: true,
		},
		{
			name:   "a failure needs no output",
			data:   `{"input":"x","error":"no answer within --timeout 1s"}` + "\n",
			inputs: []string{"x"}, lines: []int{1}, output: `null`,
		},
		{
			name:   "a notification needs no output",
			data:   `{"input":"{\"method\":\"log\"}","notification":true}` + "\n",
			inputs: []string{`{"method":"log"}`}, lines: []int{1}, output: `null`,
		},
		{name: "not JSON", data: "{\"input\":\"a\",\"output\":\"A\"}\nhello\n", err: "x.jsonl:2: not JSON (invalid character 'h' looking for beginning of value); each line must be a record"},
		{name: "cut short", data: `{"input":"a",`, err: "x.jsonl:1: not JSON (unexpected end of JSON input)"},
		{name: "an array", data: `[1,2]`, err: "x.jsonl:1: a JSON array, not an object; each line must be a record"},
		{name: "no input", data: "\n" + `{"output":"A"}`, err: `x.jsonl:2: no "input"; each line must be a record`},
		{name: "input a number", data: `{"input":3,"output":"A"}`, err: `x.jsonl:1: "input" is a JSON number; it must be a string`},
		{name: "no output", data: `{"input":"a"}`, err: `x.jsonl:1: no "output": give the answer expected ("output":null for none)`},
		{name: "a newline in the input", data: `{"input":"a\nb","output":"A"}`, err: "x.jsonl:1: the input holds a newline, so it cannot be sent as one line"},
		{name: "a carriage return ending the input", data: `{"input":"a\r","output":"A"}`, err: "x.jsonl:1: the input ends with a carriage return"},
		{name: "error a number", data: `{"input":"a","output":"A","error":1}`, err: `x.jsonl:1: "error" is a JSON number; it must be a string`},
		{name: "empty", data: "", err: "x.jsonl: holds no records; make them with 'pipecli run --json"},
		{name: "blank", data: "\n \r\n", err: "x.jsonl: holds no records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Parse("x.jsonl", []byte(tt.data))
			if tt.err != "" {
				var bi *BadInput
				if !errors.As(err, &bi) || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("err = %v, want a *BadInput starting %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var inputs []string
			var lines []int
			for _, r := range rs.List {
				inputs, lines = append(inputs, r.Input), append(lines, r.Line)
			}
			if strings.Join(inputs, "|") != strings.Join(tt.inputs, "|") {
				t.Errorf("inputs = %q, want %q", inputs, tt.inputs)
			}
			if len(lines) != len(tt.lines) || lines[0] != tt.lines[0] || lines[len(lines)-1] != tt.lines[len(tt.lines)-1] {
				t.Errorf("lines = %v, want %v", lines, tt.lines)
			}
			if got := string(rs.List[0].Output); got != tt.output {
				t.Errorf("output = %s, want %s", got, tt.output)
			}
			if rs.JSONL != tt.jsonl {
				t.Errorf("JSONL = %v, want %v", rs.JSONL, tt.jsonl)
			}
		})
	}
}

func TestInputs(t *testing.T) {
	rs, err := Parse("x", []byte("{\"input\":\"a\",\"output\":null}\n\n{\"input\":\"\",\"output\":null}\n{\"input\":\"c\",\"output\":null}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rs.Inputs())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "a\n\nc\n"; got != want {
		t.Errorf("Inputs() = %q, want %q", got, want)
	}
}
