package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/pipecli/pipecli/internal/iostreams"
)

// The flags are checked before anything runs: a mistake is a usage error
// (exit 2) that says what is wrong.
func TestRunFlags(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		err    string // "" for none
		window int
	}{
		{"window default", []string{"--framing", "line", "--", "cat"}, "", 0},
		{"window 4", []string{"--framing", "line", "--window", "4", "--", "cat"}, "", 4},
		{"window 0", []string{"--framing", "line", "--window", "0", "--", "cat"}, "--window must be 1 or more, not 0", 0},
		{"window negative", []string{"--framing", "line", "--window", "-3", "--", "cat"}, "--window must be 1 or more, not -3", 0},
		{"window raw", []string{"--window", "4", "--", "cat"}, "--window needs --framing line, marker or jsonl", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, _, _, _ := iostreams.Test()
			var got *runOpts
			err := execFlags(newRunCmd(io, func(o *runOpts) error { got = o; return nil }), tt.args)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				if got.Window != tt.window {
					t.Errorf("Window = %d, want %d", got.Window, tt.window)
				}
				return
			}
			wantUsage(t, err, tt.err)
		})
	}
}

// --json records carry the framing flags the run was given, as JSON, so
// that a replay frames alike: what the flags imply too (-j, --prompt), and
// none in a raw run.
func TestRunRecordFraming(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // the records' "framing"; "null" for none
	}{
		{"line", []string{"--framing", "line"}, `{"mode":"line"}`},
		{"replicas imply line", []string{"-j", "2"}, `{"mode":"line"}`},
		{"jsonl", []string{"--framing", "jsonl"}, `{"mode":"jsonl"}`},
		{"marker and sentinel", []string{"--framing", "marker", "--marker", "--END--", "--sentinel", ".print --END--"}, `{"mode":"marker","marker":"--END--","sentinel":".print --END--"}`},
		{"an empty marker", []string{"--framing", "marker", "--marker", ""}, `{"mode":"marker","marker":""}`},
		{"marker regexp", []string{"--framing", "marker", "--marker-regexp", "END|FIN"}, `{"mode":"marker","marker_regexp":"END|FIN"}`},
		{"prompt implies marker", []string{"--prompt", "sqlite> "}, `{"mode":"marker","prompt":"sqlite> "}`},
		{"banner", []string{"--framing", "line", "--ready", "^ready$", "--skip-banner", "2"}, `{"mode":"line","ready":"^ready$","skip_banner":2}`},
		{"raw", nil, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, _, _, _ := iostreams.Test()
			var got *runOpts
			args := append(append([]string(nil), tt.args...), "--", "cat")
			if err := execFlags(newRunCmd(io, func(o *runOpts) error { got = o; return nil }), args); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false) // as the records are written
			if err := enc.Encode(got.given); err != nil {
				t.Fatal(err)
			}
			if s := strings.TrimSuffix(b.String(), "\n"); s != tt.want {
				t.Errorf("framing %s, want %s", s, tt.want)
			}
		})
	}
}

// execFlags executes cmd, made with a runF that runs nothing, with args, as
// the root would: a test of its flags alone.
func execFlags(cmd *cobra.Command, args []string) error {
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetArgs(args)
	return cmd.Execute()
}

// wantUsage checks that err is a usage error (exit 2) that says want.
func wantUsage(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || exitCodeOf(err) != exitUsage {
		t.Fatalf("err = %v, want a usage error", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q, want %q", err, want)
	}
}
