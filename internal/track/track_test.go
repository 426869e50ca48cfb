package track

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/pipecli/pipecli/internal/frame"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// harness drives a book as a session would, recording what it writes and
// what ends.
type harness struct {
	t     *testing.T
	b     *Book
	now   time.Time
	wire  map[int]string // what each child was sent
	ended []string       // "seq:answer" or "seq!error", in the order handed back
	seen  map[uint64]int // times each request ended
}

func newHarness(t *testing.T, cfg Config) *harness {
	return &harness{t: t, b: New(cfg), now: t0, wire: map[int]string{}, seen: map[uint64]int{}}
}

func (h *harness) attach() int {
	c := h.b.Attach()
	h.wire[c] = ""
	h.b.SetReady(c)
	return c
}

func (h *harness) add(lines ...string) {
	for _, l := range lines {
		h.b.Add([]byte(l))
	}
	h.collect()
}

func (h *harness) send(c int) string {
	w := string(h.b.Send(c, nil, h.now))
	h.wire[c] += w
	h.collect()
	return w
}

func (h *harness) answer(c int, kind frame.Kind, key, data string) Outcome {
	o, _ := h.b.Deliver(c, frame.Message{Kind: kind, Key: key, Data: []byte(data)}, h.now)
	h.collect()
	return o
}

func (h *harness) after(d time.Duration) []Stuck {
	h.now = h.now.Add(d)
	r := h.b.Expire(h.now)
	h.collect()
	return r
}

// again attaches a new child, checks what it is sent, and has it answer
// each of answers in order (FIFO framings).
func (h *harness) again(wire string, answers ...string) int {
	h.t.Helper()
	c := h.attach()
	h.send(c)
	h.wantWire(c, wire)
	for _, a := range answers {
		h.answer(c, frame.Answer, "", a)
	}
	return c
}

func (h *harness) gone(c int, why string, f Fate) Death {
	d := h.b.Gone(c, why, f)
	h.collect()
	return d
}

func (h *harness) collect() {
	for _, r := range h.b.Done() {
		h.seen[r.Seq]++
		if h.seen[r.Seq] > 1 {
			h.t.Fatalf("request %d ended twice", r.Seq)
		}
		if r.Err != nil {
			h.ended = append(h.ended, fmt.Sprintf("%d!%v", r.Seq, r.Err))
		} else if r.Notification {
			h.ended = append(h.ended, fmt.Sprintf("%d:-", r.Seq))
		} else {
			h.ended = append(h.ended, fmt.Sprintf("%d:%s", r.Seq, r.Answer))
		}
	}
}

func (h *harness) want(ended ...string) {
	h.t.Helper()
	if got := strings.Join(h.ended, " | "); got != strings.Join(ended, " | ") {
		h.t.Errorf("ended:\n got %s\nwant %s", got, strings.Join(ended, " | "))
	}
}

func (h *harness) wantWire(c int, want string) {
	h.t.Helper()
	if h.wire[c] != want {
		h.t.Errorf("child %d was sent %q; want %q", c, h.wire[c], want)
	}
	h.wire[c] = ""
}

var (
	line  = Config{Framing: frame.Options{Mode: frame.Line}, Window: 8, Retries: 2}
	jsonl = Config{Framing: frame.Options{Mode: frame.JSONL}, Window: 8, Retries: 2}
)

func with(c Config, f func(*Config)) Config { f(&c); return c }

func TestFIFOInOrder(t *testing.T) {
	h := newHarness(t, line)
	c := h.attach()
	h.add("a", "b", "c")
	h.send(c)
	h.wantWire(c, "a\nb\nc\n")
	h.answer(c, frame.Answer, "", "A")
	h.answer(c, frame.Answer, "", "B")
	h.want("1:A", "2:B")
	if o := h.answer(c, frame.Answer, "", "C"); o != Answered {
		t.Errorf("outcome %v", o)
	}
	if o := h.answer(c, frame.Answer, "", "extra"); o != Unowned {
		t.Errorf("an answer with nothing in flight: %v; want Unowned", o)
	}
	h.want("1:A", "2:B", "3:C")
}

func TestWindow(t *testing.T) {
	h := newHarness(t, with(line, func(c *Config) { c.Window = 2 }))
	c := h.attach()
	h.add("a", "b")
	if h.b.Wants() {
		t.Error("Wants with the window full of pending requests")
	}
	h.add("c")
	h.send(c)
	h.wantWire(c, "a\nb\n")
	h.answer(c, frame.Answer, "", "A")
	h.send(c)
	h.wantWire(c, "c\n")
	h.answer(c, frame.Answer, "", "B")
	if !h.b.Wants() {
		t.Error("no Wants with room in the window")
	}
}

