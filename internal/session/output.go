package session

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/track"
)

// maxFailLines is how many failed requests are told one by one on stderr;
// the others are counted in one line at the end (--json records them all).
const maxFailLines = 20

// output writes the requests that ended, in input order: their answers, or
// --json records; failures are told on stderr. It also keeps the
// statistics.
type output struct {
	s       *session
	cfg     Config
	answers io.Writer     // where answers go, without --json
	enc     *json.Encoder // for --json records
	buf     *bufio.Writer // answers and records, flushed at the end of each turn; nil at the prompt
	err     error         // writing failed
	// partials: show the parts of an answer as they come (on a terminal,
	// or --partials), else only in --json records.
	partials   bool
	stats      stats
	per        []stats // each replica's, with several
	failed     int
	lastSeq    uint64 // the last request written out
	lastAnswer time.Time
	told       int                // failures told one by one
	untold     int                // failures past maxFailLines
	notSent    map[string]*[2]int // requests left with no child, by why: {not sent, sent}; told in one line each at the end
	whys       []string           // notSent's keys, in the order they came
	// checkUTF8: the input goes into JSON (jsonl, --json records), which
	// cannot carry bytes that are not UTF-8; until that was said once.
	checkUTF8 bool
}

func newOutput(s *session, cfg Config, replicas int) *output {
	o := &output{s: s, cfg: cfg, answers: s.childStdout(), stats: stats{start: time.Now()}, notSent: map[string]*[2]int{}}
	o.partials = !cfg.JSON && !cfg.NoAnswers && (cfg.Partials || s.outTTY)
	// Records that go nowhere (a replay's: it takes the answers by
	// Observe) need no word on what JSON does to them.
	o.checkUTF8 = cfg.Framing.Mode == frame.JSONL || cfg.JSON && !(cfg.Output == "" && s.ios.Out == io.Discard)
	// Latencies are kept only where they are asked for: --stats, and
	// :stats at the prompt.
	o.stats.keep = cfg.Stats || s.pr != nil
	if replicas > 1 {
		o.per = make([]stats, replicas)
		for i := range o.per {
			o.per[i] = stats{start: o.stats.start, keep: o.stats.keep}
		}
	}
	var recs io.Writer = s.out
	if s.pr == nil {
		// Buffered, and flushed at the end of each turn: one write per
		// batch of answers, not one per answer.
		o.buf = bufio.NewWriterSize(o.answers, 64<<10)
		o.answers = o.buf
		if cfg.JSON {
			recs = o.buf
		}
	}
	if cfg.JSON {
		o.enc = json.NewEncoder(recs)
		o.enc.SetEscapeHTML(false)
	}
	return o
}

// partial shows a part of r's answer as it comes, when r is the next to be
// written out and parts are shown: the answers stay in input order.
func (o *output) partial(r *track.Request, data []byte) {
	if !o.partials || r.Seq != o.lastSeq+1 || o.err != nil {
		return
	}
	if o.cfg.Framing.Mode == frame.Marker {
		// A line of a marker answer: shown only if every line before it
		// was, else the whole answer is written at its end.
		if r.Shown != r.Parts-1 {
			return
		}
		o.line(data)
		r.Shown++
		return
	}
	for _, p := range r.Partials[r.Shown:] {
		o.line(p)
	}
	r.Shown = int32(len(r.Partials))
	o.flush()
}

func (o *output) line(b []byte) {
	if o.err != nil {
		return
	}
	if o.buf != nil {
		o.buf.Write(b)
		o.err = o.buf.WriteByte('\n')
		return
	}
	_, o.err = o.answers.Write(append(append([]byte(nil), b...), '\n'))
}

func (o *output) flush() {
	if o.buf != nil && o.buf.Buffered() > 0 && o.err == nil {
		o.err = o.buf.Flush()
	}
}

// write writes out rs, which ended in this order, then flushes.
func (o *output) write(rs []*track.Request) {
	for _, r := range rs {
		o.one(r)
	}
	o.flush()
}

