package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/pipecli/pipecli/internal/session"
)

// Report is every figure a bench measured, as --json writes it: one
// document, for dashboards. Latencies and times are in milliseconds,
// memory in bytes; a figure that could not be measured is null.
type Report struct {
	// What was asked: measured requests per side at each window (0 when
	// DurationS is given), the warm-up requests of each run, the rounds
	// each side was run in, the replicas of each run.
	Requests  int     `json:"requests"`
	DurationS float64 `json:"duration_s"`
	Warmup    int     `json:"warmup"`
	Rounds    int     `json:"rounds"`
	Replicas  int     `json:"replicas"`
	Framing   string  `json:"framing"`
	// Interrupted: a signal stopped the bench; the figures are of what
	// was measured before.
	Interrupted bool `json:"interrupted"`
	// Sides: the command measured, and the --vs command.
	Sides []SideReport `json:"sides"`
	// Ratios, with --vs: each figure of the first side divided by the
	// second's, at each window.
	Ratios []Ratios `json:"ratios,omitempty"`
}

// SideReport is one command's figures, at each window.
type SideReport struct {
	Name   string  `json:"name"`
	Points []Point `json:"points"`
}

// Point is a command's figures at one window, over all its rounds.
type Point struct {
	Window int `json:"window"`
	// Runs is how many times the command was started and run for it.
	Runs int `json:"runs"`
	// Requests counts the measured requests that ended: Answered, or
	// failed, as a Timeout, a Death (its child died or ended without
	// answering it) or NotSent (no child was left to take it). Retried
	// were answered after their child died handling them. CutShort were
	// in flight when the bench was interrupted: not failures, not
	// counted in Requests; so were Unfinished, with --duration: in flight
	// when time was up, and still unanswered --grace after, when the run
	// was ended. Warmup counts the warm-up requests, apart.
	Requests   int64 `json:"requests"`
	Answered   int64 `json:"answered"`
	Errors     int64 `json:"errors"`
	Timeouts   int64 `json:"timeouts"`
	Deaths     int64 `json:"deaths"`
	NotSent    int64 `json:"not_sent"`
	Retried    int64 `json:"retried"`
	CutShort   int64 `json:"cut_short"`
	Unfinished int64 `json:"unfinished"`
	// Invalid counts the requests the framing could not send (a jsonl
	// line that is an array, an id that is an object); they are errors.
	Invalid int64 `json:"invalid"`
	// Notifications counts the JSON-RPC notifications sent (a "method"
	// and no "id"): no answer comes to them, so they are not measured,
	// nor counted among the requests.
	Notifications int64 `json:"notifications"`
	Warmup        int64 `json:"warmup"`
	ChildDeaths   int   `json:"child_deaths"`
	// Misaligned counts, in line and marker framing, the answers that
	// came with no request waiting for them: answers are matched in
	// order, so those before may have gone to the wrong requests, and
	// the figures are not to be trusted (the child answers a line twice,
	// or its banner was taken for answers).
	Misaligned int `json:"misaligned"`
	// Stray counts, in jsonl framing, the answers whose id matched no
	// request in flight (an id answered twice, or one never sent): they
	// were given to no request, and the figures count each request's own
	// answer, but the child does not answer as the framing expects.
	Stray int `json:"stray"`
	// Skipped counts, in line and marker framing, the requests a child
	// left unanswered when it ended, having answered others: if it
	// skipped lines, the answers after them went to the wrong requests,
	// and the figures are not to be trusted.
	Skipped int `json:"skipped"`
	// ElapsedS is the time the measured requests took, from the end of
	// the warm-up to the last one's end, added over the runs;
	// RequestsPerS is Answered over it.
	ElapsedS     float64 `json:"elapsed_s"`
	RequestsPerS float64 `json:"requests_per_s"`
	// Latency of the measured answers, from the request's first send to
	// its answer, and its histogram.
	Latency   Latency        `json:"latency_ms"`
	Histogram []BucketReport `json:"histogram"`
	// StartupMS has each child's start-up in each run: from its spawn to
	// its first answer, or to its ready line (--ready, --skip-banner).
	StartupMS       []float64 `json:"startup_ms"`
	StartupMedianMS *float64  `json:"startup_median_ms"`
	// PeakRSSBytes is the largest peak RSS of the children, where it can
	// be read: not of a container's (--image), whose child is the docker
	// CLI.
	PeakRSSBytes *int64 `json:"peak_rss_bytes"`

	hist     *hdrhistogram.Histogram
	startups []time.Duration
}

