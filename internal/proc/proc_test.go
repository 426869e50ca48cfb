package proc_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/proc"
	"github.com/pipecli/pipecli/internal/testchild"
)

// The test binary plays the child when asked to, as in os/exec's tests.
func TestMain(m *testing.M) {
	if os.Getenv("PROC_TEST_CHILD") == "1" {
		os.Exit(testchild.Main(os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

// child returns argv and env that run testchild with args.
func child(args ...string) ([]string, []string) {
	return append([]string{os.Args[0]}, args...), append(os.Environ(), "PROC_TEST_CHILD=1")
}

func run(t *testing.T, argv, env []string, stdin io.Reader) (proc.Status, string, string) {
	t.Helper()
	var out, errOut iostreams.Buffer
	c, err := proc.Start(argv, proc.Options{Stdin: stdin, Stdout: &out, Stderr: &errOut, Grace: 5 * time.Second, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return st, out.String(), errOut.String()
}

func TestRoundTrip(t *testing.T) {
	argv, env := child("-upper", "-stderr", "warming up")
	st, out, errOut := run(t, argv, env, strings.NewReader("hello\nworld\n"))
	if !st.Success() {
		t.Errorf("status = %v, want success", st)
	}
	if out != "HELLO\nWORLD\n" {
		t.Errorf("stdout = %q", out)
	}
	if errOut != "warming up\n" {
		t.Errorf("stderr = %q", errOut)
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		want     proc.Status
		exitCode int
		text     string
	}{
		{"success", []string{"-exit", "0"}, proc.Status{}, 0, "exited with code 0"},
		{"code", []string{"-exit", "3"}, proc.Status{Code: 3}, 3, "exited with code 3"},
		{"signal", []string{"-kill-self"}, proc.Status{Signal: syscall.SIGKILL}, 137, "was killed by signal 9 (SIGKILL)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv, env := child(tt.args...)
			st, _, _ := run(t, argv, env, nil)
			if st != tt.want {
				t.Errorf("status = %+v, want %+v", st, tt.want)
			}
			if st.ExitCode() != tt.exitCode {
				t.Errorf("ExitCode() = %d, want %d", st.ExitCode(), tt.exitCode)
			}
			if st.String() != tt.text {
				t.Errorf("String() = %q, want %q", st.String(), tt.text)
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	notExec := dir + "/data.txt"
	if err := os.WriteFile(notExec, []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := func(name, text string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noInterp := script("nointerp.py", "#!/usr/bin/pipecli-no-such-python -u\nprint(1)\n")
	crlf := script("crlf.sh", "#!/bin/sh\r\necho hi\r\n")
	spaced := script("spaced.sh", "#! \t/usr/bin/pipecli-no-such-sh\techo\n")
	tests := []struct {
		argv []string
		code int
		msg  string
	}{
		{[]string{"pipecli-no-such-command"}, 127, `"pipecli-no-such-command" not found in $PATH`},
		{[]string{dir + "/missing"}, 127, `"` + dir + `/missing" not found; check the command after --`},
		{[]string{notExec}, 126, "cannot be executed"},
		{[]string{dir}, 126, "cannot be executed"},
		{[]string{noInterp}, 127, `"` + noInterp + `" cannot run: its interpreter /usr/bin/pipecli-no-such-python (from its #! line) is not found; install it or correct the #! line`},
		{[]string{crlf}, 127, `"` + crlf + `" cannot run: its #! line ends with a carriage return (Windows line ends), so its interpreter "/bin/sh\r" is not found; convert the script to Unix line ends (dos2unix)`},
		{[]string{spaced}, 127, "its interpreter /usr/bin/pipecli-no-such-sh (from its #! line)"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.argv[0]), func(t *testing.T) {
			_, err := proc.Start(tt.argv, proc.Options{Grace: time.Second})
			var se *proc.StartError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *StartError", err)
			}
			if se.ExitCode() != tt.code {
				t.Errorf("ExitCode() = %d, want %d", se.ExitCode(), tt.code)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

// Stop escalates: a child that ignores its stdin closing and SIGTERM is
// killed; one that ends at EOF is not signalled at all.
func TestStopStages(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		grace time.Duration
		want  proc.StopStage
	}{
		{"ends at EOF", nil, time.Minute, proc.StoppedByEOF},
		{"ends at SIGTERM", []string{"-no-read"}, 50 * time.Millisecond, proc.StoppedByTERM},
		{"needs SIGKILL", []string{"-no-read", "-ignore-signals"}, 50 * time.Millisecond, proc.StoppedByKILL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv, env := child(append(tt.args, "-print", `ready\n`)...)
			ready := make(chan struct{})
			out := &notifyWriter{match: "ready", ch: ready}
			pr, pw := io.Pipe() // a source that never ends by itself
			defer pw.Close()
			c, err := proc.Start(argv, proc.Options{Stdin: pr, Stdout: out, Grace: tt.grace, Env: env})
			if err != nil {
				t.Fatal(err)
			}
			<-ready // signals are only ignored once the child says so
			c.Stop()
			<-c.Exited()
			stage, stopped := c.StoppedBy()
			if !stopped || stage != tt.want {
				t.Errorf("StoppedBy() = %v, %v; want %v, true", stage, stopped, tt.want)
			}
			if _, err := c.Wait(); err != nil {
				t.Error(err)
			}
		})
	}
}

// Terminate sends SIGTERM at once, not Grace after closing stdin, even
// when Stop is already waiting; SIGKILL still follows after Grace.
func TestTerminate(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		grace     time.Duration
		stopFirst bool
		want      proc.StopStage
		status    proc.Status
	}{
		{"SIGTERM at once", []string{"-no-read"}, time.Hour, false, proc.StoppedByTERM, proc.Status{Signal: syscall.SIGTERM}},
		{"after Stop", []string{"-no-read"}, time.Hour, true, proc.StoppedByTERM, proc.Status{Signal: syscall.SIGTERM}},
		{"then SIGKILL", []string{"-no-read", "-ignore-signals"}, 50 * time.Millisecond, false, proc.StoppedByKILL, proc.Status{Signal: syscall.SIGKILL}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv, env := child(append(tt.args, "-print", `ready\n`)...)
			ready := make(chan struct{})
			out := &notifyWriter{match: "ready", ch: ready}
			c, err := proc.Start(argv, proc.Options{Stdout: out, Grace: tt.grace, Env: env})
			if err != nil {
				t.Fatal(err)
			}
			<-ready // signals are only ignored once the child says so
			if tt.stopFirst {
				c.Stop()
			}
			c.Terminate()
			// Not a measure of time: only a guard against waiting the
			// hour of Grace.
			select {
			case <-c.Exited():
			case <-time.After(time.Minute):
				c.Kill()
				t.Fatal("the child still runs a minute after Terminate: its Grace was waited")
			}
			stage, stopped := c.StoppedBy()
			if !stopped || stage != tt.want {
				t.Errorf("StoppedBy() = %v, %v; want %v, true", stage, stopped, tt.want)
			}
			st, err := c.Wait()
			if err != nil || st != tt.status {
				t.Errorf("Wait() = %+v, %v; want %+v", st, err, tt.status)
			}
		})
	}
}

// notifyWriter closes ch once it has seen match.
type notifyWriter struct {
	mu    sync.Mutex
	seen  string
	match string
	ch    chan struct{}
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch != nil {
		w.seen += string(p)
		if strings.Contains(w.seen, w.match) {
			close(w.ch)
			w.ch = nil
		}
	}
	return len(p), nil
}

// A background job of the child's that holds its output open is part of
// the child: once the child exits, its process group is stopped, so that
// the job neither keeps Wait waiting nor outlives the child. A job that
// let go of the output is left alone; a holder outside the group cannot
// keep Wait waiting more than Grace.
func TestBackgroundJobHoldingPipes(t *testing.T) {
	tests := []struct {
		name     string
		script   string
		pty      bool
		survives bool
		needs    string // a program the script needs
	}{
		{"job holds the pipes", "sleep 60 & echo $!", false, false, ""},
		{"job holds the terminal", "sleep 60 & echo $!", true, false, ""},
		{"job holds stderr only", "sleep 60 >/dev/null & echo $!", false, false, ""},
		{"job ignores SIGTERM", "(trap '' TERM; exec sleep 60) & echo $!", false, false, ""},
		// The pids are said once the job has let go, or left the group.
		{"job let go of the output", "(exec >/dev/null 2>&1; touch ready; exec sleep 60) & until [ -e ready ]; do sleep 0.01; done; echo $!", false, true, ""},
		{"holder outside the group", "setsid sh -c 'echo $$ > pid; exec sleep 60' & until [ -s pid ]; do sleep 0.01; done; cat pid", false, true, "setsid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needs != "" {
				if _, err := exec.LookPath(tt.needs); err != nil {
					t.Skipf("no %s: %v", tt.needs, err)
				}
			}
			var out iostreams.Buffer
			c, err := proc.Start([]string{"sh", "-c", tt.script}, proc.Options{Stdout: &out, Grace: time.Second, PTY: tt.pty, Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			st, err := c.Wait()
			if err != nil || !st.Success() {
				t.Fatalf("Wait() = %v, %v", st, err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(out.String()))
			if err != nil {
				t.Fatalf("stdout = %q, want the job's pid", out.String())
			}
			defer syscall.Kill(pid, syscall.SIGKILL)
			if tt.survives && !running(pid) {
				t.Errorf("the job (pid %d) is gone", pid)
			}
			if !tt.survives && !ended(pid) {
				t.Errorf("the job (pid %d) is still running", pid)
			}
		})
	}
}

// ended waits for process pid to end. Its output closed is not the end:
// a process closes its files on the way out, before it is a zombie.
func ended(pid int) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if !running(pid) {
			return true
		}
	}
	return false
}

// running reports whether process pid exists and is not a zombie: a job
// whose parent exited is reaped by init, which, in a container, may never
// do it.
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// A failing stdout sink is reported and closes the child's stdout, so a
// child that keeps writing dies of SIGPIPE as in a shell pipeline.
func TestOutputFailed(t *testing.T) {
	c, err := proc.Start([]string{"yes"}, proc.Options{Stdout: failWriter{}, Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	<-c.OutputFailed()
	if !errors.Is(c.OutputErr(), errFull) {
		t.Errorf("OutputErr() = %v", c.OutputErr())
	}
	st, _ := c.Wait()
	if st.Signal != syscall.SIGPIPE {
		t.Errorf("status = %v, want killed by SIGPIPE", st)
	}
}

// stderr is drained whatever happens to its sink: a child flooding stderr
// must still finish.
func TestStderrDrainedWhenSinkFails(t *testing.T) {
	argv, env := child("-flood-err", "5000000", "-print", `done\n`)
	var out iostreams.Buffer
	c, err := proc.Start(argv, proc.Options{Stdout: &out, Stderr: failWriter{}, Grace: time.Second, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := c.Wait()
	if !st.Success() || out.String() != "done\n" {
		t.Errorf("status %v, stdout %q", st, out.String())
	}
}

// A child that exits with input still unsent: not an error, but reported.
func TestInputCut(t *testing.T) {
	big := strings.NewReader(strings.Repeat("x", 8<<20))
	c, err := proc.Start([]string{"head", "-c", "1"}, proc.Options{Stdin: big, Stdout: io.Discard, Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Wait()
	if err != nil || !st.Success() {
		t.Fatalf("Wait() = %v, %v", st, err)
	}
	if !c.InputCut() {
		t.Error("InputCut() = false, want true")
	}
}

var errFull = errors.New("sink full")

type failWriter struct{}

func (failWriter) Write(p []byte) (int, error) { return 0, errFull }

// ballast makes the test n bytes larger, in memory it touches: a child
// shares the test's memory until exec, and wait4 would count it.
func ballast(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 1
	}
	return b
}

// A child given input and answering is measured while it still runs, when
// its stdin is closed.
func TestPeakRSSAtEOF(t *testing.T) {
	const mib = 1 << 20
	defer runtime.KeepAlive(ballast(64 * mib))
	for _, tt := range []struct {
		name     string
		argv     []string
		ready    string // what it writes once at work
		min, max int64
	}{
		// awk holds a 64 MiB string until it reads EOF.
		{"awk", []string{"awk", `BEGIN { s = "x"; while (length(s) < 64 * 1048576) s = s s; print "ready"; fflush(); while ((getline l) > 0) {} }`}, "ready", 64 * mib, 512 * mib},
		// cat, small: its own size, not this test's.
		{"cat", []string{"cat"}, "hello", 64 << 10, 32 * mib},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			ready := make(chan struct{})
			c, err := proc.Start(tt.argv, proc.Options{Stdin: pr, Stdout: &signalWriter{want: tt.ready, seen: ready}, Stderr: io.Discard, Grace: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pw.Write([]byte("hello\n")); err != nil {
				t.Fatal(err)
			}
			<-ready
			pw.Close()
			if _, err := c.Wait(); err != nil {
				t.Fatal(err)
			}
			if got := c.PeakRSS(); got < tt.min || got > tt.max {
				t.Errorf("PeakRSS() = %d bytes; want %d to %d", got, tt.min, tt.max)
			}
		})
	}
}

// signalWriter closes seen once what it was written holds want.
type signalWriter struct {
	mu   sync.Mutex
	buf  []byte
	want string
	seen chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := strings.Contains(string(w.buf), w.want)
	w.buf = append(w.buf, p...)
	if !had && strings.Contains(string(w.buf), w.want) {
		close(w.seen)
	}
	return len(p), nil
}

// A child signalled before its work ended (Ctrl-C in a warm-up) is
// measured then, at its own size: wait4's figure would count this test's.
func TestPeakRSSSignalled(t *testing.T) {
	const mib = 1 << 20
	defer runtime.KeepAlive(ballast(64 * mib))
	pr, pw := io.Pipe()
	defer pw.Close()
	c, err := proc.Start([]string{"sh", "-c", "read l; echo started; exec sleep 30"}, proc.Options{Stdin: pr, Stdout: io.Discard, Stderr: io.Discard, Grace: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pw.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // sleep runs
	if err := c.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	if got := c.PeakRSS(); got < 64<<10 || got > 32*mib {
		t.Errorf("PeakRSS() = %d bytes; want 64 KiB to 32 MiB, sh's and sleep's", got)
	}
}

// PeakRSS is the child's peak memory once it has been waited for, that
// of the processes it waited for itself included: a model behind a
// wrapper (sh -c, a launcher script) counts.
func TestPeakRSS(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name     string
		argv     []string
		stdin    io.Reader
		min, max int64
	}{
		// With no input, the peak is wait4's, which also counts this
		// test's memory, shared until exec (see TestPeakRSSOwn): only
		// the lower bound says anything.
		{"go child", []string{os.Args[0], "-exit", "0"}, nil, 1 * mib, 1 << 40},
		// dd touches its 64 MiB buffer; sh waits for it.
		{"behind sh", []string{"sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; exit 0"}, nil, 64 * mib, 1 << 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, env := child()
			c, err := proc.Start(tt.argv, proc.Options{Stdin: tt.stdin, Stdout: io.Discard, Stderr: io.Discard, Grace: 5 * time.Second, Env: env})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Wait(); err != nil {
				t.Fatal(err)
			}
			if got := c.PeakRSS(); got < tt.min || got > tt.max {
				t.Errorf("PeakRSS() = %d bytes; want %d to %d", got, tt.min, tt.max)
			}
		})
	}
}
