package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/session"
)

// runOpts are `pipecli run`'s options: the target's, and its own (where the
// input comes from, where the output goes, and how it is shown).
type runOpts struct {
	IO *iostreams.IOStreams
	targetOpts
	File        string
	Output      string
	EOFTimeout  time.Duration
	NoHistory   bool
	NoColor     bool
	RawTerminal bool
	JSON        bool
	Stats       bool
	Quiet       bool
}

func newRunCmd(io *iostreams.IOStreams, runF func(*runOpts) error) *cobra.Command {
	o := &runOpts{IO: io}
	o.FramedOnly = []string{"json", "stats"}
	cmd := &cobra.Command{
		Use:   "run [flags] [-- COMMAND ARGS...]",
		Short: "Start COMMAND (default: the demo model) and talk to it: at a prompt, from a file or from stdin",
		Long: `Start COMMAND (never through a shell) and talk to it full duplex: input is
written to its stdin while its stdout is printed the moment it arrives.

Input: --file PATH if given ("-" is stdin); otherwise a prompt when stdin is a
terminal; otherwise stdin as a stream. Output: stdout, or --output PATH. The
child's stderr goes to stderr. When the input ends, the child's stdin is closed
and pipecli waits for it to finish.

With no COMMAND, the built-in demo model ('pipecli model') is the child.
With --image IMG, the child is 'docker run -i --rm --init --name pipecli-<id>
-e PYTHONUNBUFFERED=1 [--docker-arg ARG...] IMG [COMMAND ARGS...]', and the
container is removed however pipecli ends.

At the prompt, lines that start with ':' are pipecli's commands:
` + session.PromptHelp + `

Exit status:
  the child's  the child exited by itself (a code other than 0 is also said)
  1            with --framing: some requests failed (timeout, child died past
               its --retries), or answers came that no request waited for
  2            usage or input error: a bad flag, a missing --file
  124          the child still ran --eof-timeout after its input ended
  125          pipecli's own failure, or docker could not run the container
  126          COMMAND cannot be executed
  127          COMMAND not found, or the interpreter on its #! line
  128+N        the child was killed by signal N, or pipecli got signal N
               (130: Ctrl-C)
  141          the output was closed by its reader, as in 'pipecli run | head -1'`,
		Example: `  pipecli run --file testdata/crypt.txt
  pipecli run -- python3 -u model.py
  pipecli run --file input.txt -- docker run -i --rm pipe_api
  pipecli run --image pipe_api_py --docker-arg --gpus=all
  pipecli run -j 4 --file input.txt -- python3 -u model.py
  pipecli run --replica 'ssh -T gpu1 docker run -i --rm pipe_api' --replica 'ssh -T gpu2 docker run -i --rm pipe_api' --file input.txt
  pipecli run --pty -- grep error
  cat input.txt | pipecli run -- sort > sorted.txt`,
		RunE: func(c *cobra.Command, args []string) error {
			o.Argv = args
			if err := o.check(c); err != nil {
				return err
			}
			if o.EOFTimeout < 0 {
				return usageError(fmt.Errorf("--eof-timeout must not be negative"))
			}
			if runF != nil {
				return runF(o)
			}
			return runRun(c.Context(), o)
		},
	}
	f := cmd.Flags()
	// Flags stop at the command, so `pipecli run sort -r` works without --.
	f.SetInterspersed(false)
	o.addFlags(f)
	o.addCompletions(cmd)
	f.StringVarP(&o.File, "file", "f", "", "read input from `PATH` (\"-\" for stdin) instead of the prompt")
	f.StringVarP(&o.Output, "output", "o", "", "write the child's output to `PATH` instead of stdout")
	f.DurationVar(&o.EOFTimeout, "eof-timeout", 0, "stop the child if it still runs this long after its input ended (0: wait for it)")
	f.BoolVar(&o.NoHistory, "no-history", false, "do not read or write the prompt's history file")
	f.BoolVar(&o.NoColor, "no-color", false, "no colours (also: NO_COLOR=1)")
	f.BoolVar(&o.RawTerminal, "raw-terminal", false, "let the child's control characters reach the terminal instead of showing them escaped")
	f.BoolVar(&o.JSON, "json", false, "write one JSON record per request: id, input, output, latency_ms, attempts, replica, error, framing (the framing flags, for pipecli replay)")
	f.BoolVar(&o.Stats, "stats", false, "print request counts, throughput and latency percentiles on stderr at the end")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "no progress bar (shown on stderr, when it is a terminal, in framed runs from a file or stdin)")
	return cmd
}

func runRun(ctx context.Context, o *runOpts) error {
	o.IO.SetColor(o.NoColor)
	cfg := session.Config{
		File:          o.File,
		Output:        o.Output,
		EOFTimeout:    o.EOFTimeout,
		HasEOFTimeout: true,
		RawTerminal:   o.RawTerminal,
		JSON:          o.JSON,
		Stats:         o.Stats,
		Quiet:         o.Quiet,
	}
	o.limitProcs(o.IO.Getenv)
	if err := o.fill(&cfg); err != nil {
		return err
	}
	if !o.NoHistory {
		cfg.HistoryFile = session.HistoryPath(o.IO.Getenv)
	}
	// Before session.Run creates the output, which truncates it.
	stdin, _ := o.IO.In.(*os.File)
	stdout, _ := o.IO.Out.(*os.File)
	if err := session.CheckSameFile(o.File, o.Output, stdin, stdout); err != nil {
		return err
	}
	_, err := session.Run(ctx, cfg, o.IO)
	return err
}
