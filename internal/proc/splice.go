package proc

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// spliceIn moves src into the pipe dst with splice(2) when src is a regular
// file (--file) or a pipe (`cat big | pipecli run -- cat`): the kernel gives
// the pipe references to the page cache, or moves the buffers of one pipe
// into the other, so the bytes never pass through our memory. handled is
// false, with nothing moved, when splice cannot be used; feed then reads and
// writes. src closed under us (by CloseStdin) is the end, as for a read; dst
// closed is an error isGone recognises.
func spliceIn(dst, src *os.File, moved func()) (written int64, handled bool, err error) {
	fi, err := src.Stat()
	switch {
	case err != nil:
		return 0, false, nil
	case fi.Mode()&os.ModeNamedPipe != 0:
		// A pipe, never a terminal (a character device): what is typed
		// is read as it comes, through the prompt or by read(2).
		if !nonblocking(src) {
			// Inherited as it is, in blocking mode: the poller cannot
			// wait for it, and a splice(2) waiting in the kernel could
			// not be interrupted by CloseStdin. session opens stdin
			// again to make it non-blocking (interruptible).
			return 0, false, nil
		}
		return splicePipes(dst, src, moved)
	case !fi.Mode().IsRegular():
		return 0, false, nil
	}
	rc, wc, ok := rawConns(src, dst)
	if !ok {
		return 0, false, nil
	}
	for {
		var n int64
		var serr, cerr error
		// Write calls the function again once the pipe has room, for as
		// long as it returns false. A file never makes splice wait, so
		// EAGAIN can only mean a full pipe.
		werr := wc.Write(func(wfd uintptr) bool {
			cerr = rc.Control(func(rfd uintptr) {
				n, serr = unix.Splice(int(rfd), nil, int(wfd), nil, pipeSize, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
			})
			return cerr != nil || serr != unix.EAGAIN
		})
		switch {
		case cerr != nil:
			// CloseStdin closed the file before its end.
			return written, true, &os.PathError{Op: "splice", Path: src.Name(), Err: os.ErrClosed}
		case werr != nil:
			// The poller's own error: the pipe was closed while we waited.
			return written, true, &os.PathError{Op: "splice", Path: dst.Name(), Err: os.ErrClosed}
		}
		if done, handled, err := spliced(n, serr, &written); done {
			return written, handled, err
		}
		moved()
	}
}

// spliceOut moves what arrives in the pipe src to dst with splice(2), each
// chunk as soon as it arrives, when dst is a regular file (--output), a
// device that is not a terminal (/dev/null) or a pipe (`pipecli run -- cat |
// cat`). splice writes to a file or device without waiting for room, so the
// only wait is for src, which the poller does; a pipe is left to
// splicePipes. The bytes never pass through our memory. handled is false,
// with nothing moved, when splice cannot be used. An error is dst's: reading
// a pipe gives none.
func spliceOut(dst, src *os.File, moved func()) (written int64, handled bool, err error) {
	fi, err := dst.Stat()
	if err != nil {
		return 0, false, nil
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		if fl, err := unix.FcntlInt(dst.Fd(), unix.F_GETFL, 0); err != nil || fl&unix.O_APPEND != 0 {
			return 0, false, nil // splice(2) refuses O_APPEND files
		}
	case m&os.ModeCharDevice != 0:
		if _, err := unix.IoctlGetTermios(int(dst.Fd()), unix.TCGETS); err == nil {
			return 0, false, nil // a terminal can make writes wait (flow control)
		}
	case m&os.ModeNamedPipe != 0:
		// Our stdout as inherited is in blocking mode, which the poller
		// cannot wait for; and a file description others share must stay
		// so. We write through one of our own instead, non-blocking.
		w, err := reopenPipe(dst)
		if err != nil {
			// No /proc; or no reader left (ENXIO): the copy finds EPIPE.
			return 0, false, nil
		}
		defer w.Close()
		written, handled, err = splicePipes(w, src, moved)
		if errors.Is(err, os.ErrClosed) {
			// Only src can be closed, w being ours: reap closed it
			// after Grace. The end, as for Read.
			err = nil
		}
		return written, handled, err
	default:
		return 0, false, nil // a socket
	}
	rc, wc, ok := rawConns(src, dst)
	if !ok {
		return 0, false, nil
	}
	for {
		var n int64
		var serr error
		// Read calls the function again once the pipe has data, for as
		// long as it returns false.
		rerr := rc.Read(func(rfd uintptr) bool {
			if cerr := wc.Control(func(wfd uintptr) {
				n, serr = unix.Splice(int(rfd), nil, int(wfd), nil, pipeSize, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
			}); cerr != nil {
				serr = cerr
			}
			return serr != unix.EAGAIN
		})
		if rerr != nil {
			// reap closed the pipe after Grace: the end, as for Read.
			return written, true, nil
		}
		if done, handled, err := spliced(n, serr, &written); done {
			return written, handled, err
		}
		moved()
	}
}

// rawConns gives src's and dst's raw descriptors, for splice(2) through
// the runtime poller; ok is false when either has none (closed, or not a
// descriptor the poller knows), and splice is not used.
func rawConns(src, dst *os.File) (rc, wc syscall.RawConn, ok bool) {
	rc, err := src.SyscallConn()
	if err != nil {
		return nil, nil, false
	}
	wc, err = dst.SyscallConn()
	if err != nil {
		return nil, nil, false
	}
	return rc, wc, true
}

// splicePipes moves what arrives in the pipe src to the pipe dst with
// splice(2), each chunk as soon as it arrives: the kernel moves src's
// buffers into dst without copying them. Both must be non-blocking, waited
// for by the runtime poller, so that closing either (CloseStdin, or reap
// after Grace) wakes a wait for it: a splice(2) blocked in the kernel on an
// empty pipe would keep Stop waiting. Between two pipes EAGAIN means src is
// empty or dst is full; poll(2) tells which, and the poller waits for that
// end. handled is false, with nothing moved, when splice cannot be used
// (the same pipe at both ends). Either end closed under us is an error
// isGone recognises.
//
// Both pipes are first grown to pipeSize, like those we make: our stdin and
// stdout in a pipeline are the shell's, of 64 KiB, and with those each splice
// moves less and wakes us and our neighbours more often. On the 2-core
// machine of scripts/bench.sh, `cat F | pipecli run -- cat | cat` took a
// median 0.15 s with them and 0.10 s with 1 MiB (1M lines of 128 bytes;
// `cat F | cat | cat`, 0.13 s).
func splicePipes(dst, src *os.File, moved func()) (written int64, handled bool, err error) {
	rc, wc, ok := rawConns(src, dst)
	if !ok {
		return 0, false, nil
	}
	growPipe(rc)
	growPipe(wc)
	waitSrc := true // the end the last EAGAIN was for
	for {
		var n int64
		var serr error
		// try splices until it has moved bytes, or met the end or an
		// error (true), or must wait (EAGAIN): false to wait for the end
		// its caller waits for (src if forSrc), true for the other one.
		try := func(rfd, wfd uintptr, forSrc bool) bool {
			for {
				n, serr = unix.Splice(int(rfd), nil, int(wfd), nil, pipeSize, unix.SPLICE_F_NONBLOCK)
				if serr != unix.EAGAIN {
					return true
				}
				srcReady, dstReady, perr := pipesReady(rfd, wfd)
				switch {
				case perr != nil:
					serr = perr
					return true
				case !srcReady:
					waitSrc = true
				case !dstReady:
					waitSrc = false
				default:
					continue // both became ready since
				}
				return waitSrc != forSrc
			}
		}
		// Read (Write) calls the function again once src has data (dst
		// has room), for as long as it returns false.
		waited, other := src, dst
		var werr, cerr error // the wait's error, the other end's
		if waitSrc {
			werr = rc.Read(func(rfd uintptr) bool {
				done := false
				cerr = wc.Control(func(wfd uintptr) { done = try(rfd, wfd, true) })
				return cerr != nil || done
			})
		} else {
			waited, other = dst, src
			werr = wc.Write(func(wfd uintptr) bool {
				done := false
				cerr = rc.Control(func(rfd uintptr) { done = try(rfd, wfd, false) })
				return cerr != nil || done
			})
		}
		// The poller's own errors: a file was closed, the one we waited
		// for or the other.
		switch {
		case werr != nil:
			return written, true, &os.PathError{Op: "splice", Path: waited.Name(), Err: os.ErrClosed}
		case cerr != nil:
			return written, true, &os.PathError{Op: "splice", Path: other.Name(), Err: os.ErrClosed}
		}
		if serr == unix.EAGAIN {
			continue // the other end is the one to wait for
		}
		if done, handled, err := spliced(n, serr, &written); done {
			return written, handled, err
		}
		moved()
	}
}

// pipesReady reports, without waiting, whether the pipe r has bytes to read
// (or no writer left) and the pipe w room to write (or no reader left):
// what splice(2) between them waits for.
func pipesReady(r, w uintptr) (rReady, wReady bool, err error) {
	fds := []unix.PollFd{{Fd: int32(r), Events: unix.POLLIN}, {Fd: int32(w), Events: unix.POLLOUT}}
	for {
		_, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		return fds[0].Revents != 0, fds[1].Revents != 0, err
	}
}

// growPipe asks for a pipe of pipeSize bytes, as setPipeSize does, unless it
// holds that much already: the pipe may be another's, made larger on
// purpose. Best effort: a pipe that stays small still works.
func growPipe(rc syscall.RawConn) {
	rc.Control(func(fd uintptr) {
		if n, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0); err == nil && n < pipeSize {
			unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize)
		}
	})
}

