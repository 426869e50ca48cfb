package session

import (
	"fmt"
	"slices"
	"time"
)

// stats counts requests and their latencies, for :stats and --stats.
type stats struct {
	start     time.Time
	ok, fail  int
	latencies []time.Duration // of answered requests
}

func (s *stats) add(latency time.Duration, failed bool) {
	if failed {
		s.fail++
		return
	}
	s.ok++
	s.latencies = append(s.latencies, latency)
}

// String is one line: counts, throughput and latency percentiles.
func (s *stats) String() string {
	elapsed := time.Since(s.start)
	line := fmt.Sprintf("requests: %d ok, %d failed in %s (%.1f/s)", s.ok, s.fail, elapsed.Round(time.Millisecond), float64(s.ok+s.fail)/elapsed.Seconds())
	if len(s.latencies) == 0 {
		return line
	}
	l := slices.Clone(s.latencies)
	slices.Sort(l)
	pct := func(p float64) time.Duration { return l[min(len(l)-1, int(p*float64(len(l))))] }
	return line + fmt.Sprintf("; latency p50 %s, p90 %s, p99 %s, max %s", ms(pct(0.50)), ms(pct(0.90)), ms(pct(0.99)), ms(l[len(l)-1]))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3gms", float64(d)/float64(time.Millisecond)) }
