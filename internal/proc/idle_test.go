package proc_test

import (
	"io"
	"os"
	"testing"
	"time"

	"github.com/pipecli/pipecli/internal/proc"
)

// TestWaitsForInput: a child blocked reading its empty stdin waits for
// input; one that is busy, or sleeps without reading (a model loading),
// or has input it has not read yet, does not.
func TestWaitsForInput(t *testing.T) {
	if _, err := os.Stat("/proc/self/wchan"); err != nil {
		t.Skip("no /proc/PID/wchan here")
	}
	tests := []struct {
		name  string
		argv  []string
		input string
		want  bool
	}{
		{"reads its input", []string{"cat"}, "a line\n", true},
		{"reads a line, then waits for more", []string{"sh", "-c", "read l; cat"}, "x\n", true},
		{"sleeps without reading", []string{"sh", "-c", "sleep 30; cat"}, "", false},
		{"input not read yet", []string{"sh", "-c", "sleep 30; cat"}, "a line\n", false},
		{"busy", []string{"sh", "-c", "while :; do :; done"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			c, err := proc.Start(tt.argv, proc.Options{Stdin: pr, Stdout: io.Discard, Stderr: io.Discard, Grace: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				pw.Close()
				c.Terminate()
				c.Wait()
			}()
			if tt.input != "" {
				pw.Write([]byte(tt.input))
			}
			// The child may take a moment to get to its read: ask until
			// it says yes, or for long enough to say it never does.
			got := false
			for deadline := time.Now().Add(time.Second); !got && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				got = c.WaitsForInput()
			}
			if got != tt.want {
				t.Errorf("WaitsForInput() = %v; want %v", got, tt.want)
			}
		})
	}
}
