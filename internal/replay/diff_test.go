package replay

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestWordDiff(t *testing.T) {
	tests := []struct {
		name, a, b string
		want       string // as style{}.render shows it
	}{
		{"same", "a b c", "a b c", "a b c"},
		{"one word", "the quick fox", "the slow fox", "the [-quick-]{+slow+} fox"},
		{"added", "a c", "a b c", "a {+b +}c"},
		{"removed", "a b c", "a c", "a [-b -]c"},
		{"white space", "a b", "a  b", "a[- -]{+  +}b"},
		{"a run of changes is one", "keep a b c keep", "keep x y z keep", "keep [-a b c-]{+x y z+} keep"},
		{"from nothing", "", "new", "{+new+}"},
		{"to nothing", "old", "", "[-old-]"},
		{"newlines are shown escaped", "a\nb", "a\nc", `a\n[-b-]{+c+}`},
		{"quotes escaped, < as is", `say "x<y"`, `say "x>y"`, `say [-\"x<y\"-]{+\"x>y\"+}`},
		{"bytes that are not UTF-8 shown as such", "caf\xe9 \xff\xfe", "caf\xfd \x80\x81", `[-caf\xe9 \xff\xfe-]{+caf\xfd \x80\x81+}`},
		{
			"long unchanged text is cut",
			"All rights granted under this License are granted for the term of copyright on the Program, and are irrevocable",
			"All rights given under this License are granted for the term of copyright on the Program, and are irrevocable",
			"All rights [-granted-]{+given+} under this License are …",
		},
		{
			"cut on both sides",
			strings.Repeat("w ", 30) + "x " + strings.Repeat("v ", 30) + "y " + strings.Repeat("u ", 30),
			strings.Repeat("w ", 30) + "X " + strings.Repeat("v ", 30) + "Y " + strings.Repeat("u ", 30),
			"…w w w w w w w w w w w w [-x-]{+X+} v v v v v v v v v v v v…v v v v v v v v v v v v [-y-]{+Y+} u u u u u u u u u u u u…",
		},
		{
			"a long word changed at its end is clipped",
			"see " + strings.Repeat("x", 1000) + "y end",
			"see " + strings.Repeat("x", 1000) + "z end",
			"see [-xxxxxxxx…(968 bytes)…xxxxxxxxxxxxxxxxxxxxxxxxy-]{+xxxxxxxx…(968 bytes)…xxxxxxxxxxxxxxxxxxxxxxxxz+} end",
		},
		{
			"a long word changed in its middle is clipped on both sides",
			strings.Repeat("a", 500) + "B" + strings.Repeat("c", 500),
			strings.Repeat("a", 500) + "D" + strings.Repeat("c", 500),
			"[-aaaaaaaa…(468 bytes)…aaaaaaaaaaaaaaaaaaaaaaaaBcccccccccccccccccccccccc…(468 bytes)…cccccccc-]" +
				"{+aaaaaaaa…(468 bytes)…aaaaaaaaaaaaaaaaaaaaaaaaDcccccccccccccccccccccccc…(468 bytes)…cccccccc+}",
		},
		{
			"a long differing part is clipped in its middle",
			"k " + strings.Repeat("p", 300),
			"k " + strings.Repeat("q", 300),
			"k [-" + strings.Repeat("p", 24) + "…(252 bytes)…" + strings.Repeat("p", 24) + "-]{+" + strings.Repeat("q", 24) + "…(252 bytes)…" + strings.Repeat("q", 24) + "+}",
		},
		{
			"clipped on character boundaries, escaped after",
			strings.Repeat("é", 100) + `"1`,
			strings.Repeat("é", 100) + `"2`,
			`[-éééééééé…(138 bytes)…ééééééééééééééééééééééé\"1-]{+éééééééé…(138 bytes)…ééééééééééééééééééééééé\"2+}`,
		},
		{
			"short changed words are whole",
			"a " + strings.Repeat("x", 48) + "1",
			"a " + strings.Repeat("x", 48) + "2",
			"a [-" + strings.Repeat("x", 48) + "1-]{+" + strings.Repeat("x", 48) + "2+}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (style{}).render(wordDiff(tt.a, tt.b)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// Past maxCells, what lies between the common start and end is removed
// and added whole, at once.
func TestWordDiffLarge(t *testing.T) {
	a := "start " + strings.Repeat("a ", 2000) + "end"
	b := "start " + strings.Repeat("b ", 2000) + "end"
	es := wordDiff(a, b)
	if len(es) != 4 || es[0].text != "start " || es[1].kind != '-' || es[2].kind != '+' || es[3].text != " end" {
		t.Errorf("got %d edits, starting %q", len(es), es[0].text)
	}
}

func TestShow(t *testing.T) {
	tests := []struct {
		name  string
		c     Change
		jsonl bool
		want  string
	}{
		{"text answer", Change{Recorded: "hello world", Got: "hello word"}, false, "hello [-world-]{+word+}"},
		{"jsonl string member", Change{Path: ".text", Recorded: "hello world", Got: "hello word"}, true, `.text: "hello [-world-]{+word+}"`},
		{"jsonl number", Change{Path: ".score", Recorded: json.Number("0.5"), Got: json.Number("0.25")}, true, ".score: [-0.5-]{+0.25+}"},
		{"added", Change{Path: ".new", Got: map[string]any{"a": true}, Added: true}, true, `.new: {+{"a":true}+}`},
		{"removed", Change{Path: ".old", Recorded: nil, Removed: true}, true, ".old: [-null-]"},
		{"type changed", Change{Recorded: "text", Got: map[string]any{"id": json.Number("1")}}, true, `[-"text"-]{+{"id":1}+}`},
		{"answered now", Change{RecordedErr: "no answer within --timeout 1s", Got: "A"}, false, "[-failed: no answer within --timeout 1s-] {+A+}"},
		{"long value clipped", Change{Path: ".v", Recorded: strings.Repeat("x", 100), Got: json.Number("1")}, true, `.v: [-"` + strings.Repeat("x", 79) + `…-]{+1+}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (style{}).show(tt.c, tt.jsonl); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// In colour, a change has no markers: red is removed, green added.
func TestShowColor(t *testing.T) {
	got := newStyle(true).show(Change{Recorded: "a b", Got: "a c"}, false)
	if want := "a \x1b[31mb\x1b[0m\x1b[32mc\x1b[0m"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// White space, invisible in red or green, has a background instead.
	got = newStyle(true).show(Change{Recorded: "a b", Got: "a  b"}, false)
	if want := "a\x1b[41m \x1b[0m\x1b[42m  \x1b[0mb"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
