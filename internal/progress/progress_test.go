package progress_test

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pipecli/pipecli/internal/progress"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// never is a refresh period no test lasts: the only frame drawn is Close's
// last one, so what a test reads does not depend on timing.
const never = time.Hour

func TestRender(t *testing.T) {
	tests := []struct {
		name     string
		cfg      progress.Config
		run      func(p *progress.Progress)
		want     []string
		dontWant []string
	}{
		{
			name: "total known",
			cfg:  progress.Config{Total: 10},
			run:  doneFailed(7, 2),
			want: []string{"7/10 [", "] 70% | ", " req/s | ETA ", " | 2 failed"},
		},
		{
			name:     "total unknown",
			cfg:      progress.Config{},
			run:      doneFailed(7, 0),
			want:     []string{"7 done | ", " req/s | 0 failed"},
			dontWant: []string{"%", "ETA", " [", "/10"},
		},
		{
			name: "total learned later",
			cfg:  progress.Config{},
			run: func(p *progress.Progress) {
				doneFailed(3, 1)(p)
				p.SetTotal(12)
			},
			want: []string{"3/12 [", "] 25% | ", " | 1 failed"},
		},
		{
			name:     "no ETA before a request ends",
			cfg:      progress.Config{Total: 5},
			run:      func(*progress.Progress) {},
			want:     []string{"0/5 [", "] 0% | 0.0 req/s | 0 failed"},
			dontWant: []string{"ETA"},
		},
		{
			name: "replica loads",
			cfg:  progress.Config{Total: 100, Replicas: 3},
			run: func(p *progress.Progress) {
				doneFailed(20, 0)(p)
				p.Load(0, 8)
				p.Load(1, 7)
				p.Load(2, 1)
				p.Load(2, 0)
			},
			want: []string{"20/100", " | 0 failed | r1:8 r2:7 r3:0"},
		},
		{
			name:     "one replica shows no load",
			cfg:      progress.Config{Replicas: 1},
			run:      func(p *progress.Progress) { p.Load(0, 4) },
			want:     []string{"0 done | "},
			dontWant: []string{"r1:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			cfg := tt.cfg
			cfg.Out, cfg.Refresh, cfg.Width = &out, never, 120
			p := progress.New(cfg)
			tt.run(p)
			if err := p.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			got := out.String()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%q", w, got)
				}
			}
			for _, w := range tt.dontWant {
				if strings.Contains(got, w) {
					t.Errorf("output has %q:\n%q", w, got)
				}
			}
			if s := screen(got); s != "" {
				t.Errorf("bar not erased at Close: the screen shows %q", s)
			}
		})
	}
}

func doneFailed(done, failed int) func(*progress.Progress) {
	return func(p *progress.Progress) {
		for i := range done {
			p.Done(i >= failed)
		}
	}
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name   string
		writes []string // before Close
		after  string   // written after Close
		want   string   // the screen after Close: the lines, no bar
	}{
		{"whole lines", []string{"one\n", "two\nthree\n"}, "", "one\ntwo\nthree\n"},
		{"a line in pieces", []string{"o", "n", "e\ntw", "o\n"}, "", "one\ntwo\n"},
		{"an unended line is ended at Close", []string{"one\nhalf"}, "", "one\nhalf\n"},
		{"a long unended line is cut", []string{strings.Repeat("x", 5000)}, "", strings.Repeat("x", 5000) + "\n"},
		{"after Close, straight out", []string{"one\n"}, "late\n", "one\nlate\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			p := progress.New(progress.Config{Out: &out, Total: 4, Refresh: never, Width: 120})
			for _, w := range tt.writes {
				if n, err := p.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if err := p.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if tt.after != "" {
				p.Write([]byte(tt.after))
			}
			if !strings.Contains(out.String(), "0/4 [") {
				t.Errorf("no bar drawn: %q", out.String())
			}
			if got := screen(out.String()); got != tt.want {
				t.Errorf("screen after Close: got %q, want %q\n(written: %q)", got, tt.want, out.String())
			}
		})
	}
}

// cursorUpErase is how mpb takes its bar off before drawing the next frame.
var cursorUpErase = regexp.MustCompile(`\x1b\[(\d+)A\x1b\[J`)

// screen plays out on a terminal, line by line, with the cursor at the start
// of a line after each frame: it keeps what remains once each erase has
// taken back its lines.
func screen(out string) string {
	var lines []string
	for {
		loc := cursorUpErase.FindStringSubmatchIndex(out)
		end := len(out)
		if loc != nil {
			end = loc[0]
		}
		lines = append(lines, strings.SplitAfter(out[:end], "\n")...)
		if loc == nil {
			return strings.Join(lines, "")
		}
		n, _ := strconv.Atoi(out[loc[2]:loc[3]])
		// SplitAfter leaves "" after a last newline: not a line.
		for lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		lines = lines[:max(len(lines)-n, 0)]
		out = out[loc[1]:]
	}
}

// TestClose checks that Close leaves no goroutine, that nothing is drawn
// after it, and that it may be called again.
func TestClose(t *testing.T) {
	var out bytes.Buffer
	p := progress.New(progress.Config{Out: &out, Total: 3, Replicas: 2, Refresh: time.Millisecond, Width: 80})
	p.Done(true)
	p.Write([]byte("message\n"))
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	closed := out.String()
	goleak.VerifyNone(t) // retries for a while: a leftover would be seen drawing
	p.Done(false)
	p.Load(1, 5)
	p.SetTotal(9)
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	goleak.VerifyNone(t)
	if got := out.String(); got != closed {
		t.Errorf("written after Close: %q", got[len(closed):])
	}
}

// TestOutFails checks that a failing stderr (closed, a full disk) neither
// hangs Close nor leaves a goroutine: mpb stops drawing and Close says why.
func TestOutFails(t *testing.T) {
	p := progress.New(progress.Config{Out: failWriter{}, Total: 3, Refresh: time.Millisecond})
	p.Done(true)
	p.Write([]byte("message\n")) // queued in mpb: its error comes at the redraw
	if err := p.Close(); !errors.Is(err, errFail) {
		t.Errorf("Close: %v, want %v", err, errFail)
	}
	goleak.VerifyNone(t)
}

var errFail = errors.New("write failed")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errFail }

// TestNoAlloc checks that what the session calls holding its mutex does not
// allocate.
func TestNoAlloc(t *testing.T) {
	p := progress.New(progress.Config{Out: new(bytes.Buffer), Replicas: 2, Refresh: never})
	defer p.Close()
	if n := testing.AllocsPerRun(100, func() {
		p.Done(true)
		p.Done(false)
		p.Load(1, 3)
		p.SetTotal(50)
	}); n != 0 {
		t.Errorf("%v allocations per run", n)
	}
}

func BenchmarkDone(b *testing.B) {
	p := progress.New(progress.Config{Out: new(bytes.Buffer), Refresh: never})
	defer p.Close()
	for b.Loop() {
		p.Done(true)
	}
}