// Latency is the percentiles of the answers' latencies, in milliseconds;
// null with no answer.
type Latency struct {
	Min  *float64 `json:"min"`
	Mean *float64 `json:"mean"`
	P50  *float64 `json:"p50"`
	P90  *float64 `json:"p90"`
	P99  *float64 `json:"p99"`
	P999 *float64 `json:"p99_9"`
	Max  *float64 `json:"max"`
}

// BucketReport is a bucket of the histogram: answers that took from
// FromMS (included) to ToMS.
type BucketReport struct {
	FromMS float64 `json:"from_ms"`
	ToMS   float64 `json:"to_ms"`
	Count  int64   `json:"count"`
}

// Ratios are the first side's figures over the second's at a window;
// null where the second's is 0 or either is missing.
type Ratios struct {
	Window       int      `json:"window"`
	RequestsPerS *float64 `json:"requests_per_s"`
	P50          *float64 `json:"p50"`
	P90          *float64 `json:"p90"`
	P99          *float64 `json:"p99"`
	P999         *float64 `json:"p99_9"`
	Max          *float64 `json:"max"`
	Startup      *float64 `json:"startup_median"`
	PeakRSS      *float64 `json:"peak_rss"`
}

// tally adds up a point's runs.
type tally struct {
	runs        int
	c           counts
	childDeaths int
	misaligned  int
	stray       int
	skipped     int
	elapsed     time.Duration
	hist        *hdrhistogram.Histogram
	startups    []time.Duration
	peakRSS     int64 // 0: not read
	noRSS       bool
}

func (t *tally) add(m *meter, res session.Result) {
	if t.hist == nil {
		t.hist = newHist()
	}
	t.runs++
	t.c.add(m.c)
	t.childDeaths += res.Deaths
	t.misaligned += res.Misaligned
	t.stray += res.Stray
	t.skipped += res.Skipped
	t.elapsed += m.elapsed()
	t.hist.Merge(m.latencies())
	t.startups = append(t.startups, m.startups()...)
	t.peakRSS = max(t.peakRSS, res.PeakRSS)
}

// point makes the report's figures of t.
func (t *tally) point(window int) Point {
	c := t.c
	p := Point{
		Window: window, Runs: t.runs,
		Requests: c.answered + c.errors(), Answered: c.answered, Errors: c.errors(),
		Timeouts: c.timeouts, Deaths: c.deaths, NotSent: c.notSent, Retried: c.retried,
		CutShort: c.cutShort, Unfinished: c.unfinished, Warmup: c.warm, ChildDeaths: t.childDeaths, Misaligned: t.misaligned, Stray: t.stray, Skipped: t.skipped,
		Invalid: c.invalid, Notifications: c.notifications,
		ElapsedS:  t.elapsed.Seconds(),
		StartupMS: []float64{},
		Histogram: []BucketReport{},
		hist:      t.hist,
		startups:  t.startups,
	}
	if t.elapsed > 0 {
		p.RequestsPerS = float64(c.answered) / t.elapsed.Seconds()
	}
	if t.hist != nil && t.hist.TotalCount() > 0 {
		h := t.hist
		q := func(v int64) *float64 { return msOf(time.Duration(v)) }
		mean := h.Mean() / 1e6
		p.Latency = Latency{Min: q(h.Min()), Mean: &mean, P50: q(h.ValueAtQuantile(50)), P90: q(h.ValueAtQuantile(90)),
			P99: q(h.ValueAtQuantile(99)), P999: q(h.ValueAtQuantile(99.9)), Max: q(h.Max())}
		for _, b := range Buckets(h.Distribution()) {
			p.Histogram = append(p.Histogram, BucketReport{FromMS: *msOf(b.From), ToMS: *msOf(b.To), Count: b.Count})
		}
	}
	for _, d := range t.startups {
		p.StartupMS = append(p.StartupMS, *msOf(d))
	}
	if len(t.startups) > 0 {
		p.StartupMedianMS = msOf(median(t.startups))
	}
	if t.peakRSS > 0 && !t.noRSS {
		rss := t.peakRSS
		p.PeakRSSBytes = &rss
	}
	return p
}

func msOf(d time.Duration) *float64 {
	ms := float64(d) / 1e6
	return &ms
}

// median is the middle of ds (the lower middle of an even count).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// ratio is a over b, nil if either is missing or b is 0.
func ratio(a, b *float64) *float64 {
	if a == nil || b == nil || *b == 0 {
		return nil
	}
	r := *a / *b
	return &r
}

