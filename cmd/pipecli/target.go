package main

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"mvdan.cc/sh/v3/shell"

	"github.com/pipecli/pipecli/internal/container"
	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/launch"
	"github.com/pipecli/pipecli/internal/serve"
	"github.com/pipecli/pipecli/internal/session"
)

// targetOpts are the flags that say what to start and how to tell its
// answers apart: the command, --image, --pty, the replicas and the framing
// flags. The commands that talk to a child (run; bench and replay) share
// them, so that the same target means the same thing to each.
//
// A command registers them with addFlags and addCompletions, sets Argv in
// its RunE, calls check, then fill.
type targetOpts struct {
	Argv       []string
	PTY        bool
	Image      string
	DockerArgs []string
	Grace      time.Duration

	Framing      frame.Mode
	Marker       string
	MarkerRE     string
	Prompt       string
	Sentinel     string
	SentinelSet  bool
	SkipEmpty    bool
	Partials     bool
	Ready        string
	ReadyTimeout time.Duration
	Window       int
	Timeout      time.Duration
	Retries      int
	Restart      string
	MaxRestarts  int
	SkipBanner   int
	MaxLine      int
	Replicas     int
	ReplicaCmds  []string
	Unordered    bool
	// Connect is the server to use instead of a child (--connect NAME or
	// PATH): its replicas answer, over the serve protocol.
	Connect string

	// FramedOnly names the command's own flags that, like --window, make
	// sense only in a framed run (run: --json, --stats): check refuses
	// them without one, after the target's own.
	FramedOnly []string

	replicaArgv [][]string            // ReplicaCmds, split
	given       *session.FramingFlags // the framing flags given, for --json records (check)
}

// framedOnly are the target's flags that make sense only in a framed run.
var framedOnly = []string{"marker", "marker-regexp", "sentinel", "skip-empty", "partials", "window", "timeout", "retries", "restart", "max-restarts", "ready", "ready-timeout", "skip-banner", "max-line", "unordered"}

// addFlags registers the target's flags on f.
func (o *targetOpts) addFlags(f *pflag.FlagSet) {
	f.DurationVar(&o.Grace, "grace", 5*time.Second, "when stopping the child: wait this long after closing its stdin, then after SIGTERM, before SIGKILL")
	f.BoolVar(&o.PTY, "pty", false, "make the child's stdout a pseudo-terminal, so that programs that buffer on a pipe (C stdio, Python) answer each line at once")
	f.StringVar(&o.Image, "image", "", "run `IMAGE` in a container of its own (docker run -i --rm --init), removed however pipecli ends; COMMAND ARGS go after the image")
	f.StringArrayVar(&o.DockerArgs, "docker-arg", nil, "with --image: one more argument for docker run, before the image (repeat it: --docker-arg -v --docker-arg /data:/data)")

	f.Var(&o.Framing, "framing", "how answers are told apart: raw (none), line, marker or jsonl")
	f.StringVar(&o.Marker, "marker", "", "with --framing marker: the line that ends each answer (may be empty)")
	f.StringVar(&o.MarkerRE, "marker-regexp", "", "with --framing marker: a line matching `REGEXP` (whole) ends each answer; so does a prompt it matches with no newline after it")
	f.StringVar(&o.Prompt, "prompt", "", "the child is a REPL whose prompt matches `REGEXP` (whole; no newline needed): requests wait for its first prompt, and each answer ends at the next (implies --framing marker)")
	f.StringVar(&o.Sentinel, "sentinel", "", "with --framing marker: write this `LINE` after each request, to make a REPL print the marker (sqlite3: '.print --END--'; bc: 'print \"--END--\\n\"')")
	f.BoolVar(&o.SkipEmpty, "skip-empty", false, "blank input lines are not requests: they are not sent")
	f.BoolVar(&o.Partials, "partials", false, "write the parts of an answer (jsonl \"partial\":true messages) to stdout as they come, not only on a terminal")
	f.IntVar(&o.Window, "window", 0, "requests in flight at once (default 1 at the prompt and with --prompt or --sentinel, 64 otherwise)")
	f.DurationVar(&o.Timeout, "timeout", 0, "fail a request with no answer this long after it was sent (line and marker framing: after the requests before it were answered); the child is kept (0: none)")
	f.IntVar(&o.Retries, "retries", 2, "send a request again this many times when its child died handling it")
	f.StringVar(&o.Restart, "restart", "on-failure", "on-failure: restart a child that died unexpectedly; never")
	f.IntVar(&o.MaxRestarts, "max-restarts", 5, "give up on a child that died this many times in a row without answering")
	f.StringVar(&o.Ready, "ready", "", "hold input until the child prints a line matching `REGEXP`; lines before are its banner")
	f.DurationVar(&o.ReadyTimeout, "ready-timeout", 0, "with --ready or --skip-banner: give up if the banner has not ended this long after the child started (0: wait)")
	f.IntVar(&o.SkipBanner, "skip-banner", 0, "the child's first `N` lines are a banner, not answers")
	f.IntVar(&o.MaxLine, "max-line", 0, "fail when the child writes a line (or marker answer) longer than `BYTES` (0: no cap)")
	f.IntVarP(&o.Replicas, "replicas", "j", 1, "start `N` replicas of the command (of each --replica), each with its own --window; answers keep input order (implies --framing line)")
	f.StringArrayVar(&o.ReplicaCmds, "replica", nil, "a replica's `COMMAND`, split like a shell would (never run by one); repeat it for each host or device: --replica 'ssh gpu1 docker run -i --rm pipe_api'")
	f.BoolVar(&o.Unordered, "unordered", false, "write each answer as it comes, not in input order")
	f.StringVar(&o.Connect, "connect", "", "use the warm replicas of the server called `NAME` (or listening on the socket at PATH) instead of starting a child: see pipecli serve")
}

