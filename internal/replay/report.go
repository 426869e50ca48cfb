package replay

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fatih/color"

	"github.com/pipecli/pipecli/internal/session"
)

// report is what a replay found, with its figures.
type report struct {
	path    string
	results []Result
	same, changed, failed,
	asRecorded int // of the same: failing, as when recorded
	// Latencies of the requests answered now, and, of those, the
	// recorded ones where they were answered then with a latency_ms:
	// new and old compared over the same requests.
	compared        int
	newLat, oldLat  []float64 // ms; over the compared requests
	answeredLat     []float64 // ms; every request answered now
	updated         int       // records rewritten by --update; -1: none were, or no --update
	reframed        int       // records given the replay's framing flags alone by --update
	framing         string    // those flags, as FlagsText writes them
	notUpdated      string    // why --update wrote nothing, if it did not
	updateErr       error     // writing the records failed
	updateRequested bool
}

func newReport(path string, results []Result) *report {
	rep := &report{path: path, results: results, updated: -1}
	for _, r := range results {
		switch r.Verdict.Status {
		case Same:
			rep.same++
			if r.Verdict.AsRecorded {
				rep.asRecorded++
			}
		case Changed:
			rep.changed++
		case Failed:
			rep.failed++
		}
		if r.Got.Failed || r.Got.Notification {
			continue
		}
		ms := millis(r.Got.Latency)
		rep.answeredLat = append(rep.answeredLat, ms)
		if r.Rec.LatencyMS != nil && r.Rec.Err == nil && !r.Rec.Notification {
			rep.compared++
			rep.newLat = append(rep.newLat, ms)
			rep.oldLat = append(rep.oldLat, *r.Rec.LatencyMS)
		}
	}
	return rep
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// update rewrites the records that changed, unless some failed or the run
// went wrong (runErr): then it writes nothing, and says why.
func (rep *report) update(recs *Records, framing *session.FramingFlags, runErr error) {
	rep.updateRequested = true
	switch {
	case rep.failed > 0:
		rep.notUpdated = fmt.Sprintf("%d request(s) failed, which --update does not record: fix that, or record them anew with 'pipecli run --json'", rep.failed)
		return
	case runErr != nil:
		rep.notUpdated = fmt.Sprintf("the run went wrong (%v), so its answers cannot be trusted", runErr)
		return
	}
	n, reframed, err := recs.Update(rep.results, framing)
	if err != nil {
		// Said as the run's error, once, on stderr; in --json also here.
		rep.updateErr, rep.notUpdated = err, err.Error()
		return
	}
	rep.updated, rep.reframed = n, reframed
	if reframed > 0 {
		rep.framing = FlagsText(framing)
	}
}

// pct is the p-th percentile of xs (nearest rank), which it sorts.
func pct(xs []float64, p float64) float64 {
	slices.Sort(xs)
	return xs[min(len(xs)-1, int(p*float64(len(xs))))]
}

// ms writes a latency in milliseconds with three significant digits, or
// fewer.
func ms(x float64) string {
	switch {
	case x >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64) + " ms"
	case x >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(x, 'f', 2, 64) + " ms"
}

// writeText writes the report for people: a paragraph for each record
// that did not replay the same, then the figures.
func (rep *report) writeText(w io.Writer, s style, jsonl bool) error {
	var b strings.Builder
	changed, failed := s.word(color.FgYellow), s.word(color.FgRed)
	for _, r := range rep.results {
		input := strconv.Quote(clip(r.Rec.Input, 40))
		switch r.Verdict.Status {
		case Changed:
			fmt.Fprintf(&b, "line %d %s: %s\n", r.Rec.Line, changed("changed"), input)
			for _, c := range r.Verdict.Changes {
				fmt.Fprintf(&b, "    %s\n", s.show(c, jsonl))
			}
		case Failed:
			fmt.Fprintf(&b, "line %d %s: %s: %s\n", r.Rec.Line, failed("failed"), input, r.Got.Err)
		}
	}
	fmt.Fprintf(&b, "replayed %d record(s) from %s: %d same", len(rep.results), rep.path, rep.same)
	if rep.asRecorded > 0 {
		fmt.Fprintf(&b, " (%d failing as recorded)", rep.asRecorded)
	}
	fmt.Fprintf(&b, ", %d changed, %d failed\n", rep.changed, rep.failed)
	switch {
	case rep.compared > 0:
		fmt.Fprintf(&b, "latency: median %s, p90 %s; recorded: median %s, p90 %s\n",
			ms(pct(rep.newLat, 0.5)), ms(pct(rep.newLat, 0.9)), ms(pct(rep.oldLat, 0.5)), ms(pct(rep.oldLat, 0.9)))
	case len(rep.answeredLat) > 0:
		fmt.Fprintf(&b, "latency: median %s, p90 %s; none recorded\n", ms(pct(rep.answeredLat, 0.5)), ms(pct(rep.answeredLat, 0.9)))
	}
	switch {
	case rep.updateErr != nil:
	case rep.notUpdated != "":
		fmt.Fprintf(&b, "%s not updated: %s\n", rep.path, rep.notUpdated)
	case rep.updated == 0 && rep.reframed == 0:
		fmt.Fprintf(&b, "%s is up to date\n", rep.path)
	case rep.updated >= 0:
		fmt.Fprintf(&b, "updated %d record(s) in %s", rep.updated, rep.path)
		if rep.reframed > 0 {
			fmt.Fprintf(&b, "; %d other record(s) replayed the same, and now say they were made with %s", rep.reframed, rep.framing)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// word returns a function that colours a word in c, in colour.
func (s style) word(c color.Attribute) func(string) string {
	if s.del == nil {
		return func(w string) string { return w }
	}
	cc := color.New(c)
	cc.EnableColor()
	return func(w string) string { return cc.Sprint(w) }
}

// The --json report: one document.
type jsonReport struct {
	Records           int          `json:"records"`
	Same              int          `json:"same"`
	Changed           int          `json:"changed"`
	Failed            int          `json:"failed"`
	FailingAsRecorded int          `json:"failing_as_recorded"`
	Latency           jsonLatency  `json:"latency_ms"`
	Updated           *int         `json:"updated,omitempty"`     // with --update: records rewritten
	Reframed          *int         `json:"reframed,omitempty"`    // with --update: records given the replay's framing flags alone
	NotUpdated        *string      `json:"not_updated,omitempty"` // with --update: why nothing was written
	Error             *string      `json:"error"`                 // the run went wrong
	Results           []jsonResult `json:"results"`
}

type jsonLatency struct {
	Compared       int      `json:"compared"`
	Median         *float64 `json:"median"`
	P90            *float64 `json:"p90"`
	RecordedMedian *float64 `json:"recorded_median"`
	RecordedP90    *float64 `json:"recorded_p90"`
}

type jsonResult struct {
	Line              int             `json:"line"`
	Input             string          `json:"input"`
	Status            string          `json:"status"`
	Output            json.RawMessage `json:"output"`
	OutputBase64      string          `json:"output_base64,omitempty"` // the answer's bytes, when not UTF-8
	Error             *string         `json:"error"`
	RecordedOutput    json.RawMessage `json:"recorded_output"`
	RecordedBase64    string          `json:"recorded_output_base64,omitempty"` // the record's "output_base64"
	RecordedError     *string         `json:"recorded_error"`
	LatencyMS         float64         `json:"latency_ms"`
	RecordedLatencyMS *float64        `json:"recorded_latency_ms"`
	Attempts          int             `json:"attempts"`
	Replica           *int            `json:"replica"`
	Changes           []jsonChange    `json:"changes,omitempty"`
}

// jsonChange is a Change; a value absent is a member added or removed.
// Clipped: strings longer than maxJSONString were clipped around where
// they differ, as the text report shows them (the result's output and
// recorded_output hold them whole).
type jsonChange struct {
	Path     string `json:"path"`
	Recorded any    `json:"recorded,omitempty"`
	Output   any    `json:"output,omitempty"`
	Clipped  bool   `json:"clipped,omitempty"`
}

// maxJSONString is the length in bytes past which a string in a --json
// change is clipped: a 20 MB answer changed in its last byte is in the
// report twice already, as output and recorded_output.
const maxJSONString = 4 << 10

// clipJSON is c's recorded and new values for the --json report, strings
// longer than maxJSONString clipped around where they differ, and whether
// either was.
func clipJSON(c Change) (recorded, got any, clipped bool) {
	recorded, got = c.Recorded, c.Got
	x, okX := recorded.(string)
	y, okY := got.(string)
	if okX && len(x) > maxJSONString {
		recorded, clipped = clipChanged(x, y), true // y is "" if not a string
	}
	if okY && len(y) > maxJSONString {
		got, clipped = clipChanged(y, x), true
	}
	return recorded, got, clipped
}

// present wraps a JSON value so that null survives omitempty.
type present struct{ v any }

func (p present) MarshalJSON() ([]byte, error) { return json.Marshal(p.v) }

// writeJSON writes the report as one JSON document on a line.
func (rep *report) writeJSON(w io.Writer, runErr error) error {
	doc := jsonReport{
		Records:           len(rep.results),
		Same:              rep.same,
		Changed:           rep.changed,
		Failed:            rep.failed,
		FailingAsRecorded: rep.asRecorded,
		Results:           make([]jsonResult, 0, len(rep.results)),
	}
	doc.Latency.Compared = rep.compared
	f := func(x float64) *float64 { return &x }
	switch {
	case rep.compared > 0:
		doc.Latency.Median, doc.Latency.P90 = f(pct(rep.newLat, 0.5)), f(pct(rep.newLat, 0.9))
		doc.Latency.RecordedMedian, doc.Latency.RecordedP90 = f(pct(rep.oldLat, 0.5)), f(pct(rep.oldLat, 0.9))
	case len(rep.answeredLat) > 0:
		doc.Latency.Median, doc.Latency.P90 = f(pct(rep.answeredLat, 0.5)), f(pct(rep.answeredLat, 0.9))
	}
	if rep.updateRequested {
		if rep.notUpdated != "" {
			doc.NotUpdated = &rep.notUpdated
		} else {
			doc.Updated, doc.Reframed = &rep.updated, &rep.reframed
		}
	}
	if runErr != nil {
		e := runErr.Error()
		doc.Error = &e
	}
	for _, r := range rep.results {
		jr := jsonResult{
			Line:              r.Rec.Line,
			Input:             r.Rec.Input,
			Status:            r.Verdict.Status.String(),
			Output:            r.Got.Output,
			RecordedOutput:    r.Rec.Output,
			RecordedError:     r.Rec.Err,
			LatencyMS:         millis(r.Got.Latency),
			RecordedLatencyMS: r.Rec.LatencyMS,
			Attempts:          r.Got.Attempts,
		}
		if r.Got.Failed {
			jr.Error = &r.Got.Err
		}
		if r.Got.Exact != nil {
			jr.OutputBase64 = base64.StdEncoding.EncodeToString(r.Got.Exact)
		}
		if r.Rec.Exact != nil {
			jr.RecordedBase64 = base64.StdEncoding.EncodeToString(r.Rec.Exact)
		}
		if r.Got.Replica > 0 {
			jr.Replica = &r.Got.Replica
		}
		for _, c := range r.Verdict.Changes {
			recorded, got, clipped := clipJSON(c)
			jc := jsonChange{Path: c.Path, Clipped: clipped}
			if c.RecordedErr == "" && !c.Added {
				jc.Recorded = present{recorded}
			}
			if !c.Removed {
				jc.Output = present{got}
			}
			jr.Changes = append(jr.Changes, jc)
		}
		doc.Results = append(doc.Results, jr)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}
