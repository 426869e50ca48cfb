package proc

import (
	"bytes"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Between two pipes splice(2) moves the bytes, into the child's stdin from
// a pipe of ours and out of its stdout into one, not a read and a write
// (issue: streaming inside a pipeline). The tests of Start check that the
// bytes arrive; these check that splice moved them.
func TestSplicePipes(t *testing.T) {
	want := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz\n"), 100_000) // 3.7 MB: more than a pipe holds
	tests := []struct {
		name   string
		splice func(dst, src *os.File, moved func()) (int64, bool, error)
	}{
		{"in", spliceIn},
		{"out", spliceOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst, got := Through(t, want)
			moves := 0
			n, handled, err := tt.splice(dst, src, func() { moves++ })
			dst.Close()
			if !handled || err != nil {
				t.Fatalf("splice: handled %v, error %v", handled, err)
			}
			if n != int64(len(want)) || moves == 0 {
				t.Errorf("splice moved %d bytes in %d moves, want %d", n, moves, len(want))
			}
			if b := <-got; !bytes.Equal(b, want) {
				t.Errorf("got %d bytes, not the %d sent", len(b), len(want))
			}
		})
	}
}

// A pipe the runtime poller cannot wait for (in blocking mode, as stdin is
// inherited) is not spliced: a splice(2) waiting on it in the kernel could
// not be interrupted by CloseStdin.
func TestSpliceInBlockingPipe(t *testing.T) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	src, srcW := os.NewFile(uintptr(fds[0]), "blocking"), os.NewFile(uintptr(fds[1]), "blocking")
	defer src.Close()
	defer srcW.Close()
	_, dst := Pipe(t)
	if _, handled, err := spliceIn(dst, src, func() {}); handled || err != nil {
		t.Errorf("spliceIn: handled %v, error %v; want false, nil", handled, err)
	}
}

// CloseStdin closes the child's stdin, then the source, to end a splice
// between them, which may be waiting for either: for input, or for room in
// the child's stdin, whose reader (a child that reads nothing) never makes
// any. The splice ends at once, with an error isGone recognises.
func TestSplicePipesClosed(t *testing.T) {
	tests := []struct {
		name string
		// until brings the splice to its wait, given the source's
		// writer and both ends of the destination.
		until func(t *testing.T, srcW, dst, dstR *os.File)
	}{
		{"waiting for input", func(t *testing.T, srcW, dst, dstR *os.File) {
			// A line through, and the pipe empty again.
			srcW.Write([]byte("one\n"))
			if _, err := io.ReadFull(dstR, make([]byte, 4)); err != nil {
				t.Fatal(err)
			}
		}},
		{"waiting for room", func(t *testing.T, srcW, dst, dstR *os.File) {
			go func() {
				chunk := make([]byte, 64<<10)
				for {
					if _, err := srcW.Write(chunk); err != nil {
						return // EPIPE: the source was closed
					}
				}
			}()
			// Nothing reads dstR: the splice fills dst, then waits.
			for deadline := time.Now().Add(time.Minute); !full(dst); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the destination never filled")
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, srcW := Pipe(t)
			dstR, dst := Pipe(t)
			type result struct {
				handled bool
				err     error
			}
			done := make(chan result)
			go func() {
				_, handled, err := spliceIn(dst, src, func() {})
				done <- result{handled, err}
			}()
			tt.until(t, srcW, dst, dstR)
			dst.Close()
			src.Close()
			// Not a measure of time: only a guard against waiting for ever.
			select {
			case r := <-done:
				if !r.handled || !isGone(r.err) {
					t.Errorf("spliceIn: handled %v, error %v; want true and the pipe closed", r.handled, r.err)
				}
			case <-time.After(time.Minute):
				t.Fatal("spliceIn still waits a minute after its pipes were closed")
			}
		})
	}
}

// full reports whether the pipe w has no room: poll(2) says it cannot be
// written. Through Control: Fd would put w in blocking mode.
func full(w *os.File) bool {
	rc, err := w.SyscallConn()
	if err != nil {
		return false
	}
	writable := true
	rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if _, err := unix.Poll(fds, 0); err == nil {
			writable = fds[0].Revents&unix.POLLOUT != 0
		}
	})
	return !writable
}

// growPipe grows a pipe to pipeSize, and leaves a larger one as it is: it
// may be another's, made so on purpose.
func TestGrowPipe(t *testing.T) {
	size := func(f *os.File) int {
		rc, _ := f.SyscallConn()
		n := 0
		rc.Control(func(fd uintptr) { n, _ = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0) })
		return n
	}
	set := func(f *os.File, n int) error {
		rc, _ := f.SyscallConn()
		var err error
		rc.Control(func(fd uintptr) { _, err = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, n) })
		return err
	}
	small, _ := Pipe(t)
	if err := set(small, 64<<10); err != nil {
		t.Fatal(err)
	}
	rc, _ := small.SyscallConn()
	growPipe(rc)
	if n := size(small); n != pipeSize {
		t.Errorf("a pipe of 64 KiB grew to %d bytes, want %d", n, pipeSize)
	}
	large, _ := Pipe(t)
	if err := set(large, 2*pipeSize); err != nil {
		t.Skipf("cannot make a pipe larger than %d bytes (fs.pipe-max-size): %v", pipeSize, err)
	}
	rc, _ = large.SyscallConn()
	growPipe(rc)
	if n := size(large); n != 2*pipeSize {
		t.Errorf("a pipe of %d bytes is now %d", 2*pipeSize, n)
	}
}
