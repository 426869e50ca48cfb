// Package serve keeps a pool of warm replicas behind a Unix socket and
// shares it among any number of local callers, each of whom gets only its
// own answers, in its own order, in a fair share of the pool.
//
// The pool is the engine `pipecli run` uses, as it is: one session.Run
// with every replica, restart, retry and --ready of run's, whose input is
// a pipe this package feeds one line at a time, and whose requests it is
// told of as they end (session.Config.Observe). The session takes a line
// only when a replica has room for it (Lookahead), so the server decides
// which caller's request goes next at the last moment:
//
//	accept ─> per caller: reader ─> sched (a queue per caller) ─> feeder ─> pipe ─> session.Run (the pool)
//	                                                                                   │ Observe
//	          per caller: writer <─ its reorder ring <─────────────────────────────────┘
//
// The feeder takes the callers' requests in turn, one each (sched), and
// numbers them as the session does: the Nth line fed is request N, whose
// ticket says whose it is. Observe puts each answer in its caller's ring,
// at its place in that caller's order, and never blocks: a caller has at
// most ClientWindow requests read and not yet answered and written, so the
// ring has room for every answer, and a caller that never reads its
// answers only stops its own requests from being read. A caller that goes
// away has its queued requests dropped and its answers discarded.
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/session"
	"github.com/pipecli/pipecli/internal/track"
)

// Config is what a server is asked to do.
type Config struct {
	// Socket is the path of the socket to listen on (see Resolve).
	Socket string
	// Pool says what the replicas are and how they frame their answers;
	// Run sets the fields that are the server's (Observe, Unordered,
	// CallerSignals, Lookahead, Replica, the input and output).
	Pool session.Config
	// ClientWindow bounds each caller's requests read and not yet
	// answered and written.
	ClientWindow int
	// MaxRequest bounds a request line, in bytes.
	MaxRequest int
	// Grace bounds the drain: requests still unanswered this long after
	// the first signal fail, and the replicas are stopped.
	Grace time.Duration
	// Signals are the signals the server gets: the first drains it, a
	// second stops it at once.
	Signals <-chan os.Signal
	// Log is where the server's messages and the replicas' stderr go.
	Log io.Writer
	// UID is the only user that may connect: the server's own.
	UID    int
	Getenv func(string) string
	// Listening, if not nil, is told the socket's path once it listens.
	Listening func(path string)
}

// server is one running server.
type server struct {
	cfg      Config
	mode     frame.Mode
	ln       *net.UnixListener
	log      *logger
	started  time.Time
	greeting []byte
	nreps    int

	// mu guards what follows. The pool's Observe and Replica take it
	// while the pool holds its own lock, so it is never held while
	// waiting for the pool (the feeder writes to it without mu).
	mu        sync.Mutex
	queue     *sched[*client, uint64] // requests read, not yet fed: by caller, its request number
	fed       uint64                  // lines fed to the pool: the last one's request number
	tickets   map[uint64]ticket       // requests fed and not ended, by their number in the pool
	clients   map[*client]struct{}    // connected
	total     int                     // callers connected since the start
	draining  bool                    // stopping: no new requests
	closed    error                   // the pool is gone: requests fail with this
	stopping  string                  // why the pool is being stopped, if it is: what fails then says so
	reps      []session.ReplicaState
	announced bool // the ready line was said
	gone      bool // every replica was retired while serving: the server stops
	served    int64
	failed    int64
	lat       sample

	feedWake chan struct{} // the feeder has requests to feed, or stops
	noPool   chan struct{} // closed when every replica is retired
	stop     chan struct{} // closed when the server shuts down
	wg       sync.WaitGroup
}

// ticket says whose request a request of the pool is: the caller's, and
// its number among the caller's.
type ticket struct {
	c *client
	k uint64
}

