package bench

import (
	"context"
	"encoding/json"
	"errors"
	"os"
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

func side(name string, argv ...string) Side {
	return Side{Name: name, Session: session.Config{
		Target:  launch.Command(argv),
		Grace:   5 * time.Second,
		Framing: frame.Options{Mode: frame.Line},
	}}
}

// Run measures each side at each window, in rounds, on the same requests,
// and reports them all: here two commands that answer each line with
// itself, one of which records what it was sent.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	src, err := BytesSource([]byte("a\nb\nc\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	ios, _, out, errOut := iostreams.Test()
	err = Run(context.Background(), Config{
		Sides: []Side{
			side("cat", "cat"),
			side("tee", "sh", "-c", `tee -a "$1"`, "sh", dir+"/sent.txt"),
		},
		Windows:  []int{1, 4},
		Source:   src,
		Requests: 5,
		Warmup:   1,
		Rounds:   2,
		Replicas: 1,
		JSON:     true,
		// No terminal, but the progress line drawn all the same.
		Progress: true,
	}, ios)
	if err != nil {
		t.Fatalf("Run: %v; stderr %q", err, errOut)
	}
	var r Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Sides) != 2 || len(r.Ratios) != 2 || r.Rounds != 2 || r.Warmup != 1 {
		t.Fatalf("report: %s", out)
	}
	for _, s := range r.Sides {
		for i, p := range s.Points {
			if p.Window != []int{1, 4}[i] || p.Runs != 2 || p.Answered != 5 || p.Warmup != 2 || p.Errors != 0 || len(p.StartupMS) != 2 {
				t.Errorf("%s at window %d: %+v", s.Name, p.Window, p)
			}
		}
	}
	// The rounds went on through the requests: 1 warm-up and 3 measured
	// in the first round (b c a); in the second, 2 measured after them (b
	// c), and a warm-up that is the line before those, at each window.
	sent, err := os.ReadFile(dir + "/sent.txt")
	if err != nil {
		t.Fatal(err)
	}
	round := "a\nb\nc\na\n" + "a\nb\nc\n"
	if string(sent) != round+round {
		t.Errorf("the second side was sent %q; want %q twice", sent, round)
	}
}

// A command that cannot start: nothing measured, nothing reported, and
// the error says why.
func TestRunNotFound(t *testing.T) {
	src, _ := BytesSource([]byte("a\n"), false)
	ios, _, out, _ := iostreams.Test()
	err := Run(context.Background(), Config{
		Sides: []Side{side("x", "pipecli-no-such-command")}, Windows: []int{1}, Source: src, Requests: 1, Replicas: 1,
	}, ios)
	if err == nil || !strings.Contains(err.Error(), "not found") || out.Len() != 0 {
		t.Errorf("err %v, output %q; want not found, no report", err, out)
	}
}

// Failed requests are reported, then said by the error: exit status 1.
func TestRunFailed(t *testing.T) {
	src, _ := BytesSource([]byte("a\nkill\nb\n"), false)
	ios, _, out, _ := iostreams.Test()
	s := side("dies on kill", "sh", "-c", `while read l; do [ "$l" = kill ] && kill -9 $$; echo "$l"; done`)
	s.Session.Retries, s.Session.Restart, s.Session.MaxRestarts = 1, true, 5
	err := Run(context.Background(), Config{
		Sides: []Side{s}, Windows: []int{1}, Source: src, Requests: 3, Warmup: 0, Replicas: 1,
	}, ios)
	var rf *session.RequestsFailed
	if !errors.As(err, &rf) || rf.Failed != 1 || rf.Total != 3 {
		t.Fatalf("err %v; want 1 of 3 requests failed", err)
	}
	if !strings.Contains(out.String(), "window 1: 1 of 3 requests failed (0 timeouts, 1 unanswered as their child ended, 0 not sent); 2 child deaths") {
		t.Errorf("report:\n%s", out)
	}
}

// The progress line is drawn over, and cleared before anything else is
// written through it.
func TestLiveLine(t *testing.T) {
	var b strings.Builder
	l := &liveLine{w: &b}
	l.draw("10 requests")
	l.draw("20 requests")
	l.Write([]byte("a message\n"))
	l.clear()
	l.draw("30 requests")
	l.clear()
	want := "10 requests" + clearLine + "20 requests" + clearLine + "a message\n" + "30 requests" + clearLine
	if b.String() != want {
		t.Errorf("got %q; want %q", b.String(), want)
	}
}