// Unlimit sends what is pending beyond the window, for a child that
// stalled at the end of the input.
func TestUnlimit(t *testing.T) {
	h := newHarness(t, with(line, func(c *Config) { c.Window = 1 }))
	c := h.attach()
	h.add("skip", "next", "last")
	h.send(c)
	h.wantWire(c, "skip\n")
	h.b.Unlimit()
	h.send(c)
	h.wantWire(c, "next\nlast\n")
}

func TestSentinelAndSkipEmpty(t *testing.T) {
	h := newHarness(t, with(line, func(c *Config) { c.Sentinel = []byte(`print "--END--"`); c.SkipEmpty = true }))
	c := h.attach()
	h.add("1+1", "", "  ", "2+2")
	h.send(c)
	h.wantWire(c, "1+1\nprint \"--END--\"\n2+2\nprint \"--END--\"\n")
	if h.b.Open() != 2 {
		t.Errorf("open %d; want 2: blank lines are no requests", h.b.Open())
	}
}

func TestBadRequests(t *testing.T) {
	h := newHarness(t, line)
	c := h.attach()
	h.add("a\nb", "ok")
	h.send(c)
	h.wantWire(c, "ok\n")
	h.answer(c, frame.Answer, "", "OK")
	if !strings.HasPrefix(h.ended[0], "1!request \"a\\nb\" contains a newline") || h.ended[1] != "2:OK" {
		t.Errorf("ended %q", h.ended)
	}
}

// A late answer to a timed-out request is dropped, never taken for the
// next request's; the next request's clock starts when it reaches the head.
func TestFIFOTimeoutKeepsChild(t *testing.T) {
	h := newHarness(t, with(line, func(c *Config) { c.Timeout = time.Second }))
	c := h.attach()
	h.add("slow", "next")
	h.send(c)
	h.after(500 * time.Millisecond)
	if r := h.after(600 * time.Millisecond); len(r) != 1 || r[0] != (Stuck{c, 1, true}) {
		t.Fatalf("stuck %v after a first timeout; want request 1 told, first", r)
	}
	h.want("1!no answer within --timeout 1s")
	h.after(900 * time.Millisecond) // "next" is queued behind the ghost: no clock yet
	h.want("1!no answer within --timeout 1s")
	if o := h.answer(c, frame.Answer, "", "SLOW"); o != Late {
		t.Errorf("late answer: %v; want Late", o)
	}
	h.after(900 * time.Millisecond) // next's clock started at the late answer
	h.answer(c, frame.Answer, "", "NEXT")
	h.want("1!no answer within --timeout 1s", "2:NEXT")
}

// A ghost unanswered for another --timeout: the child is replaced, and the
// requests behind it are sent again, uncharged.
func TestFIFOTimeoutReplaces(t *testing.T) {
	h := newHarness(t, with(line, func(c *Config) { c.Timeout = time.Second; c.Retries = 0 }))
	c := h.attach()
	h.add("stuck", "b", "c")
	h.send(c)
	h.after(time.Second)
	if r := h.after(time.Second); len(r) != 1 || r[0] != (Stuck{c, 1, false}) {
		t.Fatalf("replace %v; want child %d, stuck on request 1", r, c)
	}
	d := h.gone(c, "replaced", Replaced)
	if d.InFlight != 2 || d.Oldest != 2 || d.Failed != 0 {
		t.Errorf("death %+v", d)
	}
	h.again("b\nc\n", "B", "C")
	h.want("1!no answer within --timeout 1s", "2:B", "3:C")
}

// In FIFO framings a death is charged to the oldest request in flight only.
func TestFIFOCrashChargesOldest(t *testing.T) {
	h := newHarness(t, with(line, func(c *Config) { c.Retries = 1 }))
	c := h.attach()
	h.add("poison", "b", "c")
	h.send(c)
	h.gone(c, "x was killed", Crashed)
	c = h.again("poison\nb\nc\n")
	d := h.gone(c, "x was killed", Crashed)
	if d.Failed != 1 {
		t.Errorf("death %+v; want the oldest failed", d)
	}
	h.again("b\nc\n", "B", "C")
	h.want("1!x was killed while handling it; sent 2 time(s)", "2:B", "3:C")
}

// A child seen waiting for input with a suspect unanswered (Unlimit)
// gets the others too: one at a time, they would wait for ever.
func TestJSONLSuspectsUnlimited(t *testing.T) {
	h := newHarness(t, with(jsonl, func(c *Config) { c.Retries = 5 }))
	c := h.attach()
	h.add("never", "crash")
	h.send(c)
	h.gone(c, "x was killed", Crashed)
	c = h.attach()
	h.send(c)
	h.wantWire(c, `{"id":1,"text":"never"}`+"\n")
	h.send(c)
	h.wantWire(c, "") // alone
	h.b.Unlimit()
	h.send(c)
	h.wantWire(c, `{"id":2,"text":"crash"}`+"\n")
	if d := h.gone(c, "x was killed", Crashed); d.Alone != 0 {
		t.Errorf("death %+v; none is sent alone now", d)
	}
}