func ratiosOf(a, b Point) Ratios {
	f := func(v float64) *float64 { return &v }
	var rss *float64
	if a.PeakRSSBytes != nil && b.PeakRSSBytes != nil {
		rss = ratio(f(float64(*a.PeakRSSBytes)), f(float64(*b.PeakRSSBytes)))
	}
	return Ratios{
		Window:       a.Window,
		RequestsPerS: ratio(f(a.RequestsPerS), f(b.RequestsPerS)),
		P50:          ratio(a.Latency.P50, b.Latency.P50),
		P90:          ratio(a.Latency.P90, b.Latency.P90),
		P99:          ratio(a.Latency.P99, b.Latency.P99),
		P999:         ratio(a.Latency.P999, b.Latency.P999),
		Max:          ratio(a.Latency.Max, b.Latency.Max),
		Startup:      ratio(a.StartupMedianMS, b.StartupMedianMS),
		PeakRSS:      rss,
	}
}

// WriteJSON writes r as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// Text says how the report is written for people.
type Text struct {
	Width   int  // of the histogram, in columns
	Color   bool // colour the histogram's bars
	Verbose bool // a histogram for every point, not only for one
}

// Write writes r for people: what was run, a table of the figures at each
// window (each side's, and their ratio, with --vs), what failed, and the
// latency histogram of a lone point (of every point with Verbose).
func (r *Report) Write(w io.Writer, t Text) error {
	bw := &errWriter{w: w}
	r.writeHeader(bw)
	if len(r.Sides) == 2 {
		r.writeVs(bw)
	} else {
		r.writeTable(bw)
	}
	r.writeErrors(bw)
	if len(r.Sides[0].Points) == 1 || t.Verbose {
		for _, s := range r.Sides {
			for _, p := range s.Points {
				if p.hist == nil || p.hist.TotalCount() == 0 {
					continue
				}
				name := ""
				if len(r.Sides) > 1 {
					name = " of " + s.Name
				}
				fmt.Fprintf(bw, "\nlatency of %s answers%s at window %d:\n", thousands(p.Answered), name, p.Window)
				DrawHistogram(bw, Buckets(p.hist.Distribution()), t.Width, t.Color)
			}
		}
	}
	return bw.err
}

func (r *Report) writeHeader(w io.Writer) {
	what := plural(r.Requests, "request")
	if r.DurationS > 0 {
		what = fmt.Sprintf("requests for %s", session.Brief(time.Duration(r.DurationS*float64(time.Second))))
	}
	if len(r.Sides[0].Points) > 1 {
		what += " at each window"
	}
	if len(r.Sides) > 1 {
		what += ", each side"
	}
	rounds := ""
	if r.Rounds > 1 {
		rounds = fmt.Sprintf(", in %d rounds", r.Rounds)
		if len(r.Sides) > 1 {
			rounds = fmt.Sprintf(", in %d rounds alternating A and B", r.Rounds)
		}
	}
	if len(r.Sides) == 1 {
		fmt.Fprintf(w, "%s: ", r.Sides[0].Name)
	} else {
		fmt.Fprintf(w, "A: %s\nB: %s\n", r.Sides[0].Name, r.Sides[1].Name)
	}
	fmt.Fprintf(w, "%s%s, after %s warm-up per run; %s, framing %s\n", what, rounds, thousands(int64(r.Warmup)), plural(r.Replicas, "replica"), r.Framing)
	if r.Interrupted {
		fmt.Fprintln(w, "interrupted: the figures are of what was measured before")
	}
	fmt.Fprintln(w)
}

func (r *Report) writeTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "window\trequests/s\tp50\tp90\tp99\tp99.9\tmax\terrors\tstart-up\tpeak RSS\t")
	for _, p := range r.Sides[0].Points {
		l := p.Latency
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", p.Window, rate(p.RequestsPerS), ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max),
			thousands(p.Errors), ms(p.StartupMedianMS), rss(p.PeakRSSBytes))
	}
	tw.Flush()
}

