package serve

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Status is the status document: what `pipecli status` shows, and what
// {"status":true} gets.
type Status struct {
	Socket   string          `json:"socket"`
	PID      int             `json:"pid"`
	UptimeS  float64         `json:"uptime_s"`
	Serving  string          `json:"serving"`
	Framing  string          `json:"framing"`
	Ready    bool            `json:"ready"`
	Draining bool            `json:"draining"`
	Replicas []ReplicaStatus `json:"replicas"`
	Clients  int             `json:"clients"`       // connected now
	Total    int             `json:"clients_total"` // connected since the start
	Served   int64           `json:"served"`        // requests answered
	Failed   int64           `json:"failed"`        // requests that failed
	InFlight int             `json:"in_flight"`     // fed to the pool, not ended
	Queued   int             `json:"queued"`        // read from clients, not yet fed
	Latency  Latency         `json:"latency_ms"`
}

// ReplicaStatus is one replica's part of the status.
type ReplicaStatus struct {
	N        int  `json:"n"` // from 1
	Running  bool `json:"running"`
	Ready    bool `json:"ready"`
	InFlight int  `json:"in_flight"`
	Restarts int  `json:"restarts"`
}

// Latency is the percentiles of the latencies of the last Count answered
// requests, in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
}

// sampleSize is how many of the last latencies the status looks at.
const sampleSize = 10000

// sample keeps the last sampleSize latencies.
type sample struct {
	ring []time.Duration
	n    int // added, in all
}

func (s *sample) add(d time.Duration) {
	if len(s.ring) < sampleSize {
		s.ring = append(s.ring, d)
	} else {
		s.ring[s.n%sampleSize] = d
	}
	s.n++
}

// percentiles of what the sample holds.
func (s *sample) percentiles() Latency {
	if len(s.ring) == 0 {
		return Latency{}
	}
	sorted := slices.Clone(s.ring)
	slices.Sort(sorted)
	at := func(p float64) float64 {
		i := min(len(sorted)-1, int(p*float64(len(sorted))))
		return float64(sorted[i].Microseconds()) / 1000
	}
	return Latency{Count: len(sorted), P50: at(0.50), P90: at(0.90), P99: at(0.99)}
}

// WriteText writes st for a person to read.
func (st *Status) WriteText(w io.Writer) error {
	var b strings.Builder
	up := time.Duration(st.UptimeS * float64(time.Second)).Round(time.Second)
	fmt.Fprintf(&b, "server    %s (pid %d), up %s\n", st.Socket, st.PID, up)
	state := "ready"
	switch {
	case st.Draining:
		state = "draining: finishing the requests in flight, taking no more"
	case !st.Ready:
		state = "starting: requests wait until the replicas are ready"
	}
	fmt.Fprintf(&b, "serving   %s, framing %s, %d replica(s): %s\n", st.Serving, st.Framing, len(st.Replicas), state)
	for i, r := range st.Replicas {
		label := ""
		if i == 0 {
			label = "replicas"
		}
		state := "ready"
		switch {
		case !r.Running:
			state = "not running"
		case !r.Ready:
			state = "loading"
		}
		fmt.Fprintf(&b, "%-9s %d: %s, %d in flight, %d restart(s)\n", label, r.N, state, r.InFlight, r.Restarts)
	}
	fmt.Fprintf(&b, "clients   %d connected (%d since the start)\n", st.Clients, st.Total)
	fmt.Fprintf(&b, "requests  %d answered, %d failed, %d in flight, %d queued\n", st.Served, st.Failed, st.InFlight, st.Queued)
	if l := st.Latency; l.Count > 0 {
		fmt.Fprintf(&b, "latency   p50 %.3gms, p90 %.3gms, p99 %.3gms (the last %d answered)\n", l.P50, l.P90, l.P99, l.Count)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
