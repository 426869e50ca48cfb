package proc_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pipecli/pipecli/internal/proc"
)

// benchSize is how much each benchmark streams through cat: large enough that
// starting cat is lost in the noise, small enough for a few runs a second.
const benchSize = 64 << 20

// benchGrace bounds how long Wait may let the pipes drain after cat exits. It
// is no timing assertion: cat's output is drained long before it runs out.
const benchGrace = time.Minute

// BenchmarkCat streams benchSize bytes of 128-byte lines through cat, so that
// proc's pumps can be read side by side with plain os/exec and with the shell
// pipeline `cat FILE | cat > /dev/null` (scripts/bench.sh does the same with
// the pipecli binary). Compare the MB/s columns:
//
//	proc/discard      proc.Start, file source, io.Discard sink
//	proc/devnull      proc.Start, file source, /dev/null sink (what `pipecli run --file F -- cat > /dev/null` does)
//	exec/discard      os/exec StdinPipe and StdoutPipe, io.Copy both ways
//	shell/devnull     cat FILE | cat > /dev/null, two os/exec commands joined by a pipe
//
// shell moves the bytes across one pipe, the others across two (ours to cat,
// cat to ours): shell is the reference to aim at, not a like-for-like rival.
func BenchmarkCat(b *testing.B) {
	if _, err := exec.LookPath("cat"); err != nil {
		b.Skip("cat not in $PATH")
	}
	path := benchInput(b)
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { devnull.Close() })

	b.Run("proc/discard", func(b *testing.B) {
		benchLoop(b, path, func(in *os.File) (int64, error) {
			var out byteCounter
			err := benchProc(in, &out)
			return int64(out), err
		})
	})
	b.Run("proc/devnull", func(b *testing.B) {
		benchLoop(b, path, func(in *os.File) (int64, error) {
			return -1, benchProc(in, devnull)
		})
	})
	b.Run("exec/discard", func(b *testing.B) {
		benchLoop(b, path, benchExec)
	})
	b.Run("shell/devnull", func(b *testing.B) {
		benchLoop(b, path, func(in *os.File) (int64, error) {
			return -1, benchShell(in, devnull)
		})
	})
}

// benchLoop opens the input afresh each time round (cat must see EOF), runs
// one pass and checks that all of it came out, where the sink could count.
func benchLoop(b *testing.B, path string, pass func(in *os.File) (int64, error)) {
	b.SetBytes(benchSize)
	for b.Loop() {
		in, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		n, err := pass(in)
		in.Close()
		if err != nil {
			b.Fatal(err)
		}
		if n >= 0 && n != benchSize {
			b.Fatalf("cat passed on %d bytes, want %d", n, benchSize)
		}
	}
}

// benchProc runs cat under proc.Start, fed from in, its stdout going to out.
func benchProc(in *os.File, out io.Writer) error {
	c, err := proc.Start([]string{"cat"}, proc.Options{Stdin: in, Stdout: out, Stderr: io.Discard, Grace: benchGrace})
	if err != nil {
		return err
	}
	st, err := c.Wait()
	if err != nil {
		return err
	}
	if !st.Success() {
		return fmt.Errorf("cat %s", st)
	}
	return nil
}

// benchExec is what one would write with os/exec alone: a goroutine feeding
// StdinPipe with io.Copy, another io.Copy draining StdoutPipe.
func benchExec(in *os.File) (int64, error) {
	cmd := exec.Command("cat")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	var (
		wg      sync.WaitGroup // guards feedErr: the feeding goroutine
		feedErr error
	)
	wg.Go(func() {
		_, feedErr = io.Copy(stdin, in)
		if cerr := stdin.Close(); feedErr == nil {
			feedErr = cerr
		}
	})
	var out byteCounter
	_, copyErr := io.Copy(&out, stdout) // read to EOF before Wait, as StdoutPipe's doc asks
	wg.Wait()
	waitErr := cmd.Wait()
	for _, err := range []error{feedErr, copyErr, waitErr} {
		if err != nil {
			return int64(out), err
		}
	}
	return int64(out), nil
}

// benchShell is `cat FILE | cat > out`: the first cat reads the file itself,
// the second writes to out itself, and we only wait.
func benchShell(in, out *os.File) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	first := exec.Command("cat")
	first.Stdin, first.Stdout = in, w
	second := exec.Command("cat")
	second.Stdin, second.Stdout = r, out
	err = first.Start()
	if err == nil {
		err = second.Start()
		if err != nil {
			first.Process.Kill()
		}
	}
	// The children hold their own copies of the pipe now.
	r.Close()
	w.Close()
	if err != nil {
		first.Wait()
		return err
	}
	err1, err2 := first.Wait(), second.Wait()
	if err1 != nil {
		return err1
	}
	return err2
}

// benchInput writes benchSize bytes of 128-byte lines (127 characters and a
// newline, each line different) once for the whole benchmark.
func benchInput(b *testing.B) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "in.txt")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	pattern := alphabet + alphabet + alphabet
	w := bufio.NewWriter(f)
	for i := range benchSize / 128 {
		fmt.Fprintf(w, "%010d %s\n", i+1, pattern[i%len(alphabet):][:116])
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// byteCounter is a sink that only counts, like io.Discard but checkable.
type byteCounter int64

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}
