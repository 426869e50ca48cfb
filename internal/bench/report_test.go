package bench

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

func TestLogEdges(t *testing.T) {
	tests := []struct {
		name   string
		s      []float64
		lo, hi float64
		want   []float64
	}{
		{"R10 within a decade", series[0], 1000, 2000, []float64{1000, 1250, 1600, 2000, 2500}},
		{"R10 across decades", series[0], 7000, 12000, []float64{6300, 8000, 10000, 12500}},
		{"1-2-5", series[1], 3000, 60000, []float64{2000, 5000, 10000, 20000, 50000, 100000}},
		{"decades", series[2], 5, 5000, []float64{1, 10, 100, 1000, 10000}},
		{"one value on an edge", series[0], 1000, 1000, []float64{1000, 1250}},
		{"nanoseconds: none twice", series[0], 1, 4, []float64{1, 2, 3, 4, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := logEdges(tt.s, tt.lo, tt.hi); !slices.Equal(got, tt.want) {
				t.Errorf("logEdges(%v, %v) = %v; want %v", tt.lo, tt.hi, got, tt.want)
			}
		})
	}
}

func histOf(ds ...time.Duration) *hdrhistogram.Histogram {
	h := newHist()
	for _, d := range ds {
		h.RecordValue(int64(d))
	}
	return h
}

func TestBuckets(t *testing.T) {
	us := time.Microsecond
	tests := []struct {
		name string
		h    *hdrhistogram.Histogram
		want []Bucket
	}{
		{"empty", histOf(), nil},
		{"one value", histOf(10 * us), []Bucket{{10 * us, 12500 * time.Nanosecond, 1}}},
		{
			"a gap is kept",
			histOf(10*us, 11*us, 19*us),
			[]Bucket{{10 * us, 12500, 2}, {12500, 16 * us, 0}, {16 * us, 20 * us, 1}},
		},
		{
			// Six decades in R10 would be 60 rows: 1-2-5 gives 18.
			"wide: a coarser series",
			histOf(us, 500*time.Millisecond),
			[]Bucket{
				{us, 2 * us, 1}, {2 * us, 5 * us, 0}, {5 * us, 10 * us, 0},
				{10 * us, 20 * us, 0}, {20 * us, 50 * us, 0}, {50 * us, 100 * us, 0},
				{100 * us, 200 * us, 0}, {200 * us, 500 * us, 0}, {500 * us, time.Millisecond, 0},
				{time.Millisecond, 2 * time.Millisecond, 0}, {2 * time.Millisecond, 5 * time.Millisecond, 0}, {5 * time.Millisecond, 10 * time.Millisecond, 0},
				{10 * time.Millisecond, 20 * time.Millisecond, 0}, {20 * time.Millisecond, 50 * time.Millisecond, 0}, {50 * time.Millisecond, 100 * time.Millisecond, 0},
				{100 * time.Millisecond, 200 * time.Millisecond, 0}, {200 * time.Millisecond, 500 * time.Millisecond, 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Buckets(tt.h.Distribution())
			if !slices.Equal(got, tt.want) {
				t.Errorf("Buckets:\n got %v\nwant %v", got, tt.want)
			}
			var n int64
			for _, b := range got {
				n += b.Count
			}
			if n != tt.h.TotalCount() {
				t.Errorf("the buckets count %d values; the histogram %d", n, tt.h.TotalCount())
			}
		})
	}
}

func TestDrawBar(t *testing.T) {
	tests := []struct {
		n, most int64
		cells   int
		want    string
	}{
		{0, 10, 10, ""},
		{10, 10, 10, "██████████"},
		{5, 10, 10, "█████"},
		{1, 10, 10, "█"},
		{1, 2, 1, "▌"},
		{1, 1000, 10, "▏"}, // never nothing for a count
		{3, 8, 2, "▊"},
	}
	for _, tt := range tests {
		if got := drawBar(tt.n, tt.most, tt.cells); got != tt.want {
			t.Errorf("drawBar(%d, %d, %d) = %q; want %q", tt.n, tt.most, tt.cells, got, tt.want)
		}
	}
}

func TestDrawHistogram(t *testing.T) {
	us := time.Microsecond
	bs := []Bucket{{10 * us, 12500, 1000}, {12500, 16 * us, 0}, {16 * us, 20 * us, 250}}
	var b bytes.Buffer
	DrawHistogram(&b, bs, 60, false)
	// 28 columns of bar: 60, less the label, count and share.
	want := "" +
		"  10µs – 12.5µs  ████████████████████████████  1,000   80.0%\n" +
		"  12.5µs – 16µs                                    0   80.0%\n" +
		"    16µs – 20µs  ███████                         250  100.0%\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if n := utf8.RuneCountInString(l); n != 60 {
			t.Errorf("%q is %d columns wide; want 60", l, n)
		}
	}

	// On a terminal with colours, the bars are coloured, nothing else.
	b.Reset()
	DrawHistogram(&b, bs, 60, true)
	if !strings.Contains(b.String(), "\x1b[36m███") || strings.Count(b.String(), "\x1b[36m") != 2 {
		t.Errorf("coloured: %q", b.String())
	}

	// Too narrow: the bars keep 10 columns.
	b.Reset()
	DrawHistogram(&b, bs, 20, false)
	if !strings.Contains(b.String(), "  ██████████  1,000") {
		t.Errorf("narrow: %q", b.String())
	}
}

