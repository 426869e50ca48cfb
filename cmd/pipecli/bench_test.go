package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/spf13/cobra"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/iostreams"
)

// Bench's flags are checked before anything runs: a mistake is a usage
// error (exit 2) that says what is wrong and what to do.
func TestBenchFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		err   string // "" for none
		check func(t *testing.T, o *benchOpts)
	}{
		{"defaults", []string{"--line", "x", "--", "cat"}, "", func(t *testing.T, o *benchOpts) {
			if o.Framing != frame.Line || !slices.Equal(o.windows, []int{64}) || o.Warmup != -1 || o.Rounds != 1 {
				t.Errorf("framing %v, windows %v, warmup %d, rounds %d; want line, [64], -1 (one per replica), 1", o.Framing, o.windows, o.Warmup, o.Rounds)
			}
		}},
		{"a sweep", []string{"--line", "x", "--window", "1,8,64", "--", "cat"}, "", func(t *testing.T, o *benchOpts) {
			if !slices.Equal(o.windows, []int{1, 8, 64}) {
				t.Errorf("windows %v", o.windows)
			}
		}},
		{"--vs: 5 rounds", []string{"--line", "x", "--vs", "cat -u", "--", "cat"}, "", func(t *testing.T, o *benchOpts) {
			if !slices.Equal(o.vsArgv, []string{"cat", "-u"}) || o.Rounds != 5 {
				t.Errorf("vs %q, rounds %d", o.vsArgv, o.Rounds)
			}
		}},
		{"jsonl", []string{"--line", "x", "--framing", "jsonl", "--", "cat"}, "", func(t *testing.T, o *benchOpts) {
			if o.Framing != frame.JSONL {
				t.Errorf("framing %v", o.Framing)
			}
		}},
		{"a marker: marker framing", []string{"--line", "x", "--marker", "END", "--", "cat"}, "", func(t *testing.T, o *benchOpts) {
			if o.Framing != frame.Marker {
				t.Errorf("framing %v", o.Framing)
			}
		}},
		{"--prompt: window 1", []string{"--line", "x", "--prompt", "> ", "--", "cat"}, "", func(t *testing.T, o *benchOpts) {
			if !slices.Equal(o.windows, []int{1}) {
				t.Errorf("windows %v", o.windows)
			}
		}},
		{"window 0", []string{"--line", "x", "--window", "0,8"}, `--window "0,8": each window must be 1 or more, not 0`, nil},
		{"window not a number", []string{"--line", "x", "--window", "8x"}, `--window "8x": "8x" is not a whole number`, nil},
		{"requests -1", []string{"--line", "x", "--requests", "-1"}, "--requests must be 1 or more, not -1", nil},
		{"requests 0", []string{"--line", "x", "--requests", "0"}, "--requests must be 1 or more, not 0", nil},
		{"duration 0", []string{"--line", "x", "--duration", "0s"}, "--duration must be more than 0, not 0s", nil},
		{"requests and duration", []string{"--line", "x", "--requests", "5", "--duration", "1s"}, "--requests and --duration both say how much to send; give one", nil},
		{"file and line", []string{"--line", "x", "--file", "in.txt"}, "--file and --line both give the requests; give one", nil},
		{"warmup -1", []string{"--line", "x", "--warmup", "-1"}, "--warmup must be 0 or more, not -1", nil},
		{"rounds 0", []string{"--line", "x", "--rounds", "0"}, "--rounds must be 1 or more, not 0", nil},
		{"vs empty", []string{"--line", "x", "--vs", " "}, "--vs needs a command", nil},
		{"vs unbalanced", []string{"--line", "x", "--vs", "cat 'x"}, `--vs "cat 'x": `, nil},
		{"raw", []string{"--line", "x", "--framing", "raw"}, "bench needs to tell the answers apart: --framing line, marker or jsonl, not raw", nil},
		{"json and verbose", []string{"--line", "x", "--json", "--verbose"}, "--verbose draws histograms, which --json has as numbers; give one", nil},
		{"prompt and windows", []string{"--line", "x", "--prompt", "> ", "--window", "1,8"}, "--prompt sends requests one at a time", nil},
		{"unordered is not bench's", []string{"--line", "x", "--unordered"}, "unknown flag: --unordered", nil},
		{"the target's checks", []string{"--line", "x", "-j", "0"}, "-j/--replicas must be 1 or more, not 0", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, _, _, _ := iostreams.Test()
			var got *benchOpts
			cmd := newBenchCmd(io, func(o *benchOpts) error { got = o; return nil })
			cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) }) // as under the root
			err := execFlags(cmd, tt.args)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				tt.check(t, got)
				return
			}
			wantUsage(t, err, tt.err)
		})
	}
}

