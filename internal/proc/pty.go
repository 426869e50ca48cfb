package proc

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal for the child's stdout (Options.PTY): the
// child gets the terminal side, in raw mode, so that isatty(1) is true and C
// stdio and Python flush at each line, while raw mode leaves its bytes as
// they are (no echo, no "\n" made "\r\n", no signal characters). We keep
// the master side, opened non-blocking so that it is in Go's poller: like a
// pipe's, a read in progress ends when reap closes it after Grace, should a
// grandchild hold the terminal open. (github.com/creack/pty opens the master
// blocking since v1.1.21, where Close cannot interrupt a read; this is the
// few lines of it we need.)
func openPTY() (master, tty *os.File, err error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening a pseudo-terminal: %w", &os.PathError{Op: "open", Path: "/dev/ptmx", Err: err})
	}
	master = os.NewFile(uintptr(mfd), "/dev/ptmx")
	fail := func(what string, err error) (*os.File, *os.File, error) {
		master.Close()
		if tty != nil {
			tty.Close()
		}
		return nil, nil, fmt.Errorf("opening a pseudo-terminal: %s: %w", what, err)
	}
	// unlockpt(3) and ptsname(3), then open the terminal side.
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		return fail("unlocking", err)
	}
	n, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		return fail("naming", err)
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	tfd, err := unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail("opening "+name, err)
	}
	tty = os.NewFile(uintptr(tfd), name)
	if err := makeRaw(tfd); err != nil {
		return fail("raw mode", err)
	}
	return master, tty, nil
}

// makeRaw sets the terminal fd to raw mode, as cfmakeraw(3) does.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}
