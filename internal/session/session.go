// Package session runs a conversation with a child process: it picks where
// the input comes from (the prompt, a file, stdin), sends it, and shows what
// the child answers, safely on a terminal or byte for byte elsewhere.
package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fatih/color"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/launch"
	"github.com/pipecli/pipecli/internal/proc"
	"github.com/pipecli/pipecli/internal/progress"
	"github.com/pipecli/pipecli/internal/track"
)

// Config is what `pipecli run` was asked to do.
type Config struct {
	// Target is what to start each time a child is needed.
	Target *launch.Target
	// Replicas, when set, are the targets of the replicas of a framed
	// run, one child each (the same target again for -j N); Target then
	// names the run.
	Replicas []*launch.Target
	// Unordered writes each answer as it comes, not in input order.
	Unordered bool
	File      string // input file; "-" is stdin; "" means the prompt on a terminal, else stdin
	Output    string // output file; "" is stdout
	// Grace is how long each stage of stopping the child waits, and how long
	// its pipes may stay open after it exited.
	Grace time.Duration
	// EOFTimeout, if not 0, stops the child when it is still running this
	// long after its input ended. 0 waits as long as it takes.
	EOFTimeout time.Duration
	// Resync restarts, in line and marker framing, a child seen waiting
	// for input with requests unanswered and nothing more to send it: it
	// skipped a line, or buffers its output, and the answers it gives next
	// would go to the wrong requests. Its requests fail. A server sets it:
	// the requests are other callers', whose input does not end.
	Resync bool
	// Endless: the input is a server's, and does not end; a child that
	// exits with code 0 did not choose to end the run (a caller's "quit",
	// a worker that ends after so many requests): as a death, it is
	// started again, the request it was handling charged.
	Endless bool
	// HasEOFTimeout says the command has an --eof-timeout flag, which
	// messages may then name (run has; bench and replay have not).
	HasEOFTimeout bool
	HistoryFile   string // "" keeps no history
	// RawTerminal passes the child's control characters to the terminal
	// instead of showing them escaped.
	RawTerminal bool

	// Framing, when its Mode is not Raw, makes each input line a request
	// and tells which output answers it.
	Framing frame.Options
	// Window is how many requests may be in flight at once; 0 picks 1 at
	// the prompt, 64 otherwise.
	Window int
	// Timeout fails a request unanswered this long after it was sent; 0
	// waits as long as it takes.
	Timeout time.Duration
	// Retries is how many times a request is sent again after its child
	// died while handling it.
	Retries int
	// Restart restarts a child that died unexpectedly, at most MaxRestarts
	// times, with exponential back-off.
	Restart     bool
	MaxRestarts int
	// Sentinel, if not nil, is a line written after each request in the
	// FIFO framings, to make a REPL print the marker (track.Config).
	Sentinel *string
	// SkipEmpty: blank input lines are no requests, and are not sent.
	SkipEmpty bool
	// ReadyTimeout gives up on a child whose banner (--ready,
	// --skip-banner) has not ended this long after it started; 0 waits.
	ReadyTimeout time.Duration
	// Partials writes the parts of an answer (jsonl partial messages) to
	// the output as they come; they are always shown on a terminal, and
	// always in --json records.
	Partials bool
	// JSON writes one JSON record per request instead of its answer.
	JSON bool
	// RecordFraming, if not nil, is written in each JSON record as its
	// "framing": how the run told the answers apart, so that a replay of
	// the records can do the same.
	RecordFraming *FramingFlags
	// Stats prints statistics on stderr at the end.
	Stats bool
	// Quiet: no progress bar, which a framed run not at the prompt shows
	// on stderr when it is a terminal (and stdout is not).
	Quiet bool
	// Observe, if not nil, is told of each request as it ends, in the
	// order requests are written out (input order unless Unordered),
	// before its answer or record is written. It must not keep r or its
	// slices after it returns: they are reused. A raw run has no
	// requests, so it is never called there.
	Observe func(r *track.Request)
	// CallerSignals: the caller handles SIGINT, SIGTERM and SIGHUP (a
	// server drains on them): the run neither catches nor forwards them,
	// and ends when its input does, or when ctx is done.
	CallerSignals bool
	// Lookahead, if not 0, bounds the requests taken from the input
	// beyond what the children have room for now (track.Config): a server
	// picks which caller's request is next only when a child can take it.
	Lookahead int
	// Replica, if not nil, is told the state of each replica of a framed
	// run (numbered from 0) each time the run has handled what came: a
	// server's status. It must not block.
	Replica func(n int, st ReplicaState)
	// NoAnswers: the answers are not written out, only observed (a load
	// generator's run); failures are still told on stderr.
	NoAnswers bool
	// Starved, if not nil, is called, once, when a child cannot answer
	// without more input: it was sent every request the input gave, has
	// answered nothing for a while, and has waited reading its stdin at
	// every look for a few seconds (proc.Child.WaitsForInput). A source that holds the rest of its
	// input back until those requests are answered (bench's warm-up)
	// would then wait for ever, and the child with it: it should end, as
	// run's input would, so that the child reads EOF and its requests
	// end as they do in run. Not for a child whose program runs
	// elsewhere (launch.Target.Elsewhere), whose waiting says nothing.
	// It is called from the run's loop, and must not block.
	Starved func()
}

