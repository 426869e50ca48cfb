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

	hist    *hdrhistogram.Histogram // measured answers' latencies, ns
	c       counts
	lastEnd time.Time // when the last measured request ended
	// Each child's first request sent and first answer (zero: none).
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

func newMeter(start time.Time, warmup, children int, ready bool) *meter {
	m := &meter{
		start:     start,
		warmup:    uint64(warmup),
		ready:     ready,
		gate:      make(chan struct{}),
		hist:      newHist(),
		firstSent: make([]time.Time, children),
		firstEnd:  make([]time.Time, children),
	}
	if warmup == 0 {
		m.steadyAt = start
		close(m.gate)
	}
	return m
}

// observe is session.Config.Observe.
func (m *meter) observe(r *track.Request) {
	var end time.Time
	if r.Attempts > 0 && int(r.Child) < len(m.firstSent) {
		c := r.Child
		sent := r.SentAt()
		if m.firstSent[c].IsZero() || sent.Before(m.firstSent[c]) {
			m.firstSent[c] = sent
		}
		if r.Err == nil {
			end = sent.Add(r.Latency)
			if m.firstEnd[c].IsZero() || end.Before(m.firstEnd[c]) {
				m.firstEnd[c] = end
			}
		}
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
	case session.CutShort(r.Err):
		m.c.cutShort++ // not a failure: we stopped
		end = time.Now()
	case errors.Is(r.Err, track.ErrTimeout):
		m.c.timeouts++
	case r.Attempts > 0:
		m.c.deaths++ // its child died, or ended, without answering it
	default:
		m.c.notSent++ // no child left to send it to
		m.noChild.Store(true)
	}
	if end.IsZero() {
		end = time.Now()
	}
	if end.After(m.lastEnd) {
		m.lastEnd = end
	}
	m.ended.Add(1)
}

// elapsed is how long the measured requests took: from the gate to the
// last one's end.
func (m *meter) elapsed() time.Duration {
	if m.lastEnd.IsZero() {
		return 0
	}
	return max(m.lastEnd.Sub(m.steadyAt), 0)
}

// startups are the children's start-up times: from the start of the run to
// the first answer of each child that answered, or to the first request
// sent to it when it says when it is ready.
func (m *meter) startups() []time.Duration {
	var ds []time.Duration
	for c := range m.firstSent {
		t := m.firstEnd[c]
		if m.ready {
			t = m.firstSent[c]
		}
		if !t.IsZero() && !m.firstEnd[c].IsZero() {
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
