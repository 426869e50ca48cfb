package track

import (
	"testing"
	"time"

	"github.com/pipecli/pipecli/internal/frame"
)

// TestLookahead: with Lookahead, the book wants input only while the ready
// children have room for it, and Lookahead more; a child that has not
// answered yet has a window of two.
func TestLookahead(t *testing.T) {
	b := New(Config{Framing: frame.Options{Mode: frame.Line}, Window: 4, Lookahead: 1})
	c := b.Attach()
	added := 0
	for b.Wants() {
		b.Add([]byte("x"))
		added++
	}
	if added != 1 {
		t.Errorf("with no child ready, the book took %d; want 1 (Lookahead)", added)
	}
	b.SetReady(c)
	for b.Wants() {
		b.Add([]byte("x"))
		added++
	}
	if added != 3 {
		t.Errorf("with a new child ready, the book took %d; want 3", added)
	}
	now := time.Now()
	b.Send(c, nil, now)
	if b.Wants() {
		t.Errorf("the window is full and one is pending, yet the book wants more")
	}
	b.Deliver(c, frame.Message{Kind: frame.Answer, Data: []byte("y")}, now)
	if !b.Wants() {
		t.Errorf("an answer made room, yet the book wants no more")
	}
}

// TestServeFailed: in the serve framing a request goes with an id of
// pipecli's; a Failed answer ends it failed, with the server's words, and
// the child is not charged.
func TestServeFailed(t *testing.T) {
	b := New(Config{Framing: frame.Options{Mode: frame.Serve}, Window: 4})
	c := b.Attach()
	b.SetReady(c)
	b.Add([]byte("a\nb"))
	b.Add([]byte("c"))
	wire := string(b.Send(c, nil, time.Now()))
	if want := `{"id":1,"input":"a\nb"}` + "\n" + `{"id":2,"input":"c"}` + "\n"; wire != want {
		t.Fatalf("sent %q; want %q", wire, want)
	}
	now := time.Now()
	if o, _ := b.Deliver(c, frame.Message{Kind: frame.Failed, Key: "2", Data: []byte("not sent: the server is stopping")}, now); o != Answered {
		t.Errorf("Failed: %v; want Answered", o)
	}
	if o, _ := b.Deliver(c, frame.Message{Kind: frame.Answer, Key: "1", Data: []byte("A\nB")}, now); o != Answered {
		t.Errorf("Answer: %v; want Answered", o)
	}
	done := b.Done()
	if len(done) != 2 || done[0].Err != nil || string(done[0].Answer) != "A\nB" || done[1].Err == nil || done[1].Err.Error() != "not sent: the server is stopping" {
		t.Errorf("done %+v; want request 1 answered, 2 failed with the server's words", done)
	}
}

// TestLookaheadWindow: with Lookahead, even a lone child is sent about
// 20 ms of its work: a slow one two requests at a time, a fast one its
// whole window.
func TestLookaheadWindow(t *testing.T) {
	for _, tt := range []struct {
		svc  time.Duration
		want int
	}{{50 * time.Millisecond, 2}, {10 * time.Microsecond, 16}} {
		b := New(Config{Framing: frame.Options{Mode: frame.Line}, Window: 16, Lookahead: 1})
		c := b.Attach()
		b.SetReady(c)
		now := time.Now()
		for range 40 {
			for b.Wants() {
				b.Add([]byte("x"))
			}
			b.Send(c, nil, now)
			now = now.Add(tt.svc)
			b.Deliver(c, frame.Message{Kind: frame.Answer, Data: []byte("y")}, now)
			b.Done()
		}
		for b.Wants() {
			b.Add([]byte("x"))
		}
		b.Send(c, nil, now)
		if got := b.InFlight(c); got != tt.want {
			t.Errorf("a child answering in %s has %d in flight; want %d", tt.svc, got, tt.want)
		}
	}
}
