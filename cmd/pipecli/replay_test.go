package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/replay"
	"github.com/pipecli/pipecli/internal/session"
)

// RECORDS comes before --, the command after it; the framing, when no flag
// gives one, comes from the records.
func TestReplayFlags(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "text.jsonl")
	objects := filepath.Join(dir, "objects.jsonl")
	if err := os.WriteFile(text, []byte(`{"input":"a","output":"A"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(objects, []byte(`{"input":"a","output":{"id":1,"text":"A"}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// made with the framing of README's sqlite3 example, and a banner
	sq := filepath.Join(dir, "sq.jsonl")
	if err := os.WriteFile(sq, []byte(`{"input":"create table t(a);","output":"","framing":{"mode":"marker","marker":"--END--","sentinel":".print --END--","skip_banner":1}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mixed := filepath.Join(dir, "mixed.jsonl")
	if err := os.WriteFile(mixed, []byte(`{"input":"a","output":"A","framing":{"mode":"line"}}`+"\n"+`{"input":"b","output":"B","framing":{"mode":"jsonl"}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		err     string // "" for none
		framing frame.Mode
		argv    []string
		given   string // the framing flags it replays with, if not ""
	}{
		{"text records: line", []string{text, "--", "cat", "-u"}, "", frame.Line, []string{"cat", "-u"}, ""},
		{"flags after RECORDS", []string{text, "-j", "2", "--", "cat"}, "", frame.Line, []string{"cat"}, ""},
		{"no command: the demo model", []string{text}, "", frame.Line, nil, ""},
		{"object records: jsonl", []string{objects, "--", "cat"}, "", frame.JSONL, []string{"cat"}, ""},
		{"object records, replicas: jsonl", []string{objects, "-j", "2", "--", "cat"}, "", frame.JSONL, []string{"cat"}, ""},
		{"--framing wins", []string{objects, "--framing", "line", "--", "cat"}, "", frame.Line, []string{"cat"}, ""},
		{"--marker picks marker", []string{text, "--marker", "END", "--", "cat"}, "", frame.Marker, []string{"cat"}, ""},
		{"--prompt picks marker", []string{text, "--prompt", "> ", "--", "cat"}, "", frame.Marker, []string{"cat"}, ""},
		{"--ignore-field with jsonl", []string{objects, "--ignore-field", "meta.time", "--", "cat"}, "", frame.JSONL, []string{"cat"}, ""},
		{"the records' framing", []string{sq, "--", "sqlite3"}, "", frame.Marker, []string{"sqlite3"}, "--framing marker --marker --END-- --sentinel '.print --END--' --skip-banner 1"},
		{"the records' framing, replicas", []string{sq, "-j", "2", "--", "sqlite3"}, "", frame.Marker, []string{"sqlite3"}, "--framing marker --marker --END-- --sentinel '.print --END--' --skip-banner 1"},
		{"--framing replaces the records' whole", []string{sq, "--framing", "line", "--", "cat"}, "", frame.Line, []string{"cat"}, "--framing line"},
		{"--prompt replaces the records'", []string{sq, "--prompt", "sqlite> ", "--", "sqlite3", "-interactive"}, "", frame.Marker, []string{"sqlite3", "-interactive"}, "--framing marker --prompt 'sqlite> '"},
		{"--sentinel replaces the records' framing whole", []string{sq, "--sentinel", "x", "--", "cat"}, "--sentinel is a line that makes the child print the marker", 0, nil, ""},
		{"--skip-banner replaces the records' framing whole", []string{sq, "--skip-banner", "2", "--", "sqlite3"}, "", frame.Line, []string{"sqlite3"}, "--framing line --skip-banner 2"},
		{"records made with different framings", []string{mixed, "--", "cat"}, "mixed.jsonl:2: made with other framing flags (--framing jsonl) than line 1 (--framing line); replay them apart, or give the framing flags to use", 0, nil, ""},
		{"records made with different framings, and flags", []string{mixed, "--framing", "line", "--", "cat"}, "", frame.Line, []string{"cat"}, "--framing line"},
		{"no records", []string{"--", "cat"}, "give the records to replay", 0, nil, ""},
		{"no --", []string{text, "cat"}, "put the command after --", 0, nil, ""},
		{"two files", []string{text, objects, "--", "cat"}, "give one RECORDS file before --, not 2", 0, nil, ""},
		{"raw", []string{text, "--framing", "raw", "--", "cat"}, "it needs --framing line, marker or jsonl, not raw", 0, nil, ""},
		{"--ignore-field with text", []string{text, "--ignore-field", "time", "--", "cat"}, "--ignore-field time: with --framing line the answers are text", 0, nil, ""},
		{"--ignore-field empty step", []string{objects, "--ignore-field", "a..b", "--", "cat"}, `"a..b" is not a field name`, 0, nil, ""},
		{"--update from stdin", []string{"-", "--update", "--", "cat"}, "--update rewrites the records file", 0, nil, ""},
		{"--skip-empty", []string{text, "--skip-empty", "--", "cat"}, "--skip-empty does not go with replay", 0, nil, ""},
		{"missing file", []string{filepath.Join(dir, "none"), "--", "cat"}, "cannot read the records", 0, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, _, _, _ := iostreams.Test()
			var got *replayOpts
			err := execFlags(newReplayCmd(io, func(o *replayOpts) error { got = o; return nil }), tt.args)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				if got.Framing != tt.framing {
					t.Errorf("framing %v, want %v", got.Framing, tt.framing)
				}
				if strings.Join(got.Argv, " ") != strings.Join(tt.argv, " ") {
					t.Errorf("argv %q, want %q", got.Argv, tt.argv)
				}
				if given := replay.FlagsText(got.given); tt.given != "" && given != tt.given {
					t.Errorf("framing flags %s, want %s", given, tt.given)
				}
				return
			}
			wantUsage(t, err, tt.err)
		})
	}
}

// A replay that compared its records ends 1 when some differ, whatever
// the run's own error inside says; a bad record is a usage error.
func TestReplayExitCode(t *testing.T) {
	tests := []struct {
		err  error
		code int
	}{
		{&replay.Differs{Changed: 1}, 1},
		{&replay.Differs{Err: &session.ChildFailed{Name: "x"}}, 1},
		{fmt.Errorf("replaying: %w", &replay.Differs{Err: &session.Misaligned{Answers: 2}}), 1},
		{&replay.BadInput{Path: "r.jsonl", Line: 3, Why: "not JSON"}, 2},
	}
	for _, tt := range tests {
		if code := exitCodeOf(tt.err); code != tt.code {
			t.Errorf("exitCodeOf(%v) = %d, want %d", tt.err, code, tt.code)
		}
	}
}
