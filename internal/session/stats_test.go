package session

import (
	"strings"
	"testing"
	"time"
)

// TestStatsPercentiles checks the percentiles over latencies kept in more
// than one block, added out of order.
func TestStatsPercentiles(t *testing.T) {
	s := stats{start: time.Now(), keep: true}
	const n = 2*latencyBlock + 100
	for i := range n {
		s.add(time.Duration((i*7919)%n+1)*time.Millisecond, false) // 1..n ms, shuffled
	}
	s.add(time.Hour, true) // failed: no latency
	got := s.String()
	for _, want := range []string{"8292 ok, 1 failed", "p50 4.15s", "p90 7.46s", "p99 8.21s", "max 8.29s"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q does not contain %q", got, want)
		}
	}
	if got := (&stats{start: time.Now()}).String(); strings.Contains(got, "latency") {
		t.Errorf("no requests: %q", got)
	}
	// Notifications are counted apart, with no latency.
	nt := stats{start: time.Now(), keep: true}
	nt.add(time.Second, false)
	nt.add(2*time.Second, false)
	nt.addRequest(0, false, true)
	nt.addRequest(0, false, true)
	if got := nt.String(); !strings.Contains(got, "2 ok, 0 failed, 2 notification(s) sent") || !strings.Contains(got, "p50 2s") {
		t.Errorf("a notification: %q", got)
	}
	// Not kept: counted, no percentiles.
	var nk stats
	nk.add(time.Second, false)
	if got := nk.String(); !strings.Contains(got, "1 ok") || strings.Contains(got, "latency") {
		t.Errorf("latencies not kept: %q", got)
	}
}

// Latencies read in the unit that fits, with three significant digits.
func TestBrief(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0ns"},
		{850, "850ns"},
		{999, "999ns"},
		{1000, "1µs"},
		{7890, "7.89µs"},
		{850 * time.Microsecond, "850µs"},
		{999700 * time.Nanosecond, "1ms"},
		{1234567, "1.23ms"},
		{12345678, "12.3ms"},
		{1200 * time.Millisecond, "1.2s"},
		{1236 * time.Millisecond, "1.24s"},
		{time.Second, "1s"},
		{90 * time.Second, "90s"},
		{1234 * time.Second, "1230s"},
		{-1500 * time.Microsecond, "-1.5ms"},
	}
	for _, tt := range tests {
		if got := brief(tt.d); got != tt.want {
			t.Errorf("brief(%d) = %q, want %q", int64(tt.d), got, tt.want)
		}
	}
}