// benchjson FILE SIDES WINDOWS ANSWERED checks the report `bench --json`
// wrote to FILE: every field there, no other, of the right type and
// consistent with the rest; SIDES sides, the WINDOWS (1,8) measured for
// each, ANSWERED measured answers at each ("-" when not known: a
// duration, an interruption).
func cmdBenchJSON(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: benchjson FILE SIDES WINDOWS ANSWERED")
	}
	data := []byte(ts.ReadFile(args[0]))
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		ts.Fatalf("not one JSON document: %v\n%s", err, data)
	}
	c := jsonCheck{ts: ts}
	c.keys("report", doc, "requests", "duration_s", "warmup", "rounds", "replicas", "framing", "interrupted", "sides", "ratios?")
	for _, k := range []string{"requests", "duration_s", "warmup", "rounds", "replicas"} {
		c.num("report."+k, doc[k])
	}
	c.str("report.framing", doc["framing"])
	if _, ok := doc["interrupted"].(bool); !ok {
		ts.Fatalf("interrupted is %v, not a boolean", doc["interrupted"])
	}
	sides := c.list("sides", doc["sides"])
	if len(sides) != atoi(ts, args[1]) {
		ts.Fatalf("%d sides; want %s", len(sides), args[1])
	}
	windows := strings.Split(args[2], ",")
	for i, s := range sides {
		side := s.(map[string]any)
		c.keys("side", side, "name", "points")
		c.str("side.name", side["name"])
		points := c.list("points", side["points"])
		if len(points) != len(windows) {
			ts.Fatalf("side %d has %d points; want %d", i+1, len(points), len(windows))
		}
		for j, p := range points {
			c.point(p.(map[string]any), atoi(ts, windows[j]), args[3])
		}
	}
	ratios, ok := doc["ratios"]
	if len(sides) == 1 {
		if ok {
			ts.Fatalf("ratios with one side")
		}
		return
	}
	for j, r := range c.list("ratios", ratios) {
		m := r.(map[string]any)
		c.keys("ratios", m, "window", "requests_per_s", "p50", "p90", "p99", "p99_9", "max", "startup_median", "peak_rss")
		if int(c.num("ratios.window", m["window"])) != atoi(ts, windows[j]) {
			ts.Fatalf("ratios %d are for window %v", j, m["window"])
		}
		for _, k := range []string{"requests_per_s", "p50", "p90", "p99", "p99_9", "max", "startup_median", "peak_rss"} {
			if c.num("ratios."+k, m[k]) <= 0 {
				ts.Fatalf("ratio %s is %v", k, m[k])
			}
		}
	}
}

// jsonCheck checks values of a decoded JSON document.
type jsonCheck struct{ ts *testscript.TestScript }

// keys checks that m has these keys and no other; "k?" may be missing.
func (c jsonCheck) keys(what string, m map[string]any, keys ...string) {
	want := map[string]bool{}
	for _, k := range keys {
		k, optional := strings.CutSuffix(k, "?")
		want[k] = true
		if _, ok := m[k]; !ok && !optional {
			c.ts.Fatalf("%s has no %q: %v", what, k, slices.Sorted(maps.Keys(m)))
		}
	}
	for k := range m {
		if !want[k] {
			c.ts.Fatalf("%s has %q, which is not known", what, k)
		}
	}
}

func (c jsonCheck) num(what string, v any) float64 {
	f, ok := v.(float64)
	if !ok || f < 0 {
		c.ts.Fatalf("%s is %v: not a number, 0 or more", what, v)
	}
	return f
}

func (c jsonCheck) str(what string, v any) {
	if s, ok := v.(string); !ok || s == "" {
		c.ts.Fatalf("%s is %v: not a string", what, v)
	}
}

