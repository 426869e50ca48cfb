package frame

import "testing"

func TestEncodeServe(t *testing.T) {
	for line, want := range map[string]string{
		"abc":       `{"id":7,"input":"abc"}`,
		"a\"b\\\n":  `{"id":7,"input":"a\"b\\\n"}`,
		"\xff\x01":  `{"id":7,"input":"` + "\ufffd" + `\u0001"}`,
		`{"x":1}`:   `{"id":7,"input":"{\"x\":1}"}`,
		"":          `{"id":7,"input":""}`,
		"tab\there": `{"id":7,"input":"tab\there"}`,
	} {
		if got := string(EncodeServe(nil, "7", []byte(line))); got != want+"\n" {
			t.Errorf("EncodeServe(%q) = %s; want %s", line, got, want)
		}
	}
}
