package session

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// interruptible returns a reader of f that Close can interrupt. Reads from a
// pipe inherited as stdin block in a system call that closing the descriptor
// does not end, so a pipe is opened again through /proc: Go then reads it
// through its poller, where Close wakes a blocked Read. The new open file
// description is our own, so the O_NONBLOCK Go sets on it does not leak to
// the processes sharing our stdin. Regular files never block and are kept.
func interruptible(f *os.File) io.ReadCloser {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		return f
	}
	g, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		return f
	}
	return g
}
