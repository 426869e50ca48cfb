package proc

import (
	"encoding/binary"
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

// Unread is how many bytes the child's stdin holds that it has not read:
// 0 once it read all it was sent, or if that cannot be told.
func (c *Child) Unread() int {
	n := 0
	if rc, err := c.stdin.SyscallConn(); err == nil {
		if err := rc.Control(func(fd uintptr) {
			n, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ) // FIONREAD
		}); err == nil {
			return n
		}
	}
	// Closed at our end, once every request was written: the pipe is
	// reached through the child's own descriptor, opened anew.
	fd, err := unix.Open("/proc/"+strconv.Itoa(c.Pid())+"/fd/0", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	n, _ = unix.IoctlGetInt(fd, unix.TIOCINQ)
	return n
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
			// the kernel hides it. A REPL with line editing (sqlite3
			// -interactive) polls its stdin instead.
			task := base + "/task/" + t.Name()
			w, err := os.ReadFile(task + "/wchan")
			switch {
			case err != nil:
			case strings.Contains(string(w), "pipe_read"):
				reading = true
			case strings.Contains(string(w), "poll_schedule_timeout") && pollsStdin(task, base+"/mem"):
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

// pollsStdin reports whether the thread whose /proc directory is task is
// blocked in poll, ppoll, select or pselect on its stdin alone: /proc's
// syscall gives the call and its arguments, and mem (the process's
// memory, which a parent may read) the descriptor waited on.
func pollsStdin(task, mem string) bool {
	b, err := os.ReadFile(task + "/syscall")
	if err != nil {
		return false
	}
	// "NR ARG1 ARG2 ARG3 ..., SP PC", the arguments in hex.
	f := strings.Fields(string(b))
	if len(f) < 4 {
		return false
	}
	arg := func(i int) uint64 {
		v, err := strconv.ParseUint(strings.TrimPrefix(f[i], "0x"), 16, 64)
		if err != nil {
			return 0
		}
		return v
	}
	read := func(addr uint64, p []byte) bool {
		m, err := os.Open(mem)
		if err != nil {
			return false
		}
		defer m.Close()
		n, err := m.ReadAt(p, int64(addr))
		return n == len(p) && err == nil
	}
	switch f[0] { // x86-64 numbers
	case "7", "271": // poll, ppoll (fds, nfds, ...)
		var pfd [8]byte // struct pollfd: int fd; short events, revents
		if arg(2) != 1 || !read(arg(1), pfd[:]) {
			return false
		}
		fd := int32(binary.NativeEndian.Uint32(pfd[0:4]))
		return fd == 0 && binary.NativeEndian.Uint16(pfd[4:6])&unix.POLLIN != 0
	case "23", "270": // select, pselect6 (nfds, readfds, ...)
		var set [1]byte
		return arg(1) == 1 && arg(2) != 0 && read(arg(2), set[:]) && set[0]&1 != 0
	}
	return false
}