// In jsonl the requests in flight at a death are sent again one at a
// time: only the culprit is charged and fails.
func TestJSONLCrashIsolates(t *testing.T) {
	h := newHarness(t, with(jsonl, func(c *Config) { c.Retries = 1 }))
	c := h.attach()
	h.add("a", "poison", "b")
	h.send(c)
	d := h.gone(c, "x was killed", Crashed)
	if d.Alone != 3 || d.Failed != 0 {
		t.Fatalf("death %+v; want 3 sent again alone, none failed", d)
	}
	// Sent one at a time; each answered before the next goes.
	c = h.attach()
	h.send(c)
	h.wantWire(c, `{"id":1,"text":"a"}`+"\n")
	h.send(c)
	h.wantWire(c, "")
	h.answer(c, frame.Answer, "1", "A")
	h.send(c)
	h.wantWire(c, `{"id":2,"text":"poison"}`+"\n")
	h.gone(c, "x was killed", Crashed) // charged: alone in flight
	c = h.attach()
	h.send(c)
	h.wantWire(c, `{"id":2,"text":"poison"}`+"\n")
	h.gone(c, "x was killed", Crashed)
	c = h.attach()
	h.send(c)
	h.wantWire(c, `{"id":3,"text":"b"}`+"\n")
	h.answer(c, frame.Answer, "3", "B")
	h.want("1:A", "2!x was killed while handling it; sent 3 time(s)", "3:B")
}

// pipecli's ids never collide with the user's; a request with a user id
// in flight waits for it to be answered, and those after it wait too, so
// that they keep their order.
func TestJSONLIDs(t *testing.T) {
	h := newHarness(t, jsonl)
	c := h.attach()
	// Request 1 carries the user's id 2: request 2, plain text, must not
	// be sent with id 2 as well.
	h.add(`{"id":2,"text":"Uryyb"}`, "Jbeyq", `{"id":2,"text":"again"}`, `{"id":"s"}`)
	h.send(c)
	h.wantWire(c, `{"id":2,"text":"Uryyb"}`+"\n"+`{"id":3,"text":"Jbeyq"}`+"\n")
	if o := h.answer(c, frame.Answer, "3", `{"id":3,"text":"World"}`); o != Answered {
		t.Errorf("outcome %v", o)
	}
	h.send(c)
	h.wantWire(c, "") // id 2 is still in flight
	h.answer(c, frame.Answer, "2", `{"id":2,"text":"Hello"}`)
	h.send(c)
	h.wantWire(c, `{"id":2,"text":"again"}`+"\n"+`{"id":"s"}`+"\n")
	h.answer(c, frame.Answer, "2", `{"id":2,"text":"Again"}`)
	h.answer(c, frame.Answer, `"s"`, `{"id":"s"}`)
	h.want(`1:{"id":2,"text":"Hello"}`, `2:{"id":3,"text":"World"}`, `3:{"id":2,"text":"Again"}`, `4:{"id":"s"}`)

	// pipecli's ids avoid the user's ids still to send, and a user's id
	// equal to one of pipecli's in flight waits for it.
	h = newHarness(t, jsonl)
	c = h.attach()
	h.add("plain", `{"id":1}`)
	h.send(c)
	h.wantWire(c, `{"id":2,"text":"plain"}`+"\n"+`{"id":1}`+"\n")
	h.add("three", `{"id":3}`)
	h.send(c)
	h.wantWire(c, `{"id":4,"text":"three"}`+"\n"+`{"id":3}`+"\n")
	h.add(`{"id":4}`)
	h.send(c)
	h.wantWire(c, "")
	h.answer(c, frame.Answer, "4", "T")
	h.send(c)
	h.wantWire(c, `{"id":4}`+"\n")
	for _, k := range []string{"1", "2", "3", "4"} {
		h.answer(c, frame.Answer, k, "k"+k)
	}
	h.want("1:k2", "2:k1", "3:T", "4:k3", "5:k4")
}

func TestJSONLNotification(t *testing.T) {
	h := newHarness(t, jsonl)
	c := h.attach()
	h.add(`{"jsonrpc":"2.0","method":"notify"}`, `{"jsonrpc":"2.0","id":5,"method":"m"}`)
	h.send(c)
	h.wantWire(c, `{"jsonrpc":"2.0","method":"notify"}`+"\n"+`{"jsonrpc":"2.0","id":5,"method":"m"}`+"\n")
	h.want("1:-")
	if h.b.Open() != 1 {
		t.Errorf("open %d; want 1: the notification awaits nothing", h.b.Open())
	}
	h.answer(c, frame.Answer, "5", "R")
	h.want("1:-", "2:R")
}

