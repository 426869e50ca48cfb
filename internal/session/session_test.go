package session

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/launch"
	"github.com/pipecli/pipecli/internal/proc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEscaper(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"plain text", []string{"hello, wörld\n"}, "hello, wörld\n"},
		{"tab and CRLF pass", []string{"a\tb\r\n"}, "a\tb\r\n"},
		{"CSI", []string{"\x1b[2J\x1b[31mred"}, "^[[2J^[[31mred"},
		{"OSC title and BEL", []string{"\x1b]0;pwned\x07"}, "^[]0;pwned^G"},
		{"lone CR", []string{"50%\r60%"}, "50%^M60%"},
		{"CR split from LF", []string{"a\r", "\nb"}, "a\r\nb"},
		{"CR at the very end", []string{"a\r"}, "a^M"},
		{"NUL and DEL", []string{"\x00\x7f"}, "^@^?"},
		{"C1 CSI", []string{"\u009b2J"}, `\u009b2J`},
		{"invalid UTF-8", []string{"a\xffb"}, `a\xffb`},
		{"rune split across writes", []string{"caf\xc3", "\xa9!"}, "café!"},
		{"truncated rune at the end", []string{"caf\xc3"}, `caf\xc3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			e := newEscaper(&buf)
			for _, w := range tt.writes {
				n, err := e.Write([]byte(w))
				if err != nil || n != len(w) {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if err := e.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// A restarted child's reader carries on where the old one stopped: nothing
// typed is lost, nothing is read twice.
func TestInboxHandsOver(t *testing.T) {
	b := newInbox()
	r1 := b.reader()
	b.Write([]byte("one\n"))
	buf := make([]byte, 64)
	n, err := r1.Read(buf)
	if err != nil || string(buf[:n]) != "one\n" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	b.Write([]byte("two\n"))
	r1.Close()
	if _, err := r1.Read(buf); err != io.EOF {
		t.Errorf("retired reader: err = %v, want EOF", err)
	}
	r2 := b.reader()
	b.Write([]byte("three\n"))
	b.CloseWrite()
	got, err := io.ReadAll(r2)
	if err != nil || string(got) != "two\nthree\n" {
		t.Errorf("new reader got %q, %v", got, err)
	}
}

// A Read blocked on an empty inbox ends when its reader is closed, as Stop
// does.
func TestInboxCloseWakesReader(t *testing.T) {
	b := newInbox()
	r := b.reader()
	done := make(chan error)
	go func() {
		_, err := r.Read(make([]byte, 8))
		done <- err
	}()
	r.Close()
	if err := <-done; err != io.EOF {
		t.Errorf("err = %v, want EOF", err)
	}
}

func TestHistoryPath(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_STATE_HOME": "/state", "HOME": "/home/u"}, "/state/pipecli/history"},
		{map[string]string{"XDG_STATE_HOME": "relative", "HOME": "/home/u"}, "/home/u/.local/state/pipecli/history"},
		{map[string]string{"HOME": "/home/u"}, "/home/u/.local/state/pipecli/history"},
		{map[string]string{}, ""},
	}
	for _, tt := range tests {
		if got := HistoryPath(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("HistoryPath(%v) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

func TestPrepareHistoryModes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "pipecli", "history")
	if err := prepareHistory(path); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{filepath.Dir(path): 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
}

// Run with streams that are not terminals: input streamed, output byte for
// byte, stderr unchanged, no prompt.
func TestRunStream(t *testing.T) {
	ios, in, out, errOut := iostreams.Test()
	in.WriteString("b\x00\na\xff\n")
	res, err := Run(context.Background(), Config{
		Target: launch.Command([]string{"sh", "-c", "echo warning >&2; sort"}),
		Grace:  time.Second,
	}, ios)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Status.Success() {
		t.Errorf("status = %v", res.Status)
	}
	if got := out.String(); got != "a\xff\nb\x00\n" {
		t.Errorf("stdout = %q", got)
	}
	if got := errOut.String(); got != "warning\n" {
		t.Errorf("stderr = %q", got)
	}
}

// On a terminal (faked), control characters are escaped; --raw-terminal
// lets them through.
func TestRunTerminalEscapes(t *testing.T) {
	for _, raw := range []bool{false, true} {
		ios, _, out, _ := iostreams.Test()
		ios.OutTTY = true
		_, err := Run(context.Background(), Config{
			Target:      launch.Command([]string{"printf", `\033[2Jhi\n`}),
			Grace:       time.Second,
			RawTerminal: raw,
		}, ios)
		if err != nil {
			t.Fatal(err)
		}
		want := "^[[2Jhi\n"
		if raw {
			want = "\x1b[2Jhi\n"
		}
		if out.String() != want {
			t.Errorf("raw=%v: stdout = %q, want %q", raw, out.String(), want)
		}
	}
}

func TestRunOutputFileAndErrors(t *testing.T) {
	dir := t.TempDir()
	ios, in, out, _ := iostreams.Test()
	in.WriteString("x\n")
	outPath := filepath.Join(dir, "out.txt")
	if _, err := Run(context.Background(), Config{Target: launch.Command([]string{"cat"}), Output: outPath, Grace: time.Second}, ios); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(outPath); string(got) != "x\n" || out.Len() != 0 {
		t.Errorf("output file %q, stdout %q", got, out.String())
	}

	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing input", Config{Target: launch.Command([]string{"cat"}), File: filepath.Join(dir, "nope")}, "cannot read --file"},
		{"unwritable output", Config{Target: launch.Command([]string{"cat"}), Output: filepath.Join(dir, "no", "dir")}, "cannot write --output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, _ := iostreams.Test()
			tt.cfg.Grace = time.Second
			_, err := Run(context.Background(), tt.cfg, ios)
			var ie *InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want an InputError saying %q", err, tt.want)
			}
		})
	}
}

// Cancelling the context stops a child that would never end by itself.
func TestRunCancel(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	pr, pw := io.Pipe()
	defer pw.Close()
	ios.In = pr
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	ios.Out = writerFunc(func(p []byte) (int, error) {
		select {
		case <-ready:
		default:
			close(ready)
		}
		return len(p), nil
	})
	done := make(chan Result)
	go func() {
		res, _ := Run(ctx, Config{Target: launch.Command([]string{"sh", "-c", "echo up; exec sleep 60"}), Grace: 50 * time.Millisecond}, ios)
		done <- res
	}()
	<-ready
	cancel()
	res := <-done
	if res.Status != (proc.Status{Signal: 15}) {
		t.Errorf("status = %v, want killed by SIGTERM", res.Status)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
