package serve

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Where sockets live: a named server's is NAME.sock in Dir, which is
// $XDG_RUNTIME_DIR/pipecli (a directory of the user's own, made for
// exactly this), or else pipecli-UID in the temporary directory. Either is
// made 0700; one that someone else owns, or others may enter, is refused:
// whoever controls it could put a socket of theirs where callers look for
// the server, and read what they send.

// Dir returns the directory of named servers' sockets; with create, it
// makes it if need be. getenv reads the environment.
func Dir(getenv func(string) string, create bool) (string, error) {
	dir := filepath.Join(os.TempDir(), "pipecli-"+strconv.Itoa(os.Getuid()))
	if x := getenv("XDG_RUNTIME_DIR"); x != "" && filepath.IsAbs(x) {
		dir = filepath.Join(x, "pipecli")
	}
	if create {
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("making the sockets' directory: %w", err)
		}
	}
	err := checkDir(dir, os.Getuid())
	if !create && errors.Is(err, fs.ErrNotExist) {
		err = nil // no server made it yet: connecting says so
	}
	return dir, err
}

// checkDir checks that dir is a directory (not a link to one) that uid
// owns and no one else may enter.
func checkDir(dir string, uid int) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory; remove it, or give --socket PATH", dir)
	case st != nil && int(st.Uid) != uid:
		return fmt.Errorf("%s belongs to uid %d, not to you (uid %d): whoever owns it could intercept your requests; remove it, or give --socket PATH in a directory of yours", dir, st.Uid, uid)
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("%s has mode %04o: others may enter it; chmod 700 %s", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// Resolve returns the socket of the server called nameOrPath: a path if it
// holds a "/", else a name, whose socket is in Dir (made, with create).
func Resolve(nameOrPath string, getenv func(string) string, create bool) (string, error) {
	if strings.Contains(nameOrPath, "/") {
		return filepath.Clean(nameOrPath), nil
	}
	if err := checkName(nameOrPath); err != nil {
		return "", err
	}
	dir, err := Dir(getenv, create)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, nameOrPath+".sock"), nil
}

// checkName checks a server's name: a plain name, which makes a file name.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("a server's name cannot be empty; give one, such as cipher, or a socket's path")
	case name == "." || name == ".." || strings.HasPrefix(name, "."):
		return fmt.Errorf("server name %q starts with a dot; use a plain name, such as cipher", name)
	case strings.ContainsAny(name, "\x00 \t\n"):
		return fmt.Errorf("server name %q holds a space or a control character; use a plain name, such as cipher", name)
	case len(name) > 64:
		return fmt.Errorf("server name %q is longer than 64 bytes; use a shorter one", name)
	}
	return nil
}

// maxSocketPath is the longest path a Unix socket can have (sun_path,
// less its NUL).
const maxSocketPath = 107

// BusyError: a server already listens on the socket.
type BusyError struct{ Path string }

func (e *BusyError) Error() string {
	return fmt.Sprintf("a server is already listening on %s; stop it first, or choose another --name or --socket", e.Path)
}

// Listen listens on the socket at path, which only its owner may use
// (0600 from the start), unless a server listens there already. A socket
// left by a server that crashed is replaced. It also takes path.lock, an
// advisory lock held while the server runs, so that two servers started at
// once cannot both take the place; release lets it go (the lock file
// stays: removing it would let a third server lock another file).
func Listen(path string) (ln *net.UnixListener, release func(), stale bool, err error) {
	if len(path) > maxSocketPath {
		return nil, nil, false, fmt.Errorf("socket path %s is %d bytes long; a Unix socket's can be at most %d: give a shorter --socket, or set XDG_RUNTIME_DIR to a shorter directory", path, len(path), maxSocketPath)
	}
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, false, fmt.Errorf("cannot listen on %s: %w", path, err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, nil, false, &BusyError{path}
		}
		return nil, nil, false, fmt.Errorf("locking %s.lock: %w", path, err)
	}
	defer func() {
		if err != nil {
			lock.Close()
		}
	}()
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, nil, false, fmt.Errorf("%s exists and is not a socket; remove it, or choose another --name or --socket", path)
		}
		// No server holds the lock; still, one that lost its lock file
		// may be listening: a connection tells.
		c, err := net.DialTimeout("unix", path, 5*time.Second)
		if err == nil {
			c.Close()
			return nil, nil, false, &BusyError{path}
		}
		if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, false, fmt.Errorf("cannot tell whether a server listens on %s: %w", path, err)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, false, fmt.Errorf("removing the stale socket %s: %w", path, err)
		}
		stale = true
	}
	// Made 0600 from the start: between bind and a chmod, another user
	// could connect. The umask is the process's: nothing else runs yet.
	old := syscall.Umask(0o177)
	ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, nil, false, fmt.Errorf("cannot listen on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(true)
	return ln, func() { lock.Close() }, stale, nil
}

// peerUID is the uid of the process at the other end of c.
func peerUID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if serr != nil {
		return -1, serr
	}
	return int(cred.Uid), nil
}

// hungUp reports whether the other end of c has closed its socket, not
// merely shut down its writing (which a caller does when it has sent all
// and waits for the answers): the kernel then says POLLHUP.
func hungUp(c *net.UnixConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return true
	}
	hup := false
	raw.Control(func(fd uintptr) {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if n, err := unix.Poll(p, 0); err == nil && n > 0 {
			hup = p[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0
		}
	})
	return hup
}