// A jsonl timeout fails the request and keeps the child; a late answer is
// dropped, and its id is not reused until it came or its time is up.
func TestJSONLTimeout(t *testing.T) {
	h := newHarness(t, with(jsonl, func(c *Config) { c.Timeout = time.Second }))
	c := h.attach()
	h.add(`{"id":"a"}`, `{"id":"b"}`)
	h.send(c)
	h.answer(c, frame.Answer, `"b"`, "B")
	if r := h.after(time.Second); r != nil {
		t.Errorf("replace %v; jsonl keeps its child", r)
	}
	h.add(`{"id":"a","n":2}`)
	h.send(c)
	h.wantWire(c, `{"id":"a"}`+"\n"+`{"id":"b"}`+"\n") // the new "a" waits for the ghost
	if o := h.answer(c, frame.Answer, `"a"`, "late"); o != Late {
		t.Errorf("late answer: %v", o)
	}
	h.send(c)
	h.wantWire(c, `{"id":"a","n":2}`+"\n")
	h.answer(c, frame.Answer, `"a"`, "A2")
	h.want("1!no answer within --timeout 1s", "2:B", "3:A2")
}

// A child that ends with requests unanswered fails them, once.
func TestEnded(t *testing.T) {
	h := newHarness(t, line)
	c := h.attach()
	h.add("", "1+1")
	h.send(c)
	h.answer(c, frame.Answer, "", "2")
	d := h.gone(c, "bc exited with code 0", Ended)
	if d.Failed != 1 {
		t.Errorf("death %+v", d)
	}
	h.want("1:2", "2!bc exited with code 0 without answering it")
}

func TestClose(t *testing.T) {
	h := newHarness(t, line)
	c := h.attach()
	h.add("a", "b")
	h.send(c)
	h.gone(c, "x exited with code 1", Crashed)
	h.b.Close(fmt.Errorf("x exited with code 1; not restarted"))
	h.add("c")
	if !h.b.Wants() {
		t.Error("a closed book wants no input: the rest would never fail")
	}
	h.want("1!x exited with code 1; not restarted", "2!x exited with code 1; not restarted", "3!x exited with code 1; not restarted")
	if h.b.Open() != 0 {
		t.Errorf("open %d", h.b.Open())
	}
}

func TestMarkerPrompt(t *testing.T) {
	h := newHarness(t, Config{Framing: frame.Options{Mode: frame.Marker, PromptReady: true}, Window: 1})
	c := h.attach()
	if o := h.answer(c, frame.Answer, "", ""); o != Prompt {
		t.Errorf("first empty answer: %v; want Prompt", o)
	}
	h.add("q")
	h.send(c)
	h.answer(c, frame.Partial, "", "l1")
	h.answer(c, frame.Answer, "", "l1\nl2")
	h.want("1:l1\nl2")
}