// ReplicaState is what Config.Replica is told of a replica.
type ReplicaState struct {
	Running  bool // it has a child, started and not gone
	Ready    bool // its child's banner is over: it takes requests
	InFlight int  // requests it is handling
	Restarts int  // times it was started again after it died
	Retired  bool // it is not started again: it kept dying, or could not start
}

// Result is how a run ended.
type Result struct {
	Status proc.Status
	// Interrupted is the signal that ended the run, or 0.
	Interrupted syscall.Signal
	// OutputClosed: our stdout's reader went away, so the child was stopped.
	OutputClosed bool
	// OutputErr is why writing our output failed, when it did: EPIPE when
	// the reader went away, or another error, such as a full disk.
	OutputErr error
	// TimedOut: the child was still running EOFTimeout after its input ended.
	TimedOut bool
	// Quit: the person at the prompt asked to stop and the child had to be
	// signalled, so its status says nothing about its work.
	Quit bool
	// Requests and Failed count the requests of a framed run: Requests
	// every one that ended, JSON-RPC notifications (sent, not awaited)
	// among them.
	Requests, Failed int
	// Misaligned counts, in line and marker framing, the answers that came
	// with no request waiting for them: the answers before may have gone
	// to the wrong requests.
	Misaligned int
	// Stray counts, in jsonl and serve framing, the answers whose id
	// matched no request in flight: an id answered twice, or one never
	// sent. Matched by id, they were given to no request.
	Stray int
	// Skipped counts, in line and marker framing, the requests a child
	// left unanswered when it ended, having answered others: if it skipped
	// lines, the answers after them went to the wrong requests.
	Skipped int
	// Deaths counts, in a framed run, the children that died unexpectedly
	// (each followed by a restart, unless it was given up on).
	Deaths int
	// PeakRSS is the largest peak resident set size, in bytes, of the
	// children the run started (proc.Child.PeakRSS); 0 if none was read.
	PeakRSS int64
}

// hintAfter is how long a child may stay silent after input, while more
// may come, before a hint is given.
const hintAfter = 3 * time.Second

// InputError is a problem with what we were given to read or write, such as
// a missing --file.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

type session struct {
	cfg Config
	ios *iostreams.IOStreams

	out    io.Writer // where the child's stdout goes
	outTTY bool
	src    io.Reader       // the input, when it is not the prompt
	pr     *prompt         // the prompt, or nil
	box    *inbox          // what the prompt sends, when there is a prompt
	hungUp <-chan struct{} // closed when our stdout's reader has gone
	dim    *color.Color
	hinted bool // the buffering hint was given
	// errOut is where pipecli's messages and the child's stderr go:
	// stderr, or, while the progress bar is shown, above it.
	errOut io.Writer
	bar    *progress.Progress // nil when none is shown
}

