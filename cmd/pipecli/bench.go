package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/pipecli/pipecli/internal/bench"
	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/session"
)

// benchOpts are `pipecli bench`'s options: the target's, and its own
// (the requests, how many, the windows, the command to compare with, the
// report).
type benchOpts struct {
	IO *iostreams.IOStreams
	targetOpts
	File     string
	Line     string
	lineSet  bool // --line was given: "" is an empty request
	Requests int
	Duration time.Duration
	Warmup   int
	Windows  string
	Rounds   int
	Vs       string
	JSON     bool
	Verbose  bool
	Quiet    bool
	NoColor  bool

	windows []int // Windows, parsed
	vsArgv  []string
}

// notForBench are the target's flags that bench has no use for: it sets
// them itself (--window takes a list here), or they concern the answers,
// which it does not show.
var notForBench = []string{"window", "unordered", "partials"}

func newBenchCmd(io *iostreams.IOStreams, runF func(*benchOpts) error) *cobra.Command {
	o := &benchOpts{IO: io}
	cmd := &cobra.Command{
		Use:   "bench [flags] [-- COMMAND ARGS...]",
		Short: "Measure COMMAND (default: the demo model) under load: throughput, latency percentiles and histogram, start-up, memory",
		Long: `Start COMMAND as 'pipecli run' would (--image, replicas, the demo model with
no COMMAND), send it requests, check that each is answered, and report
requests/s, errors (timeouts, requests whose child died), latency
percentiles (p50, p90, p99, p99.9, max) and a latency histogram, the
children's start-up time (spawn to first answer, or to the --ready line)
and their peak RSS. The answers are not shown.

The requests are the lines of --file, or --line, sent in a loop: each line
of the file once by default, or --requests N, or for --duration D. Each run
first sends --warmup requests (one per replica by default: their start-up)
and measures the rest once those are answered. Answers are matched with
--framing line unless another framing is given.

--window 1,8,64 measures at each window in turn and prints the curve.
--vs 'COMMAND ARGS' measures a second command on the same requests, with
the same flags, in --rounds rounds alternating the two (A B A B ...), so
that a noisy machine weighs on both alike, and prints both side by side
with the ratio of each figure.

Exit status: 0; 1 when measured requests failed, in line or marker
framing answers came with no request waiting or a child skipped lines
(they may have gone to the wrong requests; jsonl matches answers by id,
and says those that match none), no warm-up request was answered, or a
--duration run got no answer; 2 for a usage error or requests that cannot
be measured; 126 when COMMAND cannot be executed; 127 when COMMAND is not
found; 130 when interrupted (Ctrl-C prints what was
measured so far). A child's own exit status does not count once its
requests are answered: bench measures answers (its deaths are in the
report).`,
		Example: `  pipecli bench --file testdata/crypt.txt
  pipecli bench --file testdata/crypt.txt -j 2
  pipecli bench --line 'hello' --requests 100000 --window 1,8,64 -- ./model
  pipecli bench --file in.txt --vs './old-model' -- ./new-model
  pipecli bench --file in.txt --json --image pipe_api > bench.json`,
		RunE: func(c *cobra.Command, args []string) error {
			o.Argv = args
			if err := o.checkBench(c); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return runBench(c.Context(), o)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	o.addBenchTargetFlags(f)
	o.addCompletions(cmd)
	f.StringVarP(&o.File, "file", "f", "", "the requests: the lines of `PATH` (\"-\" for stdin), sent in a loop")
	f.StringVar(&o.Line, "line", "", "the request: this `TEXT`, sent again and again")
	f.IntVarP(&o.Requests, "requests", "n", 0, "send `N` measured requests (default: each line of --file once; 1000 with --line)")
	f.DurationVarP(&o.Duration, "duration", "d", 0, "send measured requests for this long, instead of --requests")
	f.IntVar(&o.Warmup, "warmup", 0, "send `N` requests first, not measured; measuring starts once they are answered (default: one per replica, their start-up)")
	f.StringVarP(&o.Windows, "window", "w", "64", "requests in flight per child; a list `W[,W...]` (1,8,64) measures at each (default 1 with --prompt or --sentinel)")
	f.IntVar(&o.Rounds, "rounds", 0, "measure each window in `N` runs, alternating with --vs (default 1; 5 with --vs)")
	f.StringVar(&o.Vs, "vs", "", "also measure `COMMAND` (split like a shell would, never run by one) on the same requests, and compare")
	f.BoolVar(&o.JSON, "json", false, "write the report as one JSON document, every figure in it")
	f.BoolVarP(&o.Verbose, "verbose", "v", false, "draw the latency histogram of every window, not only of a lone one")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "no progress line (shown on stderr when it is a terminal)")
	f.BoolVar(&o.NoColor, "no-color", false, "no colours (also: NO_COLOR=1)")
	return cmd
}

// addBenchTargetFlags registers the target's flags on f, but those in
// notForBench.
func (o *benchOpts) addBenchTargetFlags(f *pflag.FlagSet) {
	all := pflag.NewFlagSet("target", pflag.ContinueOnError)
	o.addFlags(all)
	all.VisitAll(func(fl *pflag.Flag) {
		for _, name := range notForBench {
			if fl.Name == name {
				return
			}
		}
		f.AddFlag(fl)
	})
	// Bench frames its requests: checkBench picks line when no framing
	// flag was given.
	f.Lookup("framing").DefValue = frame.Line.String()
}

// checkBench validates bench's flags and settles their defaults: line
// framing when none was given, the windows, the requests, the rounds.
func (o *benchOpts) checkBench(c *cobra.Command) error {
	fl := c.Flags()
	switch {
	case fl.Changed("framing"):
		if o.Framing == frame.Raw {
			return usageError(fmt.Errorf("bench needs to tell the answers apart: --framing line, marker or jsonl, not raw"))
		}
	case fl.Changed("prompt"): // check picks marker framing
	case fl.Changed("marker") || fl.Changed("marker-regexp"):
		o.Framing = frame.Marker
	default:
		o.Framing = frame.Line
	}
	ws, err := bench.ParseWindows(o.Windows)
	if err != nil {
		return usageError(err)
	}
	if fl.Changed("prompt") {
		// A REPL's prompt is recognised only at the end of what it
		// printed: one request at a time.
		if fl.Changed("window") && (len(ws) > 1 || ws[0] > 1) {
			return usageError(fmt.Errorf("--prompt sends requests one at a time: a REPL's prompt is recognised only at the end of what it printed; --window must be 1"))
		}
		ws = []int{1}
	}
	if (fl.Changed("sentinel") || o.quietREPL() && o.Framing != frame.JSONL) && !fl.Changed("window") {
		ws = []int{1} // as run: see checkFraming
	}
	o.windows = ws
	o.Window = ws[0] // for check's sake; each run sets its own
	if err := o.check(c); err != nil {
		return err
	}
	o.lineSet = fl.Changed("line")
	switch {
	case o.File != "" && fl.Changed("line"):
		return usageError(errors.New("--file and --line both give the requests; give one"))
	case fl.Changed("requests") && fl.Changed("duration"):
		return usageError(errors.New("--requests and --duration both say how much to send; give one"))
	case fl.Changed("requests") && o.Requests < 1:
		return usageError(fmt.Errorf("--requests must be 1 or more, not %d", o.Requests))
	case fl.Changed("duration") && o.Duration <= 0:
		return usageError(fmt.Errorf("--duration must be more than 0, not %s", o.Duration))
	case o.Warmup < 0:
		return usageError(fmt.Errorf("--warmup must be 0 or more, not %d", o.Warmup))
	case fl.Changed("rounds") && o.Rounds < 1:
		return usageError(fmt.Errorf("--rounds must be 1 or more, not %d", o.Rounds))
	case fl.Changed("vs") && strings.TrimSpace(o.Vs) == "":
		return usageError(errors.New("--vs needs a command, such as './old-model --flag'"))
	case o.JSON && o.Verbose:
		return usageError(errors.New("--verbose draws histograms, which --json has as numbers; give one"))
	}
	if !fl.Changed("warmup") {
		o.Warmup = -1 // one per replica
	}
	if o.Vs != "" {
		argv, err := splitCommand(o.Vs)
		if err != nil {
			return usageError(errors.New(strings.Replace(err.Error(), "--replica", "--vs", 1)))
		}
		o.vsArgv = argv
	}
	if !fl.Changed("rounds") {
		o.Rounds = 1
		if o.Vs != "" {
			o.Rounds = 5
		}
	}
	return nil
}

func runBench(ctx context.Context, o *benchOpts) error {
	o.IO.SetColor(o.NoColor)
	src, closer, err := o.source()
	if err != nil {
		return err
	}
	defer closer.Close()
	cfg := bench.Config{
		Windows:  o.windows,
		Source:   src,
		Requests: o.Requests,
		Duration: o.Duration,
		Warmup:   o.Warmup,
		Rounds:   o.Rounds,
		JSON:     o.JSON,
		Text:     bench.Text{Width: o.width(), Color: o.IO.OutColor, Verbose: o.Verbose},
		Progress: o.IO.ErrTTY && !o.Quiet,
	}
	if cfg.Requests == 0 && cfg.Duration == 0 && o.Line != "" {
		cfg.Requests = 1000
	}
	o.limitProcs(o.IO.Getenv)
	a, err := benchSide(o.targetOpts)
	if err != nil {
		return err
	}
	cfg.Sides = []bench.Side{a}
	cfg.Replicas = max(len(a.Session.Replicas), 1)
	if o.vsArgv != nil {
		t := o.targetOpts
		t.Argv, t.Image, t.DockerArgs, t.ReplicaCmds, t.replicaArgv = o.vsArgv, "", nil, nil, nil
		if t.Connect != "" {
			// The server against a child of one's own: line framing.
			t.Connect, t.Framing = "", frame.Line
		}
		b, err := benchSide(t)
		if err != nil {
			return err
		}
		if b.Name == a.Name {
			// The same command twice (is it noise?): told apart all the same.
			a.Name, b.Name = a.Name+" (A)", b.Name+" (B)"
			cfg.Sides[0] = a
		}
		cfg.Sides = append(cfg.Sides, b)
	}
	return bench.Run(ctx, cfg, o.IO)
}

// oneLine is s with each run of white space that holds a line break made
// one space, for a table's title: a command may span lines (python3 -c).
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// benchSide is what t starts, for bench to measure.
func benchSide(t targetOpts) (bench.Side, error) {
	var cfg session.Config
	if err := t.fill(&cfg); err != nil {
		return bench.Side{}, err
	}
	// Hints name bench: "use pipecli bench --pty".
	cfg.Target.Cmd = "bench"
	for _, r := range cfg.Replicas {
		r.Cmd = "bench"
	}
	name := oneLine(strings.Join(t.Argv, " "))
	switch {
	case t.Image != "":
		name = strings.TrimSpace("--image " + t.Image + " " + name)
	case len(t.ReplicaCmds) > 0:
		name = strings.Join(t.ReplicaCmds, " | ")
	case name == "":
		name = cfg.Target.Name()
	}
	// A server's replicas are not ours to measure: its child is a relay.
	return bench.Side{Name: name, Session: cfg, NoRSS: t.Image != "" || t.Connect != ""}, nil
}

// source is where the requests come from: --line, --file, or stdin when
// it is not a terminal. The file it opens is read as the requests are
// sent: closer closes it, after the run.
func (o *benchOpts) source() (src *bench.Source, closer io.Closer, err error) {
	if o.lineSet || o.File == "" && o.IO.InTTY {
		if !o.lineSet {
			return nil, nil, usageError(errors.New("no requests to send: give --file PATH (one request a line) or --line TEXT"))
		}
		if strings.ContainsAny(o.Line, "\r\n") {
			return nil, nil, usageError(errors.New("--line is one request: it cannot hold a line break; put several in a --file"))
		}
		if o.SkipEmpty && strings.TrimSpace(o.Line) == "" {
			return nil, nil, usageError(errors.New("--line is blank, and --skip-empty sends no blank lines: give a request"))
		}
		src, err = bench.BytesSource([]byte(o.Line+"\n"), o.SkipEmpty)
		return src, io.NopCloser(nil), err
	}
	in, name := o.IO.In, "stdin"
	if o.File != "" && o.File != "-" {
		f, err := session.OpenFile(o.File)
		if err != nil {
			return nil, nil, err
		}
		in, name, closer = f, o.File, f
	}
	if f, ok := in.(*os.File); ok {
		src, err = bench.FileSource(f, o.SkipEmpty)
	} else {
		var data []byte
		if data, err = io.ReadAll(in); err == nil {
			src, err = bench.BytesSource(data, o.SkipEmpty)
		}
	}
	if closer == nil {
		closer = io.NopCloser(nil)
	}
	switch {
	case errors.Is(err, bench.ErrNoLines):
		err = &session.InputError{Err: fmt.Errorf("%s holds no requests: give one request a line", name)}
	case err != nil:
		err = &session.InputError{Err: fmt.Errorf("reading %s: %w", name, err)}
	}
	if err != nil {
		closer.Close()
		return nil, nil, err
	}
	return src, closer, nil
}

// width is how wide the histogram is drawn: the terminal's, else $COLUMNS,
// else 80.
func (o *benchOpts) width() int {
	if f, ok := o.IO.Out.(*os.File); ok && o.IO.OutTTY {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	var w int
	if _, err := fmt.Sscan(o.IO.Getenv("COLUMNS"), &w); err == nil && w > 0 {
		return w
	}
	return 80
}