// Run serves until the pool ends: by a signal (Config.Signals), ctx, or
// when no replica is left. It returns nil after a drain.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	ln, release, stale, err := Listen(cfg.Socket)
	if err != nil {
		return err
	}
	defer release()
	s := newServer(cfg, ln)
	if stale {
		s.log.say("removed %s, left by a server that is gone", cfg.Socket)
	}
	if cfg.Listening != nil {
		cfg.Listening(cfg.Socket)
	}

	pr, pw := io.Pipe()
	pool := cfg.Pool
	pool.File, pool.Output, pool.JSON, pool.Stats, pool.Quiet = "", "", false, false, true
	pool.NoAnswers = true // each goes to its caller, by Observe
	pool.Unordered, pool.CallerSignals = true, true
	pool.Lookahead = 1
	pool.Resync = true     // its requests are other callers': a skipped line must not shift them
	pool.Endless = true    // and a replica that exits 0 (a caller's "quit") is started again
	pool.SkipEmpty = false // every line fed must be a request: see feed
	pool.Observe, pool.Replica = s.observe, s.replica
	ios := &iostreams.IOStreams{In: pr, Out: io.Discard, ErrOut: s.log, Getenv: cfg.Getenv}
	poolCtx, stopPool := context.WithCancel(ctx)
	defer stopPool()
	poolDone := make(chan error, 1)
	s.wg.Add(3)
	go func() {
		defer s.wg.Done()
		_, err := session.Run(poolCtx, pool, ios)
		pr.Close() // the feeder's write fails: nothing reads any more
		poolDone <- err
	}()
	go s.accept()
	go s.feed(pw)
	s.log.say("serving %s on %s: %d replica(s), framing %s; ready once they are (pipecli status %s)", pool.Target.Name(), cfg.Socket, s.nreps, s.mode, cfg.Socket)

	var (
		graceC <-chan time.Time
		sigs   = cfg.Signals
		noPool = s.noPool
		why    error
	)
	for poolDone != nil {
		select {
		case sig := <-sigs:
			if graceC == nil && !s.isDraining() {
				s.log.say("%v: draining: no new requests; finishing the %d under way (at most --grace %s)", sig, s.underWay(), cfg.Grace)
				s.drain()
				graceC = time.After(cfg.Grace)
				continue
			}
			s.log.say("%v again: stopping now; the requests under way fail", sig)
			why = &session.Interrupted{Signal: sig.(syscall.Signal)}
			s.stopFor(fmt.Sprintf("a second %v", sig))
			stopPool()
			sigs = nil
		case <-noPool:
			noPool = nil
			why = errors.New("no replica is left: each died --max-restarts times in a row without answering, or could not start; the server stops")
			s.stopFor("no replica is left")
			stopPool()
		case <-graceC:
			graceC = nil
			if n := s.underWay(); n > 0 {
				s.log.say("--grace %s is over: stopping the replicas; the %d request(s) still under way fail", cfg.Grace, n)
			}
			s.stopFor(fmt.Sprintf("--grace %s was over", cfg.Grace))
			stopPool()
		case err := <-poolDone:
			poolDone = nil
			if !s.isDraining() && why == nil && ctx.Err() == nil {
				// Not asked to stop: no replica is left.
				why = fmt.Errorf("the server stops: %w", orNoReason(err))
			}
		}
	}
	s.shutdown(why)
	return why
}

// stopFor says why the pool is being stopped: the requests it fails now fail
// for that.
func (s *server) stopFor(why string) {
	s.mu.Lock()
	s.stopping = why
	s.mu.Unlock()
}

func orNoReason(err error) error {
	if err == nil {
		return errors.New("its replicas ended")
	}
	return err
}

func newServer(cfg Config, ln *net.UnixListener) *server {
	nreps := max(len(cfg.Pool.Replicas), 1)
	s := &server{
		cfg:      cfg,
		mode:     cfg.Pool.Framing.Mode,
		ln:       ln,
		log:      &logger{w: cfg.Log},
		started:  time.Now(),
		nreps:    nreps,
		queue:    newSched[*client, uint64](),
		tickets:  map[uint64]ticket{},
		clients:  map[*client]struct{}{},
		reps:     make([]session.ReplicaState, nreps),
		feedWake: make(chan struct{}, 1),
		noPool:   make(chan struct{}),
		stop:     make(chan struct{}),
	}
	g := Greeting{Pipecli: "serve", Version: Version, Framing: s.mode.String(), FramingFlags: cfg.Pool.RecordFraming, Replicas: nreps, Serving: cfg.Pool.Target.Name()}
	s.greeting = append(mustJSON(g), '\n')
	return s
}

