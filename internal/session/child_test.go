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
