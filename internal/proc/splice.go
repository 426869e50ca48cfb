package proc

import (
	"os"

	"golang.org/x/sys/unix"
)

// spliceIn moves src into the pipe dst with splice(2) when src is a regular
// file (--file): the kernel gives the pipe references to the page cache, so
// the bytes never pass through our memory. handled is false, with nothing
// moved, when splice cannot be used; feed then reads and writes. src closed
// under us (by CloseStdin) is the end, as for a read; dst closed is an error
// isGone recognises.
func spliceIn(dst, src *os.File, moved func()) (written int64, handled bool, err error) {
	if fi, err := src.Stat(); err != nil || !fi.Mode().IsRegular() {
		return 0, false, nil
	}
	wc, err := dst.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	rc, err := src.SyscallConn()
	if err != nil {
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
// chunk as soon as it arrives, when dst is a regular file (--output) or a
// device that is not a terminal (/dev/null): splice writes to those without
// waiting for room, so the only wait is for src, which the poller does. The
// bytes never pass through our memory. handled is false, with nothing moved,
// when splice cannot be used. An error is dst's: reading a pipe gives none.
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
	default:
		return 0, false, nil // a pipe or socket: EAGAIN could be either end
	}
	rc, err := src.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	wc, err := dst.SyscallConn()
	if err != nil {
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