// FuzzBook plays random interleavings of input, sends to one to three
// children (by id: jsonl, or, for one seed in three, servers, which answer
// in order), answers (right, late, twice, never), deaths, restarts and
// deadlines, and checks that every request ends exactly once, in input
// order (or, unordered, once), that the reorder buffer stays bounded, and
// that no answer reaches the wrong request: each answer names the request
// it answers.
func FuzzBook(f *testing.F) {
	f.Add(uint64(1), uint64(2), false)
	f.Add(uint64(7), uint64(9), true)
	f.Add(uint64(42), uint64(0), true)
	f.Add(uint64(5), uint64(3), false)
	f.Fuzz(func(t *testing.T, s1, s2 uint64, byID bool) {
		rng := rand.New(rand.NewPCG(s1, s2))
		cfg := Config{Framing: frame.Options{Mode: frame.Line}, Window: 1 + rng.IntN(5), Retries: rng.IntN(3), Timeout: time.Duration(rng.IntN(3)) * time.Second}
		serve := byID && s1%3 == 0
		switch {
		case serve:
			cfg.Framing.Mode = frame.Serve
		case byID:
			cfg.Framing.Mode = frame.JSONL
		}
		if rng.IntN(2) == 0 {
			cfg.Reorder = cfg.Window + rng.IntN(8)
		}
		cfg.Unordered = rng.IntN(4) == 0
		b := New(cfg)
		now := t0
		type sent struct {
			seq uint64
			key string
		}
		kids := 1 + rng.IntN(3)
		children := make([][]sent, kids) // what each child was sent, unanswered
		for range kids {
			b.SetReady(b.Attach())
		}
		added, ended := 0, 0
		nextOut := uint64(1)
		endedSeq := map[uint64]bool{}
		check := func() {
			n, live := 0, 0
			for _, ch := range b.children {
				n += len(ch.inflight)
				if ch.live {
					live++
				}
			}
			if n != b.inflight || live != b.live {
				t.Fatalf("counted %d in flight, %d live; the book says %d, %d", n, live, b.inflight, b.live)
			}
			for _, r := range b.Done() {
				if cfg.Unordered {
					if endedSeq[r.Seq] || r.Seq == 0 || r.Seq > uint64(added) {
						t.Fatalf("request %d ended twice, or was never added", r.Seq)
					}
					endedSeq[r.Seq] = true
				} else if r.Seq != nextOut {
					t.Fatalf("request %d ended; want %d next", r.Seq, nextOut)
				}
				nextOut++
				ended++
				if r.Err == nil && !r.Notification && string(r.Answer) != fmt.Sprintf("answer %d", r.Seq) {
					t.Fatalf("request %d got %q", r.Seq, r.Answer)
				}
			}
			if cfg.Reorder > 0 && !cfg.Unordered && added-ended > cfg.Reorder {
				t.Fatalf("%d requests held, past the reorder bound %d", added-ended, cfg.Reorder)
			}
		}
		// record notes what child c was sent, as the child would read it.
		record := func(c int, wire []byte) {
			for _, l := range strings.Split(strings.TrimSuffix(string(wire), "\n"), "\n") {
				if l == "" {
					continue
				}
				var s sent
				if byID {
					var id, q int
					if serve {
						fmt.Sscanf(l, `{"id":%d,"input":"q%d"}`, &id, &q)
					} else {
						fmt.Sscanf(l, `{"id":%d,"text":"q%d"}`, &id, &q)
					}
					s = sent{uint64(q), fmt.Sprint(id)}
				} else {
					fmt.Sscanf(l, "q%d", &s.seq)
				}
				children[c] = append(children[c], s)
			}
		}
		var wires [][]byte
		dispatch := func() {
			wires = b.Dispatch(wires[:0], now)
			for c, w := range wires {
				record(c, w)
				wires[c] = nil
			}
		}
		answer := func(c int, s sent) {
			b.Deliver(c, frame.Message{Kind: frame.Answer, Key: s.key, Data: fmt.Appendf(nil, "answer %d", s.seq)}, now)
		}
		restart := func(c int, fate Fate) {
			b.Gone(c, "gone", fate)
			children[c] = nil
			b.Rejoin(c)
			if rng.IntN(4) > 0 {
				b.SetReady(c)
			}
		}
		for step := 0; step < 400; step++ {
			c := rng.IntN(kids)
			switch k := rng.IntN(11); {
			case k < 3 && added < 80:
				for range 1 + rng.IntN(3) {
					if b.Wants() {
						b.Add(fmt.Appendf(nil, "q%d", added+1))
						added++
					}
				}
			case k < 5:
				dispatch()
			case k < 7 && len(children[c]) > 0:
				// The child answers: the oldest, or (jsonl) any; sometimes twice.
				i := 0
				if byID && !serve {
					i = rng.IntN(len(children[c]))
				}
				s := children[c][i]
				answer(c, s)
				if byID && rng.IntN(8) == 0 {
					// Twice: must not end another request. (In the FIFO
					// framings an answer is whatever comes next: a child
					// that answers a line twice cannot be told apart.)
					answer(c, s)
				} else {
					children[c] = append(children[c][:i], children[c][i+1:]...)
				}
			case k == 7:
				now = now.Add(time.Duration(rng.IntN(1500)) * time.Millisecond)
				for _, st := range b.Expire(now) {
					if !st.First || rng.IntN(2) == 0 {
						restart(st.Child, Replaced)
					}
				}
			case k == 8 && rng.IntN(3) == 0:
				restart(c, Crashed)
			case k == 9:
				b.SetReady(c)
			}
			check()
		}
		// The end: the input is over; the children answer all they
		// hold, then exit.
		for c := range kids {
			b.SetReady(c)
		}
		for range 200 {
			dispatch()
			busy := false
			for c := range kids {
				for _, s := range children[c] {
					answer(c, s)
					busy = true
				}
				children[c] = nil
			}
			check()
			if !busy && b.Pending() == 0 {
				break
			}
		}
		for c := range kids {
			b.Gone(c, "exited", Ended)
		}
		b.Close(fmt.Errorf("over"))
		check()
		if ended != added || b.Open() != 0 {
			t.Fatalf("%d added, %d ended, %d open", added, ended, b.Open())
		}
	})
}

