// Package container turns `pipecli run --image IMG` into the docker command
// that runs IMG, and removes the containers it named however pipecli ends.
package container

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Spec says what container to run.
type Spec struct {
	Image string
	// DockerArgs go to `docker run` before the image (--docker-arg).
	DockerArgs []string
	// Args go after the image: the container's command, or its
	// entrypoint's arguments.
	Args []string
	// Docker is the docker CLI to run; "" is "docker".
	Docker string
}

// NewName returns a container name of our own, fresh for each start:
// "pipecli-" and 12 random hex digits.
func NewName() string {
	b := make([]byte, 6)
	rand.Read(b) // never fails (crypto/rand)
	return "pipecli-" + hex.EncodeToString(b)
}

// DockerPath is the docker CLI the spec runs.
func (s Spec) DockerPath() string {
	if s.Docker == "" {
		return "docker"
	}
	return s.Docker
}

// Argv is the command that runs the image in a container called name:
// stdin kept open (-i) and no terminal, so that the container's stdin and
// stdout are docker's pipes; removed when it stops (--rm); with an init
// process (--init) that forwards the signals docker passes on and reaps
// zombies; and with Python told not to buffer its output, since a process
// in a container cannot be given our pseudo-terminal.
func (s Spec) Argv(name string) []string {
	argv := []string{s.DockerPath(), "run", "-i", "--rm", "--init", "--name", name, "-e", "PYTHONUNBUFFERED=1"}
	argv = append(argv, s.DockerArgs...)
	argv = append(argv, s.Image)
	return append(argv, s.Args...)
}

// Remove removes the container name, running or not, unless it is already
// gone, and waits until it is. removed reports whether it was still there:
// the docker CLI had not removed it (it was killed, or the daemon's --rm
// had not finished).
func Remove(ctx context.Context, docker, name string) (removed bool, err error) {
	out, err := dockerOut(ctx, docker, "rm", "--force", name)
	switch {
	case err == nil:
		return true, nil
	case noSuch(out):
		return false, nil
	case !strings.Contains(out, "already in progress"):
		return false, fmt.Errorf("docker rm --force %s: %s", name, oneLine(out, err))
	}
	// The daemon is removing it (--rm): wait until it has.
	for {
		out, err := dockerOut(ctx, docker, "container", "inspect", "--format", "{{.State.Status}}", name)
		if err != nil && noSuch(out) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("container %s was still being removed: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func dockerOut(ctx context.Context, docker string, args ...string) (string, error) {
	var b bytes.Buffer
	cmd := exec.CommandContext(ctx, docker, args...)
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

func noSuch(out string) bool {
	return strings.Contains(out, "No such container") || strings.Contains(out, "no such container")
}

func oneLine(out string, err error) string {
	out = strings.TrimSpace(out)
	if out == "" {
		return err.Error()
	}
	return strings.ReplaceAll(out, "\n", "; ")
}