// serverOnly are the target's flags that say what to start and how it
// frames its answers: with --connect, the server has decided those.
var serverOnly = []string{"replicas", "replica", "image", "docker-arg", "pty", "framing", "marker", "marker-regexp", "prompt", "sentinel", "ready", "ready-timeout", "skip-banner", "max-line", "partials"}

// checkConnect validates --connect: a server's replicas are started and
// framed by the server, so the flags that say how are its own.
func (o *targetOpts) checkConnect(c *cobra.Command) error {
	if strings.TrimSpace(o.Connect) == "" {
		return fmt.Errorf("--connect needs a server's name, or its socket's path")
	}
	for _, name := range serverOnly {
		if c.Flags().Changed(name) {
			return fmt.Errorf("--%s is the server's: give it to pipecli serve; with --connect its replicas are running already", name)
		}
	}
	if len(o.Argv) > 0 {
		return fmt.Errorf("with --connect, the server's replicas answer: give the command to pipecli serve, not after --")
	}
	o.Framing = frame.Serve
	return nil
}

// addCompletions makes shell completion offer the values of the target's
// flags that take one of a few; c must have them (addFlags).
func (o *targetOpts) addCompletions(c *cobra.Command) {
	framings := []string{
		frame.Raw.String() + "\tnone: output shown as it arrives",
		frame.Line.String() + "\tone line in, one line out",
		frame.Marker.String() + "\tanswers end at the --marker line",
		frame.JSONL.String() + "\tJSON objects, answers matched by id",
	}
	mustComplete(c, "framing", framings...)
	mustComplete(c, "restart", "on-failure\trestart a child that died unexpectedly", "never\tdo not restart: fail what it was handling")
}

// mustComplete makes shell completion offer values for the flag name.
func mustComplete(cmd *cobra.Command, name string, values ...string) {
	if err := cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)); err != nil {
		panic(err) // no such flag, or registered twice: a mistake here
	}
}

// check validates the target's flags as c was given them (and FramedOnly),
// once Argv is set, and settles what they imply: --prompt and several
// replicas pick a framing when none was given. Its errors are usage
// errors.
func (o *targetOpts) check(c *cobra.Command) error {
	if c.Flags().Changed("connect") {
		if err := o.checkConnect(c); err != nil {
			return usageError(err)
		}
	}
	o.SentinelSet = c.Flags().Changed("sentinel")
	if c.Flags().Changed("prompt") {
		// A REPL's prompt frames its answers: marker framing.
		if c.Flags().Changed("framing") && o.Framing != frame.Marker {
			return usageError(fmt.Errorf("--prompt frames answers by the prompt that follows each: it goes with --framing marker (or no --framing), not %s", o.Framing))
		}
		o.Framing = frame.Marker
	}
	if err := o.checkReplicas(c); err != nil {
		return usageError(err)
	}
	if o.Grace <= 0 {
		return usageError(fmt.Errorf("--grace must be more than 0, not %s", o.Grace))
	}
	if err := o.checkFraming(c); err != nil {
		return usageError(err)
	}
	if err := o.checkContainer(c); err != nil {
		return usageError(err)
	}
	o.given = o.framingFlags(c.Flags())
	return nil
}

