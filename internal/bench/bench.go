// Package bench measures a child as a load generator does: it sends it
// requests through a framed session, checks each is answered, and reports
// throughput, errors, latency percentiles and histogram, start-up time
// and peak memory, at one window or several, and next to a second
// command run on the same requests.
//
// Each measurement is one session.Run: the children are started, sent
// the warm-up requests, then, once those have ended, the measured ones,
// and stopped. Sides and rounds take turns (A B A B ...) so that a noisy
// machine weighs on both alike:
//
//	for each window:
//	    for each round:
//	        for each side: session.Run(feed -> children -> io.Discard), meter.observe
//
// Goroutines: Run's own, which runs the sessions one after the other; a
// signal watcher and the progress line's ticker, which Run starts and
// waits for; and whatever each session starts and waits for itself.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/session"
)

// Side is a command to measure: what to start, as run would.
type Side struct {
	// Name is what the report calls it: its command line.
	Name string
	// Session starts it: Target, Replicas, the framing. Bench sets the
	// input, output, window and observer of each run.
	Session session.Config
	// NoRSS: its children's memory says nothing of it (a docker CLI, not
	// the container it runs).
	NoRSS bool
}

// Config is what to measure, and how to report it.
type Config struct {
	// Sides are the command measured and, with --vs, the one to compare
	// it with.
	Sides []Side
	// Windows are the requests in flight per child, one measurement each.
	Windows []int
	// Source gives the requests, sent in a loop.
	Source *Source
	// Requests is how many measured requests each side is sent at each
	// window, split over the rounds; Duration, if Requests is 0, how
	// long they are sent for. With neither, the requests are one pass
	// over the source: a file's are counted first only where the count
	// is needed before the end of the pass (rounds, the progress line);
	// otherwise the run learns it at the end of the pass, and the
	// reading costs nothing before the children start.
	Requests int
	Duration time.Duration
	// Warmup is how many requests each run sends first, not measured:
	// the measured ones start once they have all ended.
	Warmup int
	// Rounds is how many runs each side takes at each window, in turn
	// with the other side.
	Rounds int
	// Replicas is how many children each run starts.
	Replicas int

	JSON bool // write the report as JSON
	Text Text // how to write it otherwise
	// Progress shows a progress line on stderr while it runs.
	Progress bool
}

// Run measures what cfg says and writes the report on ios.Out. Its error
// is what the exit status tells: *session.Interrupted when a signal
// stopped it (the figures measured before are reported),
// *session.RequestsFailed when measured requests failed (after the
// report), or why it could not measure (a command that cannot start; no
// report then).
func Run(ctx context.Context, cfg Config, ios *iostreams.IOStreams) error {
	if err := checkJSONL(ctx, cfg, ios.ErrOut); err != nil {
		return err
	}
	if cfg.Requests == 0 && cfg.Duration == 0 && (max(cfg.Rounds, 1) > 1 || cfg.Progress || cfg.Source.requests > 0) {
		n, err := cfg.Source.Requests(ctx)
		if err != nil {
			return &session.InputError{Err: fmt.Errorf("reading the requests: %w", err)}
		}
		cfg.Requests = n
	}
	if cfg.Requests > 0 {
		cfg.Rounds = min(cfg.Rounds, cfg.Requests)
	}
	b := &bencher{cfg: cfg, ios: ios, errOut: ios.ErrOut}
	b.tallies = make([][]tally, len(cfg.Sides))
	for i, s := range cfg.Sides {
		b.tallies[i] = make([]tally, len(cfg.Windows))
		for j := range b.tallies[i] {
			b.tallies[i][j].noRSS = s.NoRSS
		}
	}

	// The sessions handle the signals that come while they run; this
	// catches those that come between two, and stops the bench.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	stopWatch := make(chan struct{})
	var wg sync.WaitGroup // the signal watcher and the progress ticker
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case sig := <-sigs:
			b.signal.Store(int32(sig.(syscall.Signal)))
		case <-stopWatch:
		}
	}()
	if cfg.Progress {
		b.live = &liveLine{w: ios.ErrOut}
		b.errOut = b.live
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.live.run(stopWatch, b.progress)
		}()
	}
	err := b.measure(ctx)
	close(stopWatch)
	wg.Wait()
	signal.Stop(sigs)
	if b.live != nil {
		b.live.clear()
	}

	var in *session.Interrupted
	if b.runs == 0 || err != nil && !errors.As(err, &in) {
		// Nothing measured, or a run that could not be made (a command
		// that cannot start): no report, only why.
		return err
	}
	if cfg.Requests == 0 && cfg.Duration == 0 && b.perPass == 0 {
		// Stopped before a pass ended: the report says what was asked
		// all the same. Counting a file is quick, and ctx may be done.
		if n, err := cfg.Source.Requests(context.WithoutCancel(ctx)); err == nil {
			b.perPass = n
		}
	}
	rep := b.report()
	var werr error
	if cfg.JSON {
		werr = rep.WriteJSON(ios.Out)
	} else {
		werr = rep.Write(ios.Out, cfg.Text)
	}
	if werr != nil && err == nil {
		err = fmt.Errorf("writing the report: %w", werr)
	}
	if err == nil {
		err = b.failures()
	}
	return err
}