// --retries 0: no request is sent twice, so a jsonl death with several in
// flight fails them all; a literal marker's empty answer with nothing in
// flight is no prompt.
func TestRetriesZeroAndNoPrompt(t *testing.T) {
	h := newHarness(t, with(jsonl, func(c *Config) { c.Retries = 0 }))
	c := h.attach()
	h.add("a", "b")
	h.send(c)
	if d := h.gone(c, "x was killed", Crashed); d.Failed != 2 || d.Alone != 0 {
		t.Errorf("death %+v; want both failed", d)
	}
	if !strings.Contains(h.ended[0], "--retries 0: none is sent again") || len(h.ended) != 2 {
		t.Errorf("ended %q", h.ended)
	}
	h = newHarness(t, Config{Framing: frame.Options{Mode: frame.Marker, Marker: "END"}, Window: 1})
	c = h.attach()
	if o := h.answer(c, frame.Answer, "", ""); o != Unowned {
		t.Errorf("empty answer with a literal marker: %v; want Unowned", o)
	}
}

// A user's id whose answer never came, even in the --timeout after: the
// ghost stays, so that a request giving the id again waits and does not
// take the late answer for its own, and the child is replaced. pipecli's
// own ids are never given again: their ghosts go, and the child stays.
func TestJSONLStaleGhost(t *testing.T) {
	h := newHarness(t, with(jsonl, func(c *Config) { c.Timeout = time.Second }))
	c := h.attach()
	h.add(`{"id":"a"}`, `{"n":1}`)
	h.send(c)
	h.after(time.Second) // both time out: ghosts
	if r := h.after(time.Second); len(r) != 1 || r[0] != (Stuck{c, 1, false}) {
		t.Fatalf("replace %v; want child %d, for the user's id of request 1 only", r, c)
	}
	if r := h.after(time.Hour); r != nil {
		t.Fatalf("replace %v again", r)
	}
	h.add(`{"id":"a","n":2}`)
	h.send(c)
	h.wantWire(c, `{"id":"a"}`+"\n"+`{"id":2,"n":1}`+"\n") // the new "a" waits
	if o := h.answer(c, frame.Answer, `"a"`, "late"); o != Late {
		t.Errorf("late answer: %v; want Late", o)
	}
	if o := h.answer(c, frame.Answer, `2`, "late"); o != Unowned {
		t.Errorf("late answer to pipecli's id, its ghost gone: %v; want Unowned", o)
	}
	h.send(c)
	h.wantWire(c, `{"id":"a","n":2}`+"\n")
	h.answer(c, frame.Answer, `"a"`, "A2")
	h.want("1!no answer within --timeout 1s", "2!no answer within --timeout 1s", "3:A2")
}

// A child's ghosts go with it, stale ones (unanswered in the --timeout
// after too) as well: the next child's answers with the same id are its
// own.
func TestGoneForgetsGhosts(t *testing.T) {
	for _, timeouts := range []int{1, 2} {
		h := newHarness(t, with(jsonl, func(c *Config) { c.Timeout = time.Second }))
		c := h.attach()
		h.add(`{"id":"a"}`)
		h.send(c)
		for range timeouts {
			h.after(time.Second) // a ghost, then a stale one
		}
		h.gone(c, "x exited with code 1", Crashed)
		c = h.attach()
		h.add(`{"id":"a","n":2}`)
		h.send(c)
		h.wantWire(c, `{"id":"a","n":2}`+"\n")
		if o := h.answer(c, frame.Answer, `"a"`, "A2"); o != Answered {
			t.Errorf("%d timeouts: the new child's answer: %v; want Answered", timeouts, o)
		}
		h.want("1!no answer within --timeout 1s", "2:A2")
	}
}

// An answer from one child to a request sent to another is not taken.
func TestAnswerFromAnotherChild(t *testing.T) {
	h := newHarness(t, jsonl)
	c1, c2 := h.attach(), h.attach()
	h.add("a")
	h.send(c1)
	if o := h.answer(c2, frame.Answer, "1", "A"); o != Unowned {
		t.Errorf("answer from the wrong child: %v; want Unowned", o)
	}
	h.answer(c1, frame.Answer, "1", "A")
	h.want("1:A")
}