// framingFlags are the framing flags in f, as --json records carry them
// (see session.FramingFlags); nil in a raw run, and with --connect, where
// the server frames.
func (o *targetOpts) framingFlags(f *pflag.FlagSet) *session.FramingFlags {
	if o.Framing == frame.Raw || o.Framing == frame.Serve {
		return nil
	}
	given := func(name, value string) *string {
		if !f.Changed(name) {
			return nil
		}
		return &value
	}
	return &session.FramingFlags{
		Mode:         o.Framing.String(),
		Marker:       given("marker", o.Marker),
		MarkerRegexp: given("marker-regexp", o.MarkerRE),
		Prompt:       given("prompt", o.Prompt),
		Sentinel:     given("sentinel", o.Sentinel),
		Ready:        given("ready", o.Ready),
		SkipBanner:   o.SkipBanner,
	}
}

// checkContainer validates --image, --docker-arg and --pty.
func (o *targetOpts) checkContainer(c *cobra.Command) error {
	switch {
	case c.Flags().Changed("image") && strings.TrimSpace(o.Image) == "":
		return fmt.Errorf("--image needs an image name, such as pipe_api")
	case strings.HasPrefix(o.Image, "-"):
		return fmt.Errorf("--image %q is not an image name; docker run options go in --docker-arg", o.Image)
	case len(o.DockerArgs) > 0 && o.Image == "":
		return fmt.Errorf("--docker-arg goes with --image; without it, give the whole docker command after --")
	case o.PTY && o.Image != "":
		return fmt.Errorf("--pty cannot reach the process in a container, only the docker CLI; --image already sets PYTHONUNBUFFERED=1 (other programs: make them flush each answer)")
	}
	return nil
}

// checkReplicas validates -j and --replica, and picks line framing for
// several replicas when none was given: their answers must be told apart
// to be put back in order.
func (o *targetOpts) checkReplicas(c *cobra.Command) error {
	switch {
	case o.Replicas < 1:
		return fmt.Errorf("-j/--replicas must be 1 or more, not %d", o.Replicas)
	case len(o.ReplicaCmds) > 0 && len(o.Argv) > 0:
		return fmt.Errorf("give the command once: after -- for every replica, or as --replica for each, not both")
	case len(o.ReplicaCmds) > 0 && o.Image != "":
		return fmt.Errorf("--image starts its containers itself; with --replica, give each replica's whole command (docker -H HOST run -i --rm IMAGE)")
	}
	o.replicaArgv = nil
	for _, cmd := range o.ReplicaCmds {
		argv, err := splitCommand(cmd)
		if err != nil {
			return err
		}
		o.replicaArgv = append(o.replicaArgv, argv)
	}
	n := o.Replicas * max(len(o.ReplicaCmds), 1)
	if n == 1 {
		return nil
	}
	switch {
	case c.Flags().Changed("framing") || c.Flags().Changed("prompt"):
	case c.Flags().Changed("marker") || c.Flags().Changed("marker-regexp"):
		o.Framing = frame.Marker // what they say goes with it
	default:
		o.Framing = frame.Line
	}
	if o.Framing == frame.Raw {
		return fmt.Errorf("%d replicas need --framing line, marker or jsonl: with raw framing their answers cannot be told apart, so they could not be put back in input order", n)
	}
	return nil
}

// splitCommand splits a --replica command into its arguments as a shell
// would (quotes, backslashes, $VARIABLES, ~), without running one.
func splitCommand(cmd string) ([]string, error) {
	argv, err := shell.Fields(cmd, nil)
	switch {
	case err != nil:
		return nil, fmt.Errorf("--replica %q: %v; it is split like a shell would, but not run by one: for pipes or redirections, give sh -c '...'", cmd, err)
	case len(argv) == 0:
		return nil, fmt.Errorf("--replica needs a command, such as 'ssh gpu1 docker run -i --rm pipe_api'")
	}
	return argv, nil
}

// quietREPL reports whether the command is a REPL known to answer some
// lines with nothing (bc, sqlite3: see launch.REPL).
func (o *targetOpts) quietREPL() bool {
	_, ok := o.repl()
	return ok
}

// repl is what is known of the command as a REPL (launch.REPL).
func (o *targetOpts) repl() (launch.REPL, bool) {
	if len(o.Argv) == 0 || o.Image != "" {
		return launch.REPL{}, false
	}
	return launch.Command(o.Argv).REPL()
}

