package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Status is how a child ended: an exit code, or the signal that killed it.
type Status struct {
	Code   int            // the exit code when Signal is 0
	Signal syscall.Signal // the signal that killed it, or 0
}

// ExitCode is the code a shell would report: the exit code, or 128+N when
// the child was killed by signal N.
func (s Status) ExitCode() int {
	if s.Signal != 0 {
		return 128 + int(s.Signal)
	}
	return s.Code
}

// Success reports whether the child exited with code 0.
func (s Status) Success() bool { return s.Signal == 0 && s.Code == 0 }

func (s Status) String() string {
	if s.Signal != 0 {
		return fmt.Sprintf("was killed by signal %d (%s)", int(s.Signal), unix.SignalName(s.Signal))
	}
	return fmt.Sprintf("exited with code %d", s.Code)
}

func statusOf(ps *os.ProcessState, err error) Status {
	if ps == nil {
		return Status{Code: 125}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return Status{Signal: ws.Signal()}
	}
	return Status{Code: ps.ExitCode()}
}

// peakRSS is ps's ru_maxrss in bytes (Linux gives KiB), 0 if unknown.
func peakRSS(ps *os.ProcessState) int64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok && ru != nil {
		return int64(ru.Maxrss) * 1024
	}
	return 0
}

// StartError says why a command could not be started.
type StartError struct {
	Name string
	Err  error
	// Interpreter is what the #! line of the script Name names, when that
	// is what is missing: exec then fails as if the script were.
	Interpreter string
}

func (e *StartError) Error() string {
	switch {
	case e.Interpreter != "" && strings.HasSuffix(e.Interpreter, "\r"):
		return fmt.Sprintf("%q cannot run: its #! line ends with a carriage return (Windows line ends), so its interpreter %q is not found; convert the script to Unix line ends (dos2unix)", e.Name, e.Interpreter)
	case e.Interpreter != "":
		return fmt.Sprintf("%q cannot run: its interpreter %s (from its #! line) is not found; install it or correct the #! line", e.Name, e.Interpreter)
	case e.NotFound():
		if errors.Is(e.Err, exec.ErrNotFound) {
			return fmt.Sprintf("%q not found in $PATH; check the command after --", e.Name)
		}
		return fmt.Sprintf("%q not found; check the command after --", e.Name)
	case e.NotExecutable():
		return fmt.Sprintf("%q cannot be executed (%v); check it is a program and has execute permission", e.Name, errors.Unwrap(e.Err))
	}
	return fmt.Sprintf("cannot start %q: %v", e.Name, e.Err)
}

func (e *StartError) Unwrap() error { return e.Err }

// NotFound reports whether there is no such command.
func (e *StartError) NotFound() bool {
	return errors.Is(e.Err, exec.ErrNotFound) || errors.Is(e.Err, fs.ErrNotExist)
}

// NotExecutable reports whether the command exists but cannot be run.
func (e *StartError) NotExecutable() bool {
	return errors.Is(e.Err, fs.ErrPermission) || errors.Is(e.Err, syscall.ENOEXEC) || errors.Is(e.Err, syscall.EISDIR)
}

// ExitCode is what a shell exits with for this failure: 127 or 126.
func (e *StartError) ExitCode() int {
	switch {
	case e.NotFound():
		return 127
	case e.NotExecutable():
		return 126
	}
	return 125
}

// missingInterpreter returns the interpreter that path's #! line names
// when exec failed with ENOENT because that interpreter does not exist,
// as the kernel says of the script itself: "" otherwise. dir is the
// directory the child was to start in, where relative paths are.
func missingInterpreter(path, dir string, err error) string {
	if !errors.Is(err, syscall.ENOENT) {
		return ""
	}
	in := func(p string) string {
		if dir != "" && !filepath.IsAbs(p) {
			return filepath.Join(dir, p)
		}
		return p
	}
	f, err := os.Open(in(path))
	if err != nil {
		return "" // the script itself is missing
	}
	defer f.Close()
	// The kernel reads no more of the #! line than this (BINPRM_BUF_SIZE).
	buf := make([]byte, 256)
	n, _ := io.ReadFull(f, buf)
	line, ok := bytes.CutPrefix(buf[:n], []byte("#!"))
	if !ok {
		return "" // an ELF binary whose loader is missing, say
	}
	line, _, _ = bytes.Cut(line, []byte("\n"))
	// Spaces and tabs separate; a carriage return does not.
	interp, _, _ := bytes.Cut(bytes.TrimLeft(line, " \t"), []byte(" "))
	interp, _, _ = bytes.Cut(interp, []byte("\t"))
	if len(interp) == 0 {
		return ""
	}
	if _, err := os.Stat(in(string(interp))); err == nil {
		return "" // there, but something else it needs is not
	}
	return string(interp)
}

// groupPeakRSS is the largest VmHWM of the processes in process group pgid,
// in bytes, from /proc; 0 if none could be read.
func groupPeakRSS(pgid int) int64 {
	var peak int64
	for _, pid := range groupPIDs(pgid) {
		peak = max(peak, vmHWM(pid))
	}
	return peak
}

// groupPIDs lists the processes of process group pgid, from /proc; none
// if it cannot be read.
func groupPIDs(pgid int) []int {
	dir, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range dir {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pid != pgid {
			if g, err := syscall.Getpgid(pid); err != nil || g != pgid {
				continue
			}
		}
		pids = append(pids, pid)
	}
	return pids
}

// vmHWM is process pid's peak resident set size in bytes, from the VmHWM
// line of /proc/PID/status; 0 if it cannot be read (a zombie has none).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v) // "12345 kB"
			if len(f) == 2 && f[1] == "kB" {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return kb * 1024
				}
			}
		}
	}
	return 0
}
