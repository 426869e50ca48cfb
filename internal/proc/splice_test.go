package proc_test

import (
	"bytes"
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/pipecli/pipecli/internal/proc"
)

// In a pipeline (`cat big | pipecli run -- cat | cat`) the child's stdin
// is fed from a pipe and its stdout goes to one, both spliced: every byte
// arrives, in order.
func TestPipeline(t *testing.T) {
	want := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz\n"), 100_000)
	in, out, got := proc.Through(t, want)
	c, err := proc.Start([]string{"cat"}, proc.Options{Stdin: in, Stdout: out, Grace: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Wait()
	out.Close()
	if err != nil || !st.Success() {
		t.Fatalf("Wait() = %v, %v", st, err)
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Errorf("got %d bytes, not the %d sent", len(b), len(want))
	}
}

// Stop closes the child's stdin even while the input pipe is empty and its
// writer still there: the splice waiting for it ends, and so does the child.
func TestPipelineStopWhileInputWaits(t *testing.T) {
	in, inW := proc.Pipe(t) // its writer stays open
	outR, out := proc.Pipe(t)
	c, err := proc.Start([]string{"cat"}, proc.Options{Stdin: in, Stdout: out, Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// A line through, and the input empty again: the splice waits.
	inW.Write([]byte("one\n"))
	if _, err := io.ReadFull(outR, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, outR)
	c.Stop()
	// Not a measure of time: only a guard against waiting the hour of Grace.
	select {
	case <-c.Exited():
	case <-time.After(time.Minute):
		c.Kill()
		t.Fatal("the child still runs a minute after Stop: its stdin was not closed")
	}
	if stage, _ := c.StoppedBy(); stage != proc.StoppedByEOF {
		t.Errorf("StoppedBy() = %v, want StoppedByEOF", stage)
	}
	if st, err := c.Wait(); err != nil || !st.Success() {
		t.Errorf("Wait() = %v, %v", st, err)
	}
}

// Stop also ends a splice waiting for room in the child's stdin, which a
// child that reads nothing never makes.
func TestPipelineStopWhileChildFull(t *testing.T) {
	in, inW := proc.Pipe(t)
	go func() {
		// Until CloseStdin closes in, the pipe's only reader: EPIPE.
		chunk := make([]byte, 64<<10)
		for {
			if _, err := inW.Write(chunk); err != nil {
				return
			}
		}
	}()
	outR, out := proc.Pipe(t)
	go io.Copy(io.Discard, outR)
	argv, env := child("-no-read")
	c, err := proc.Start(argv, proc.Options{Stdin: in, Stdout: out, Grace: 50 * time.Millisecond, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	c.Stop()
	st, err := c.Wait()
	if err != nil || st.Signal != syscall.SIGTERM {
		t.Errorf("Wait() = %v, %v; want killed by SIGTERM", st, err)
	}
}

// Our stdout's reader going away is reported, as EPIPE, and the child's
// stdout is closed, so that it dies of SIGPIPE as in a shell pipeline.
func TestPipelineReaderGone(t *testing.T) {
	outR, out := proc.Pipe(t)
	c, err := proc.Start([]string{"yes"}, proc.Options{Stdout: out, Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Some output first, so that the splice is under way.
	if _, err := io.ReadFull(outR, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	outR.Close()
	<-c.OutputFailed()
	if !errors.Is(c.OutputErr(), syscall.EPIPE) {
		t.Errorf("OutputErr() = %v, want EPIPE", c.OutputErr())
	}
	if st, _ := c.Wait(); st.Signal != syscall.SIGPIPE {
		t.Errorf("status = %v, want killed by SIGPIPE", st)
	}
}
