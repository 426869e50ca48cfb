package session

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// hangupWatch tells when the reader of our stdout has gone away, without
// writing to it. A pipe's writer normally learns this only on its next write,
// so `pipecli run -- CMD | head -1` would wait for the child to print again,
// which a quiet child may never do. poll(2) reports POLLERR on a pipe whose
// reading end is closed: we wait for that, or for Close.
type hangupWatch struct {
	hungUp chan struct{} // closed when the reader went away
	wake   *os.File      // closing it ends the poll
	done   chan struct{} // closed when the goroutine has returned
}

// watchHangup starts watching f if it is a pipe or a socket; otherwise it
// returns a watch that never fires.
func watchHangup(f *os.File) *hangupWatch {
	w := &hangupWatch{hungUp: make(chan struct{}), done: make(chan struct{})}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&(fs.ModeNamedPipe|fs.ModeSocket) == 0 {
		close(w.done)
		return w
	}
	r, wake, err := os.Pipe()
	if err != nil {
		close(w.done)
		return w
	}
	w.wake = wake
	go func() {
		defer close(w.done)
		defer r.Close()
		fds := []unix.PollFd{
			{Fd: int32(f.Fd())}, // POLLERR and POLLHUP are always reported
			{Fd: int32(r.Fd()), Events: unix.POLLIN},
		}
		for {
			_, err := unix.Poll(fds, -1)
			if err == unix.EINTR {
				continue
			}
			if err != nil || fds[1].Revents != 0 {
				return
			}
			if fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
				close(w.hungUp)
				return
			}
		}
	}()
	return w
}

// HungUp is closed when the reader of the watched stream has gone away.
func (w *hangupWatch) HungUp() <-chan struct{} { return w.hungUp }

// Close stops watching and waits for the goroutine to end.
func (w *hangupWatch) Close() {
	if w.wake != nil {
		w.wake.Close()
	}
	<-w.done
}