// Run starts the child, converses with it until it ends and reports how:
// the error is nil if all went well, else it says what went wrong (an
// *InputError, a *proc.StartError, or one of end.go's).
func Run(ctx context.Context, cfg Config, ios *iostreams.IOStreams) (Result, error) {
	res, err := run(ctx, cfg, ios)
	if err == nil {
		err = res.err(cfg.Target.Name(), cfg.EOFTimeout)
	}
	return res, err
}

func run(ctx context.Context, cfg Config, ios *iostreams.IOStreams) (res Result, err error) {
	s := &session{cfg: cfg, ios: ios, out: ios.Out, outTTY: ios.OutTTY, dim: color.New(color.Faint), errOut: ios.ErrOut}
	setColor(s.dim, ios.ErrColor)
	if cfg.Output != "" {
		f, err := os.Create(cfg.Output)
		if err != nil {
			return res, &InputError{fmt.Errorf("cannot write --output: %w", err)}
		}
		defer f.Close()
		s.out, s.outTTY = f, false
	}
	if err := s.openInput(); err != nil {
		return res, err
	}
	s.startBar(ctx)
	defer s.stopBar()
	defer func() {
		if s.pr != nil {
			s.pr.Close()
		}
	}()
	// After the children have been waited for, whatever the way out.
	defer func() {
		for i, t := range cfg.Replicas {
			if i == 0 || t != cfg.Replicas[i-1] {
				if err := t.Cleanup(); err != nil {
					s.say("%v", err)
				}
			}
		}
		if err := cfg.Target.Cleanup(); err != nil {
			s.say("%v", err)
		}
	}()

	// Signals for pipecli are forwarded to the child's group. Asking for
	// SIGPIPE turns a write to a closed stdout into an EPIPE error we
	// handle, instead of the runtime killing us before we stop the child.
	sigs := make(chan os.Signal, 4)
	if !cfg.CallerSignals {
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		defer signal.Stop(sigs)
	}
	pipes := make(chan os.Signal, 1)
	signal.Notify(pipes, syscall.SIGPIPE)
	defer signal.Stop(pipes)
	if f, ok := s.out.(*os.File); ok {
		hw := watchHangup(f)
		defer hw.Close()
		s.hungUp = hw.HungUp()
	}

	return s.converse(ctx, sigs)
}

// startBar shows the progress bar, where it belongs: in a framed run,
// not at the prompt, with stderr a terminal and stdout not the same one
// (answers written below the bar would be drawn over), unless --quiet.
// The total is known when the input is a regular file.
func (s *session) startBar(ctx context.Context) {
	cfg := s.cfg
	if cfg.Quiet || cfg.Framing.Mode == frame.Raw || s.pr != nil || !s.ios.ErrTTY || s.outTTY {
		return
	}
	var total int64
	if f, ok := s.src.(*os.File); ok {
		total, _ = progress.CountLines(ctx, f, cfg.SkipEmpty) // 0 (unknown) if not a regular file
	}
	s.bar = progress.New(progress.Config{Out: s.ios.ErrOut, Total: total, Replicas: max(len(cfg.Replicas), 1)})
	s.errOut = s.bar
}

// stopBar takes the progress bar off the screen; what is said after goes
// to stderr as it is.
func (s *session) stopBar() {
	if s.bar != nil {
		if err := s.bar.Close(); err != nil {
			fmt.Fprintf(s.ios.ErrOut, "pipecli: the progress bar failed: %v\n", err)
		}
		s.bar, s.errOut = nil, s.ios.ErrOut
	}
}

// name is what messages call the child.
func (s *session) name() string {
	return s.cfg.Target.Name()
}

