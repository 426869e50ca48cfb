package proc

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// WriteNow writes to the child's stdin as much of p as the pipe takes at
// once, without ever waiting: it returns n < len(p) when the pipe is full,
// and 0 when it cannot write without risking a wait (a stdin that is not
// non-blocking). It lets a caller that must never block, such as the framed
// conversation, skip the hand-over to the stdin writer goroutine
// while the pipe has room (issue: framed throughput).
//
// The caller must make sure that the stdin writer is not writing at the same
// time, and hand what WriteNow did not write to the Stdin source, so that the
// writer sends it in order, even after an error (the child closed its stdin,
// or CloseStdin closed ours): the writer then finds the same error and
// reports it as it always does.
func (c *Child) WriteNow(p []byte) (n int, err error) {
	rc, err := c.stdin.SyscallConn()
	if err != nil {
		return 0, err
	}
	// Control, not Write: Write would wait for the file's write lock, which
	// the stdin writer holds while it waits for room in the pipe.
	cerr := rc.Control(func(fd uintptr) {
		if !c.stdinNonblocking(int(fd)) {
			return
		}
		for n < len(p) {
			m, werr := rawWrite(fd, p[n:])
			switch {
			case werr == unix.EINTR:
				continue
			case werr == unix.EAGAIN:
				return
			case werr != 0:
				err = werr
				return
			}
			n += m
		}
	})
	if cerr != nil {
		return 0, cerr
	}
	if n > 0 && !c.fedAny.Load() {
		c.fedAny.Store(true)
	}
	return n, err
}

// stdinNonblocking reports whether fd, our end of the child's stdin, is
// O_NONBLOCK, as the os package sets a pipe it can poll. It asks once.
func (c *Child) stdinNonblocking(fd int) bool {
	switch c.stdinNowait.Load() {
	case 1:
		return true
	case 2:
		return false
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	ok := err == nil && fl&unix.O_NONBLOCK != 0
	if ok {
		c.stdinNowait.Store(1)
	} else {
		c.stdinNowait.Store(2)
	}
	return ok
}

// setPipeSize asks for a pipe of pipeSize bytes. Best effort: an
// unprivileged process may not exceed /proc/sys/fs/pipe-max-size, and a
// small pipe still works. Through Control, not Fd: Fd would put the
// descriptor in blocking mode, and our end of the child's stdin must stay
// non-blocking, for WriteNow, and so that the poller waits for room
// instead of a thread blocked in write(2) that closing the pipe cannot wake.
func setPipeSize(w *os.File) {
	if rc, err := w.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize) })
	}
}

// rawWrite is write(2) without telling the scheduler: on a non-blocking
// pipe it never waits, but the kernel often switches to the child it wakes
// before it returns. Told of a system call, the scheduler would hand our P
// to another thread after 20µs, and with GOMAXPROCS 1 start one for it:
// a wake-up and a thread switch per write (issue: framed throughput).
func rawWrite(fd uintptr, p []byte) (int, unix.Errno) {
	n, _, errno := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), errno
}
