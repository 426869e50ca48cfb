package proc_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/proc"
)

// WriteNow writes what the pipe takes and returns at once, also when the
// child reads nothing and the pipe is full; what it wrote comes before what
// the stdin writer sends.
func TestWriteNow(t *testing.T) {
	t.Run("reads", func(t *testing.T) {
		pr, pw := io.Pipe()
		var out iostreams.Buffer
		c, err := proc.Start([]string{"cat"}, proc.Options{Stdin: pr, Stdout: &out, Grace: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := c.WriteNow([]byte("one\n")); n != 4 || err != nil {
			t.Errorf("WriteNow = %d, %v", n, err)
		}
		pw.Write([]byte("two\n"))
		pw.Close()
		c.Wait()
		if got := out.String(); got != "one\ntwo\n" {
			t.Errorf("child got %q", got)
		}
	})
	t.Run("full", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		argv, env := child("-no-read")
		c, err := proc.Start(argv, proc.Options{Stdin: pr, Grace: time.Second, Env: env})
		if err != nil {
			t.Fatal(err)
		}
		chunk := []byte(strings.Repeat("x", 64<<10))
		total := 0
		for {
			n, err := c.WriteNow(chunk)
			total += n
			if err != nil {
				t.Fatal(err)
			}
			if n < len(chunk) {
				break // full: no wait
			}
			if total > 64<<20 {
				t.Fatalf("wrote %d bytes to a child that reads nothing", total)
			}
		}
		c.Kill()
		c.Wait()
	})
}
