// Package launch knows what a run starts: a local command, a container of
// an image (--image), or the built-in demo model. Each kind knows what
// messages call it, its argv, how to explain its own failures (docker's
// exit code 125), which buffering hint fits it, and what to clean up after
// it (containers docker did not remove).
package launch

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/pipecli/pipecli/internal/container"
	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/proc"
)

// Target is what a run starts, each time it needs a child. Its methods are
// called by one goroutine at a time.
type Target struct {
	// PTY makes the child's stdout a pseudo-terminal (proc.Options.PTY).
	PTY bool
	// Cmd is the pipecli command that starts it, which hints name:
	// "pipecli bench --pty"; "" is run.
	Cmd string

	argv   []string
	path   string // the program to run; "" looks argv[0] up in $PATH
	name   string // what messages call it
	image  *container.Spec
	server bool // a relay to a pipecli server (Server)
	// containers are the names of the containers started, for Cleanup.
	containers []string
}

// Command is argv, run as it is (never through a shell).
func Command(argv []string) *Target {
	return &Target{argv: argv, name: strings.TrimSpace(argv[0])}
}

// Image runs spec's image in a fresh container for each child:
// `docker run -i --rm --init --name pipecli-<id> ...`.
func Image(spec container.Spec) *Target {
	return &Target{argv: spec.Argv("pipecli-ID"), image: &spec, name: "the container of " + spec.Image}
}

// ModelAnswerEnd ends each of the demo model's answers under --framing
// line: ASCII's record separator, a control character no plaintext holds.
const ModelAnswerEnd = "\x1e"

// Model is the built-in demo model: pipecli's own binary, exe, as
// `pipecli model`, over real pipes like any other child, speaking what
// framing o needs. It returns the framing to use with it: for line and
// marker framing, marker framing on ModelAnswerEnd, as the original
// cipher's plaintext holds newlines, which one line cannot, and empty
// lines, which an empty marker cannot.
func Model(exe string, o frame.Options) (*Target, frame.Options) {
	t := &Target{argv: []string{"pipecli", "model"}, path: exe, name: "the demo model"}
	switch o.Mode {
	case frame.JSONL:
		t.argv = append(t.argv, "--jsonl")
	case frame.Line, frame.Marker:
		// Whatever marker was asked for, the model ends its answers with
		// one no plaintext holds: an empty line, say, is part of many.
		t.argv = append(t.argv, "--marker", ModelAnswerEnd)
		if o.Ready != nil && o.Ready == o.MarkerRE {
			o.Ready = nil // --prompt: the model prints none
		}
		o.Mode, o.Marker, o.MarkerRE, o.PromptReady = frame.Marker, ModelAnswerEnd, nil, false
	}
	return t, o
}

// Server is a connection to the pipecli server listening on the socket at
// path, as a child: `pipecli connect PATH`, this very binary (exe), which
// relays its stdin and stdout to the socket. Messages call it name.
func Server(exe, path, name string) *Target {
	return &Target{argv: []string{"pipecli", "connect", path}, path: exe, name: name, server: true}
}

// Name is what messages call the child.
func (t *Target) Name() string { return t.name }

// Start starts a child with o's streams and Grace: in a fresh container of
// its own for an image, which Cleanup removes should docker not have.
func (t *Target) Start(o proc.Options) (*proc.Child, error) {
	o.Path, o.PTY = t.path, t.PTY
	if t.server {
		// Killed with us, the relay hangs up at once: the server drops
		// what we queued, instead of answering it to no one.
		o.ParentDeathSignal = syscall.SIGTERM
	}
	if t.image == nil {
		return proc.Start(t.argv, o)
	}
	name := container.NewName()
	// Should we die of SIGKILL, the docker CLI still gets SIGTERM and
	// passes it on to the container, which --rm then removes.
	o.ParentDeathSignal = syscall.SIGTERM
	child, err := proc.Start(t.image.Argv(name), o)
	if err == nil {
		t.containers = append(t.containers, name)
	}
	return child, err
}

// Cleanup removes the containers this target started that are still
// there: the docker CLI removes its container when it ends normally, but
// not when it was killed (after --grace) or died. It is called once the
// children have been waited for; its error says how to finish the job.
func (t *Target) Cleanup() error {
	if len(t.containers) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, name := range t.containers {
		if _, err := container.Remove(ctx, t.image.DockerPath(), name); err != nil {
			errs = append(errs, fmt.Errorf("could not remove container %s: %w; remove it with: docker rm --force %s", name, err, name))
		}
	}
	t.containers = nil
	return errors.Join(errs...)
}

// Explain says why a child that ended with st failed to start its work,
// when the target can tell: docker's exit code 125 is docker failing to
// run the container (no such image, a bad option), which starting it
// again would not fix. stderr gives the child's last lines of stderr. It
// returns nil when st says nothing of the kind.
func (t *Target) Explain(st proc.Status, stderr func(n int) []string) error {
	if st.ExitCode() != dockerFailed || !t.runsDocker() {
		return nil
	}
	e := &ContainerError{Docker: dockerErrorLine(stderr(8))}
	if t.image != nil {
		e.Image = t.image.Image
	}
	return e
}

// runsDocker reports whether the child is a docker CLI running a container.
// pipecli is the command hints tell to run again: "pipecli run", or
// the one Cmd names.
func (t *Target) pipecli() string {
	if t.Cmd == "" {
		return "pipecli run"
	}
	return "pipecli " + t.Cmd
}

// Elsewhere reports whether the program runs elsewhere than in the child
// pipecli starts: in a container, on another host (ssh), or in a server's
// replicas. The child, a docker or ssh client or a relay, reads its input
// at once and waits for the far side: that it waits says nothing of the
// program.
func (t *Target) Elsewhere() bool {
	return t.server || t.runsDocker() || len(t.argv) > 0 && filepath.Base(t.argv[0]) == "ssh"
}

func (t *Target) runsDocker() bool {
	return t.image != nil || isDockerRun(t.argv)
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

// dockerFailed is the exit code of `docker run` when docker itself failed:
// no such image, a bad option, a daemon error.
const dockerFailed = 125

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
