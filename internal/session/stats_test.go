package session

import (
	"strings"
	"testing"
	"time"
)

// TestStatsPercentiles checks the percentiles over latencies kept in more
// than one block, added out of order.
func TestStatsPercentiles(t *testing.T) {
	var s stats
	s.start = time.Now()
	const n = 2*latencyBlock + 100
	for i := range n {
		s.add(time.Duration((i*7919)%n+1)*time.Millisecond, false) // 1..n ms, shuffled
	}
	s.add(time.Hour, true) // failed: no latency
	got := s.String()
	for _, want := range []string{"8292 ok, 1 failed", "p50 4.15e+03ms", "p90 7.46e+03ms", "p99 8.21e+03ms", "max 8.29e+03ms"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q does not contain %q", got, want)
		}
	}
	if got := (&stats{start: time.Now()}).String(); strings.Contains(got, "latency") {
		t.Errorf("no requests: %q", got)
	}
}