// openInput picks the input: --file, else the prompt when stdin is a
// terminal (drawn on stdout, or on stderr when stdout is redirected), else
// stdin as a stream, read without a line editor.
func (s *session) openInput() error {
	stdin, isFile := s.ios.In.(*os.File)
	switch {
	case s.cfg.File == "-":
		s.src = s.ios.In
		if isFile {
			s.src = interruptible(stdin)
		}
	case s.cfg.File != "":
		f, err := OpenFile(s.cfg.File)
		if err != nil {
			return err
		}
		s.src = f
	case isFile && s.ios.InTTY && (s.outTTY || s.ios.ErrTTY):
		drawOn := s.ios.ErrOut
		if s.outTTY {
			drawOn = s.out
		}
		pr, err := newPrompt(promptConfig{
			In:          stdin,
			Out:         drawOn,
			Err:         s.ios.ErrOut,
			HistoryFile: s.cfg.HistoryFile,
			Prompt:      readyPrompt,
			Say:         s.say,
		})
		if err != nil {
			return fmt.Errorf("starting the prompt: %w", err)
		}
		s.pr, s.box = pr, newInbox()
	default:
		s.src = s.ios.In
		if isFile {
			s.src = interruptible(stdin)
		}
	}
	return nil
}

// childStdout is where the child's stdout goes: above the prompt, or to our
// output; escaped where that is a terminal.
func (s *session) childStdout() io.Writer {
	w := s.out
	switch {
	case s.pr != nil && s.outTTY:
		w = s.pr.stdout()
	case !s.outTTY:
		return w // byte for byte
	}
	if s.cfg.RawTerminal {
		return w
	}
	return newEscaper(w)
}

// childStderr is where the child's stderr goes: unchanged when our stderr is
// not a terminal; on one, escaped and coloured, above the prompt if any.
func (s *session) childStderr() io.Writer {
	if !s.ios.ErrTTY {
		return s.errOut
	}
	var w io.Writer = s.errOut
	if s.pr != nil {
		w = s.pr.stderr()
	}
	if s.ios.ErrColor {
		c := color.New(color.FgYellow)
		setColor(c, true)
		w = colorWriter{w: w, c: c}
	}
	if s.cfg.RawTerminal {
		return w
	}
	return newEscaper(w)
}

// say prints one of pipecli's own messages on stderr: dim, above the prompt
// when there is one.
func (s *session) say(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if s.pr != nil {
		fmt.Fprintln(s.pr.stderr(), s.dim.Sprint(msg))
		return
	}
	fmt.Fprintln(s.errOut, s.dim.Sprint("pipecli: "+msg))
}

// sayLine shows a line of the child's that answers no request (a banner
// line, an event) on stderr, labelled, escaped where that is a terminal.
func (s *session) sayLine(label string, data []byte) {
	text := string(data)
	if s.ios.ErrTTY && !s.cfg.RawTerminal {
		var b bytes.Buffer
		e := newEscaper(&b)
		e.Write(data)
		e.Flush()
		text = b.String()
	}
	s.say("%s: %s", label, text)
}

// colorWriter colours each write as a whole, so that the prompt redraws
// around one coloured chunk.
type colorWriter struct {
	w io.Writer
	c *color.Color
}

func (cw colorWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(cw.w, cw.c.Sprint(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// setColor decides a colour by the stream it is for: fatih/color's own
// default looks at stdout only.
func setColor(c *color.Color, on bool) {
	if on {
		c.EnableColor()
	} else {
		c.DisableColor()
	}
}

// unwrapPath drops the operation from a *PathError ("open x: no such file"
// becomes "x: no such file"), which reads better after our own words.
// OpenFile opens the --file at path; its error is an *InputError that
// says what is wrong: no such file, a directory.
func OpenFile(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &InputError{fmt.Errorf("cannot read --file: %w", unwrapPath(err))}
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, &InputError{fmt.Errorf("cannot read --file: %s is a directory; give a file, or - for stdin", path)}
	}
	return f, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}
