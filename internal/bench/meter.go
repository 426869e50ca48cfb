package bench

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/session"
	"github.com/pipecli/pipecli/internal/track"
)

// Latencies are recorded in nanoseconds, from 1 ns to an hour, to three
// significant digits: 0.1% off at most, in 256 KiB of counts.
const (
	histMin    = 1
	histMax    = int64(time.Hour)
	histDigits = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histDigits) }

// latBatch is how many latencies the meter holds before it records them
// in its histogram.
const latBatch = 512

// meter records one run: the session tells it of each request as it ends
// (observe, from the session's goroutines, one at a time). The warm-up
// requests, the first ones, give the children's start-up; once they have
// all ended, it opens the gate and the measured requests go.
//
// What the feed and the progress line read while the run goes on is
// atomic, or written before gate is closed (steadyAt); the rest is read
// once session.Run has returned.
type meter struct {
	start  time.Time // when the run started its children
	warmup uint64    // requests up to this Seq are the warm-up
	// ready: the children print a line when they are ready (--ready,
	// --skip-banner), and no request is sent before it: their start-up
	// ends at the first request sent, not answered.
	ready bool

	gate     chan struct{} // closed once every warm-up request ended
	warmDone uint64
	// warmFailed counts the warm-up requests that failed, warmErr the
	// first one's error; written before gate is closed.
	warmFailed uint64
	warmErr    error
	steadyAt   time.Time // when measuring started; written before gate is closed

	// hist holds the measured answers' latencies, ns; lats those not yet
	// recorded in it: they are recorded a batch at a time, as touching
	// the histogram's 256 KiB of counts for each answer, after the child
	// ran and took the caches, cost more than the rest of observe (a
	// fifth of a microsecond a request at window 1). hist is read only
	// through latencies, once the run is over.
	hist *hdrhistogram.Histogram
	lats []int64
	c    counts
	// The last measured request to end, answered (sent at lastSent,
	// answered lastLatency after) or failed (at lastEnd): the session
	// tells of them as they end (Unordered), so the last is the latest.
	lastSent    time.Time
	lastLatency time.Duration
	lastEnd     time.Time
	// Each child's first answer: when its request was sent, and when it
	// was answered (zero: none yet).
	firstSent, firstEnd []time.Time

	ended   atomic.Int64 // measured requests ended, for the progress line and perRead
	noChild atomic.Bool  // a request found no child to take it
	// overdue: time was up --grace ago, and the run was ended: the
	// requests it cut short are counted as unfinished.
	overdue atomic.Bool
}

// counts are what became of the measured requests.
type counts struct {
	answered, timeouts, deaths, notSent, retried, cutShort, warm int64
	// unfinished: in flight when time was up, and still --grace after.
	unfinished int64
	// invalid: the framing could not send them (frame.ErrBadRequest).
	invalid int64
	// notifications: JSON-RPC notifications, sent and not measured: no
	// answer comes to them.
	notifications int64
}

func (c *counts) add(o counts) {
	c.answered += o.answered
	c.timeouts += o.timeouts
	c.deaths += o.deaths
	c.notSent += o.notSent
	c.retried += o.retried
	c.cutShort += o.cutShort
	c.warm += o.warm
	c.unfinished += o.unfinished
	c.invalid += o.invalid
	c.notifications += o.notifications
}

// errors is how many measured requests failed.
func (c counts) errors() int64 { return c.timeouts + c.deaths + c.notSent + c.invalid }

// newMeter makes the meter of a run with warmup warm-up requests and
// children children; begin tells it when the run starts.
func newMeter(warmup, children int, ready bool) *meter {
	m := &meter{
		warmup:    uint64(warmup),
		ready:     ready,
		gate:      make(chan struct{}),
		hist:      newHist(),
		lats:      make([]int64, 0, latBatch),
		firstSent: make([]time.Time, children),
		firstEnd:  make([]time.Time, children),
	}
	if warmup == 0 {
		close(m.gate) // steadyAt is set by begin, before the feed is read
	}
	return m
}

// record moves the latencies held in lats to hist.
func (m *meter) record() {
	for _, v := range m.lats {
		m.hist.RecordValue(min(max(v, histMin), histMax))
	}
	m.lats = m.lats[:0]
}

// latencies is the histogram of the measured answers' latencies, once the
// run is over.
func (m *meter) latencies() *hdrhistogram.Histogram {
	m.record()
	return m.hist
}

// begin is called as the run starts its children: start-up counts from
// now, and so does measuring when there is no warm-up.
func (m *meter) begin(now time.Time) {
	m.start = now
	if m.warmup == 0 {
		m.steadyAt = now
	}
}

