package session

import (
	"fmt"
	"slices"
	"time"
)

// latencyBlock is how many latencies stats keeps per allocation.
const latencyBlock = 4096

// stats counts requests and their latencies, for :stats and --stats.
type stats struct {
	start    time.Time
	ok, fail int
	// latencies of answered requests, in blocks of latencyBlock: a growing
	// slice would copy them all again at each growth, about five times in
	// all, for each request (issue: framed throughput).
	latencies [][]time.Duration
}

func (s *stats) add(latency time.Duration, failed bool) {
	if failed {
		s.fail++
		return
	}
	s.ok++
	n := len(s.latencies)
	if n == 0 || len(s.latencies[n-1]) == latencyBlock {
		s.latencies = append(s.latencies, make([]time.Duration, 0, latencyBlock))
		n++
	}
	s.latencies[n-1] = append(s.latencies[n-1], latency)
}

// String is one line: counts, throughput and latency percentiles.
func (s *stats) String() string {
	elapsed := time.Since(s.start)
	line := fmt.Sprintf("requests: %d ok, %d failed in %s (%.1f/s)", s.ok, s.fail, elapsed.Round(time.Millisecond), float64(s.ok+s.fail)/elapsed.Seconds())
	if s.ok == 0 {
		return line
	}
	l := slices.Concat(s.latencies...)
	slices.Sort(l)
	pct := func(p float64) time.Duration { return l[min(len(l)-1, int(p*float64(len(l))))] }
	return line + fmt.Sprintf("; latency p50 %s, p90 %s, p99 %s, max %s", ms(pct(0.50)), ms(pct(0.90)), ms(pct(0.99)), ms(l[len(l)-1]))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3gms", float64(d)/float64(time.Millisecond)) }