func (o *output) one(r *track.Request) {
	o.lastSeq = r.Seq
	o.stats.addRequest(r.Latency, r.Err != nil, r.Notification)
	if o.s.bar != nil {
		o.s.bar.Done(r.Err == nil)
	}
	if o.per != nil && r.Attempts > 0 {
		o.per[r.Child].addRequest(r.Latency, r.Err != nil, r.Notification)
	}
	if r.Err != nil {
		o.failed++
	}
	if o.cfg.Observe != nil {
		o.cfg.Observe(r)
	}
	if o.err != nil {
		return
	}
	// Bytes that are not UTF-8: JSON carries them as U+FFFD. A record
	// of a line or marker framing, which sends the line as it is, also
	// holds it whole, in base64, for a replay to send the same bytes.
	whole := o.enc != nil && o.cfg.Framing.Mode != frame.JSONL && !utf8.Valid(r.Input)
	if o.checkUTF8 && !utf8.Valid(r.Input) {
		o.checkUTF8 = false // said once
		also := ""
		if whole {
			also = `; each record's "input_base64" holds such a line as it was sent`
		}
		o.s.say("request #%d holds bytes that are not UTF-8, which JSON cannot carry: they were written as U+FFFD%s (said once)", r.Seq, also)
	}
	if o.enc != nil {
		rec := record{ID: r.Seq, Input: string(r.Input), Output: o.recordOutput(r), LatencyMS: float64(r.Latency.Microseconds()) / 1000, Attempts: int(r.Attempts), Notification: r.Notification, Framing: o.cfg.RecordFraming}
		if whole {
			rec.InputBase64 = base64.StdEncoding.EncodeToString(r.Input)
		}
		if b := ExactAnswer(o.cfg.Framing.Mode, r); b != nil {
			rec.OutputBase64 = base64.StdEncoding.EncodeToString(b)
		}
		if r.Attempts > 0 {
			n := int(r.Child) + 1
			rec.Replica = &n
		}
		if r.Err != nil {
			e := r.Err.Error()
			if why, ok := strings.CutPrefix(e, "not sent: "); ok && r.Attempts > 0 {
				// Sent, it came back (its child died), and found no child.
				e = "not answered: " + why
			}
			rec.Error = &e
		}
		o.err = o.enc.Encode(rec)
		return
	}
	if r.Err != nil {
		o.tell(r)
		return
	}
	if r.Notification || o.cfg.NoAnswers {
		return
	}
	if o.partials && o.cfg.Framing.Mode == frame.JSONL {
		for _, p := range r.Partials[r.Shown:] {
			o.line(p)
		}
	}
	if r.Shown > 0 && o.cfg.Framing.Mode == frame.Marker {
		return // its lines were shown as they came
	}
	o.line(r.Answer)
}

// tell says on stderr that r failed: one by one up to maxFailLines; those
// that failed as no child was left for them, or were cut short, in one line
// per reason at the end.
func (o *output) tell(r *track.Request) {
	why, notSent := strings.CutPrefix(r.Err.Error(), "not sent: ")
	if notSent || CutShort(r.Err) {
		// Not sent, or cut short by a signal or the run's end (bench's
		// --duration): told in one line for them all.
		n := o.notSent[why]
		if n == nil {
			n = new([2]int)
			o.notSent[why] = n
			o.whys = append(o.whys, why)
		}
		if r.Attempts > 0 {
			n[1]++ // sent to a child that ended without answering
		} else {
			n[0]++
		}
		return
	}
	if o.told >= maxFailLines {
		o.untold++
		return
	}
	o.told++
	// The answers before it come first, as they would unbuffered.
	o.flush()
	o.s.say("request #%d %q failed: %v", r.Seq, clip(r.Input), r.Err)
	if len(r.Partials) > 0 && o.cfg.Framing.Mode != frame.JSONL {
		// Lines it wrote with no marker after them: not lost.
		o.s.say("  it wrote, with no marker after: %q", clip(bytes.Join(r.Partials, []byte("\n"))))
	}
}

// close flushes the output and tells what tell kept for the end.
func (o *output) close() {
	o.flush()
	switch {
	case o.untold > 0 && o.cfg.NoAnswers:
		// A load generator's run (bench), which has no --json records:
		// its report counts them.
		o.s.say("and %d more request(s) failed", o.untold)
	case o.untold > 0:
		o.s.say("and %d more request(s) failed (--json records each, with why)", o.untold)
	}
	for _, why := range o.whys {
		if o.cfg.NoAnswers && (why == whyCancelled || why == whyInterrupted) {
			continue // a load generator's (bench's) report counts them
		}
		switch n := o.notSent[why]; {
		case n[1] == 0:
			o.s.say("%d request(s) not sent: %s", n[0], why)
		case n[0] == 0:
			o.s.say("%d request(s) in flight not answered: %s", n[1], why)
		default:
			o.s.say("%d request(s) in flight not answered, and %d not sent: %s", n[1], n[0], why)
		}
	}
}

