package proc_test

import (
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/proc"
)

// With PTY the child's stdout, and only its stdout, is a terminal, in raw
// mode: its bytes arrive as written, and nothing we send is echoed.
func TestPTYStdoutOnly(t *testing.T) {
	script := `test -t 0 && echo "stdin is a terminal"
test -t 1 && printf 'stdout is a terminal\n\tbytes\r kept\n'
test -t 2 && echo "stderr is a terminal" >&2
read line; echo "got $line"`
	var out, errOut iostreams.Buffer
	c, err := proc.Start([]string{"sh", "-c", script}, proc.Options{
		Stdin: strings.NewReader("typed\n"), Stdout: &out, Stderr: &errOut, Grace: 5 * time.Second, PTY: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Wait()
	if err != nil || !st.Success() {
		t.Fatalf("Wait = %v, %v", st, err)
	}
	if got, want := out.String(), "stdout is a terminal\n\tbytes\r kept\ngot typed\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if errOut.String() != "" {
		t.Errorf("stderr = %q, want nothing", errOut.String())
	}
}

// The point of PTY: a program that buffers its output on a pipe (here
// Python, without -u) answers each line at once on a terminal, while its
// stdin stays open.
func TestPTYLineBuffers(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("skipping: no python3 to play a block-buffering program")
	}
	prog := "import sys\nfor line in sys.stdin:\n    print(line.strip().upper())\n"
	// Python as it runs by default: not told to write unbuffered.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PYTHONUNBUFFERED=") })
	for _, pty := range []bool{false, true} {
		pr, pw := io.Pipe()
		var out iostreams.Buffer
		c, err := proc.Start([]string{"python3", "-c", prog}, proc.Options{
			Stdin: pr, Stdout: &out, Grace: 5 * time.Second, PTY: pty, Env: env,
		})
		if err != nil {
			t.Fatal(err)
		}
		pw.Write([]byte("hello\n"))
		answered := false
		for deadline := time.Now().Add(1500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if out.String() == "HELLO\n" {
				answered = true
				break
			}
		}
		if answered != pty {
			t.Errorf("PTY %v: answered before EOF = %v (stdout %q)", pty, answered, out.String())
		}
		pw.Close()
		if st, err := c.Wait(); err != nil || !st.Success() {
			t.Errorf("PTY %v: Wait = %v, %v", pty, st, err)
		}
		if out.String() != "HELLO\n" {
			t.Errorf("PTY %v: stdout at the end = %q", pty, out.String())
		}
	}
}

// A grandchild holding the terminal open cannot hold us past Grace, as with
// a pipe.
func TestPTYGrandchildHoldsTerminal(t *testing.T) {
	var out iostreams.Buffer
	start := time.Now()
	c, err := proc.Start([]string{"sh", "-c", "sleep 30 & echo x"}, proc.Options{
		Stdout: &out, Grace: 200 * time.Millisecond, PTY: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Wait()
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Wait took %v with a grandchild holding the terminal", d)
	}
	if out.String() != "x\n" {
		t.Errorf("stdout = %q", out.String())
	}
	c.Signal(9)
}
