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

type runOpts struct {
	IO          *iostreams.IOStreams
	Argv        []string
	File        string
	Output      string
	Grace       time.Duration
	EOFTimeout  time.Duration
	NoHistory   bool
	NoColor     bool
	RawTerminal bool
}

func newRunCmd(io *iostreams.IOStreams, runF func(*runOpts) error) *cobra.Command {
	o := &runOpts{IO: io}
	cmd := &cobra.Command{
		Use:   "run [flags] [-- COMMAND ARGS...]",
		Short: "Start COMMAND (default: the demo model) and talk to it: at a prompt, from a file or from stdin",
		Long: `Start COMMAND (never through a shell) and talk to it full duplex: input is
written to its stdin while its stdout is printed the moment it arrives.

Input: --file PATH if given ("-" is stdin); otherwise a prompt when stdin is a
terminal; otherwise stdin as a stream. Output: stdout, or --output PATH. The
child's stderr goes to stderr. When the input ends, the child's stdin is closed
and pipecli waits for it to finish.

With no COMMAND, the built-in demo model ('pipecli model') is the child.`,
		Example: `  pipecli run --file testdata/crypt.txt
  pipecli run -- python3 -u model.py
  pipecli run --file input.txt -- docker run -i --rm pipe_api
  cat input.txt | pipecli run -- sort > sorted.txt`,
		RunE: func(c *cobra.Command, args []string) error {
			o.Argv = args
			if o.Grace <= 0 {
				return usageError(fmt.Errorf("--grace must be more than 0, not %s", o.Grace))
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
	f.StringVarP(&o.File, "file", "f", "", "read input from `PATH` (\"-\" for stdin) instead of the prompt")
	f.StringVarP(&o.Output, "output", "o", "", "write the child's output to `PATH` instead of stdout")
	f.DurationVar(&o.Grace, "grace", 5*time.Second, "when stopping the child: wait this long after closing its stdin, then after SIGTERM, before SIGKILL")
	f.DurationVar(&o.EOFTimeout, "eof-timeout", 0, "stop the child if it still runs this long after its input ended (0: wait for it)")
	f.BoolVar(&o.NoHistory, "no-history", false, "do not read or write the prompt's history file")
	f.BoolVar(&o.NoColor, "no-color", false, "no colours (also: NO_COLOR=1)")
	f.BoolVar(&o.RawTerminal, "raw-terminal", false, "let the child's control characters reach the terminal instead of showing them escaped")
	return cmd
}

func runRun(ctx context.Context, o *runOpts) error {
	o.IO.SetColor(o.NoColor)
	cfg := session.Config{
		Argv:        o.Argv,
		File:        o.File,
		Output:      o.Output,
		Grace:       o.Grace,
		EOFTimeout:  o.EOFTimeout,
		RawTerminal: o.RawTerminal,
	}
	if len(o.Argv) == 0 {
		// No command: the built-in demo model, this very binary, over
		// real pipes like any other child.
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding pipecli's own binary to run the demo model: %w", err)
		}
		cfg.Argv, cfg.Path, cfg.Name = []string{"pipecli", "model"}, exe, "the demo model"
	}
	if !o.NoHistory {
		cfg.HistoryFile = session.HistoryPath(o.IO.Getenv)
	}
	res, err := session.Run(ctx, cfg, o.IO)
	if err != nil {
		return err
	}
	name := cfg.Name
	if name == "" {
		name = commandName(cfg.Argv)
	}
	switch {
	case res.OutputClosed:
		// Like any filter whose reader went away (`yes | head -1`): quiet, 128+SIGPIPE.
		return &ExitError{Code: 141}
	case res.Interrupted != 0:
		return &ExitError{Code: 128 + int(res.Interrupted)}
	case res.TimedOut:
		return &ExitError{Code: 124, Err: fmt.Errorf("%s was still running %s after its input ended (--eof-timeout); stopped it", name, o.EOFTimeout)}
	case res.Quit:
		return nil
	case !res.Status.Success():
		return &ExitError{Code: res.Status.ExitCode(), Err: fmt.Errorf("%s %s", name, res.Status)}
	}
	return nil
}