// writeVs writes the two sides next to each other, with their ratio, at
// each window.
func (r *Report) writeVs(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "window\t\tA\tB\tA/B\t")
	for i, a := range r.Sides[0].Points {
		b, q := r.Sides[1].Points[i], r.Ratios[i]
		rows := []struct {
			name       string
			a, b, a2b  string
			windowCell string
		}{
			{"requests/s", rate(a.RequestsPerS), rate(b.RequestsPerS), times(q.RequestsPerS), strconv.Itoa(a.Window)},
			{"p50", ms(a.Latency.P50), ms(b.Latency.P50), times(q.P50), ""},
			{"p90", ms(a.Latency.P90), ms(b.Latency.P90), times(q.P90), ""},
			{"p99", ms(a.Latency.P99), ms(b.Latency.P99), times(q.P99), ""},
			{"p99.9", ms(a.Latency.P999), ms(b.Latency.P999), times(q.P999), ""},
			{"max", ms(a.Latency.Max), ms(b.Latency.Max), times(q.Max), ""},
			{"errors", thousands(a.Errors), thousands(b.Errors), "", ""},
			{"start-up", ms(a.StartupMedianMS), ms(b.StartupMedianMS), times(q.Startup), ""},
			{"peak RSS", rss(a.PeakRSSBytes), rss(b.PeakRSSBytes), times(q.PeakRSS), ""},
		}
		for _, row := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", row.windowCell, row.name, row.a, row.b, row.a2b)
		}
	}
	tw.Flush()
}

// writeErrors says what failed, where anything did, and what was retried;
// which requests were given up on when time was up; and which figures
// are not to be trusted, answers having come unasked.
func (r *Report) writeErrors(w io.Writer) {
	for _, s := range r.Sides {
		for _, p := range s.Points {
			who := ""
			if len(r.Sides) > 1 {
				who = s.Name + ", "
			}
			if p.Errors > 0 || p.Retried > 0 || p.ChildDeaths > 0 {
				invalid := ""
				if p.Invalid > 0 {
					invalid = fmt.Sprintf(", %s invalid", thousands(p.Invalid))
				}
				fmt.Fprintf(w, "%swindow %d: %s of %s failed (%s, %s, %s%s); %s, %s answered when sent again\n", who, p.Window,
					thousands(p.Errors), plural64(p.Requests, "request"), plural64(p.Timeouts, "timeout"), thousands(p.Deaths)+" unanswered as their child ended",
					fmt.Sprintf("%s not sent", thousands(p.NotSent)), invalid, plural(p.ChildDeaths, "child death"), thousands(p.Retried))
			}
			if p.CutShort > 0 {
				fmt.Fprintf(w, "%swindow %d: %s in flight when it was interrupted (not counted)\n", who, p.Window,
					plural64(p.CutShort, "request"))
			}
			if p.Unfinished > 0 {
				fmt.Fprintf(w, "%swindow %d: %s in flight when time was up still unanswered after --grace, given up on (not counted)\n", who, p.Window,
					plural64(p.Unfinished, "request"))
			}
			if p.Misaligned > 0 {
				fmt.Fprintf(w, "%swindow %d: figures not to be trusted: %s came with no request waiting; in %s framing answers are matched in order, so those before may have gone to the wrong requests\n", who, p.Window,
					plural(p.Misaligned, "answer"), r.Framing)
			}
			if p.Skipped > 0 {
				fmt.Fprintf(w, "%swindow %d: figures not to be trusted: a child ended leaving %s unanswered after it answered others; in %s framing a line it skipped gives the answers after it to the wrong requests (a REPL needs --sentinel or --prompt)\n", who, p.Window,
					plural(p.Skipped, "request"), r.Framing)
			}
			if p.Notifications > 0 {
				fmt.Fprintf(w, "%swindow %d: %s sent, not measured: a JSON-RPC notification (a \"method\" and no \"id\") expects no answer\n", who, p.Window,
					plural64(p.Notifications, "notification"))
			}
			if p.Stray > 0 {
				fmt.Fprintf(w, "%swindow %d: %s matched no request in flight by \"id\" (an id answered twice, or one never sent): given to none, and not counted\n", who, p.Window,
					plural(p.Stray, "answer"))
			}
		}
	}
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// ms writes a latency in milliseconds as session.Brief does ("-" if none).
func ms(v *float64) string {
	if v == nil {
		return "-"
	}
	return session.Brief(time.Duration(math.Round(*v * 1e6)))
}

// rate writes requests/s with three significant digits below 1000, with
// thousands separated above.
func rate(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1000:
		return thousands(int64(math.Round(v)))
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// times writes a ratio, "1.23×" ("-" if none).
func times(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', 2, 64) + "×"
}

// rss writes bytes in MiB ("-" if none).
func rss(v *int64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(float64(*v)/(1<<20), 'f', 1, 64) + " MiB"
}

// thousands writes n with its thousands separated by commas: 1,234,567.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func plural(n int, what string) string { return plural64(int64(n), what) }

func plural64(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return thousands(n) + " " + what + "s"
}
