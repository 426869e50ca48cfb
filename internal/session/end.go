package session

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/pipecli/pipecli/internal/proc"
)

// The errors below are how a run that ended badly is reported: Run returns
// one, and pipecli's main turns it into its exit status, in one place
// (cmd/pipecli's exitCodeOf). Those whose Quiet says so have been said
// already, or are said by the status alone.

// ChildFailed: the child ended unsuccessfully; its status is passed on.
type ChildFailed struct {
	Name   string
	Status proc.Status
}

func (e *ChildFailed) Error() string { return fmt.Sprintf("%s %s", e.Name, e.Status) }

// Interrupted: a signal ended the run; it was forwarded to the child.
type Interrupted struct{ Signal syscall.Signal }

func (e *Interrupted) Error() string { return fmt.Sprintf("interrupted by %v", e.Signal) }

// Quiet: the signal's exit status says it.
func (e *Interrupted) Quiet() bool { return true }

// OutputClosed: writing our output failed, so the child was stopped. With
// EPIPE, our reader went away, as in `pipecli run ... | head -1`: a
// quiet end, as for any filter. Otherwise (a full disk) the output is
// incomplete: pipecli's own failure.
type OutputClosed struct {
	Name string
	Err  error
}

func (e *OutputClosed) Error() string {
	return fmt.Sprintf("writing the output failed, so %s was stopped: %v", e.Name, e.Err)
}

func (e *OutputClosed) Unwrap() error { return e.Err }

// Quiet: a reader gone is no failure to tell of.
func (e *OutputClosed) Quiet() bool { return e.ReaderGone() }

// ReaderGone reports whether our reader went away (EPIPE), rather than
// the output failing.
func (e *OutputClosed) ReaderGone() bool { return e.Err == nil || errors.Is(e.Err, syscall.EPIPE) }

// EOFTimedOut: the child still ran --eof-timeout after its input ended.
type EOFTimedOut struct {
	Name  string
	After time.Duration
}

func (e *EOFTimedOut) Error() string {
	return fmt.Sprintf("%s was still running %s after its input ended (--eof-timeout); stopped it", e.Name, e.After)
}

// RequestsFailed: in a framed run, some requests ended failed (each was
// told on stderr, or in --json records).
type RequestsFailed struct{ Failed, Total int }

func (e *RequestsFailed) Error() string {
	if e.Total == 1 {
		return fmt.Sprintf("%d of 1 request failed", e.Failed)
	}
	return fmt.Sprintf("%d of %d requests failed", e.Failed, e.Total)
}

// Misaligned: in line or marker framing, answers came with no request
// waiting for them, so those before may have gone to the wrong requests;
// or (Skipped) the child ended leaving requests unanswered after it had
// answered others, as one that skipped lines does.
type Misaligned struct{ Answers, Skipped int }

func (e *Misaligned) Error() string {
	if e.Answers == 0 {
		return fmt.Sprintf("the child ended leaving %d request(s) unanswered after it answered others: if it skipped lines, the answers may have gone to the wrong requests", e.Skipped)
	}
	return fmt.Sprintf("%d answer(s) came with no request waiting for them: the answers may have gone to the wrong requests", e.Answers)
}

// err is how r ended, as one of the errors above, or nil if well.
func (r Result) err(name string, eofTimeout time.Duration) error {
	switch {
	case r.OutputClosed:
		return &OutputClosed{Name: name, Err: r.OutputErr}
	case r.Interrupted != 0:
		return &Interrupted{Signal: r.Interrupted}
	case r.TimedOut:
		return &EOFTimedOut{Name: name, After: eofTimeout}
	case r.Failed > 0:
		return &RequestsFailed{Failed: r.Failed, Total: r.Requests}
	case r.Misaligned > 0:
		return &Misaligned{Answers: r.Misaligned}
	case r.Quit:
		return nil // the person asked to stop: the child's status says nothing
	case !r.Status.Success():
		return &ChildFailed{Name: name, Status: r.Status}
	}
	return nil
}

// Why a run gave up on the requests it had not answered, when it was told
// to stop: the error of each of them says so (CutShort).
const (
	whyInterrupted = "interrupted"
	whyCancelled   = "cancelled"
)

// CutShort reports whether err, the error of a request Config.Observe was
// told of, says only that the run was interrupted (a signal) or cancelled
// (its context) before the request was answered, rather than that it
// failed: it was in flight, or not yet sent, when the run stopped.
func CutShort(err error) bool {
	if err == nil {
		return false
	}
	why := strings.TrimPrefix(err.Error(), "not sent: ")
	return why == whyInterrupted || why == whyCancelled
}
