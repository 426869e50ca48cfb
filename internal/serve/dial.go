package serve

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// NotServing: no server listens on the socket.
type NotServing struct {
	Path string
	Err  error
}

func (e *NotServing) Error() string {
	why := e.Err
	var errno syscall.Errno
	if errors.As(e.Err, &errno) {
		why = errno
	}
	return fmt.Sprintf("no server is listening on %s (%v); start one with 'pipecli serve'", e.Path, why)
}

func (e *NotServing) Unwrap() error { return e.Err }

// Conn is a connection to a server, greeted.
type Conn struct {
	*net.UnixConn
	R        *bufio.Reader // what the server says after its greeting
	Greeting Greeting
}

// greetWithin bounds the wait for a greeting: anything listening on a
// socket that says nothing is not a pipecli server.
const greetWithin = 30 * time.Second

// Dial connects to the server on the socket at path, checks that it runs
// as the same user (SO_PEERCRED) and reads its greeting.
func Dial(path string) (*Conn, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	switch {
	case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, fs.ErrNotExist):
		return nil, &NotServing{Path: path, Err: err}
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("cannot connect to %s: permission denied; a server lets only its own user connect", path)
	case err != nil:
		return nil, fmt.Errorf("cannot connect to %s: %w", path, err)
	}
	if uid, err := peerUID(c); err != nil || uid != os.Getuid() {
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("cannot tell who runs the server on %s: %w", path, err)
		}
		return nil, fmt.Errorf("the server on %s runs as uid %d, not as you (uid %d); not using it", path, uid, os.Getuid())
	}
	r := bufio.NewReaderSize(c, 64<<10)
	c.SetReadDeadline(time.Now().Add(greetWithin))
	line, err := r.ReadBytes('\n')
	c.SetReadDeadline(time.Time{})
	var g Greeting
	if err == nil {
		err = json.Unmarshal(line, &g)
	}
	if err == nil && g.Pipecli != "serve" {
		// Refused (another uid), or something else entirely.
		var e struct{ Error string }
		if json.Unmarshal(line, &e) == nil && e.Error != "" {
			err = errors.New(e.Error)
		} else {
			err = fmt.Errorf("it did not greet as a pipecli server")
		}
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if g.Version != Version {
		c.Close()
		return nil, fmt.Errorf("the server on %s speaks version %d of the protocol, this pipecli %d; use the same pipecli for both", path, g.Version, Version)
	}
	return &Conn{UnixConn: c, R: r, Greeting: g}, nil
}

// Relay connects to the server on the socket at path and relays: in's
// lines to it, its answers (after the greeting) to out, until it has
// answered all that in held and closed the connection. It is
// `pipecli connect`, which `pipecli run --connect` starts as its child. If
// the server closes the connection first, in is closed, to stop reading
// it (it must be pollable for that: a pipe set non-blocking), and that is
// an error, so that the caller's requests in flight are sent again.
func Relay(path string, in io.ReadCloser, out io.Writer) error {
	c, err := Dial(path)
	if err != nil {
		return err
	}
	defer c.Close()
	var (
		wg      sync.WaitGroup
		sendErr error
		sent    = make(chan struct{}) // closed when in is all sent
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, sendErr = io.Copy(c, in)
		if sendErr == nil {
			close(sent)
		}
		c.CloseWrite() // all sent: the server answers what is left, then closes
	}()
	_, recvErr := io.Copy(out, c.R)
	early := false
	select {
	case <-sent:
	default:
		early = true
		in.Close()
	}
	wg.Wait()
	switch {
	case recvErr != nil:
		return fmt.Errorf("reading from the server on %s: %w", path, recvErr)
	case early:
		return fmt.Errorf("the server on %s closed the connection before answering all (it is stopping?)", path)
	}
	return nil
}

// QueryStatus asks the server on the socket at path for its status.
func QueryStatus(path string) (*Status, error) {
	c, err := Dial(path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := io.WriteString(c, `{"status":true}`+"\n"); err != nil {
		return nil, fmt.Errorf("asking %s for its status: %w", path, err)
	}
	line, err := c.R.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("reading the status from %s: %w", path, err)
	}
	var a struct {
		Status *Status
		Error  string
	}
	if err := json.Unmarshal(line, &a); err != nil || a.Status == nil {
		if a.Error != "" {
			return nil, fmt.Errorf("the server on %s: %s", path, a.Error)
		}
		return nil, fmt.Errorf("the server on %s sent no status: %q", path, line)
	}
	return a.Status, nil
}
