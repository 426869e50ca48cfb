// Package progress draws a one-line progress bar on stderr for long --file or
// stdin runs: requests done of total, rate, ETA, failures and, with several
// replicas, each replica's requests in flight.
//
// It draws with github.com/vbauerster/mpb/v8, which redraws the bar in place
// with ANSI cursor movement. The caller creates a Progress only when stderr is
// a terminal (IOStreams.ErrTTY), and best only when stdout is not the same
// terminal: whatever is written to the terminal below the bar, and not
// through Progress.Write, is erased by the next redraw. While the bar is shown
// every line for stderr, pipecli's own messages and the child's stderr alike,
// goes through Progress.Write, which prints it above the bar.
//
// Goroutines:
//
//	session (holding its mutex) --Done/Load/SetTotal: atomics--> counters
//	pump, every Config.Refresh: counters --> mpb bar, then a refresh request
//	mpb's own (container, heap manager, refresh listener, the bar):
//	    render counters and queued messages to Config.Out
//
// Close stops the pump, removes the bar and waits for mpb's goroutines.
//
// Wiring, for a run whose input is a regular file f:
//
//	total, _ := progress.CountLines(ctx, f, cfg.SkipEmpty) // 0: unknown
//	p := progress.New(progress.Config{Out: ios.ErrOut, Total: total, Replicas: k})
//	defer p.Close()
//	// stderr writers (say, childStderr) write to p instead of ios.ErrOut;
//	// as each request ends: p.Done(ok); as a replica's in-flight count
//	// changes: p.Load(i, n).
package progress

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// DefaultRefresh is how often the bar is redrawn unless Config.Refresh says
// otherwise; it is mpb's own default.
const DefaultRefresh = 150 * time.Millisecond

// barWidth caps the [===>---] part, which otherwise takes all of a wide
// terminal's row.
const barWidth = 40

// maxPartial is how much of a line without its newline Write holds back: a
// child that redraws its own progress with \r never ends its line, and the
// text should neither grow without bound nor wait for Close to be seen.
const maxPartial = 4096

// rateAge is the age, in refreshes that saw requests end, of the moving
// average that rate and ETA are computed from (VividCortex/ewma's 30 is a
// plain EWMA, with no warm-up during which the rate would read 0).
const rateAge = 30

// Config says where and what to draw.
type Config struct {
	// Out is where the bar is drawn: the process's stderr. When Out is that
	// *os.File itself and a terminal, mpb asks its width at every redraw.
	Out io.Writer
	// Total is the number of requests, 0 when not known (yet): then the bar
	// shows the count and the rate, without percentage or ETA.
	Total int64
	// Replicas is how many children share the requests; with more than one
	// the bar shows each one's requests in flight.
	Replicas int
	// Refresh is how often the bar is redrawn; 0 means DefaultRefresh.
	Refresh time.Duration
	// Width is the row's width when Out is not a terminal *os.File (a
	// wrapper, a test's buffer); 0 means 80.
	Width int
}

// Progress is a bar being shown. Done, Load and SetTotal are cheap enough to
// call with a lock held: they only store into atomics, which the pump reads.
type Progress struct {
	out   io.Writer
	mp    *mpb.Progress
	bar   *mpb.Bar
	total atomic.Int64
	done  atomic.Int64
	fail  atomic.Int64
	loads []atomic.Int64 // in flight, by replica

	refresh chan any      // asks mpb for a redraw
	stop    chan struct{} // closed by Close: the pump returns
	wg      sync.WaitGroup

	// last and shown are the pump's, and Close's once the pump has ended:
	// when the bar was last synced, and the total it was last given.
	last  time.Time
	shown int64

	// wmu guards partial and closed, and makes Close wait for a Write under
	// way: a line written straight to out while mpb still draws would be
	// erased by mpb's last redraw.
	wmu     sync.Mutex
	partial []byte // the start of a line not yet ended
	closed  bool

	closeOnce sync.Once
	err       error
}

// New shows a bar on cfg.Out until Close.
func New(cfg Config) *Progress {
	p := &Progress{
		out:     cfg.Out,
		loads:   make([]atomic.Int64, max(cfg.Replicas, 1)),
		refresh: make(chan any),
		stop:    make(chan struct{}),
		last:    time.Now(),
	}
	p.total.Store(cfg.Total)
	p.mp = mpb.New(
		mpb.WithOutput(cfg.Out),
		// The caller has decided that Out is a terminal: draw with cursor
		// movement even through a wrapper or a test buffer, which mpb would
		// otherwise not draw on at all (and would lose Writes to).
		mpb.ForceTTY(),
		// The pump asks for each redraw right after syncing the counters
		// into the bar: with mpb's own ticker a frame could show counts a
		// refresh old. Write asks for one too, to show its lines at once.
		mpb.WithManualRefresh(p.refresh),
		mpb.ContainerOptional(mpb.WithWidth(cfg.Width), cfg.Width > 0),
	)

	speed := decor.EwmaSpeed(0, "%.1f req/s", rateAge)
	eta := decor.EwmaETA(decor.ET_STYLE_GO, rateAge)
	// Total 0 makes a bar that never completes by itself, which would
	// remove it early should more requests end than Total said; Close
	// removes it. Add fails only after mp.Wait.
	p.bar, _ = p.mp.Add(0, knownBar{mpb.BarStyle().Build()},
		mpb.BarFillerTrim(),
		mpb.BarWidth(barWidth),
		mpb.PrependDecorators(decor.Any(counts)),
		mpb.AppendDecorators(
			ifTotal{decor.NewPercentage("%d"), " ", false},
			decor.Name(" | "), speed,
			ifTotal{eta, " | ETA ", true},
			decor.Any(func(decor.Statistics) string { return fmt.Sprintf(" | %d failed", p.fail.Load()) }),
			decor.Any(p.loadText),
		),
	)
	if cfg.Total > 0 {
		p.bar.SetTotal(cfg.Total, false)
		p.shown = cfg.Total
	}

	p.wg.Add(1)
	go p.pump(cmp.Or(cfg.Refresh, DefaultRefresh))
	return p
}