// checkFraming validates the framing flags, which make sense only together.
func (o *targetOpts) checkFraming(c *cobra.Command) error {
	framed := o.Framing != frame.Raw
	for _, names := range [][]string{framedOnly, o.FramedOnly} {
		for _, name := range names {
			if c.Flags().Changed(name) && !framed {
				return fmt.Errorf("--%s needs --framing line, marker or jsonl", name)
			}
		}
	}
	marker, markerRE, prompt := c.Flags().Changed("marker"), c.Flags().Changed("marker-regexp"), c.Flags().Changed("prompt")
	switch {
	case marker && markerRE || prompt && (marker || markerRE):
		return fmt.Errorf("--marker, --marker-regexp and --prompt each say what ends an answer; give one")
	case prompt && c.Flags().Changed("window") && o.Window > 1:
		return fmt.Errorf("--prompt sends requests one at a time: a REPL's prompt is recognised only at the end of what it printed, so with more in flight its answers could not be told apart")
	case prompt && (c.Flags().Changed("ready") || c.Flags().Changed("skip-banner")):
		return fmt.Errorf("--prompt waits for the child's first prompt already; --ready and --skip-banner go without it")
	case o.Framing == frame.Marker && !marker && !markerRE && !prompt:
		return fmt.Errorf("--framing marker needs --marker S (the line that ends each answer; --marker '' for an empty line) or --marker-regexp REGEXP")
	case (marker || markerRE) && o.Framing != frame.Marker:
		return fmt.Errorf("--marker and --marker-regexp go with --framing marker")
	case c.Flags().Changed("sentinel") && o.Framing != frame.Marker:
		return fmt.Errorf("--sentinel is a line that makes the child print the marker that ends each answer: it goes with --framing marker (--marker or --marker-regexp)")
	case c.Flags().Changed("ready-timeout") && !c.Flags().Changed("ready") && !c.Flags().Changed("skip-banner"):
		return fmt.Errorf("--ready-timeout goes with --ready or --skip-banner")
	case o.ReadyTimeout < 0:
		return fmt.Errorf("--ready-timeout must not be negative")
	}
	switch {
	case o.Window < 1 && c.Flags().Changed("window"):
		// 0 is the default's value, meaning "pick for me", not a
		// window anyone can ask for.
		return fmt.Errorf("--window must be 1 or more, not %d", o.Window)
	case o.Timeout < 0:
		return fmt.Errorf("--timeout must not be negative")
	case o.Retries < 0:
		return fmt.Errorf("--retries must be 0 or more")
	case o.MaxRestarts < 0:
		return fmt.Errorf("--max-restarts must be 0 or more")
	case o.Restart != "on-failure" && o.Restart != "never":
		return fmt.Errorf("--restart must be on-failure or never, not %q", o.Restart)
	}
	if c.Flags().Changed("sentinel") && !c.Flags().Changed("window") {
		// A request the REPL takes for part of a statement (SQL
		// without its ";") swallows its sentinel; with more in flight,
		// the next request's sentinel would end it, and every answer
		// after would go to the request before. One at a time, the
		// REPL is seen waiting for the rest, and that request fails
		// alone (see session's watchReplica).
		o.Window = 1
	}
	if repl, ok := o.repl(); ok {
		if (o.Framing == frame.Line || o.Framing == frame.Marker) && !c.Flags().Changed("window") {
			// bc, sqlite3, aspell -a answer some lines with nothing: with
			// more in flight, the next line's answer would already have
			// been taken for it. One at a time, the REPL is seen waiting
			// for the next line, and that request fails alone (see
			// session's lookQuiet).
			o.Window = 1
		}
		if repl.Banner > 0 && o.Framing != frame.Raw && !prompt && !c.Flags().Changed("skip-banner") && !c.Flags().Changed("ready") {
			// aspell -a's version line is no answer, whenever it comes.
			o.SkipBanner = repl.Banner
		}
	}
	return nil
}

