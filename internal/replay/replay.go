package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/session"
	"github.com/pipecli/pipecli/internal/track"
)

// Options are what a replay does beyond the run.
type Options struct {
	Rules  Rules
	JSON   bool // the report is one JSON document
	Update bool // rewrite the changed records with their new answers
	// IgnoreExit: the child's exiting with an error after every request
	// ended is not held against the answers (sqlite3 exits 1 after any
	// SQL error, however it answered).
	IgnoreExit bool
	// Framing is the framing flags given to the replay, which replace the
	// records' own: Update writes them in the records (see
	// Records.Update). nil: none were given.
	Framing *session.FramingFlags
}

// Differs is how a replay ends when not every record replayed the same:
// some changed or failed (the report said which), or the run went wrong
// after every request had ended (Err: the child exited unsuccessfully, or
// answers came that no request waited for), so that its answers cannot be
// trusted.
type Differs struct {
	Changed, Failed int
	Err             error
}

func (e *Differs) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("%d record(s) changed, %d failed", e.Changed, e.Failed)
}

func (e *Differs) Unwrap() error { return e.Err }

// Quiet: the report said it, unless the run went wrong.
func (e *Differs) Quiet() bool { return e.Err == nil }

// Interrupted is how a replay ends when a signal stopped it before every
// record was replayed: there is no report, and --update writes nothing.
// It says so, unlike the *session.Interrupted it wraps, whose signal
// gives the exit status.
type Interrupted struct {
	Replayed, Records int // records that ended before the signal, of all
	Err               *session.Interrupted
}

func (e *Interrupted) Error() string {
	return fmt.Sprintf("replay interrupted after %d of %d records; no report, nothing updated", e.Replayed, e.Records)
}

func (e *Interrupted) Unwrap() error { return e.Err }

// Quiet: no, though the signal it wraps is: a replay that stops with no
// report says why.
func (e *Interrupted) Quiet() bool { return false }

// replayed counts the records in got that ended on their own: answered,
// or failed other than by being cut short by the run's end.
func replayed(got []*Got) int {
	n := 0
	for _, g := range got {
		if g != nil && !(g.Failed && session.CutShort(errors.New(g.Err))) {
			n++
		}
	}
	return n
}

// Result is one record replayed.
type Result struct {
	Rec     *Record
	Got     Got
	Verdict Verdict
}

// Run sends the inputs of recs to the child that cfg starts, in record
// order, through the session's framed run (cfg.Framing must frame), so
// that each answer is the one the request book matched to its request;
// then it compares each answer with its record, writes the report on
// ios.Out and, with o.Update, rewrites the records that changed. cfg's
// input and output are its own: cfg.File, Output, JSON and Observe are
// set here.
//
// It returns nil when every record replayed the same (or, with o.Update,
// was rewritten); *Differs when some did not; the run's own error, with
// no report, when it ended before every request had (the child could not
// start), or *Interrupted when a signal stopped it.
func Run(ctx context.Context, recs *Records, cfg session.Config, o Options, ios *iostreams.IOStreams) error {
	got := make([]*Got, len(recs.List))
	var lost error // a request that is no record's: a mistake here
	mode := cfg.Framing.Mode
	cfg.Observe = func(r *track.Request) {
		i := int(r.Seq) - 1
		if i < 0 || i >= len(got) || string(r.Input) != recs.List[i].Input {
			lost = fmt.Errorf("request #%d %q matches no record", r.Seq, r.Input)
			return
		}
		g := &Got{
			Output:       bytes.Clone(session.RecordOutput(mode, r)), // r is lent
			Exact:        bytes.Clone(session.ExactAnswer(mode, r)),
			Failed:       r.Err != nil,
			Notification: r.Notification,
			Latency:      r.Latency,
			Attempts:     int(r.Attempts),
		}
		if r.Err != nil {
			g.Err = r.Err.Error()
		}
		if r.Attempts > 0 {
			g.Replica = int(r.Child) + 1
		}
		got[i] = g
	}
	// The inputs, one a line, are the session's input; its output goes
	// nowhere: the answers are taken by Observe. With JSON records (to
	// nowhere) it does not tell failures on stderr one by one: the report
	// does.
	cfg.File, cfg.Output, cfg.JSON, cfg.Stats = "", "", true, false
	child := *ios
	child.In, child.Out, child.InTTY, child.OutTTY, child.OutColor = recs.Inputs(), io.Discard, false, false, false
	res, err := session.Run(ctx, cfg, &child)
	if lost != nil {
		return fmt.Errorf("replaying %s: %w", recs.Path, lost)
	}
	var (
		failed     *session.RequestsFailed
		misaligned *session.Misaligned
		exited     *session.ChildFailed
		signalled  *session.Interrupted
	)
	switch {
	case (err == nil || errors.As(err, &failed)) && (res.Misaligned > 0 || res.Skipped > 0):
		// Failures are in the report, but the answers may have gone to
		// the wrong records: records made so replay the same, wrongly.
		err = &session.Misaligned{Answers: res.Misaligned, Skipped: res.Skipped}
	case err == nil, errors.As(err, &failed):
		err = nil // each failure is in the report
	case errors.As(err, &exited) && o.IgnoreExit && !errors.As(err, &misaligned):
		err = nil // every request ended; its status is not the answers' fault
	case errors.As(err, &misaligned), errors.As(err, &exited):
		// Every request ended: the report is worth having, but the
		// answers cannot be trusted to update the records.
	case errors.As(err, &signalled):
		return &Interrupted{Replayed: replayed(got), Records: len(recs.List), Err: signalled}
	default:
		return err
	}
	results := make([]Result, len(recs.List))
	for i, rec := range recs.List {
		if got[i] == nil {
			return fmt.Errorf("replaying %s: line %d got no answer and no error", recs.Path, rec.Line)
		}
		results[i] = Result{Rec: rec, Got: *got[i], Verdict: Compare(rec, *got[i], o.Rules)}
	}
	rep := newReport(recs.Path, results)
	if o.Update {
		rep.update(recs, o.Framing, err)
	}
	var werr error
	if o.JSON {
		werr = rep.writeJSON(ios.Out, err)
	} else {
		werr = rep.writeText(ios.Out, newStyle(ios.OutColor), o.Rules.JSONL)
	}
	if werr != nil {
		return fmt.Errorf("writing the report: %w", werr)
	}
	switch {
	case rep.updateErr != nil:
		return rep.updateErr
	case err != nil || rep.failed > 0 || rep.changed > 0 && rep.updated < 0:
		return &Differs{Changed: rep.changed, Failed: rep.failed, Err: err}
	}
	return nil
}
