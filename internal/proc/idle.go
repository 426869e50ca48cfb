package proc

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// WaitsForInput reports whether the child waits for input, and does
// nothing else: its stdin holds nothing more to read, a process of its
// group is blocked reading it, and none of the group's threads is running
// or in an uninterruptible wait (loading from disk). A child that is busy
// (loading a model, working on a request) is not waiting. It can tell only
// where /proc shows what a thread waits in (Linux); elsewhere, and once
// the stdin is closed, it reports false.
//
// A bench's warm-up needs it: the measured requests wait for the warm-up
// ones to be answered, and a child that waits for more before it answers
// (bc, which answers nothing to an assignment) would wait for ever.
func (c *Child) WaitsForInput() bool {
	rc, err := c.stdin.SyscallConn()
	if err != nil {
		return false // closed
	}
	var (
		ino    uint64
		queued int
		qerr   error
	)
	cerr := rc.Control(func(fd uintptr) {
		var st unix.Stat_t
		if qerr = unix.Fstat(int(fd), &st); qerr != nil {
			return
		}
		ino = st.Ino
		queued, qerr = unix.IoctlGetInt(int(fd), unix.TIOCINQ) // FIONREAD
	})
	if cerr != nil || qerr != nil || queued > 0 {
		return false
	}
	return groupWaitsOn(c.Pid(), "pipe:["+strconv.FormatUint(ino, 10)+"]")
}

// groupWaitsOn reports whether a process of process group pgid is blocked
// reading its stdin, the pipe named pipe ("pipe:[INODE]"), while none of
// the group's threads runs or waits uninterruptibly.
func groupWaitsOn(pgid int, pipe string) bool {
	reading := false
	for _, pid := range groupPIDs(pgid) {
		base := "/proc/" + strconv.Itoa(pid)
		tasks, err := os.ReadDir(base + "/task")
		if err != nil {
			continue // gone since
		}
		stdin, _ := os.Readlink(base + "/fd/0")
		for _, t := range tasks {
			switch taskState(base + "/task/" + t.Name()) {
			case 'R', 'D':
				return false // busy
			}
			if stdin != pipe {
				continue
			}
			// "pipe_read", or "anon_pipe_read" (Linux 6.x); "0" where
			// the kernel hides it.
			if w, err := os.ReadFile(base + "/task/" + t.Name() + "/wchan"); err == nil && strings.Contains(string(w), "pipe_read") {
				reading = true
			}
		}
	}
	return reading
}

// taskState is the state letter of the thread whose /proc directory is
// dir (R running, S sleeping, D in an uninterruptible wait...); 0 if it
// cannot be read.
func taskState(dir string) byte {
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return 0
	}
	// "PID (COMM) S ...": COMM may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}
