package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/model"
)

// maxWorkers bounds --workers: each reads ahead two lines, and more
// workers than CPUs only share them.
const maxWorkers = 256

type modelOpts struct {
	IO     *iostreams.IOStreams
	Serve  model.ServeOptions
	Cipher string
}

func newModelCmd(io *iostreams.IOStreams) *cobra.Command {
	o := &modelOpts{IO: io}
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Run the demo model: decrypt each ciphertext line read on stdin",
		Long: `Run the built-in demo model, a cipher breaker that speaks on stdin and stdout:
one ciphertext line in, its plaintext out, flushed at once. It recognises,
without being told, the original demo's cipher (a shift in a list of 91
characters, newline included, so one answer may span several lines), any shift
of printable ASCII, Caesar, and a substitution of a-z with a key per line.
'pipecli run' with no command runs it as its child.

A line that is a JSON object with "text" or "id" ({"id":1,"text":".."}) is
answered in JSON on one line, as --jsonl would answer it, and so is a JSON-RPC
2.0 request ({"jsonrpc":"2.0","id":1,"method":"decrypt","params":{"text":".."}}):
a jsonl client needs no flag (pipecli run --image pipe_api --framing jsonl).
Other lines, those starting with "{" included, are ciphertext. --marker ends
every answer, JSON ones too.

Up to --workers lines are solved at once, one per CPU by default. Answers
come in input order, but for JSON answers with an id, which come as soon as
they are ready, so that a client with several requests in flight gets each
when it can; under --marker every answer keeps input order.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			switch o.Cipher {
			case "auto", "shift", "substitution":
			default:
				return usageError(fmt.Errorf("--cipher must be auto, shift or substitution, not %q", o.Cipher))
			}
			if o.Serve.Workers < 0 || o.Serve.Workers > maxWorkers {
				return usageError(fmt.Errorf("--workers must be 0 (one per CPU) to %d, not %d", maxWorkers, o.Serve.Workers))
			}
			o.Serve.Family = o.Cipher
			o.Serve.UseMarker = c.Flags().Changed("marker")
			// A closed stdout kills the model with SIGPIPE, as any filter.
			return model.Serve(c.Context(), o.IO.In, o.IO.Out, o.Serve)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Cipher, "cipher", "auto", "the cipher family to break: auto, shift or substitution")
	f.BoolVar(&o.Serve.Verbose, "verbose", false, "answer over several lines: progress guesses, then the result")
	f.StringVar(&o.Serve.Marker, "marker", "", "end each answer with a line equal to `S` (may be empty)")
	f.IntVar(&o.Serve.Workers, "workers", 0, "solve up to `N` lines at once (0: one per CPU, GOMAXPROCS)")
	f.BoolVar(&o.Serve.JSONL, "jsonl", false, `speak only JSON lines: {"id":..,"text":".."} in, {"id":..,"text":"..","cipher":..,"key":..,"score":..} out; any other line is a bad request`)
	return cmd
}