// observe is session.Config.Observe. It is on the path of every request:
// what it does for each is a few stores and the histogram's.
func (m *meter) observe(r *track.Request) {
	if r.Err == nil && !r.Notification && int(r.Child) < len(m.firstEnd) && m.firstEnd[r.Child].IsZero() {
		sent := r.SentAt()
		m.firstSent[r.Child], m.firstEnd[r.Child] = sent, sent.Add(r.Latency)
	}
	if r.Seq <= m.warmup {
		m.c.warm++
		if r.Err != nil {
			if m.warmFailed++; m.warmErr == nil {
				m.warmErr = r.Err
			}
		}
		if m.warmDone++; m.warmDone == m.warmup {
			m.steadyAt = time.Now()
			close(m.gate)
		}
		return
	}
	switch {
	case r.Err == nil && r.Notification:
		m.c.notifications++ // sent: no answer to measure
	case r.Err == nil:
		m.c.answered++
		if r.Attempts > 1 {
			m.c.retried++
		}
		if m.lats = append(m.lats, int64(r.Latency)); len(m.lats) == cap(m.lats) {
			m.record()
		}
		m.lastSent, m.lastLatency, m.lastEnd = r.SentAt(), r.Latency, time.Time{}
	case session.CutShort(r.Err) && r.Attempts == 0:
		// Read ahead of the window, never sent: no request of the run.
	case session.CutShort(r.Err) && m.overdue.Load():
		m.c.unfinished++ // not answered in time: no end to measure
	case session.CutShort(r.Err):
		m.c.cutShort++ // not a failure: we stopped
		m.lastEnd = time.Now()
	case errors.Is(r.Err, track.ErrTimeout):
		m.c.timeouts++
		m.lastEnd = time.Now()
	case r.Attempts > 0:
		m.c.deaths++ // its child died, or ended, without answering it
		m.lastEnd = time.Now()
	case errors.Is(r.Err, frame.ErrBadRequest):
		m.c.invalid++ // the framing cannot send it: the others can go
		m.lastEnd = time.Now()
	default:
		m.c.notSent++ // no child left to send it to
		m.noChild.Store(true)
		m.lastEnd = time.Now()
	}
	m.ended.Add(1)
}

// warmupFailed is why the run could measure nothing, if that is so: not
// one of its warm-up requests was answered. Each failed as it would in
// run: no answer within --timeout, or the child ended (or died) without
// answering it; it never ended when the child waited for more input,
// which bench's gate held back (see feed.starved).
//
// f, the run's feed, ended at the gate if the children waited for input
// (feed.starved): a child that answered its warm-up request only then, at
// the end of its input, holds its output until then; it could not be sent
// the measured requests either.
func (m *meter) warmupFailed(f *feed) error {
	switch {
	case m.warmup == 0:
	case m.warmFailed == m.warmup:
		return &WarmupFailed{Requests: int(m.warmup), Err: m.warmErr}
	case f != nil && f.starvedAtGate.Load():
		return &WarmupFailed{Requests: int(m.warmup), Err: errAtEnd}
	}
	return nil
}

// WarmupFailed: not one warm-up request of a run was answered, so nothing
// could be measured.
type WarmupFailed struct {
	Requests int
	Err      error // the first one's
}

// errAtEnd: the warm-up was answered only once the input ended.
var errAtEnd = errors.New("answered only once its input ended")

func (e *WarmupFailed) Error() string {
	what := "the warm-up request got no answer"
	if e.Requests > 1 {
		what = fmt.Sprintf("the %d warm-up requests got no answer", e.Requests)
	}
	switch {
	case errors.Is(e.Err, frame.ErrBadRequest):
		return fmt.Sprintf("%s (%v), so nothing could be measured: fix the request", what, e.Err)
	case errors.Is(e.Err, track.ErrTimeout), errors.Is(e.Err, track.ErrEnded), errors.Is(e.Err, errAtEnd):
		// Silent, not dead: what makes a program so is said.
		return fmt.Sprintf("%s (%v), so nothing could be measured: a program that does not answer every line needs --framing marker with --sentinel, or --prompt; one that holds its output when it is not on a terminal needs --pty, or its own flag to flush each answer (python3 -u, stdbuf -oL)", what, e.Err)
	}
	// It died, or was given up on: the cause says it all.
	return fmt.Sprintf("%s (%v), so nothing could be measured", what, e.Err)
}

// elapsed is how long the measured requests took: from the gate to the
// last one's end.
func (m *meter) elapsed() time.Duration {
	end := m.lastEnd
	if end.IsZero() && !m.lastSent.IsZero() {
		end = m.lastSent.Add(m.lastLatency)
	}
	if end.IsZero() {
		return 0
	}
	return max(end.Sub(m.steadyAt), 0)
}

// startups are the children's start-up times: from the start of the run to
// the first answer of each child that answered, or, when it says when it
// is ready, to the request sent with that answer, the first it was sent.
func (m *meter) startups() []time.Duration {
	var ds []time.Duration
	for c, t := range m.firstEnd {
		if m.ready {
			t = m.firstSent[c]
		}
		if !t.IsZero() {
			ds = append(ds, t.Sub(m.start))
		}
	}
	return ds
}

// perRead is how many measured requests the feed gives at a time when it
// sends for a time: about a millisecond's worth at the rate so far, so
// that the session holds few when time is up.
func (m *meter) perRead() int {
	select {
	case <-m.gate:
	default:
		return 1
	}
	secs := time.Since(m.steadyAt).Seconds()
	if secs <= 0 {
		return 1
	}
	return min(max(int(float64(m.ended.Load())/secs/1000), 1), 256)
}