// The death of a child that was stopped on purpose charges no one, and one
// that ended fails what it left.
func TestFates(t *testing.T) {
	for _, tt := range []struct {
		fate   Fate
		failed int
		want   string
	}{
		{Replaced, 0, "1:A"},
		{Ended, 1, "1!x exited with code 0 without answering it"},
		{Abandoned, 1, "1!interrupted"},
	} {
		h := newHarness(t, with(line, func(c *Config) { c.Retries = 0 }))
		c := h.attach()
		h.add("a")
		h.send(c)
		why := "x exited with code 0"
		if tt.fate == Abandoned {
			why = "interrupted"
		}
		if d := h.gone(c, why, tt.fate); d.Failed != tt.failed || d.InFlight != 1 || d.Oldest != 1 {
			t.Errorf("fate %v: death %+v", tt.fate, d)
		}
		if tt.fate == Replaced {
			c = h.attach()
			h.send(c)
			h.answer(c, frame.Answer, "", "A")
		}
		h.want(tt.want)
	}
}

// Several children: each request goes to the ready child with the fewest
// in flight; answers come back in input order whoever gave them, unless
// Unordered; the reorder bound holds the input when the oldest is slow.
func TestDispatch(t *testing.T) {
	line := Config{Framing: frame.Options{Mode: frame.Line}, Window: 2, Retries: 2}
	dispatch := func(h *harness) {
		for c, w := range h.b.Dispatch(nil, h.now) {
			h.wire[c] += string(w)
		}
		h.collect()
	}
	t.Run("least loaded", func(t *testing.T) {
		h := newHarness(t, line)
		a, b := h.attach(), h.attach()
		h.add("q1", "q2", "q3")
		dispatch(h)
		h.wantWire(a, "q1\nq3\n")
		h.wantWire(b, "q2\n")
		h.answer(b, frame.Answer, "", "a2")
		h.add("q4", "q5")
		dispatch(h)
		h.wantWire(a, "")
		h.wantWire(b, "q4\nq5\n")
		h.want() // q1 holds the rest back
		h.answer(a, frame.Answer, "", "a1")
		h.want("1:a1", "2:a2")
	})
	t.Run("not ready, gone, back", func(t *testing.T) {
		h := newHarness(t, line)
		a := h.attach()
		b := h.b.Attach() // loading
		h.add("q1", "q2", "q3")
		dispatch(h)
		h.wantWire(a, "q1\nq2\n")
		h.wantWire(b, "")
		h.b.SetReady(b)
		dispatch(h)
		h.wantWire(b, "q3\n")
		h.gone(a, "crashed", Crashed) // q1, charged, and q2 go again: to b, while a is away
		h.b.Rejoin(a)
		dispatch(h)
		h.wantWire(b, "q1\n")
		h.b.SetReady(a)
		dispatch(h)
		h.wantWire(a, "q2\n")
	})
	t.Run("not to its killer", func(t *testing.T) {
		// A replica that dies with q1 at its head: q1 goes to the other,
		// and waits for room there rather than go back to the first,
		// unless no other is live; the requests after it do not wait.
		h := newHarness(t, line)
		a, b := h.attach(), h.attach()
		h.add("q1", "q2", "q3", "q4")
		dispatch(h)
		h.wantWire(a, "q1\nq3\n")
		h.wantWire(b, "q2\nq4\n")
		h.gone(a, "crashed", Crashed)
		h.b.Rejoin(a)
		h.b.SetReady(a)
		dispatch(h)
		h.wantWire(a, "q3\n") // q1 waits for b; q3 goes past it
		h.answer(b, frame.Answer, "", "a2")
		dispatch(h)
		h.wantWire(b, "q1\n")
		h.wantWire(a, "")
		h.gone(b, "crashed", Crashed) // q4, its head, and q1 again
		dispatch(h)
		h.wantWire(a, "q4\n")
		h.answer(a, frame.Answer, "", "a3")
		dispatch(h) // a killed q1, but is the only one live
		h.wantWire(a, "q1\n")
		h.answer(a, frame.Answer, "", "a4")
		h.answer(a, frame.Answer, "", "a1")
		h.want("1:a1", "2:a2", "3:a3", "4:a4")
	})
	t.Run("paced windows", func(t *testing.T) {
		// With several children, a child's window holds about 20ms of its
		// work: a slow one gets two in flight, a fast one the whole
		// --window; before its first answer, each gets two.
		h := newHarness(t, with(line, func(c *Config) { c.Window = 8 }))
		slow, fast := h.attach(), h.attach()
		for i := range 1000 {
			h.add(fmt.Sprint("q", i))
		}
		dispatch(h)
		if s, f := h.b.InFlight(slow), h.b.InFlight(fast); s != 2 || f != 2 {
			t.Fatalf("before any answer: %d and %d in flight; want 2 and 2", s, f)
		}
		for range 5 {
			for range 20 { // the fast one answers at once, many times
				h.now = h.now.Add(time.Microsecond)
				for h.b.InFlight(fast) > 0 {
					h.answer(fast, frame.Answer, "", "f")
				}
				dispatch(h)
			}
			h.now = h.now.Add(100 * time.Millisecond)
			h.answer(slow, frame.Answer, "", "s")
			dispatch(h)
		}
		if s, f := h.b.InFlight(slow), h.b.InFlight(fast); s != 2 || f != 8 {
			t.Fatalf("paced: %d and %d in flight; want 2 (slow) and 8 (fast)", s, f)
		}
	})
	t.Run("in runs", func(t *testing.T) {
		// With room for 8, a child keeps taking requests while it has at
		// most a quarter of its window more than the least loaded: one
		// write each, not one per request.
		h := newHarness(t, with(line, func(c *Config) { c.Window = 8 }))
		a, b := h.attach(), h.attach()
		h.add("w1", "w2") // one each, answered in no time: paced, the whole window
		dispatch(h)
		h.answer(a, frame.Answer, "", "w")
		h.answer(b, frame.Answer, "", "w")
		h.wire[a], h.wire[b] = "", ""
		h.add("q1", "q2", "q3", "q4", "q5", "q6")
		dispatch(h)
		h.wantWire(a, "q1\nq2\nq3\n")
		h.wantWire(b, "q4\nq5\nq6\n")
	})
	t.Run("reorder bound", func(t *testing.T) {
		h := newHarness(t, with(line, func(c *Config) { c.Reorder = 4 }))
		a, b := h.attach(), h.attach()
		h.add("q1", "q2", "q3", "q4")
		if h.b.Wants() {
			t.Fatal("wants more with 4 held and a bound of 4")
		}
		dispatch(h)
		h.answer(b, frame.Answer, "", "a2")
		h.answer(b, frame.Answer, "", "a4")
		if h.b.Wants() {
			t.Fatal("wants more while q1 holds the answers after it")
		}
		h.answer(a, frame.Answer, "", "a1")
		h.want("1:a1", "2:a2")
		if !h.b.Wants() {
			t.Fatal("wants no more with room in the reorder buffer")
		}
	})
	t.Run("unordered", func(t *testing.T) {
		h := newHarness(t, with(line, func(c *Config) { c.Unordered = true; c.Reorder = 2 }))
		a, b := h.attach(), h.attach()
		h.add("q1", "q2")
		dispatch(h)
		h.answer(b, frame.Answer, "", "a2")
		h.want("2:a2")
		h.answer(a, frame.Answer, "", "a1")
		h.want("2:a2", "1:a1")
	})
}