// bencher is one Run.
type bencher struct {
	cfg    Config
	ios    *iostreams.IOStreams
	errOut io.Writer // stderr, or the progress line's writer above it

	tallies [][]tally // by side, then window
	runs    int       // sessions that measured something
	signal  atomic.Int32
	stopped syscall.Signal // the signal that stopped the bench, or 0

	// perPass is the requests of one pass over the source, learned by a
	// run that made one pass without counting them first.
	perPass int

	live *liveLine
	// now is the run in progress, for the progress line.
	now atomic.Pointer[progressOf]
}

// progressOf is what the progress line shows of the run in progress.
type progressOf struct {
	label string
	m     *meter
	want  int // measured requests it sends; 0: for a time
}

// measure runs the sessions, windows by rounds by sides, until all are
// done, a signal stops it or one fails to start.
func (b *bencher) measure(ctx context.Context) error {
	cfg := b.cfg
	rounds := max(cfg.Rounds, 1)
	for wi, w := range cfg.Windows {
		from := 0 // the request of the source this round's warm-up starts at
		for round := range rounds {
			n := share(cfg.Requests, rounds, round)
			d := cfg.Duration / time.Duration(rounds)
			switch {
			case cfg.Requests > 0 && n == 0:
				continue
			case cfg.Requests == 0 && d == 0:
				n = onePass // rounds is 1: see Run
			}
			sent := 0
			for si, side := range cfg.Sides {
				if err := b.interrupted(ctx); err != nil {
					return err
				}
				label := fmt.Sprintf("window %d", w)
				if rounds > 1 {
					label += fmt.Sprintf(", round %d/%d", round+1, rounds)
				}
				if len(cfg.Sides) > 1 {
					label += fmt.Sprintf(", %c", 'A'+si)
				}
				m, f, res, err := b.once(ctx, side, w, from, n, d, label)
				var in *session.Interrupted
				if werr := m.warmupFailed(f); werr != nil && !errors.As(err, &in) && b.interrupted(ctx) == nil {
					// Nothing could be measured: no report, only why.
					if si == 1 {
						return &vsError{werr}
					}
					return werr
				}
				if m.c.answered+m.c.errors()+m.c.unfinished > 0 || m.c.warm > 0 {
					b.tallies[si][wi].add(m, res)
					b.runs++
				}
				if si == 0 {
					sent = int(m.c.warm + m.c.answered + m.c.errors())
				}
				if f != nil && f.per > 0 && b.perPass == 0 {
					b.perPass = f.per
				}
				switch {
				case errors.As(err, &in):
					b.stopped = in.Signal
					return err
				case soft(err):
				case err != nil && si == 1:
					return &vsError{err}
				case err != nil:
					return err
				}
			}
			if cfg.Requests > 0 {
				// The next round's measured requests follow this one's:
				// over the rounds, each line is measured as often as
				// --requests makes it (once, by default). Its warm-up
				// requests are the lines before, measured already.
				from += n
			} else {
				from += sent
			}
		}
	}
	return b.interrupted(ctx)
}