// fill sets what cfg starts and how it frames, once check has passed:
// Target and Replicas, Grace and Unordered, and, in a framed run, Framing,
// Window, Timeout, Retries, Restart, MaxRestarts, Sentinel, SkipEmpty,
// Partials, ReadyTimeout and RecordFraming. A bad regexp is a usage error.
func (o *targetOpts) fill(cfg *session.Config) error {
	cfg.Grace, cfg.Unordered = o.Grace, o.Unordered
	if o.Connect != "" {
		return o.fillConnect(cfg)
	}
	if o.Framing != frame.Raw {
		cfg.Framing = frame.Options{Mode: o.Framing, Marker: o.Marker, MaxMessage: o.MaxLine, SkipLines: o.SkipBanner, MarkerPartials: true}
		if o.Ready != "" {
			re, err := regexp.Compile(o.Ready)
			if err != nil {
				return usageError(fmt.Errorf("bad --ready regexp: %w", err))
			}
			cfg.Framing.Ready = re
		}
		cfg.Window = o.Window
		for _, m := range []struct{ flag, re string }{{"marker-regexp", o.MarkerRE}, {"prompt", o.Prompt}} {
			if m.re == "" {
				continue
			}
			if _, err := regexp.Compile(m.re); err != nil {
				// Checked alone, so that the error shows what was typed,
				// not the anchors put around it.
				return usageError(fmt.Errorf("bad --%s regexp: %w", m.flag, err))
			}
			re, err := regexp.Compile(`^(?:` + m.re + `)$`)
			if err != nil {
				return usageError(fmt.Errorf("bad --%s regexp: %w", m.flag, err))
			}
			cfg.Framing.MarkerRE, cfg.Framing.PromptReady = re, true
			if m.flag == "prompt" {
				cfg.Framing.Ready = re
				cfg.Window = 1 // see checkFraming
			}
		}
		if err := cfg.Framing.Validate(); err != nil {
			return usageError(err)
		}
		cfg.Timeout, cfg.Retries = o.Timeout, o.Retries
		cfg.Restart, cfg.MaxRestarts = o.Restart == "on-failure", o.MaxRestarts
		cfg.SkipEmpty, cfg.Partials, cfg.ReadyTimeout = o.SkipEmpty, o.Partials, o.ReadyTimeout
		if o.SentinelSet {
			cfg.Sentinel = &o.Sentinel
		}
		cfg.RecordFraming = o.given
	}
	switch {
	case o.Image != "":
		cfg.Target = launch.Image(container.Spec{Image: o.Image, DockerArgs: o.DockerArgs, Args: o.Argv})
	case len(o.Argv) > 0:
		cfg.Target = launch.Command(o.Argv)
	case len(o.replicaArgv) > 0:
		cfg.Target = launch.Command(o.replicaArgv[0])
	default:
		// No command: the built-in demo model, this very binary.
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding pipecli's own binary to run the demo model: %w", err)
		}
		cfg.Target, cfg.Framing = launch.Model(exe, cfg.Framing)
	}
	cfg.Target.PTY = o.PTY
	for _, argv := range o.replicaArgv {
		t := launch.Command(argv)
		t.PTY = o.PTY
		for range o.Replicas {
			cfg.Replicas = append(cfg.Replicas, t)
		}
	}
	if len(cfg.Replicas) == 0 && o.Replicas > 1 {
		for range o.Replicas {
			cfg.Replicas = append(cfg.Replicas, cfg.Target)
		}
	}
	if len(cfg.Replicas) > 0 {
		cfg.Target = cfg.Replicas[0]
	}
	return nil
}

// fillConnect is fill with --connect: the child is a connection to the
// server (pipecli connect), which is checked to be listening, so that a
// server not started says so at once, not after restarts.
func (o *targetOpts) fillConnect(cfg *session.Config) error {
	path, err := serve.Resolve(o.Connect, os.Getenv, false)
	if err != nil {
		return usageError(fmt.Errorf("--connect: %w", err))
	}
	conn, err := serve.Dial(path)
	if err != nil {
		return err
	}
	conn.Close()
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding pipecli's own binary to connect with: %w", err)
	}
	cfg.Target = launch.Server(exe, path, "the connection to "+o.Connect)
	cfg.Framing = frame.Options{Mode: frame.Serve}
	cfg.Window, cfg.Timeout, cfg.Retries = o.Window, o.Timeout, o.Retries
	cfg.Restart, cfg.MaxRestarts = o.Restart == "on-failure", o.MaxRestarts
	cfg.SkipEmpty = o.SkipEmpty
	return nil
}

// limitProcs runs a framed run's goroutines on one thread. A framed run is
// a chain of short steps by a few goroutines, each waiting for the one
// before; with a second P idle, each step also wakes a thread to look for
// work, which on a small machine, where the child needs the other core,
// costs more than the steps: ping-pong requests/s at windows 8 and 64 were
// 25-30% lower with GOMAXPROCS 2 than 1. GOMAXPROCS set by the user wins.
func (o *targetOpts) limitProcs(getenv func(string) string) {
	if o.Framing != frame.Raw && getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}
