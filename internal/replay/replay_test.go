package replay

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/launch"
	"github.com/pipecli/pipecli/internal/session"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Run with real children: each answer goes to its record, and how the
// replay ends says how they compare.
func TestRun(t *testing.T) {
	const records = `{"input":"one","output":"one"}` + "\n" + `{"input":"two","output":"two"}` + "\n"
	tests := []struct {
		name    string
		records string
		argv    []string
		update  bool
		report  string // a line of the report
		err     string // "" for none; else what the *Differs says
		after   string // with update: the file after
	}{
		{name: "same", records: records, argv: []string{"cat"}, report: "replayed 2 record(s) from golden.jsonl: 2 same, 0 changed, 0 failed"},
		{name: "changed", records: records, argv: []string{"sed", "-u", "s/two/three/"}, report: "    [-two-]{+three+}", err: "1 record(s) changed, 0 failed"},
		{name: "failed", records: records, argv: []string{"sh", "-c", "read a; echo $a; kill -9 $$"}, report: `line 2 failed: "two": sh was killed by signal 9 (SIGKILL)`, err: "0 record(s) changed, 1 failed"},
		{name: "exited with an error", records: records, argv: []string{"sh", "-c", "cat; exit 3"}, report: "2 same", err: "sh exited with code 3"},
		{
			name: "update", records: records, argv: []string{"sed", "-u", "s/two/three/"}, update: true,
			report: "updated 1 record(s) in golden.jsonl",
			after:  `{"input":"one","output":"one"}` + "\n" + `{"input":"two","output":"three"}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			if err := os.WriteFile("golden.jsonl", []byte(tt.records), 0o644); err != nil {
				t.Fatal(err)
			}
			recs, err := Load("golden.jsonl", nil)
			if err != nil {
				t.Fatal(err)
			}
			ios, _, out, _ := iostreams.Test()
			cfg := session.Config{
				Target:  launch.Command(tt.argv),
				Framing: frame.Options{Mode: frame.Line},
				Grace:   5 * time.Second,
				Retries: 0,
			}
			err = Run(context.Background(), recs, cfg, Options{Update: tt.update}, ios)
			if !strings.Contains(out.String(), tt.report) {
				t.Errorf("report:\n%s\nwant a line %q", out, tt.report)
			}
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("err = %v, want none", err)
			case tt.err != "":
				var d *Differs
				if !errors.As(err, &d) || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err = %v, want a *Differs saying %q", err, tt.err)
				}
			}
			if tt.after != "" {
				data, _ := os.ReadFile(filepath.Join(dir, "golden.jsonl"))
				if string(data) != tt.after {
					t.Errorf("after the update:\n%s\nwant\n%s", data, tt.after)
				}
			}
		})
	}
}

// A child that cannot start: its error, and no report.
func TestRunNotStarted(t *testing.T) {
	recs, err := Parse("golden.jsonl", []byte(`{"input":"a","output":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	ios, _, out, _ := iostreams.Test()
	cfg := session.Config{Target: launch.Command([]string{"no-such-command-here"}), Framing: frame.Options{Mode: frame.Line}, Grace: time.Second}
	err = Run(context.Background(), recs, cfg, Options{}, ios)
	var d *Differs
	if err == nil || errors.As(err, &d) || out.Len() > 0 {
		t.Errorf("err = %v, report %q; want the start error and no report", err, out)
	}
}

// A replay stopped by a signal counts the records that ended on their own;
// those cut short by the signal, or never sent, are not.
func TestReplayed(t *testing.T) {
	answered := &Got{Output: raw(`"a"`)}
	failed := &Got{Failed: true, Err: "no answer within --timeout 1s"}
	inFlight := &Got{Failed: true, Err: "interrupted"}
	notSent := &Got{Failed: true, Err: "not sent: interrupted"}
	tests := []struct {
		name string
		got  []*Got
		want int
	}{
		{"none", []*Got{nil, nil}, 0},
		{"answered and failed count", []*Got{answered, failed, nil}, 2},
		{"cut short does not", []*Got{answered, inFlight, notSent}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := replayed(tt.got); got != tt.want {
				t.Errorf("replayed = %d, want %d", got, tt.want)
			}
		})
	}
}

// Interrupted says what became of the replay, and keeps the signal's.
func TestInterrupted(t *testing.T) {
	err := error(&Interrupted{Replayed: 3, Records: 300, Err: &session.Interrupted{Signal: 2}})
	if want := "replay interrupted after 3 of 300 records; no report, nothing updated"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	var in *session.Interrupted
	if !errors.As(err, &in) || in.Signal != 2 {
		t.Errorf("does not wrap the signal: %v", in)
	}
	var quiet interface{ Quiet() bool }
	if !errors.As(err, &quiet) || quiet.Quiet() {
		t.Error("quiet; it must be said")
	}
}