// statsText is the statistics, with a line per replica when there are
// several: what --stats prints at the end, and :stats.
func (o *output) statsText(reps []*replica) string {
	now := time.Now() // one clock for all: the same time elapsed
	text := o.stats.at(now)
	for i := range o.per {
		r := reps[i]
		text += fmt.Sprintf("\n  %s: %s", r.name, strings.TrimPrefix(o.per[i].at(now), "requests: "))
		switch {
		case r.retired:
			text += ", retired"
		case r.restartN > 0:
			text += fmt.Sprintf(", restarted %d time(s)", r.restartN)
		}
	}
	return text
}

// record is one line of --json output.
type record struct {
	ID           uint64          `json:"id"`
	Input        string          `json:"input"`
	InputBase64  string          `json:"input_base64,omitempty"` // the input as sent, when it is not UTF-8
	Output       json.RawMessage `json:"output"`
	OutputBase64 string          `json:"output_base64,omitempty"` // the answer as it came, when it is not UTF-8
	LatencyMS    float64         `json:"latency_ms"`
	Attempts     int             `json:"attempts"`
	Replica      *int            `json:"replica"` // the one it was last sent to, from 1; null if never sent
	Error        *string         `json:"error"`
	Notification bool            `json:"notification,omitempty"`
	Framing      *FramingFlags   `json:"framing,omitempty"`
}

// FramingFlags are the framing flags of a run, as a JSON record's
// "framing" carries them: what a replay of the records needs to tell the
// answers apart as the run did. A record made with a marker and a
// sentinel, replayed with line framing, would be given the answer to the
// record after it. Flags not given are left out (nil, 0).
type FramingFlags struct {
	Mode         string  `json:"mode"` // line, marker or jsonl
	Marker       *string `json:"marker,omitempty"`
	MarkerRegexp *string `json:"marker_regexp,omitempty"`
	Prompt       *string `json:"prompt,omitempty"`
	Sentinel     *string `json:"sentinel,omitempty"`
	// Ready and SkipBanner say where the child's banner ends: replayed
	// without them, the banner would be taken for the first answer.
	Ready      *string `json:"ready,omitempty"`
	SkipBanner int     `json:"skip_banner,omitempty"`
}

// Args are ff as command-line flags, each flag's name and value as two
// arguments: --framing marker --marker --END--.
func (ff *FramingFlags) Args() []string {
	args := []string{"--framing", ff.Mode}
	for _, f := range []struct {
		name  string
		value *string
	}{{"marker", ff.Marker}, {"marker-regexp", ff.MarkerRegexp}, {"prompt", ff.Prompt}, {"sentinel", ff.Sentinel}, {"ready", ff.Ready}} {
		if f.value != nil {
			args = append(args, "--"+f.name, *f.value)
		}
	}
	if ff.SkipBanner > 0 {
		args = append(args, "--skip-banner", strconv.Itoa(ff.SkipBanner))
	}
	return args
}

// recordOutput is a record's "output": see RecordOutput.
func (o *output) recordOutput(r *track.Request) json.RawMessage {
	return RecordOutput(o.cfg.Framing.Mode, r)
}

// ExactAnswer is r's answer where a --json record's "output" cannot hold
// it whole, so that its "output_base64" does: in line and marker framing,
// an answer that is not UTF-8, which "output" holds with U+FFFD; nil
// otherwise (jsonl's answers are JSON, and so UTF-8). It aliases r.Answer:
// a caller that keeps it past Config.Observe copies it.
func ExactAnswer(mode frame.Mode, r *track.Request) []byte {
	if mode == frame.JSONL || r.AnswerJSON || r.Err != nil || r.Notification || utf8.Valid(r.Answer) {
		return nil
	}
	return r.Answer
}

// RecordOutput is what a --json record's "output" holds for r, a request
// of a run in framing mode: the answer's text as a JSON string, or in
// jsonl (or from a jsonl pool through a server) its JSON object; with partial messages, all of them in order, the
// answer last; null for a notification, or a failure with no parts. It may
// alias r.Answer: a caller that keeps it past Config.Observe copies it.
func RecordOutput(mode frame.Mode, r *track.Request) json.RawMessage {
	if r.Notification || r.Err != nil && len(r.Partials) == 0 {
		return json.RawMessage("null")
	}
	one := func(b []byte) json.RawMessage {
		if (mode == frame.JSONL || r.AnswerJSON) && json.Valid(b) {
			return b
		}
		s, _ := json.Marshal(string(b))
		return s
	}
	if len(r.Partials) == 0 {
		return one(r.Answer)
	}
	all := make([]json.RawMessage, 0, len(r.Partials)+1)
	for _, p := range r.Partials {
		all = append(all, one(p))
	}
	if r.Err == nil {
		all = append(all, one(r.Answer))
	}
	b, _ := json.Marshal(all)
	return b
}
