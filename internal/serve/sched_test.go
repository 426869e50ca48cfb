package serve

import (
	"fmt"
	"strings"
	"testing"
)

// TestSchedFair: the clients take turns, one request each, whatever how
// many each has queued; a client that comes takes its turn at the end of
// the round under way; one that goes loses its turn.
func TestSchedFair(t *testing.T) {
	tests := []struct {
		name string
		ops  string // "A3": A queues 3; "pN": pop N; "-B": B goes
		want string // what the pops gave, in order
	}{
		{"one", "A3 p3", "A0 A1 A2"},
		{"batch and prompt", "A5 B1 p6", "A0 B0 A1 A2 A3 A4"},
		{"three", "A3 B2 C1 p6", "A0 B0 C0 A1 B1 A2"},
		{"newcomer ends the round", "A3 B3 p1 C1 p5", "A0 B0 C0 A1 B1 A2"},
		{"a client that went", "A3 B3 p1 -B p3", "A0 A1 A2"},
		{"went while next", "A2 B2 C2 p1 -B p4", "A0 C0 A1 C1"},
		{"empty", "p1", ""},
		{"comes back", "A1 p1 A1 B1 p2", "A0 A1 B0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSched[string, int]()
			count := map[string]int{}
			var got []string
			for _, op := range strings.Fields(tt.ops) {
				switch op[0] {
				case 'p':
					var n int
					fmt.Sscan(op[1:], &n)
					for range n {
						if c, k, ok := s.pop(); ok {
							got = append(got, fmt.Sprintf("%s%d", c, k))
						}
					}
				case '-':
					s.drop(op[1:])
				default:
					var n int
					fmt.Sscan(op[1:], &n)
					c := op[:1]
					for range n {
						s.push(c, count[c])
						count[c]++
					}
				}
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("%s: popped %q; want %q", tt.ops, g, tt.want)
			}
		})
	}
}

// TestSchedLen: dropping and popping keep the count, and a long queue is
// compacted without losing its order.
func TestSchedLen(t *testing.T) {
	s := newSched[int, int]()
	for i := range 1000 {
		s.push(1, i)
	}
	s.push(2, 0)
	s.push(2, 1)
	for want := range 300 {
		c, k, _ := s.pop()
		if c == 2 {
			c, k, _ = s.pop()
		}
		if c != 1 || k != want {
			t.Fatalf("popped %d/%d; want 1/%d", c, k, want)
		}
	}
	if got := len(s.drop(2)); got != 0 {
		t.Errorf("client 2 had %d left; want 0", got)
	}
	if s.len() != 700 {
		t.Errorf("len %d; want 700", s.len())
	}
	if got := s.drop(1); len(got) != 700 || got[0] != 300 {
		t.Errorf("dropped %d from %d; want 700 from 300", len(got), got[0])
	}
	if s.len() != 0 {
		t.Errorf("len %d after dropping all", s.len())
	}
}