// warmups is how many warm-up requests a run sends: --warmup, or by
// default one for each replica (its start-up).
func (cfg Config) warmups() int {
	if cfg.Warmup < 0 {
		return cfg.Replicas
	}
	return cfg.Warmup
}

// checkJSONL reads the requests once, in jsonl framing, and refuses those
// bench could not measure, before anything starts: a line the framing
// cannot send (bench would go round it again and again, failing it each
// time, where a user means every line to be a request), and requests that
// are all JSON-RPC notifications, to which no answer comes. It warns when
// the warm-up is notifications: no start-up can be measured from them.
// And it refuses requests that give their own ids where they could meet
// themselves in flight (checkIDs).
func checkJSONL(ctx context.Context, cfg Config, errOut io.Writer) error {
	if cfg.Sides[0].Session.Framing.Mode != frame.JSONL {
		return nil
	}
	sc, err := cfg.Source.ScanJSONL(ctx)
	if err != nil {
		return &session.InputError{Err: fmt.Errorf("reading the requests: %w", err)}
	}
	switch {
	case sc.BadLine > 0:
		return &session.InputError{Err: fmt.Errorf("line %d of the requests cannot be sent in jsonl framing: %w; fix it or take it out", sc.BadLine, sc.Bad)}
	case sc.Notifications == sc.Requests:
		return &session.InputError{Err: errors.New("every request is a JSON-RPC notification (a \"method\" and no \"id\"), to which no answer comes, and bench measures answers: give the requests an \"id\", or take out \"method\" and pipecli numbers them")}
	}
	warm := cfg.warmups()
	if warm > 0 && sc.Leading >= warm {
		what := "the warm-up request is a JSON-RPC notification"
		if warm > 1 {
			what = fmt.Sprintf("the %d warm-up requests are JSON-RPC notifications", warm)
		}
		fmt.Fprintf(errOut, "pipecli: %s, to which no answer comes: start-up cannot be measured from it, and the first measured requests wait for the children to start; put a request with an \"id\" first\n", what)
	}
	return checkIDs(ctx, cfg, sc.GivenID)
}

// checkIDs refuses, in jsonl framing, requests that give their own "id"
// when a run sends them again while they may still be in flight: the
// requests go round the source in a loop (more than one pass of it in a
// run, or for a time), and more than one may be in flight at once. Answers
// come in any order, so a request can linger while the others go round,
// and meet its own id again: the book fails it ("id 2 is already in
// flight"), as run would, and the figures would count failures of bench's
// making.
//
// Bench does not give the requests ids of its own instead. The jsonl
// framing adds an id only to a request that has none, and one that has a
// "method" and no "id" is a notification, which is not answered: the
// user's ids cannot be taken off. Nor replaced: the id is the protocol's,
// its type and value the user's, and the child would be measured on
// requests other than theirs. So the user chooses: a line per request,
// each with its own id, or one request in flight at a time.
func checkIDs(ctx context.Context, cfg Config, id string) error {
	if slices.Max(cfg.Windows)*max(cfg.Replicas, 1) == 1 {
		return nil
	}
	per, err := cfg.Source.Requests(ctx)
	if err != nil {
		return &session.InputError{Err: fmt.Errorf("reading the requests: %w", err)}
	}
	warm := cfg.warmups()
	rounds := max(cfg.Rounds, 1)
	n := (cfg.Requests + rounds - 1) / rounds // the most a run measures
	if cfg.Duration == 0 && n <= per && warm <= per {
		// Each line once at most among the warm-up requests, and among
		// the measured ones, which go once the former have all ended.
		return nil
	}
	if id == "" {
		return nil // pipecli numbers them
	}
	how := fmt.Sprintf("%s in each run", plural(max(n, warm), "request"))
	if cfg.Duration > 0 {
		how = "for " + session.Brief(cfg.Duration)
	}
	return &session.InputError{Err: fmt.Errorf("the requests give their own jsonl \"id\" (%s), and bench sends %s of them again and again (%s): one could meet its own id still in flight; give a line per request, each with its own id, or send one at a time (--window 1, one replica)",
		id, plural(per, "line"), how)}
}

