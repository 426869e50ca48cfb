package session

import (
	"strings"
	"testing"
	"time"

	"github.com/pipecli/pipecli/internal/container"
)

// The buffering hint names the fix that fits how the child runs.
func TestBufferingHint(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		want, not string
	}{
		{"grep", Config{Argv: []string{"grep", "x"}}, "use pipecli run --pty", "Python"},
		{"python", Config{Argv: []string{"python3", "model.py"}}, "run python3 -u, set PYTHONUNBUFFERED=1, or use pipecli run --pty", ""},
		{"python path", Config{Argv: []string{"/usr/bin/python3.11", "-X", "dev", "m.py"}}, "run python3 -u", ""},
		{"python -u", Config{Argv: []string{"python3", "-u", "model.py"}}, "use pipecli run --pty", "python3 -u"},
		{"python -Bu", Config{Argv: []string{"python", "-Bu", "model.py"}}, "use pipecli run --pty", "python3 -u"},
		{"python script -u", Config{Argv: []string{"python3", "model.py", "-u"}}, "run python3 -u", ""},
		{"docker run", Config{Argv: []string{"docker", "run", "-i", "--rm", "img"}}, "--pty cannot reach it: add -e PYTHONUNBUFFERED=1 to docker run (Python), or use pipecli run --image IMAGE", ""},
		{"podman", Config{Argv: []string{"podman", "run", "-i", "img"}}, "--pty cannot reach it", ""},
		{"docker ps", Config{Argv: []string{"docker", "ps"}}, "use pipecli run --pty", "PYTHONUNBUFFERED"},
		{"--image", Config{Argv: []string{"docker"}, Container: &container.Spec{Image: "img"}}, "Python is already told to: PYTHONUNBUFFERED=1", "--pty"},
		{"--pty", Config{Argv: []string{"python3", "m.py"}, PTY: true}, "its stdout is a terminal (--pty), so it is not stdio buffering", "python3 -u"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &session{cfg: tt.cfg}
			got := s.bufferingHint(3500 * time.Millisecond)
			if !strings.Contains(got, " has answered nothing for 3s since it was sent input; ") {
				t.Errorf("hint %q does not say what happened", got)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("hint %q does not say %q", got, tt.want)
			}
			if tt.not != "" && strings.Contains(got, tt.not) {
				t.Errorf("hint %q says %q", got, tt.not)
			}
		})
	}
}

// docker's error line is found among the advice it prints after it: what
// docker 28 and older versions really print when they cannot run a
// container.
func TestDockerErrorLine(t *testing.T) {
	tests := []struct {
		name   string
		stderr string
		want   string
	}{
		{"unknown flag", "unknown flag: --bogusopt\n\nUsage:  docker run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'docker run --help' for more information\n",
			"unknown flag: --bogusopt"},
		{"bad flag value", "invalid argument \"abc\" for \"-m, --memory\" flag: invalid size: 'abc'\n\nUsage:  docker run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'docker run --help' for more information\n",
			`invalid argument "abc" for "-m, --memory" flag: invalid size: 'abc'`},
		{"bad reference", "docker: invalid reference format: repository name (Ref) must be lowercase\n\nRun 'docker run --help' for more information\n",
			"invalid reference format: repository name (Ref) must be lowercase"},
		{"no such image", "Unable to find image 'nosuch:latest' locally\ndocker: Error response from daemon: pull access denied for nosuch, repository does not exist or may require 'docker login'\n\nRun 'docker run --help' for more information\n",
			"Error response from daemon: pull access denied for nosuch, repository does not exist or may require 'docker login'"},
		{"older docker", "docker: unknown flag: --bogusopt.\nSee 'docker run --help'.\n",
			"unknown flag: --bogusopt"},
		{"nothing said", "", ""},
		{"only advice", "\nRun 'docker run --help' for more information\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := strings.Split(strings.TrimRight(tt.stderr, "\n"), "\n")
			if got := dockerErrorLine(lines); got != tt.want {
				t.Errorf("dockerErrorLine() = %q, want %q", got, tt.want)
			}
		})
	}
}
