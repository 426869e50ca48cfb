package session

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/pipecli/pipecli/internal/container"
	"github.com/pipecli/pipecli/internal/proc"
)

// startChild starts the configured command with o's streams and Grace: in
// a fresh container of its own when the config names an image, a container
// removeContainers removes at the end should docker not have.
func (s *session) startChild(o proc.Options) (*proc.Child, error) {
	argv := s.cfg.Argv
	o.Path, o.PTY, o.Grace = s.cfg.Path, s.cfg.PTY, s.cfg.Grace
	if c := s.cfg.Container; c != nil {
		name := container.NewName()
		argv, o.Path = c.Argv(name), ""
		// Should we die of SIGKILL, the docker CLI still gets SIGTERM
		// and passes it on to the container, which --rm then removes.
		o.ParentDeathSignal = syscall.SIGTERM
		child, err := proc.Start(argv, o)
		if err == nil {
			s.containers = append(s.containers, name)
		}
		return child, err
	}
	return proc.Start(argv, o)
}

// hintAfter is how long a child may stay silent after input, while more
// may come, before bufferingHint is given.
const hintAfter = 3 * time.Second

// removeContainers removes the containers this run started that are still
// there: the docker CLI removes its container when it ends normally, but
// not when it was killed (after --grace) or died. It is called once the
// children have been waited for.
func (s *session) removeContainers() {
	if len(s.containers) == 0 {
		return
	}
	docker := s.cfg.Container.DockerPath()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range s.containers {
		if _, err := container.Remove(ctx, docker, name); err != nil {
			s.say("could not remove container %s: %v; remove it with: docker rm --force %s", name, err, name)
		}
	}
	s.containers = nil
}

// bufferingHint is what to say when the child, alive, has been sent input
// and answered nothing for silent: it may be holding its output in a
// buffer, as C stdio and Python do when stdout is not a terminal. The fix
// named is the one that fits how it runs.
func (s *session) bufferingHint(silent time.Duration) string {
	what := fmt.Sprintf("%s has answered nothing for %s since it was sent input", s.name(), silent.Truncate(time.Second))
	argv := s.cfg.Argv
	switch {
	case s.cfg.Container != nil:
		return what + "; if the program in the container buffers its output, make it flush each answer (Python is already told to: PYTHONUNBUFFERED=1; C stdio: stdbuf -oL in the image's entrypoint)"
	case isDockerRun(argv):
		return what + "; if the program in the container buffers its output, --pty cannot reach it: add -e PYTHONUNBUFFERED=1 to docker run (Python), or use pipecli run --image IMAGE, which does"
	case s.cfg.PTY:
		return what + "; its stdout is a terminal (--pty), so it is not stdio buffering: it may be busy, or waiting for more input"
	case isPython(argv):
		return what + "; Python buffers its output on a pipe: run python3 -u, set PYTHONUNBUFFERED=1, or use pipecli run --pty"
	}
	return what + "; if it buffers its output when it is not on a terminal (C stdio: grep, tr, awk, sed), use pipecli run --pty, or make it flush each answer (stdbuf -oL, grep --line-buffered)"
}

// isDockerRun reports whether argv runs a container with the docker (or
// podman) CLI, where --pty would reach the CLI but not the container.
func isDockerRun(argv []string) bool {
	if len(argv) < 2 {
		return false
	}
	switch filepath.Base(argv[0]) {
	case "docker", "podman", "nerdctl":
		return slices.Contains(argv[1:], "run") || slices.Contains(argv[1:], "exec")
	}
	return false
}

// isPython reports whether argv runs Python without -u.
func isPython(argv []string) bool {
	if len(argv) == 0 || !strings.HasPrefix(filepath.Base(argv[0]), "python") {
		return false
	}
	for _, a := range argv[1:] {
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			break // the script or -c: Python's own options are before it
		}
		if a == "-u" || (strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Contains(a[1:], "u")) {
			return false
		}
	}
	return true
}

// dockerFailed is the exit code of `docker run` when docker itself failed:
// no such image, a bad option, a daemon error.
const dockerFailed = 125

// runsDocker reports whether the child is a docker CLI running a container.
func (s *session) runsDocker() bool {
	return s.cfg.Container != nil || isDockerRun(s.cfg.Argv)
}

// ContainerError is docker failing to run the container (exit code 125),
// with what docker said.
type ContainerError struct {
	Image  string // "" when the command was given, not --image
	Docker string // docker's error line
}

func (e *ContainerError) Error() string {
	what := "the container"
	if e.Image != "" {
		what = fmt.Sprintf("a container of image %s", e.Image)
	}
	if e.Docker == "" {
		return fmt.Sprintf("docker could not run %s (exit code %d)", what, dockerFailed)
	}
	return fmt.Sprintf("docker could not run %s (exit code %d): %s", what, dockerFailed, e.Docker)
}

// containerError makes a ContainerError of docker's last words.
func (s *session) containerError(stderr *tailWriter) *ContainerError {
	e := &ContainerError{Docker: dockerErrorLine(stderr.lastLines(8))}
	if s.cfg.Container != nil {
		e.Image = s.cfg.Container.Image
	}
	return e
}

// dockerErrorLine picks docker's error line from the last lines of its
// stderr, without its "docker: " and final period. After the error, docker
// gives advice, which is no reason: for a bad option (docker 28)
//
//	unknown flag: --bogusopt
//
//	Usage:  docker run [OPTIONS] IMAGE [COMMAND] [ARG...]
//
//	Run 'docker run --help' for more information
//
// and "See 'docker run --help'." in older versions.
func dockerErrorLine(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "Run '") || strings.HasPrefix(l, "See '") || strings.HasPrefix(l, "Usage:") {
			continue
		}
		return strings.TrimSuffix(strings.TrimPrefix(l, "docker: "), ".")
	}
	return ""
}
