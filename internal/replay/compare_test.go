package replay

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestCompare(t *testing.T) {
	str := func(s string) *string { return &s }
	paths := func(names ...string) []Path {
		var ps []Path
		for _, n := range names {
			p, err := ParsePath(n)
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		return ps
	}
	text := Rules{}
	jsonl := Rules{JSONL: true}
	tests := []struct {
		name    string
		rec     Record
		got     Got
		rules   Rules
		status  Status
		changes string // the changes' paths and values, as fmt prints them
	}{
		{name: "text same", rec: Record{Input: "a", Output: raw(`"A"`)}, got: Got{Output: raw(`"A"`)}, rules: text, status: Same},
		{name: "text changed", rec: Record{Input: "a", Output: raw(`"A"`)}, got: Got{Output: raw(`"B"`)}, rules: text, status: Changed,
			changes: `[{ A B}]`},
		{name: "text white space counts", rec: Record{Input: "a", Output: raw(`"a  b "`)}, got: Got{Output: raw(`"a b"`)}, rules: text, status: Changed},
		{name: "--ignore-space", rec: Record{Input: "a", Output: raw(`" a \t b\n"`)}, got: Got{Output: raw(`"a b"`)}, rules: Rules{IgnoreSpace: true}, status: Same},
		{name: "--ignore-space still sees words", rec: Record{Input: "a", Output: raw(`"a b"`)}, got: Got{Output: raw(`"ab"`)}, rules: Rules{IgnoreSpace: true}, status: Changed},

		{name: "jsonl member order and spacing do not count", rec: Record{Input: "a", Output: raw(`{"id":1,"text":"A","n":1}`)}, got: Got{Output: raw(`{"n":1.0, "text":"A","id":1}`)}, rules: jsonl, status: Same},
		{name: "jsonl added id is not compared", rec: Record{Input: "a", Output: raw(`{"id":1,"text":"A"}`)}, got: Got{Output: raw(`{"id":7,"text":"A"}`)}, rules: jsonl, status: Same},
		{name: "jsonl added id to an object", rec: Record{Input: `{"text":"a"}`, Output: raw(`{"id":1,"text":"A"}`)}, got: Got{Output: raw(`{"id":2,"text":"A"}`)}, rules: jsonl, status: Same},
		{name: "jsonl the input's own id is compared", rec: Record{Input: `{"id":"q","text":"a"}`, Output: raw(`{"id":"q","text":"A"}`)}, got: Got{Output: raw(`{"id":"r","text":"A"}`)}, rules: jsonl, status: Changed,
			changes: `[{.id q r}]`},
		{name: "jsonl member changed", rec: Record{Input: "a", Output: raw(`{"id":1,"text":"A","score":0.5}`)}, got: Got{Output: raw(`{"id":1,"text":"A","score":0.25}`)}, rules: jsonl, status: Changed,
			changes: `[{.score 0.5 0.25}]`},
		{name: "jsonl member added and removed", rec: Record{Input: "a", Output: raw(`{"id":1,"old":1}`)}, got: Got{Output: raw(`{"id":1,"new":null}`)}, rules: jsonl, status: Changed,
			changes: `[{.old 1 <nil> removed} {.new <nil> <nil> added}]`},
		{name: "jsonl nested and arrays", rec: Record{Input: "a", Output: raw(`{"a":{"b":[1,2]},"c d":[1]}`)}, got: Got{Output: raw(`{"a":{"b":[1,3]},"c d":[1,2]}`)}, rules: jsonl, status: Changed,
			changes: `[{.a.b[1] 2 3} {["c d"] [1] [1 2]}]`},
		{name: "--ignore-field", rec: Record{Input: "a", Output: raw(`{"id":1,"text":"A","time":1}`)}, got: Got{Output: raw(`{"id":1,"text":"A","time":2}`)}, rules: Rules{JSONL: true, IgnoreFields: paths("time")}, status: Same},
		{name: "--ignore-field absent on one side", rec: Record{Input: "a", Output: raw(`{"id":1,"text":"A"}`)}, got: Got{Output: raw(`{"id":1,"text":"A","time":2}`)}, rules: Rules{JSONL: true, IgnoreFields: paths("time")}, status: Same},
		{name: "--ignore-field dotted", rec: Record{Input: "a", Output: raw(`{"meta":{"time":1,"host":"h"}}`)}, got: Got{Output: raw(`{"meta":{"time":2,"host":"h"}}`)}, rules: Rules{JSONL: true, IgnoreFields: paths("meta.time")}, status: Same},
		{name: "--ignore-field dotted keeps the rest", rec: Record{Input: "a", Output: raw(`{"meta":{"time":1,"host":"h"}}`)}, got: Got{Output: raw(`{"meta":{"time":2,"host":"g"}}`)}, rules: Rules{JSONL: true, IgnoreFields: paths("meta.time")}, status: Changed,
			changes: `[{.meta.host h g}]`},
		{name: "--ignore-field through arrays", rec: Record{Input: "a", Output: raw(`{"items":[{"t":1},{"t":2}]}`)}, got: Got{Output: raw(`{"items":[{"t":3},{"t":4}]}`)}, rules: Rules{JSONL: true, IgnoreFields: paths("items.t")}, status: Same},
		{name: "jsonl --ignore-space in strings", rec: Record{Input: "a", Output: raw(`{"text":"a  b"}`)}, got: Got{Output: raw(`{"text":" a b"}`)}, rules: Rules{JSONL: true, IgnoreSpace: true}, status: Same},
		{name: "jsonl only the final message counts", rec: Record{Input: "a", Output: raw(`[{"id":1,"partial":true,"text":"x"},{"id":1,"text":"A"}]`)}, got: Got{Output: raw(`{"id":1,"text":"A"}`)}, rules: jsonl, status: Same},
		{name: "jsonl string answer vs object", rec: Record{Input: "a", Output: raw(`"not json"`)}, got: Got{Output: raw(`{"id":1}`)}, rules: jsonl, status: Changed,
			changes: `[{ not json map[]}]`},
		{name: "jsonl big integers compared exactly", rec: Record{Input: "a", Output: raw(`{"id":1,"n":12345678901234567890}`)}, got: Got{Output: raw(`{"id":1,"n":12345678901234567891}`)}, rules: jsonl, status: Changed,
			changes: `[{.n 12345678901234567890 12345678901234567891}]`},
		{name: "jsonl string answers", rec: Record{Input: "a", Output: raw(`"x y"`)}, got: Got{Output: raw(`"x y"`)}, rules: jsonl, status: Same},

		{name: "exact bytes the same", rec: Record{Input: "a", Output: raw(`"caf\ufffd"`), Exact: []byte("caf\xe9")}, got: Got{Output: raw(`"caf\ufffd"`), Exact: []byte("caf\xe9")}, rules: text, status: Same},
		{name: "exact bytes changed", rec: Record{Input: "a", Output: raw(`"caf\ufffd"`), Exact: []byte("caf\xe9")}, got: Got{Output: raw(`"caf\ufffd"`), Exact: []byte("caf\xfd")}, rules: text, status: Changed,
			changes: "[{ caf\xe9 caf\xfd}]"},
		{name: "exact bytes, UTF-8 now", rec: Record{Input: "a", Output: raw(`"caf\ufffd"`), Exact: []byte("caf\xe9")}, got: Got{Output: raw(`"caf\ufffd"`)}, rules: text, status: Changed},
		{name: "exact bytes --ignore-space", rec: Record{Input: "a", Output: raw(`"\ufffd  \ufffd"`), Exact: []byte("\xff  \xfe")}, got: Got{Output: raw(`"\ufffd \ufffd"`), Exact: []byte("\xff \xfe")}, rules: Rules{IgnoreSpace: true}, status: Same},
		{name: "no exact bytes recorded: as JSON holds them", rec: Record{Input: "a", Output: raw(`"caf\ufffd"`)}, got: Got{Output: raw(`"caf\ufffd"`), Exact: []byte("caf\xfd")}, rules: text, status: Same},

		{name: "failed now", rec: Record{Input: "a", Output: raw(`"A"`)}, got: Got{Output: raw(`null`), Failed: true, Err: "timeout"}, rules: text, status: Failed},
		{name: "failing as recorded", rec: Record{Input: "a", Output: raw(`null`), Err: str("killed")}, got: Got{Output: raw(`null`), Failed: true, Err: "timeout"}, rules: text, status: Same},
		{name: "answered where it failed", rec: Record{Input: "a", Output: raw(`null`), Err: str("killed")}, got: Got{Output: raw(`"A"`)}, rules: text, status: Changed,
			changes: `[{ <nil> A}]`},
		{name: "notification", rec: Record{Input: `{"method":"m"}`, Output: raw(`null`), Notification: true}, got: Got{Output: raw(`null`), Notification: true}, rules: jsonl, status: Same},
		{name: "notification answered now", rec: Record{Input: `{"method":"m"}`, Output: raw(`null`), Notification: true}, got: Got{Output: raw(`"x"`)}, rules: text, status: Changed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Compare(&tt.rec, tt.got, tt.rules)
			if v.Status != tt.status {
				t.Fatalf("status = %v (changes %v), want %v", v.Status, v.Changes, tt.status)
			}
			if tt.changes == "" {
				return
			}
			var got []string
			for _, c := range v.Changes {
				s := fmt.Sprintf("%s %v %v", c.Path, c.Recorded, c.Got)
				switch {
				case c.Added:
					s += " added"
				case c.Removed:
					s += " removed"
				}
				got = append(got, "{"+s+"}")
			}
			if s := fmt.Sprint(got); s != tt.changes {
				t.Errorf("changes = %s, want %s", s, tt.changes)
			}
		})
	}
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func TestParsePath(t *testing.T) {
	for _, s := range []string{"", ".", "a.", ".a", "a..b"} {
		if _, err := ParsePath(s); err == nil {
			t.Errorf("ParsePath(%q): no error", s)
		}
	}
	p, err := ParsePath("meta.time")
	if err != nil || len(p) != 2 || p.String() != "meta.time" {
		t.Errorf("ParsePath(meta.time) = %q, %v", p, err)
	}
}

func TestSameNumber(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"1", "1", true},
		{"1", "1.0", true},
		{"1", "1e0", true},
		{"1", "10e-1", true},
		{"1", "0.1E+1", true},
		{"100", "1e2", true},
		{"0", "-0", true},
		{"0", "0.000e9", true},
		{"-1.50", "-15e-1", true},
		{"12345678901234567890", "12345678901234567891", false},
		{"12345678901234567890", "1.2345678901234567890e19", true},
		{"0.1", "0.10000000000000001", false},
		{"1", "-1", false},
		{"1", "2", false},
		{"1e999999999999999999999", "10e999999999999999999998", true},
		{"1e999999999999999999999", "1e999999999999999999998", false},
	}
	for _, tt := range tests {
		if got := sameNumber(json.Number(tt.a), json.Number(tt.b)); got != tt.want {
			t.Errorf("sameNumber(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := sameNumber(json.Number(tt.b), json.Number(tt.a)); got != tt.want {
			t.Errorf("sameNumber(%s, %s) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
}