func (c jsonCheck) list(what string, v any) []any {
	l, ok := v.([]any)
	if !ok {
		c.ts.Fatalf("%s is %v: not a list", what, v)
	}
	return l
}

// point checks a point measured at window, with answered answers ("-":
// any).
func (c jsonCheck) point(p map[string]any, window int, answered string) {
	c.keys("point", p, "window", "runs", "requests", "answered", "errors", "timeouts", "deaths", "not_sent", "retried", "cut_short", "unfinished", "misaligned", "stray", "skipped", "invalid", "notifications",
		"warmup", "child_deaths", "elapsed_s", "requests_per_s", "latency_ms", "histogram", "startup_ms", "startup_median_ms", "peak_rss_bytes")
	n := map[string]float64{}
	for _, k := range []string{"window", "runs", "requests", "answered", "errors", "timeouts", "deaths", "not_sent", "retried", "cut_short", "unfinished", "misaligned", "stray", "skipped", "invalid", "notifications",
		"warmup", "child_deaths", "elapsed_s", "requests_per_s", "startup_median_ms", "peak_rss_bytes"} {
		n[k] = c.num("point."+k, p[k])
	}
	switch {
	case int(n["window"]) != window:
		c.ts.Fatalf("a point at window %v; want %d", n["window"], window)
	case answered != "-" && int(n["answered"]) != atoi(c.ts, answered):
		c.ts.Fatalf("%v answered at window %d; want %s", n["answered"], window, answered)
	case n["requests"] != n["answered"]+n["errors"]:
		c.ts.Fatalf("requests %v is not answered %v + errors %v", n["requests"], n["answered"], n["errors"])
	case n["errors"] != n["timeouts"]+n["deaths"]+n["not_sent"]:
		c.ts.Fatalf("errors %v are not timeouts + deaths + not sent", n["errors"])
	case n["answered"] > 0 && (n["elapsed_s"] <= 0 || n["requests_per_s"] <= 0):
		c.ts.Fatalf("%v answered in %v s, %v/s", n["answered"], n["elapsed_s"], n["requests_per_s"])
	case n["peak_rss_bytes"] < 1<<20:
		c.ts.Fatalf("peak RSS %v bytes: not a process's", n["peak_rss_bytes"])
	}
	lat := p["latency_ms"].(map[string]any)
	c.keys("latency_ms", lat, "min", "mean", "p50", "p90", "p99", "p99_9", "max")
	prev := 0.0
	for _, k := range []string{"min", "p50", "p90", "p99", "p99_9", "max"} {
		v := c.num("latency_ms."+k, lat[k])
		if v < prev {
			c.ts.Fatalf("latency %s %v is below the one before, %v", k, v, prev)
		}
		prev = v
	}
	if m := c.num("latency_ms.mean", lat["mean"]); m < c.num("min", lat["min"]) || m > prev {
		c.ts.Fatalf("mean latency %v is not between min and max", m)
	}
	var counted float64
	prev = 0
	for _, b := range c.list("histogram", p["histogram"]) {
		bm := b.(map[string]any)
		c.keys("bucket", bm, "from_ms", "to_ms", "count")
		from, to := c.num("from_ms", bm["from_ms"]), c.num("to_ms", bm["to_ms"])
		if from < prev || to <= from {
			c.ts.Fatalf("bucket %v-%v after %v", from, to, prev)
		}
		prev = to
		counted += c.num("count", bm["count"])
	}
	if counted != n["answered"] {
		c.ts.Fatalf("the histogram counts %v answers; %v were", counted, n["answered"])
	}
	startups := c.list("startup_ms", p["startup_ms"])
	if len(startups) == 0 {
		c.ts.Fatalf("no start-up measured")
	}
	for _, s := range startups {
		c.num("startup_ms", s)
	}
	c.ts.Logf("window %d: %s", window, fmt.Sprint(n))
}

// A command that spans lines (python3 -c '...') titles a table on one.
func TestOneLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"cat", "cat"},
		{"sh -c  two  spaces", "sh -c  two  spaces"},
		{"python3 -c import sys\nfor l in sys.stdin:\n\tprint(l)", "python3 -c import sys for l in sys.stdin: print(l)"},
		{"a\r\nb", "a b"},
	}
	for _, tt := range tests {
		if got := oneLine(tt.in); got != tt.want {
			t.Errorf("oneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