// Done counts a request that ended, failed unless ok. It only adds to
// atomics: no allocation, no blocking.
func (p *Progress) Done(ok bool) {
	p.done.Add(1)
	if !ok {
		p.fail.Add(1)
	}
}

// SetTotal sets the number of requests, once learned; 0 means unknown.
func (p *Progress) SetTotal(n int64) { p.total.Store(n) }

// Load says how many requests replica has in flight. Replicas count from 0,
// below Config.Replicas (or 0 alone), and are shown as r1, r2, .... It only
// stores into an atomic.
func (p *Progress) Load(replica, inflight int) { p.loads[replica].Store(int64(inflight)) }

// Write prints b above the bar; it is how stderr is written to while the bar
// is shown. Only whole lines are passed to mpb, which puts them in the next
// frame (Write asks for that frame at once): the start of a line waits for
// its newline, or is cut at maxPartial bytes. After Close, Write writes to
// Config.Out directly.
func (p *Progress) Write(b []byte) (int, error) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.closed {
		return p.out.Write(b)
	}
	p.partial = append(p.partial, b...)
	end := bytes.LastIndexByte(p.partial, '\n') + 1
	if end == 0 {
		if len(p.partial) < maxPartial {
			return len(b), nil
		}
		p.partial = append(p.partial, '\n')
		end = len(p.partial)
	}
	err := p.above(p.partial[:end])
	p.partial = p.partial[:copy(p.partial, p.partial[end:])]
	select {
	case p.refresh <- nil:
	default: // a redraw is under way; the line waits for the next
	}
	return len(b), err
}

// above hands lines to mpb, or writes them itself once mpb has stopped on an
// error of its own. mpb copies them before it returns. wmu is held.
func (p *Progress) above(lines []byte) error {
	if _, err := p.mp.Write(lines); err == nil {
		return nil
	}
	_, err := p.out.Write(lines)
	return err
}

// Close draws the bar a last time, removes it, and returns once mpb's
// goroutines have ended and nothing more is written, except by Write, which
// then writes straight to Config.Out. It returns mpb's drawing error, if
// any: writing to Out or asking a terminal its size failed, and the bar
// stopped being drawn then. Close may be called more than once.
func (p *Progress) Close() error {
	p.closeOnce.Do(func() {
		close(p.stop)
		p.wg.Wait()

		p.wmu.Lock()
		defer p.wmu.Unlock()
		if len(p.partial) > 0 {
			p.above(append(p.partial, '\n'))
			p.partial = nil
		}
		p.sync(time.Now())
		p.bar.Abort(true) // drawn once more, with the last counts, then dropped
		p.mp.Wait()
		p.closed = true
		p.err = p.mp.Error
	})
	return p.err
}

// pump syncs the counters into the bar and asks for a redraw, every period,
// until Close.
func (p *Progress) pump(every time.Duration) {
	defer p.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			p.sync(now)
			select {
			case p.refresh <- nil:
			case <-p.stop:
				return
			}
		case <-p.stop:
			return
		}
	}
}

// sync gives the bar the requests done by now, which also feeds the moving
// average of the rate, and the total if it changed.
func (p *Progress) sync(now time.Time) {
	p.bar.EwmaSetCurrent(p.done.Load(), now.Sub(p.last))
	p.last = now
	if t := p.total.Load(); t != p.shown {
		p.bar.SetTotal(t, false)
		p.shown = t
	}
}

// counts reads "812/10000", or "812 done" while the total is unknown.
func counts(st decor.Statistics) string {
	if st.Total > 0 {
		return fmt.Sprintf("%d/%d", st.Current, st.Total)
	}
	return fmt.Sprintf("%d done", st.Current)
}

// loadText reads " | r1:8 r2:7" with several replicas, else nothing.
func (p *Progress) loadText(decor.Statistics) string {
	if len(p.loads) < 2 {
		return ""
	}
	var b strings.Builder
	b.WriteString(" |")
	for i := range p.loads {
		fmt.Fprintf(&b, " r%d:%d", i+1, p.loads[i].Load())
	}
	return b.String()
}

// ifTotal shows a decorator only while the total is known and, if started,
// once a request has ended (before that an ETA would read 0s). Unwrap lets
// mpb find the EWMA decorator inside, to feed it.
type ifTotal struct {
	decor.Decorator
	prefix  string // ASCII: its length is its width
	started bool
}

func (d ifTotal) Decor(st decor.Statistics) (string, int) {
	if st.Total <= 0 || d.started && st.Current == 0 {
		return "", 0
	}
	s, w := d.Decorator.Decor(st)
	return d.prefix + s, len(d.prefix) + w
}

func (d ifTotal) Unwrap() decor.Decorator { return d.Decorator }

// knownBar draws " [===>---]" while the total is known and the row has
// room for it, nothing otherwise; the percentage after it brings its own
// space.
type knownBar struct{ mpb.BarFiller }

func (f knownBar) Fill(w io.Writer, st decor.Statistics) error {
	if st.Total <= 0 || st.AvailableWidth < 4 {
		return nil
	}
	st.AvailableWidth--
	io.WriteString(w, " ")
	return f.BarFiller.Fill(w, st)
}
