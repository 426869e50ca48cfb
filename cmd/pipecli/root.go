package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/pipecli/pipecli/internal/bench"
	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/proc"
	"github.com/pipecli/pipecli/internal/replay"
	"github.com/pipecli/pipecli/internal/serve"
	"github.com/pipecli/pipecli/internal/session"
)

// Exit codes that are pipecli's own; the child's code is passed through.
const (
	exitUsage   = 2   // a bad flag or input
	exitFailure = 125 // pipecli itself failed
)

// ExitError carries the code pipecli exits with. Err nil: already said.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageError marks a mistake in how pipecli was called.
func usageError(err error) error { return &ExitError{Code: exitUsage, Err: err} }

// run executes one pipecli command line and returns the exit code, printing
// any error once, here.
func run(args []string, io *iostreams.IOStreams) int {
	root := newRootCmd(io)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return 0
	}
	code := exitCodeOf(err)
	var (
		ee    *ExitError
		quiet interface{ Quiet() bool }
	)
	switch {
	case errors.As(err, &ee) && ee.Err == nil:
	case errors.As(err, &quiet) && quiet.Quiet():
	default:
		fmt.Fprintf(io.ErrOut, "pipecli: %v\n", err)
	}
	return code
}

// Exit codes of runs that ended badly; the child's own code is passed on.
const (
	exitRequestsFailed = 1   // some framed requests failed, or answers came unasked; bench: no warm-up request answered; replay: some records did not replay the same
	exitEOFTimeout     = 124 // --eof-timeout ran out, as timeout(1) does
	exitReaderGone     = 141 // 128+SIGPIPE: our reader went away, like any filter's
)

// exitCodeOf decides the exit code for an error, in one place.
func exitCodeOf(err error) int {
	var (
		ee *ExitError
		se *proc.StartError
		ie *session.InputError
		cf *session.ChildFailed
		in *session.Interrupted
		oc *session.OutputClosed
		et *session.EOFTimedOut
		rf *session.RequestsFailed
		ma *session.Misaligned
		wf *bench.WarmupFailed
		na *bench.NoneAnswered
		rd *replay.Differs
		bi *replay.BadInput
		ns *serve.NotServing
		sb *serve.BusyError
	)
	switch {
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &rd):
		// Before the run's own errors it may hold: a replay that
		// compared its records ends 0, 1 or 2.
		return exitRequestsFailed
	case errors.As(err, &bi), errors.As(err, &ns), errors.As(err, &sb):
		return exitUsage
	case errors.As(err, &se):
		return se.ExitCode()
	case errors.As(err, &ie):
		return exitUsage
	case errors.As(err, &oc):
		if oc.ReaderGone() {
			return exitReaderGone
		}
		return exitFailure // the output is incomplete: our failure
	case errors.As(err, &in):
		return 128 + int(in.Signal)
	case errors.As(err, &et):
		return exitEOFTimeout
	case errors.As(err, &rf), errors.As(err, &ma), errors.As(err, &wf), errors.As(err, &na):
		return exitRequestsFailed
	case errors.As(err, &cf):
		return cf.Status.ExitCode()
	}
	return exitFailure
}

func newRootCmd(io *iostreams.IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "pipecli",
		Short: "Talk to a program that reads stdin and writes stdout, over pipes",
		Long: `pipecli starts a long-running program (a model in a container, a REPL, any
filter) and talks to it over its stdin and stdout: at a prompt with history
and editing, from a file, or as part of a shell pipeline.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		// With subcommands, cobra would call an unknown one "unknown
		// command" without an exit code; say what to do instead.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError(fmt.Errorf("unknown command %q; run 'pipecli --help' for the commands", args[0]))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError(fmt.Errorf("%w; see '%s --help'", plainFlagError(cmd, err), cmd.CommandPath()))
	})
	root.AddCommand(newRunCmd(io, nil), newBenchCmd(io, nil), newReplayCmd(io, nil), newServeCmd(io, nil), newStatusCmd(io), newConnectCmd(io), newModelCmd(io), newEncryptCmd(io), newVersionCmd(io))
	return root
}

// noArgs is cobra.NoArgs as a usage error (exit 2), for commands that take
// no arguments: `docker run -i pipe_api foo` must not look like docker's
// own failure, 125.
func noArgs(c *cobra.Command, args []string) error {
	if err := cobra.NoArgs(c, args); err != nil {
		return usageError(fmt.Errorf("%w; see '%s --help'", err, c.CommandPath()))
	}
	return nil
}

// badValue is how pflag says a flag's value did not parse:
// `invalid argument "x" for "--window" flag: strconv.ParseInt: ...`.
var badValue = regexp.MustCompile(`^invalid argument "(.*)" for "(?:-\w, )?--([\w-]+)" flag: `)

// plainFlagError says a value that did not parse in words, by the flag's
// type, rather than with the Go parser's error; other errors are err.
func plainFlagError(cmd *cobra.Command, err error) error {
	m := badValue.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	f := cmd.Flags().Lookup(m[2])
	if f == nil {
		return err
	}
	var want string
	switch f.Value.Type() {
	case "int", "int64", "int32", "uint", "uint64":
		want = "a whole number"
	case "float64", "float32":
		want = "a number"
	case "duration":
		want = "a duration with its unit, such as 500ms, 10s or 2m"
	case "bool":
		want = "true or false"
	default:
		return err
	}
	return fmt.Errorf("--%s must be %s, not %q", m[2], want, m[1])
}