// A child whose stdin is closed takes no more requests, even should it say
// it is ready after (its banner ended late): requests that come back from
// another child's death wait for one that can take them.
func TestNoMoreSticks(t *testing.T) {
	h := newHarness(t, with(line, func(c *Config) { c.Window = 2 }))
	a := h.attach()
	b := h.b.Attach() // loading
	h.add("q1", "q2")
	for c, w := range h.b.Dispatch(nil, h.now) {
		h.wire[c] += string(w)
	}
	h.wantWire(a, "q1\nq2\n")
	h.b.NoMore(a)
	h.b.NoMore(b)
	h.b.SetReady(b) // its banner ends after its stdin was closed
	h.gone(a, "crashed", Crashed)
	for c, w := range h.b.Dispatch(nil, h.now) {
		h.wire[c] += string(w)
	}
	h.wantWire(b, "")
	if h.b.Pending() != 2 {
		t.Fatalf("%d pending; want 2, waiting for a child that can take them", h.b.Pending())
	}
	h.b.Rejoin(a) // started again: takes them
	h.b.SetReady(a)
	h.send(a)
	h.wantWire(a, "q1\nq2\n")
}

// A request that timed out says so to errors.Is, whatever its text; one
// whose child died does not.
func TestErrTimeout(t *testing.T) {
	h := newHarness(t, with(line, func(c *Config) { c.Timeout = time.Second }))
	c := h.attach()
	h.add("slow", "dies")
	h.send(c)
	var errs []error
	keep := func() {
		for _, r := range h.b.Done() {
			errs = append(errs, r.Err)
		}
	}
	h.now = h.now.Add(2 * time.Second)
	h.b.Expire(h.now)
	keep()
	h.b.Gone(c, "it died", Crashed)
	h.b.Close(errors.New("not sent: no child"))
	keep()
	if len(errs) != 2 {
		t.Fatalf("%d requests ended; want 2", len(errs))
	}
	if !errors.Is(errs[0], ErrTimeout) || errs[0].Error() != "no answer within --timeout 1s" {
		t.Errorf("the timed-out request's error is %q; want errors.Is ErrTimeout", errs[0])
	}
	if errors.Is(errs[1], ErrTimeout) {
		t.Errorf("the other request's error %q is ErrTimeout", errs[1])
	}
}