// nonblocking reports whether f is in non-blocking mode, as the os package
// sets a file it opens or makes and then waits for with the runtime poller.
// Through Control, not Fd: Fd would put f in blocking mode.
func nonblocking(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	rc.Control(func(fd uintptr) {
		fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		ok = err == nil && fl&unix.O_NONBLOCK != 0
	})
	return ok
}

// reopenPipe opens the pipe f again, for writing, through /proc: a file
// description of our own, so that the O_NONBLOCK that lets the runtime
// poller wait for it does not reach the processes sharing f's (the shell,
// the next command of a pipeline). O_NONBLOCK also makes the open fail
// (ENXIO) rather than wait when the pipe has no reader left.
func reopenPipe(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var w *os.File
	// Inside Control, so that f's descriptor cannot be closed and its
	// number reused while we open it.
	cerr := rc.Control(func(fd uintptr) {
		w, err = os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_WRONLY|unix.O_NONBLOCK, 0)
	})
	if cerr != nil {
		return nil, cerr
	}
	return w, err
}

// spliced folds one splice(2) result into written. done says the copy is
// over, with what to return: handled is false when splice could not be used
// at all (nothing moved yet), so the caller falls back to read and write.
func spliced(n int64, serr error, written *int64) (done, handled bool, err error) {
	switch {
	case serr == unix.EINTR:
		return false, true, nil
	case serr != nil:
		if *written == 0 && (serr == unix.EINVAL || serr == unix.ENOSYS) {
			return true, false, nil
		}
		return true, true, os.NewSyscallError("splice", serr)
	case n == 0:
		return true, true, nil
	}
	*written += n
	return false, true, nil
}