func TestFormats(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	i := func(v int64) *int64 { return &v }
	for _, tt := range []struct{ got, want string }{
		{thousands(0), "0"},
		{thousands(999), "999"},
		{thousands(1000), "1,000"},
		{thousands(1234567), "1,234,567"},
		{thousands(-1234), "-1,234"},
		{rate(0), "0"},
		{rate(0.5), "0.50"},
		{rate(49.34), "49.3"},
		{rate(123.4), "123"},
		{rate(45123.6), "45,124"},
		{times(f(1.234)), "1.23×"},
		{times(nil), "-"},
		{ms(f(0.0125)), "12.5µs"},
		{ms(f(25.14)), "25.1ms"},
		{ms(f(1234)), "1.23s"},
		{ms(nil), "-"},
		{rss(i(32 << 20)), "32.0 MiB"},
		{rss(nil), "-"},
		{plural(1, "replica"), "1 replica"},
		{plural(2, "replica"), "2 replicas"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q; want %q", tt.got, tt.want)
		}
	}
}

// A point of each side, made as Run makes it.
func testPoint(window int, answered int64, elapsed time.Duration, lats ...time.Duration) Point {
	t := tally{runs: 1, c: counts{answered: answered, timeouts: 1}, elapsed: elapsed, hist: histOf(lats...),
		startups: []time.Duration{80 * time.Millisecond, 90 * time.Millisecond, 100 * time.Millisecond}, peakRSS: 20 << 20}
	return t.point(window)
}

func TestPoint(t *testing.T) {
	p := testPoint(8, 100, 2*time.Second, time.Millisecond, 2*time.Millisecond, 3*time.Millisecond)
	if p.RequestsPerS != 50 || p.Requests != 101 || p.Errors != 1 {
		t.Errorf("requests/s %v, requests %d, errors %d; want 50, 101, 1", p.RequestsPerS, p.Requests, p.Errors)
	}
	if *p.StartupMedianMS != 90 || *p.PeakRSSBytes != 20<<20 {
		t.Errorf("start-up %v, RSS %v", *p.StartupMedianMS, *p.PeakRSSBytes)
	}
	if l := p.Latency; *l.P50 < 1.999 || *l.P50 > 2.002 || *l.Max < 2.999 || *l.Max > 3.004 {
		t.Errorf("p50 %v, max %v; want 2ms, 3ms within 0.1%%", *l.P50, *l.Max)
	}
	// No RSS for a container's docker CLI; nothing measured, nulls.
	empty := (&tally{runs: 1, peakRSS: 1 << 20, noRSS: true}).point(1)
	if empty.PeakRSSBytes != nil || empty.Latency.P50 != nil || empty.StartupMedianMS != nil || empty.RequestsPerS != 0 {
		t.Errorf("an empty point: %+v", empty)
	}
}

