package main

import (
	"testing"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/iostreams"
)

// With --connect, the flags that say what to start and how it frames its
// answers are the server's: each is refused, with where it belongs.
func TestConnectFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		err  string
	}{
		{"plain", []string{"--connect", "cipher"}, ""},
		{"caller's flags", []string{"--connect", "cipher", "--window", "8", "--timeout", "1s", "--json", "--stats", "--unordered", "--skip-empty"}, ""},
		{"a path", []string{"--connect", "/tmp/x.sock"}, ""},
		{"empty", []string{"--connect", ""}, "--connect needs a server's name, or its socket's path"},
		{"command", []string{"--connect", "cipher", "--", "cat"}, "with --connect, the server's replicas answer: give the command to pipecli serve, not after --"},
		{"-j", []string{"--connect", "cipher", "-j", "2"}, "--replicas is the server's: give it to pipecli serve"},
		{"replica", []string{"--connect", "cipher", "--replica", "cat"}, "--replica is the server's"},
		{"image", []string{"--connect", "cipher", "--image", "pipe_api"}, "--image is the server's"},
		{"pty", []string{"--connect", "cipher", "--pty"}, "--pty is the server's"},
		{"framing", []string{"--connect", "cipher", "--framing", "jsonl"}, "--framing is the server's"},
		{"marker", []string{"--connect", "cipher", "--marker", "END"}, "--marker is the server's"},
		{"ready", []string{"--connect", "cipher", "--ready", "x"}, "--ready is the server's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, _, _, _ := iostreams.Test()
			var got *runOpts
			err := execFlags(newRunCmd(io, func(o *runOpts) error { got = o; return nil }), tt.args)
			if tt.err != "" {
				wantUsage(t, err, tt.err)
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want none", err)
			}
			if got.Framing != frame.Serve {
				t.Errorf("framing %v; want serve", got.Framing)
			}
		})
	}
}

func TestServeFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		err     string
		framing frame.Mode
	}{
		{"default", nil, "", frame.Line},
		{"jsonl", []string{"--framing", "jsonl", "--", "cat"}, "", frame.JSONL},
		{"marker", []string{"--marker", "END", "--", "cat"}, "", frame.Marker},
		{"raw", []string{"--framing", "raw"}, "a server tells each caller's answers apart: it needs --framing line, marker or jsonl, not raw", 0},
		{"connect", []string{"--connect", "x"}, "serve starts its own replicas; --connect is for pipecli run, bench and replay", 0},
		{"name and socket", []string{"--name", "a", "--socket", "/tmp/a.sock"}, "--name and --socket each say where to listen; give one", 0},
		{"name with a slash", []string{"--name", "a/b"}, `--name "a/b" is a plain name, without "/"; for a path, give --socket PATH`, 0},
		{"client window", []string{"--client-window", "0"}, "--client-window must be 1 or more, not 0", 0},
		{"max request", []string{"--max-request", "10"}, "--max-request must be 64 bytes or more, not 10", 0},
		{"unordered", []string{"--unordered"}, "--unordered is the caller's, not the server's: give it to pipecli run --connect", 0},
		{"skip-empty", []string{"--skip-empty"}, "--skip-empty is the caller's", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, _, _, _ := iostreams.Test()
			var got *serveOpts
			err := execFlags(newServeCmd(io, func(o *serveOpts) error { got = o; return nil }), tt.args)
			if tt.err != "" {
				wantUsage(t, err, tt.err)
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want none", err)
			}
			if got.Framing != tt.framing {
				t.Errorf("framing %v; want %v", got.Framing, tt.framing)
			}
		})
	}
}
