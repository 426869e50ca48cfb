package replay

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func testResults() []Result {
	f := func(x float64) *float64 { return &x }
	e := func(s string) *string { return &s }
	recs := []*Record{
		{Line: 1, Input: "a", Output: raw(`"A"`), LatencyMS: f(2)},
		{Line: 2, Input: "b", Output: raw(`"B is here"`), LatencyMS: f(4)},
		{Line: 4, Input: "c", Output: raw(`"C"`), LatencyMS: f(6)},
		{Line: 5, Input: "d", Output: raw(`null`), Err: e("no answer within --timeout 1s")},
	}
	gots := []Got{
		{Output: raw(`"A"`), Latency: time.Millisecond, Attempts: 1, Replica: 1},
		{Output: raw(`"B was here"`), Latency: 3 * time.Millisecond, Attempts: 1, Replica: 1},
		{Output: raw(`null`), Failed: true, Err: "testchild was killed by signal 9 (SIGKILL) while handling it; sent 3 time(s)", Attempts: 3, Replica: 1},
		{Output: raw(`null`), Failed: true, Err: "no answer within --timeout 1s", Attempts: 1, Replica: 1},
	}
	var results []Result
	for i := range recs {
		results = append(results, Result{Rec: recs[i], Got: gots[i], Verdict: Compare(recs[i], gots[i], Rules{})})
	}
	return results
}

func TestWriteText(t *testing.T) {
	rep := newReport("golden.jsonl", testResults())
	var b strings.Builder
	if err := rep.writeText(&b, style{}, false); err != nil {
		t.Fatal(err)
	}
	want := `line 2 changed: "b"
    B [-is-]{+was+} here
line 4 failed: "c": testchild was killed by signal 9 (SIGKILL) while handling it; sent 3 time(s)
replayed 4 record(s) from golden.jsonl: 2 same (1 failing as recorded), 1 changed, 1 failed
latency: median 3.00 ms, p90 3.00 ms; recorded: median 4.00 ms, p90 4.00 ms
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	rep := newReport("golden.jsonl", testResults())
	var b strings.Builder
	if err := rep.writeJSON(&b, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Count(b.String(), "\n") != 1 {
		t.Errorf("not one line:\n%s", b.String())
	}
	var doc struct {
		Records, Same, Changed, Failed int
		FailingAsRecorded              int `json:"failing_as_recorded"`
		Latency                        struct {
			Compared       int
			Median, P90    *float64
			RecordedMedian *float64 `json:"recorded_median"`
			RecordedP90    *float64 `json:"recorded_p90"`
		} `json:"latency_ms"`
		Updated *int
		Error   *string
		Results []struct {
			Line     int
			Status   string
			Output   json.RawMessage
			Error    *string
			Changes  []map[string]any
			Attempts int
		}
	}
	if err := json.Unmarshal([]byte(b.String()), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Records != 4 || doc.Same != 2 || doc.Changed != 1 || doc.Failed != 1 || doc.FailingAsRecorded != 1 {
		t.Errorf("counts: %+v", doc)
	}
	if doc.Latency.Compared != 2 || *doc.Latency.Median != 3 || *doc.Latency.RecordedMedian != 4 {
		t.Errorf("latency: %+v", doc.Latency)
	}
	if doc.Updated != nil || doc.Error != nil {
		t.Errorf("updated %v, error %v; want neither without --update", doc.Updated, doc.Error)
	}
	if len(doc.Results) != 4 {
		t.Fatalf("%d results, want 4", len(doc.Results))
	}
	r := doc.Results[1]
	if r.Line != 2 || r.Status != "changed" || string(r.Output) != `"B was here"` || len(r.Changes) != 1 || r.Changes[0]["recorded"] != "B is here" {
		t.Errorf("result 2: %+v", r)
	}
	if r := doc.Results[2]; r.Status != "failed" || r.Error == nil || r.Attempts != 3 {
		t.Errorf("result 3: %+v", r)
	}
}

// A long string in a change is clipped around where it differs, as in the
// text report; the result's output keeps it whole.
func TestWriteJSONClipsLongChanges(t *testing.T) {
	long := strings.Repeat("x", 100000)
	tests := []struct {
		name             string
		recorded, output string // JSON
		wantRec, wantOut any
		wantClipped      bool
	}{
		{"short strings whole", `"a b"`, `"a c"`, "a b", "a c", false},
		{"long strings clipped", `"` + long + `y"`, `"` + long + `z"`,
			"xxxxxxxx…(99968 bytes)…" + strings.Repeat("x", 24) + "y",
			"xxxxxxxx…(99968 bytes)…" + strings.Repeat("x", 24) + "z", true},
		{"a long string for a number", `"` + long + `"`, `1`,
			strings.Repeat("x", 24) + "…(99952 bytes)…" + strings.Repeat("x", 24), float64(1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &Record{Line: 1, Input: "a", Output: raw(tt.recorded)}
			got := Got{Output: raw(tt.output), Attempts: 1}
			rep := newReport("r.jsonl", []Result{{Rec: rec, Got: got, Verdict: Compare(rec, got, Rules{})}})
			var b strings.Builder
			if err := rep.writeJSON(&b, nil); err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Results []struct {
					Output  json.RawMessage
					Changes []map[string]any
				}
			}
			if err := json.Unmarshal([]byte(b.String()), &doc); err != nil {
				t.Fatal(err)
			}
			r := doc.Results[0]
			if string(r.Output) != tt.output {
				t.Errorf("output has %d bytes, want %d: whole", len(r.Output), len(tt.output))
			}
			c := r.Changes[0]
			clipped, _ := c["clipped"].(bool)
			if c["recorded"] != tt.wantRec || c["output"] != tt.wantOut || clipped != tt.wantClipped {
				t.Errorf("change: recorded %.80q, output %.80q, clipped %v; want %.80q, %.80q, %v", c["recorded"], c["output"], clipped, tt.wantRec, tt.wantOut, tt.wantClipped)
			}
		})
	}
}