func TestReportText(t *testing.T) {
	ms := time.Millisecond
	a := testPoint(1, 100, 2*time.Second, 10*ms, 20*ms)
	b := testPoint(1, 50, 2*time.Second, 20*ms, 40*ms)
	r := &Report{Requests: 150, Warmup: 1, Rounds: 5, Replicas: 1, Framing: "line",
		Sides:  []SideReport{{Name: "./new", Points: []Point{a}}, {Name: "./old", Points: []Point{b}}},
		Ratios: []Ratios{ratiosOf(a, b)}}
	var out bytes.Buffer
	if err := r.Write(&out, Text{Width: 80}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"A: ./new\nB: ./old\n150 requests, each side, in 5 rounds alternating A and B, after 1 warm-up per run; 1 replica, framing line\n",
		"window                     A         B    A/B\n",
		"     1  requests/s      50.0      25.0  2.00×\n",
		"               p50      10ms      20ms  0.50×\n",
		"          peak RSS  20.0 MiB  20.0 MiB  1.00×\n",
		"./new, window 1: 1 of 101 requests failed (1 timeout, 0 unanswered as their child ended, 0 not sent); 0 child deaths, 0 answered when sent again\n",
		"\nlatency of 100 answers of ./new at window 1:\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q; it is:\n%s", want, out.String())
		}
	}

	// One side, several windows: a table, no histogram unless verbose.
	one := &Report{Requests: 100, Warmup: 2, Rounds: 1, Replicas: 2, Framing: "marker",
		Sides: []SideReport{{Name: "the demo model", Points: []Point{a, testPoint(8, 100, time.Second, 5*ms)}}}}
	out.Reset()
	one.Write(&out, Text{Width: 80})
	for _, want := range []string{
		"the demo model: 100 requests at each window, after 2 warm-up per run; 2 replicas, framing marker\n",
		"window  requests/s   p50   p90   p99  p99.9   max  errors  start-up  peak RSS\n",
		"     8         100   5ms   5ms   5ms    5ms   5ms       1      90ms  20.0 MiB\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q; it is:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "latency of") {
		t.Errorf("a histogram without --verbose:\n%s", out.String())
	}
	out.Reset()
	one.Write(&out, Text{Width: 80, Verbose: true})
	if strings.Count(out.String(), "latency of") != 2 {
		t.Errorf("--verbose: want a histogram per window:\n%s", out.String())
	}
}

// TestReportUntrusted: what makes figures doubtful is said under the
// table, one line each.
func TestReportUntrusted(t *testing.T) {
	tests := []struct {
		name string
		p    func(*Point)
		want string
	}{
		{"answers came unasked", func(p *Point) { p.Misaligned = 1 },
			"window 4: figures not to be trusted: 1 answer came with no request waiting; in line framing answers are matched in order, so those before may have gone to the wrong requests\n"},
		{"several", func(p *Point) { p.Misaligned = 3 }, ": 3 answers came with no request waiting;"},
		{"stray jsonl answers", func(p *Point) { p.Stray = 2 },
			"window 4: 2 answers matched no request in flight by \"id\" (an id answered twice, or one never sent): given to none, and not counted\n"},
		{"unanswered after the deadline", func(p *Point) { p.Unfinished = 12 },
			"window 4: 12 requests in flight when time was up still unanswered after --grace, given up on (not counted)\n"},
		{"one failed of one", func(p *Point) { p.Requests, p.Answered, p.Errors, p.Deaths = 1, 0, 1, 1 },
			"window 4: 1 of 1 request failed (0 timeouts, 1 unanswered as their child ended, 0 not sent)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Point{Window: 4, Requests: 10, Answered: 10}
			tt.p(&p)
			r := &Report{Requests: 1, Warmup: 1, Rounds: 1, Replicas: 1, Framing: "line", Sides: []SideReport{{Name: "x", Points: []Point{p}}}}
			var out bytes.Buffer
			if err := r.Write(&out, Text{Width: 80}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("the report lacks %q; it is:\n%s", tt.want, out.String())
			}
			if !strings.HasPrefix(out.String(), "x: 1 request, after 1 warm-up per run;") {
				t.Errorf("the header is not of 1 request:\n%s", out.String())
			}
		})
	}
}

func TestReportJSON(t *testing.T) {
	a := testPoint(1, 100, 2*time.Second, time.Millisecond)
	r := &Report{Requests: 100, Warmup: 1, Rounds: 1, Replicas: 1, Framing: "line", Sides: []SideReport{{Name: "x", Points: []Point{a}}}}
	var out bytes.Buffer
	if err := r.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["ratios"]; ok {
		t.Errorf("ratios with one side: %s", out.String())
	}
	p := got["sides"].([]any)[0].(map[string]any)["points"].([]any)[0].(map[string]any)
	for _, k := range []string{"window", "runs", "requests", "answered", "errors", "timeouts", "deaths", "not_sent", "retried", "cut_short", "unfinished", "misaligned", "warmup",
		"child_deaths", "elapsed_s", "requests_per_s", "latency_ms", "histogram", "startup_ms", "startup_median_ms", "peak_rss_bytes"} {
		if _, ok := p[k]; !ok {
			t.Errorf("no %q in %s", k, out.String())
		}
	}
}