// accept takes the callers that connect, until the listener is closed.
// Only the server's own user may connect: the socket's mode says so, and,
// should it be changed, the peer's credentials too.
func (s *server) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.AcceptUnix()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of file descriptors, say: a pause, not a spin.
			s.log.say("accepting a caller: %v", err)
			select {
			case <-time.After(100 * time.Millisecond):
			case <-s.stop:
				return
			}
			continue
		}
		uid, err := peerUID(conn)
		switch {
		case err != nil:
			s.refuse(conn, fmt.Sprintf("cannot tell who connected (%v), so the connection is refused", err))
		case uid != s.cfg.UID:
			s.refuse(conn, fmt.Sprintf("uid %d may not use this server: only its own user, uid %d, may", uid, s.cfg.UID))
		default:
			s.add(conn)
		}
	}
}

// refuse tells a caller why it is refused, and hangs up.
func (s *server) refuse(conn *net.UnixConn, why string) {
	s.log.say("refused a caller: %s", why)
	conn.SetWriteDeadline(time.Now().Add(time.Second))
	conn.Write(appendError(nil, nil, why))
	conn.Close()
}

// add starts serving a caller that connected.
func (s *server) add(conn *net.UnixConn) {
	c := &client{s: s, conn: conn, slots: make([]slot, s.cfg.ClientWindow), wakeW: make(chan struct{}, 1), room: make(chan struct{}, 1)}
	s.mu.Lock()
	if s.draining || s.closed != nil {
		s.mu.Unlock()
		s.refuse(conn, "the server is stopping")
		return
	}
	s.total++
	c.n = s.total
	s.clients[c] = struct{}{}
	s.mu.Unlock()
	s.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
}

// feed feeds the pool the callers' requests, one line each, in turns
// (sched), as fast as it takes them: the session reads a line only when
// a replica has room for it, and the pipe makes each write wait for its
// read. It closes the pool's input once the server drains and nothing is
// queued, so that the pool finishes what it has and ends.
//
// The session numbers the lines it reads as its requests, from 1, so the
// Nth line written is request N: every line must be one request (no line
// holds a newline, --skip-empty is off).
func (s *server) feed(pw *io.PipeWriter) {
	defer s.wg.Done()
	defer pw.Close()
	var buf []byte
	for {
		s.mu.Lock()
		c, k, ok := s.queue.pop()
		if !ok {
			done := s.draining || s.closed != nil
			s.mu.Unlock()
			if done {
				return
			}
			select {
			case <-s.feedWake:
			case <-s.stop:
				return
			}
			continue
		}
		sl := c.slot(k)
		buf = append(append(buf[:0], sl.line...), '\n')
		sl.line = nil
		s.fed++
		s.tickets[s.fed] = ticket{c, k}
		s.mu.Unlock()
		if _, err := pw.Write(buf); err != nil {
			return // the pool is gone: shutdown fails what is left
		}
		if cap(buf) > 64<<10 {
			buf = nil
		}
	}
}

func (s *server) wakeFeeder() {
	select {
	case s.feedWake <- struct{}{}:
	default:
	}
}

// observe is told of each request of the pool as it ends: it gives the
// answer to its caller. It runs under the pool's lock and must not block.
func (s *server) observe(r *track.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[r.Seq]
	if !ok {
		return
	}
	delete(s.tickets, r.Seq)
	if r.Err != nil {
		s.failed++
	} else {
		s.served++
		s.lat.add(r.Latency)
	}
	if t.c.gone {
		return
	}
	sl := t.c.slot(t.k)
	if r.Err != nil && s.stopping != "" {
		t.c.answer(sl, appendError(sl.ans[:0], sl.id, "not answered: the server stopped ("+s.stopping+")"))
		return
	}
	t.c.answer(sl, appendAnswer(sl.ans[:0], sl.id, r, s.mode))
}

