package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/serve"
	"github.com/pipecli/pipecli/internal/session"
)

// serveOpts are `pipecli serve`'s options: the target's (the pool), and
// where it listens and how much one caller may ask at once.
type serveOpts struct {
	IO *iostreams.IOStreams
	targetOpts
	Name         string
	Socket       string
	ClientWindow int
	MaxRequest   int
}

func newServeCmd(io *iostreams.IOStreams, runF func(*serveOpts) error) *cobra.Command {
	o := &serveOpts{IO: io}
	cmd := &cobra.Command{
		Use:   "serve [--name NAME | --socket PATH] [flags] [-- COMMAND ARGS...]",
		Short: "Keep replicas of COMMAND (default: the demo model) warm, and share them with any caller over a Unix socket",
		Long: `Start a pool of replicas of COMMAND (never through a shell; default: the demo
model), supervised as 'pipecli run' supervises them (restarts, --retries,
--ready), and share it with any number of callers on this machine over a Unix
socket: 'pipecli run --connect NAME' (also bench and replay), 'pipecli status
NAME', or any program that speaks the protocol below. No HTTP, no port.

The socket is $XDG_RUNTIME_DIR/pipecli/NAME.sock (else NAME.sock in a 0700
directory of yours under the temporary directory), or --socket PATH; its mode
is 0600 and only your user may connect (the peer's uid is checked too). A
socket left by a server that crashed is replaced; one a server listens on is
not.

Each caller gets only its own answers, in the order of its requests; the
callers take turns, one request each, so that a long batch does not make a
person at a prompt wait behind it; each may have --client-window requests
under way. A caller that goes away has its queued requests dropped.

The server runs in the foreground, its messages and the replicas' stderr on
stderr. It says "ready" once its replicas are. SIGTERM or Ctrl-C drains it:
it takes no new callers or requests, finishes those under way (for at most
--grace), stops the replicas and removes the socket; a second signal stops it
at once.

Protocol: JSON lines. The server greets each connection with
  {"pipecli":"serve","version":1,"framing":"line","replicas":2,"serving":"..."}
A request is {"id":ID,"input":"LINE"}, ID a string or number of the caller's
choosing (in a jsonl pool "input" may be a JSON object). Answers come in the
order of the requests:
  {"id":ID,"output":"TEXT","latency_ms":1.5,"replica":1}   (jsonl: the object)
  {"id":ID,"error":"why"}
A line that is not a request, or is longer than --max-request, gets
{"id":null,"error":"..."} in its place; {"status":true} gets the status.

Exit status: 0 after a drain; 2 for a bad flag, or a server already listening
on the socket; 128+N for a second signal N; 127 and 126 when the command
cannot start; 125 when every replica kept dying (--max-restarts).`,
		Example: `  pipecli serve --name cipher -j 2
  pipecli run --connect cipher --file testdata/crypt.txt
  pipecli status cipher
  pipecli serve --name py --image pipe_api_py -j 2
  pipecli serve --socket /tmp/m.sock --replica 'ssh -T gpu1 docker run -i --rm pipe_api'
  socat - UNIX-CONNECT:$XDG_RUNTIME_DIR/pipecli/cipher.sock`,
		RunE: func(c *cobra.Command, args []string) error {
			o.Argv = args
			if err := o.checkServe(c); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return runServe(c.Context(), o)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	o.addFlags(f)
	o.addCompletions(cmd)
	_ = f.MarkHidden("connect")
	f.StringVar(&o.Name, "name", "default", "the server's `NAME`: its socket is NAME.sock in $XDG_RUNTIME_DIR/pipecli")
	f.StringVar(&o.Socket, "socket", "", "listen on the socket at `PATH` instead of a name's")
	f.IntVar(&o.ClientWindow, "client-window", 64, "requests one caller may have under way (read, not yet answered); beyond, the server reads no more of its requests")
	f.IntVar(&o.MaxRequest, "max-request", 1<<20, "the longest request line, in `BYTES`; a longer one gets an error answer")
	return cmd
}

// checkServe validates serve's flags: the target's, framed (line unless
// said otherwise: a pool must tell answers apart), and its own.
func (o *serveOpts) checkServe(c *cobra.Command) error {
	f := c.Flags()
	switch {
	case f.Changed("connect"):
		return usageError(fmt.Errorf("serve starts its own replicas; --connect is for pipecli run, bench and replay"))
	case f.Changed("name") && f.Changed("socket"):
		return usageError(fmt.Errorf("--name and --socket each say where to listen; give one"))
	case f.Changed("socket") && o.Socket == "":
		return usageError(fmt.Errorf("--socket needs a path"))
	case strings.Contains(o.Name, "/"):
		return usageError(fmt.Errorf("--name %q is a plain name, without \"/\"; for a path, give --socket PATH", o.Name))
	case o.ClientWindow < 1:
		return usageError(fmt.Errorf("--client-window must be 1 or more, not %d", o.ClientWindow))
	case o.MaxRequest < 64:
		return usageError(fmt.Errorf("--max-request must be 64 bytes or more, not %d", o.MaxRequest))
	}
	for _, name := range []string{"unordered", "skip-empty", "partials"} {
		if f.Changed(name) {
			return usageError(fmt.Errorf("--%s is the caller's, not the server's: give it to pipecli run --connect", name))
		}
	}
	if !f.Changed("framing") && !f.Changed("prompt") {
		mode := frame.Line
		if f.Changed("marker") || f.Changed("marker-regexp") {
			mode = frame.Marker // what they say goes with it
		}
		if err := f.Set("framing", mode.String()); err != nil {
			return err
		}
	}
	if err := o.check(c); err != nil {
		return err
	}
	if o.Framing == frame.Raw {
		return usageError(fmt.Errorf("a server tells each caller's answers apart: it needs --framing line, marker or jsonl, not raw"))
	}
	return nil
}

func runServe(ctx context.Context, o *serveOpts) error {
	cfg := session.Config{}
	o.limitProcs(o.IO.Getenv)
	if err := o.fill(&cfg); err != nil {
		return err
	}
	path, err := serve.Resolve(o.Name, o.IO.Getenv, true)
	if o.Socket != "" {
		path, err = filepath.Abs(o.Socket) // a path, "/" or not
	}
	if err != nil {
		return usageError(err)
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	return serve.Run(ctx, serve.Config{
		Socket:       path,
		Pool:         cfg,
		ClientWindow: o.ClientWindow,
		MaxRequest:   o.MaxRequest,
		Grace:        o.Grace,
		Signals:      sigs,
		Log:          o.IO.ErrOut,
		UID:          os.Getuid(),
		Getenv:       o.IO.Getenv,
	})
}
