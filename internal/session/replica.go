package session

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/launch"
	"github.com/pipecli/pipecli/internal/proc"
)

// replica is one of the children a run keeps: one in a raw run, one or
// more (-j, --replica) in a framed one, each started and supervised on
// its own. Its number n is its index among the run's replicas and its
// child's number in the book, which it keeps across restarts.
type replica struct {
	n      int
	name   string // what messages call it
	target *launch.Target

	child   *proc.Child
	tail    *tailWriter // its stderr, whose last lines explain its death
	box     *inbox      // its stdin, in a framed run
	gen     int         // the conversation's count of children when it started: output of an older one is ignored
	started time.Time   // when its current child started
	// lastOut is when it last wrote to stdout.
	lastOut time.Time
	// outEnded is when its stdout ended (EOF), while it may still run.
	outEnded time.Time
	// waitsSince is since when the child has been seen waiting for input
	// at every watch, with requests in flight and none answered for a
	// while (see watchReplica); zero when it was not at the last.
	waitsSince time.Time

	ready       bool // its banner is over
	left        bool // the book was told its child is gone
	leftWhy     string
	replacing   bool // we stopped it to start another
	stdinClosed bool // every request is written and its stdin closed
	// eofDue: it was seen waiting for input with the input over, while
	// holdEOF held its EOF back: it is sent EOF now. eofLookAt is when to
	// look at it next, eofWaits whether it waited at the last look.
	eofDue    bool
	eofLookAt time.Time
	eofWaits  bool
	// quiet: it runs a REPL known to say nothing to some lines
	// (launch.REPL). quietLookAt is when to look next whether the REPL (launch.REPL),
	// silent since its request, waits for the next line (see lookQuiet);
	// quietSeq is the request it was seen so at the last look, 0 if none.
	quiet bool
	// wasUnread: at the last --timeout deadline, its stdin held requests
	// it had not read, and it had answered none: loading (see expire).
	wasUnread   bool
	loadSaid    bool // and that was said
	written     int  // bytes written to its child since it started
	quietLookAt time.Time
	quietSeq    uint64
	// retired: it is not started again: it kept failing, or it ended by
	// itself before its input ended, or it could not start.
	retired bool
	// idle: it ended when its input was over, having answered what it
	// had; it is started again only if requests come back for it (another
	// replica died with some in flight).
	idle      bool
	answered  int       // by its current child: a child that answers resets the back-off
	restarts  int       // deaths in a row without answering
	restartAt time.Time // when to start it again, after a death (zero: not scheduled)
	eofAt     time.Time // when --eof-timeout ends it, once its input is over (zero: not set)

	noise      int    // lines since its last answer that answered nothing
	lastNoise  []byte // the last of them
	hinted     bool   // a hint about a silent or mismatched child was given
	closedSaid bool   // that it is waited for with its input closed was said
	waitSaid   bool   // the wait for --ready was told
	slowSaid   bool   // a long silence was told
	sent       bool   // its current child was sent a request
	bannerSaid bool   // output before any request was told
	unframed   int    // marker: lines of the answer being received, no marker yet
	// tailOpen: what the child wrote last ends in a line left open, as a
	// REPL's prompt does; set by its stdout's pump.
	tailOpen atomic.Bool
	// cutLine is, in line framing, the last line its child wrote, with
	// no "\n" after it, held until its exit status tells whether it is
	// an answer; set by its stdout's pump.
	cutLine atomic.Pointer[frame.Message]
	// dec decodes its child's stdout, in the pump's goroutine: only what
	// the pump calls (childOutput) may use it.
	dec *frame.Decoder
	// stmtSaid: at the prompt, it was said to wait for the rest of a
	// statement.
	stmtSaid bool

	restartN int // times it was restarted, for the statistics
}

// newReplicas makes the run's replicas: one per target in cfg.Replicas,
// else one of cfg.Target. With several, each is named after its target
// with its number: "replica 2 (ssh)".
func newReplicas(s *session, cfg Config) []*replica {
	targets := cfg.Replicas
	if len(targets) == 0 {
		targets = []*launch.Target{cfg.Target}
	}
	reps := make([]*replica, len(targets))
	for i, t := range targets {
		r := &replica{n: i, target: t, name: t.Name(), tail: &tailWriter{w: s.childStderr()}, ready: true}
		_, r.quiet = t.REPL()
		if len(targets) > 1 {
			r.name = fmt.Sprintf("replica %d (%s)", i+1, t.Name())
		}
		reps[i] = r
	}
	return reps
}

// running reports whether r has a child that is not on its way out.
func (r *replica) running() bool {
	return r.child != nil && !r.replacing && !r.left
}

// sendable reports whether requests may be written to r's child now.
func (r *replica) sendable() bool {
	return r.running() && !r.stdinClosed
}

// reset forgets what r knew of its previous child.
func (r *replica) reset(now time.Time) {
	r.left, r.stdinClosed, r.answered, r.started, r.lastOut = false, false, 0, now, now
	r.noise, r.lastNoise, r.waitSaid, r.sent, r.unframed = 0, nil, false, false, 0
	r.restartAt, r.eofAt, r.idle, r.outEnded = time.Time{}, time.Time{}, false, time.Time{}
	r.eofDue, r.eofLookAt, r.eofWaits = false, time.Time{}, false
	r.wasUnread, r.loadSaid, r.written, r.stmtSaid = false, false, 0, false
}
