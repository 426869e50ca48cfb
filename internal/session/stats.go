package session

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// latencyBlock is how many latencies stats keeps per allocation.
const latencyBlock = 4096

// stats counts requests and their latencies, for :stats and --stats.
type stats struct {
	start    time.Time
	ok, fail int
	// notes counts the JSON-RPC notifications sent: no answer comes to
	// them, so they have no latency, and are not among ok.
	notes int
	// latencies of answered requests, in blocks of latencyBlock: a growing
	// slice would copy them all again at each growth, about five times in
	// all, for each request (issue: framed throughput).
	latencies [][]time.Duration
	keep      bool // keep latencies: someone will ask for them
}

func (s *stats) add(latency time.Duration, failed bool) {
	s.addRequest(latency, failed, false)
}

// addRequest counts a request that ended: failed, a notification sent, or
// answered after latency.
func (s *stats) addRequest(latency time.Duration, failed, notification bool) {
	if notification && !failed {
		s.notes++
		return
	}
	if failed {
		s.fail++
		return
	}
	s.ok++
	if !s.keep {
		return
	}
	n := len(s.latencies)
	if n == 0 || len(s.latencies[n-1]) == latencyBlock {
		s.latencies = append(s.latencies, make([]time.Duration, 0, latencyBlock))
		n++
	}
	s.latencies[n-1] = append(s.latencies[n-1], latency)
}

// String is one line: counts, throughput and latency percentiles.
func (s *stats) String() string { return s.at(time.Now()) }

// at is String as of now.
func (s *stats) at(now time.Time) string {
	elapsed := now.Sub(s.start)
	notes := ""
	if s.notes > 0 {
		notes = fmt.Sprintf(", %d notification(s) sent", s.notes)
	}
	line := fmt.Sprintf("requests: %d ok, %d failed%s in %s (%.1f/s)", s.ok, s.fail, notes, elapsed.Round(time.Millisecond), float64(s.ok+s.fail+s.notes)/elapsed.Seconds())
	if s.ok == 0 || len(s.latencies) == 0 {
		return line
	}
	l := slices.Concat(s.latencies...)
	slices.Sort(l)
	pct := func(p float64) time.Duration { return l[min(len(l)-1, int(p*float64(len(l))))] }
	return line + fmt.Sprintf("; latency p50 %s, p90 %s, p99 %s, max %s", brief(pct(0.50)), brief(pct(0.90)), brief(pct(0.99)), brief(l[len(l)-1]))
}

// Brief is brief, for the commands that report latencies of their own.
func Brief(d time.Duration) string { return brief(d) }

// brief writes d with three significant digits in the unit that reads
// best: 850µs, 12.3ms, 1.24s. Duration.String gives every digit
// (1.234567ms), and a fixed unit gives 1.2e+03ms.
func brief(d time.Duration) string {
	if d < 0 {
		return "-" + brief(-d)
	}
	// Round first, so that 999.7µs becomes 1ms, not 1000µs.
	p := time.Duration(1)
	for d/p >= 1000 {
		p *= 10
	}
	d = (d + p/2) / p * p
	for _, u := range []struct {
		size time.Duration
		name string
	}{{time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "µs"}} {
		if d >= u.size {
			return strconv.FormatFloat(float64(d)/float64(u.size), 'f', -1, 64) + u.name
		}
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}