// replica is told of each replica's state as the pool runs; the server
// says it is ready once every replica running is.
func (s *server) replica(n int, st session.ReplicaState) {
	s.mu.Lock()
	s.reps[n] = st
	say := false
	if !s.announced && s.ready() {
		s.announced, say = true, true
	}
	if !s.gone && !s.draining && s.stopping == "" && s.retired() {
		// The pool would go on failing every request: better say so, and
		// stop, for whoever runs the server to see to it.
		s.gone = true
		close(s.noPool)
	}
	s.mu.Unlock()
	if say {
		s.log.say("ready: %d replica(s) of %s serving on %s", s.nreps, s.cfg.Pool.Target.Name(), s.cfg.Socket)
	}
}

// retired reports whether every replica is retired. mu is held.
func (s *server) retired() bool {
	for _, r := range s.reps {
		if !r.Retired {
			return false
		}
	}
	return true
}

// ready reports whether some replica runs, and every one running is
// ready. mu is held.
func (s *server) ready() bool {
	running := 0
	for _, r := range s.reps {
		if r.Running {
			running++
			if !r.Ready {
				return false
			}
		}
	}
	return running > 0
}

func (s *server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// underWay is how many requests were read and have not ended.
func (s *server) underWay() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tickets) + s.queue.len()
}

// drain stops taking callers and requests; the feeder closes the pool's
// input once what is queued is fed.
func (s *server) drain() {
	s.ln.Close() // the socket is removed: new callers are told no one listens
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	s.wakeFeeder()
}

// shutdown ends the server once the pool has ended: what was not answered
// fails with why (or as the server stopped), each caller gets what is
// left of its answers (within --grace: one that does not read is cut
// off), and every goroutine is waited for.
func (s *server) shutdown(why error) {
	s.ln.Close()
	msg := "not answered: the server stopped"
	if why != nil {
		msg = "not answered: " + why.Error()
	}
	s.mu.Lock()
	if s.closed == nil {
		s.closed = errors.New(msg)
	}
	for seq, t := range s.tickets {
		delete(s.tickets, seq)
		if !t.c.gone {
			sl := t.c.slot(t.k)
			t.c.answer(sl, appendError(sl.ans[:0], sl.id, msg))
		}
	}
	clients := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		for _, k := range s.queue.drop(c) {
			sl := c.slot(k)
			c.answer(sl, appendError(sl.ans[:0], sl.id, msg))
		}
		clients = append(clients, c)
	}
	s.mu.Unlock()
	close(s.stop)
	deadline := time.Now().Add(s.cfg.Grace)
	for _, c := range clients {
		c.conn.SetWriteDeadline(deadline)
		c.conn.CloseRead() // no more requests: the reader sees the end
	}
	s.wg.Wait()
}

// status is the status document. mu is held.
func (s *server) status() *Status {
	st := &Status{
		Socket:   s.cfg.Socket,
		PID:      os.Getpid(),
		UptimeS:  time.Since(s.started).Seconds(),
		Serving:  s.cfg.Pool.Target.Name(),
		Framing:  s.mode.String(),
		Ready:    s.ready(),
		Draining: s.draining,
		Clients:  len(s.clients),
		Total:    s.total,
		Served:   s.served,
		Failed:   s.failed,
		InFlight: len(s.tickets),
		Queued:   s.queue.len(),
		Latency:  s.lat.percentiles(),
	}
	for i, r := range s.reps {
		st.Replicas = append(st.Replicas, ReplicaStatus{N: i + 1, Running: r.Running, Ready: r.Ready, InFlight: r.InFlight, Restarts: r.Restarts})
	}
	return st
}

// logger writes the server's messages, and the pool's, one line at a time.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *logger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *logger) say(format string, a ...any) {
	fmt.Fprintf(l, "pipecli: "+format+"\n", a...)
}
