package bench

import (
	"errors"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

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
	steadyAt time.Time // when measuring started; written before gate is closed

	hist *hdrhistogram.Histogram // measured answers' latencies, ns
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
}

// counts are what became of the measured requests.
type counts struct {
	answered, timeouts, deaths, notSent, retried, cutShort, warm int64
}

func (c *counts) add(o counts) {
	c.answered += o.answered
	c.timeouts += o.timeouts
	c.deaths += o.deaths
	c.notSent += o.notSent
	c.retried += o.retried
	c.cutShort += o.cutShort
	c.warm += o.warm
}

// errors is how many measured requests failed.
func (c counts) errors() int64 { return c.timeouts + c.deaths + c.notSent }

// newMeter makes the meter of a run with warmup warm-up requests and
// children children; begin tells it when the run starts.
func newMeter(warmup, children int, ready bool) *meter {
	m := &meter{
		warmup:    uint64(warmup),
		ready:     ready,
		gate:      make(chan struct{}),
		hist:      newHist(),
		firstSent: make([]time.Time, children),
		firstEnd:  make([]time.Time, children),
	}
	if warmup == 0 {
		close(m.gate) // steadyAt is set by begin, before the feed is read
	}
	return m
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
	if r.Err == nil && int(r.Child) < len(m.firstEnd) && m.firstEnd[r.Child].IsZero() {
		sent := r.SentAt()
		m.firstSent[r.Child], m.firstEnd[r.Child] = sent, sent.Add(r.Latency)
	}
	if r.Seq <= m.warmup {
		m.c.warm++
		if m.warmDone++; m.warmDone == m.warmup {
			m.steadyAt = time.Now()
			close(m.gate)
		}
		return
	}
	switch {
	case r.Err == nil:
		m.c.answered++
		if r.Attempts > 1 {
			m.c.retried++
		}
		m.hist.RecordValue(min(max(int64(r.Latency), histMin), histMax))
		m.lastSent, m.lastLatency, m.lastEnd = r.SentAt(), r.Latency, time.Time{}
	case session.CutShort(r.Err):
		m.c.cutShort++ // not a failure: we stopped
		m.lastEnd = time.Now()
	case errors.Is(r.Err, track.ErrTimeout):
		m.c.timeouts++
		m.lastEnd = time.Now()
	case r.Attempts > 0:
		m.c.deaths++ // its child died, or ended, without answering it
		m.lastEnd = time.Now()
	default:
		m.c.notSent++ // no child left to send it to
		m.noChild.Store(true)
		m.lastEnd = time.Now()
	}
	m.ended.Add(1)
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
