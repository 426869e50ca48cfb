package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/serve"
)

func newStatusCmd(ios *iostreams.IOStreams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [NAME | PATH]",
		Short: "Show a server's replicas, callers, requests and latency",
		Long: `Show what the server called NAME (default: default), or listening on the socket
at PATH, is doing: its replicas and their load, the callers connected, the
requests answered and failed, and the latency percentiles of the last 10,000.

Exit status: 0; 2 when no server listens there.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError(fmt.Errorf("status takes one server's name or socket path, not %d", len(args)))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			where := "default"
			if len(args) == 1 {
				where = args[0]
			}
			path, err := serve.Resolve(where, ios.Getenv, false)
			if err != nil {
				return usageError(err)
			}
			st, err := serve.QueryStatus(path)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(ios.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			return st.WriteText(ios.Out)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status document as JSON")
	return cmd
}

// newConnectCmd is the child `pipecli run --connect` starts: it relays its
// stdin and stdout to a server's socket, as ssh relays a remote replica's.
func newConnectCmd(ios *iostreams.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:    "connect PATH",
		Short:  "Relay stdin and stdout to the server on the socket at PATH",
		Hidden: true,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(fmt.Errorf("connect takes a socket's path"))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			return serve.Relay(args[0], pollable(ios.In), ios.Out)
		},
	}
}

// pollable makes in, when it is a pipe or socket, non-blocking, so that
// closing it stops a read in progress (os.File does it for pollable
// files only).
func pollable(in io.Reader) io.ReadCloser {
	f, ok := in.(*os.File)
	if !ok {
		return io.NopCloser(in)
	}
	if err := syscall.SetNonblock(int(f.Fd()), true); err != nil {
		return f
	}
	return os.NewFile(f.Fd(), f.Name())
}