// interrupted is the error to stop with when a signal came, or ctx is
// done.
func (b *bencher) interrupted(ctx context.Context) error {
	if sig := syscall.Signal(b.signal.Load()); sig != 0 {
		b.stopped = sig
		return &session.Interrupted{Signal: sig}
	}
	return ctx.Err()
}

// soft reports whether err is how a run that measured what it could
// ended: some requests failed, or the child exited badly. The bench goes
// on, and the report says so.
func soft(err error) bool {
	var (
		rf *session.RequestsFailed
		ma *session.Misaligned
		cf *session.ChildFailed
	)
	return errors.As(err, &rf) || errors.As(err, &ma) || errors.As(err, &cf)
}

// share is round's part of n split over rounds.
func share(n, rounds, round int) int {
	return n/rounds + btoi(round < n%rounds)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// once runs side at window w once: the warm-up, then n measured requests
// (n 0: for d; onePass: one pass over the source), from line from on.
func (b *bencher) once(ctx context.Context, side Side, w, from, n int, d time.Duration, label string) (m *meter, f *feed, res session.Result, err error) {
	cfg := b.cfg
	scfg := side.Session
	children := max(len(scfg.Replicas), 1)
	warm := cfg.Warmup
	if warm < 0 {
		warm = children // one each: its start-up
	}
	fr := scfg.Framing
	m = newMeter(warm, children, fr.Ready != nil || fr.SkipLines > 0)
	f, err = newFeed(ctx, cfg.Source, from, warm, n, d, m)
	if err != nil {
		return m, nil, session.Result{}, &session.InputError{Err: fmt.Errorf("reading the requests: %w", err)}
	}
	scfg.File, scfg.Output = "", ""
	scfg.Window = w
	// Answers are not shown: waiting to write them in input order would
	// only hold the input back behind a slow one.
	scfg.Unordered = true
	scfg.JSON, scfg.Stats, scfg.Quiet, scfg.Partials = false, false, true, false
	scfg.Observe, scfg.NoAnswers = m.observe, true
	scfg.Starved = f.starved
	ios := &iostreams.IOStreams{
		In: f, Out: io.Discard, ErrOut: b.errOut,
		ErrTTY: b.ios.ErrTTY, ErrColor: b.ios.ErrColor, Getenv: b.ios.Getenv,
	}
	b.now.Store(&progressOf{label: label, m: m, want: max(n, 0)})
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	m.begin(time.Now())       // the children start now; before endAt reads steadyAt
	var timeUp sync.WaitGroup // endAt, with n 0
	if n == 0 {
		timeUp.Add(1)
		go func() {
			defer timeUp.Done()
			endAt(m, f, d, scfg.Grace, cancel, stop)
		}()
	}
	res, err = session.Run(rctx, scfg, ios)
	close(stop)
	timeUp.Wait()
	b.now.Store(nil)
	if m.overdue.Load() && ctx.Err() == nil && errors.Is(err, context.Canceled) {
		err = nil // endAt's doing: the requests it gave up on are counted
	}
	return m, f, res, err
}

// endAt ends a run that sends for d. At the deadline it ends the feed,
// which the session may not be reading (the children stopped answering,
// and their windows are full), so that no more requests go; the session
// then closes the children's input once all is sent. --grace (grace)
// after, it ends the run itself (cancel): the requests still unanswered
// are counted as such (overdue), not waited for for ever. It returns at
// once when stop is closed: the run is over.
func endAt(m *meter, f *feed, d, grace time.Duration, cancel func(), stop <-chan struct{}) {
	select {
	case <-m.gate: // steadyAt is set
	case <-stop:
		return
	}
	t := time.NewTimer(time.Until(m.steadyAt.Add(d)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-stop:
		return
	}
	f.Close()
	t.Reset(grace)
	select {
	case <-t.C:
	case <-stop:
		return
	}
	m.overdue.Store(true)
	cancel()
}

// report makes the report of what was measured.
func (b *bencher) report() *Report {
	cfg := b.cfg
	r := &Report{
		Requests: max(cfg.Requests, b.perPass), DurationS: cfg.Duration.Seconds(), Warmup: cfg.Warmup, Rounds: max(cfg.Rounds, 1),
		Replicas: cfg.Replicas, Framing: cfg.Sides[0].Session.Framing.Mode.String(), Interrupted: b.stopped != 0,
	}
	if r.Warmup < 0 {
		r.Warmup = cfg.Replicas
	}
	for si, s := range cfg.Sides {
		sr := SideReport{Name: s.Name, Points: []Point{}}
		for wi, w := range cfg.Windows {
			if t := &b.tallies[si][wi]; t.runs > 0 {
				sr.Points = append(sr.Points, t.point(w))
			}
		}
		r.Sides = append(r.Sides, sr)
	}
	if len(r.Sides) == 2 {
		a, bs := r.Sides[0].Points, r.Sides[1].Points
		n := min(len(a), len(bs))
		r.Sides[0].Points, r.Sides[1].Points = a[:n], bs[:n]
		for i := range n {
			r.Ratios = append(r.Ratios, ratiosOf(a[i], bs[i]))
		}
	}
	return r
}

// failures is the error of a bench whose measured requests failed, or
// whose answers came unasked (in line or marker framing, those before may
// have gone to the wrong requests), or nil.
func (b *bencher) failures() error {
	var failed, total int64
	misaligned := 0
	for _, ts := range b.tallies {
		for _, t := range ts {
			failed += t.c.errors()
			total += t.c.answered + t.c.notifications + t.c.errors()
			misaligned += t.misaligned
		}
	}
	if failed > 0 {
		return &session.RequestsFailed{Failed: int(failed), Total: int(total)}
	}
	for _, ts := range b.tallies {
		for i, t := range ts {
			if t.runs > 0 && t.c.answered == 0 && t.c.unfinished > 0 {
				return &NoneAnswered{Window: b.cfg.Windows[i], Unfinished: t.c.unfinished}
			}
		}
	}
	if misaligned > 0 {
		return &session.Misaligned{Answers: misaligned}
	}
	return nil
}

// NoneAnswered: a run for a time (--duration) measured nothing: not one
// of its requests was answered before time was up and --grace after.
type NoneAnswered struct {
	Window     int
	Unfinished int64
}

func (e *NoneAnswered) Error() string {
	return fmt.Sprintf("no measured request was answered at window %d: %d still unanswered --grace after time was up; the child stalled, or answers slower than --grace", e.Window, e.Unfinished)
}

// progress is the progress line's text.
func (b *bencher) progress() string {
	p := b.now.Load()
	if p == nil {
		return ""
	}
	m := p.m
	select {
	case <-m.gate:
	default:
		return fmt.Sprintf("bench: %s: starting, warming up", p.label)
	}
	n := m.ended.Load()
	secs := time.Since(m.steadyAt).Seconds()
	of := ""
	if p.want > 0 {
		of = " of " + thousands(int64(p.want))
	}
	r := 0.0
	if secs > 0 {
		r = float64(n) / secs
	}
	return fmt.Sprintf("bench: %s: %s%s requests, %s/s", p.label, thousands(n), of, rate(r))
}

// vsError is why the --vs command could not be measured: its messages say
// "the command after --", which is the other one.
type vsError struct{ err error }

func (e *vsError) Error() string {
	return "--vs: " + strings.Replace(e.err.Error(), "check the command after --", "check the command of --vs", 1)
}

func (e *vsError) Unwrap() error { return e.err }
