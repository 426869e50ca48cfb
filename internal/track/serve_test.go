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

// TestServeTimeout: a server answers each caller in order, so a request's
// --timeout clock starts when it reaches the head of the queue, and the
// requests behind one that timed out wait for its late answer: they are
// not failed for another's slowness. A ghost unanswered for another
// --timeout gets the connection replaced, and the requests behind it are
// sent again.
func TestServeTimeout(t *testing.T) {
	h := newHarness(t, Config{Framing: frame.Options{Mode: frame.Serve}, Window: 8, Timeout: time.Second})
	c := h.attach()
	h.add("a", "slow", "b", "c")
	h.send(c)
	h.after(500 * time.Millisecond)
	h.answer(c, frame.Answer, "1", "A")
	if r := h.after(900 * time.Millisecond); r != nil {
		t.Errorf("stuck %v at 1.4 s; want none", r)
	}
	h.want("1:A") // slow's clock started at a's answer, at 0.5 s
	if r := h.after(100 * time.Millisecond); len(r) != 1 || r[0] != (Stuck{c, 2, true}) {
		t.Errorf("stuck %v at 1.5 s; want request 2, first", r)
	}
	h.want("1:A", "2!no answer within --timeout 1s")
	if g := h.b.Ghosts(c); g != 1 {
		t.Errorf("Ghosts %d; want 1", g)
	}
	h.after(800 * time.Millisecond) // 2.3 s: b waits behind slow's ghost
	if o := h.answer(c, frame.Answer, "2", "SLOW"); o != Late {
		t.Errorf("late answer: %v; want Late", o)
	}
	h.after(900 * time.Millisecond) // 3.2 s: b's clock started at 2.3 s
	h.answer(c, frame.Answer, "3", "B")
	h.after(900 * time.Millisecond)
	h.answer(c, frame.Answer, "4", "C")
	h.want("1:A", "2!no answer within --timeout 1s", "3:B", "4:C")
	if g := h.b.Ghosts(c); g != 0 {
		t.Errorf("Ghosts %d after the late answer; want 0", g)
	}

	h.add("never", "next")
	h.send(c)
	h.wantWire(c, `{"id":1,"input":"a"}`+"\n"+`{"id":2,"input":"slow"}`+"\n"+`{"id":3,"input":"b"}`+"\n"+`{"id":4,"input":"c"}`+"\n"+
		`{"id":5,"input":"never"}`+"\n"+`{"id":6,"input":"next"}`+"\n")
	h.after(time.Second)
	if r := h.after(time.Second); len(r) != 1 || r[0] != (Stuck{c, 5, false}) {
		t.Fatalf("stuck %v; want request 5's ghost, unanswered another --timeout", r)
	}
	if d := h.gone(c, "replaced", Replaced); d.InFlight != 1 || d.Oldest != 6 || d.Failed != 0 {
		t.Errorf("death %+v; want request 6 to send again", d)
	}
	c2 := h.attach()
	h.send(c2)
	h.wantWire(c2, `{"id":6,"input":"next"}`+"\n")
	h.answer(c2, frame.Answer, "6", "NEXT")
	h.want("1:A", "2!no answer within --timeout 1s", "3:B", "4:C", "5!no answer within --timeout 1s", "6:NEXT")
}
