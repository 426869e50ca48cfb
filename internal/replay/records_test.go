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
		// framing is the records' framing flags as FlagsText says them,
		// or Framing's error; "" for none
		framing string
		err     string // "" for none: what the error says
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
		{
			name: "the framing flags that made them",
			data: `{"input":"a","output":"","framing":{"mode":"marker","marker":"--END--","sentinel":".print --END--"}}` + "\n" +
				`{"input":"b","output":"1","framing":{"sentinel":".print --END--","mode":"marker","marker":"--END--","future":1}}` + "\n",
			inputs: []string{"a", "b"}, lines: []int{1, 2}, output: `""`,
			framing: `--framing marker --marker --END-- --sentinel '.print --END--'`,
		},
		{
			name:   "framing flags on some records only, an empty marker",
			data:   `{"input":"a","output":"A"}` + "\n" + `{"input":"b","output":"B","framing":{"mode":"marker","marker":"","skip_banner":1}}` + "\n" + `{"input":"c","output":"C","framing":null}` + "\n",
			inputs: []string{"a", "b", "c"}, lines: []int{1, 2, 3}, output: `"A"`,
			framing: `--framing marker --marker '' --skip-banner 1`,
		},
		{
			name: "framing flags that differ", data: `{"input":"a","output":"A","framing":{"mode":"line"}}` + "\n" + `{"input":"b","output":"B","framing":{"mode":"marker","marker":"END"}}`,
			inputs: []string{"a", "b"}, lines: []int{1, 2}, output: `"A"`,
			framing: "x.jsonl:2: made with other framing flags (--framing marker --marker END) than line 1 (--framing line); replay them apart, or give the framing flags to use",
		},
		{name: "framing a string", data: `{"input":"a","output":"A","framing":"line"}`, err: `x.jsonl:1: "framing" is not what 'pipecli run --json' writes`},
		{name: "framing raw", data: `{"input":"a","output":"A","framing":{"mode":"raw"}}`, err: `x.jsonl:1: "framing" has mode "raw", which replay cannot use`},
		{name: "framing marker with no marker", data: `{"input":"a","output":"A","framing":{"mode":"marker"}}`, err: `x.jsonl:1: "framing" has mode marker but no "marker"`},
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
			var framing string
			switch ff, err := rs.Framing(); {
			case err != nil:
				framing = err.Error()
			case ff != nil:
				framing = FlagsText(ff)
			}
			if framing != tt.framing {
				t.Errorf("framing %q, want %q", framing, tt.framing)
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

// Line framing takes one line for each answer: records it cannot have
// made are refused before anything is sent, with the line of the first,
// not replayed with each other's answers.
func TestCheckLine(t *testing.T) {
	const (
		marker = `,"framing":{"mode":"marker","marker":"END","sentinel":"print \"END\\n\""}`
		hint   = "give the framing flags the records were made with (such as --framing marker --marker --END-- --sentinel '.print --END--' for sqlite3, or --prompt REGEXP)"
	)
	tests := []struct {
		name    string
		data    string
		guessed bool   // line framing was picked for want of other
		err     string // "" for none: the whole error
	}{
		{"one line each", `{"input":"a","output":"A"}` + "\n" + `{"input":"b","output":"B"}`, true, ""},
		{"an empty input, an empty answer", `{"input":"","output":""}`, true, ""},
		{"a failure", `{"input":"a","output":null,"error":"no answer within --timeout 1s"}`, true, ""},
		{"an object: not text", `{"input":"a","output":{"text":"x\ny"}}`, true, ""},
		{"two lines", `{"input":"a","output":"A"}` + "\n\n" + `{"input":"b","output":"B\nC"}`, false,
			"x.jsonl:3: the recorded output holds 2 lines, which line framing cannot have recorded: replayed so, records would get each other's answers; " + hint},
		{"empty, guessed", `{"input":"x=5","output":""}`, true,
			"x.jsonl:1: the recorded output is empty, as when a REPL answers nothing, and line framing would take the next line it writes for it: replayed so, records would get each other's answers; " + hint + ", or --framing line if the child answers this input with an empty line"},
		{"empty, line given", `{"input":"x=5","output":""}`, false, ""},
		{"the records say how they were made", `{"input":"1+1","output":"2"` + marker + `}` + "\n" + `{"input":"print 1, 2","output":"1\n2"` + marker + `}`, false,
			`x.jsonl:2: the recorded output holds 2 lines, which line framing cannot have recorded: replayed so, records would get each other's answers; give the framing flags the records were made with (it says --framing marker --marker END --sentinel 'print "END\n"')`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Parse("x.jsonl", []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			err = rs.CheckLine(tt.guessed)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			var bi *BadInput
			if !errors.As(err, &bi) || err.Error() != tt.err {
				t.Fatalf("err = %v,\nwant a *BadInput: %s", err, tt.err)
			}
		})
	}
}

// "output_base64" is the answer's bytes, which "output" holds with U+FFFD.
func TestParseOutputBase64(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		exact string // "" for none
		err   string
	}{
		{"as run --json writes", `{"input":"a","output":"caf\ufffd","output_base64":"Y2Fm6Q=="}`, "caf\xe9", ""},
		{"none", `{"input":"a","output":"A"}`, "", ""},
		{"null", `{"input":"a","output":"A","output_base64":null}`, "", ""},
		{"not a string", `{"input":"a","output":"A","output_base64":1}`, "", `r.jsonl:1: "output_base64" is a JSON number, not base64 in a string: it must be the answer as it came`},
		{"not base64", `{"input":"a","output":"A","output_base64":"*"}`, "", `r.jsonl:1: "output_base64" is not base64 (illegal base64 data at input byte 0)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Parse("r.jsonl", []byte(tt.line))
			switch {
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err = %v, want one saying %q", err, tt.err)
				}
			case err != nil:
				t.Fatal(err)
			case string(rs.List[0].Exact) != tt.exact || (rs.List[0].Exact == nil) != (tt.exact == ""):
				t.Errorf("Exact = %q, want %q", rs.List[0].Exact, tt.exact)
			}
		})
	}
}
