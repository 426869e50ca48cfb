// Package proc runs one child process: it starts it from argv in a process
// group of its own, moves bytes through its three pipes, forwards signals to
// its group, stops it in stages and reports how it ended.
//
// Goroutines, all owned by Child and waited for by Wait:
//
//	Stdin source --(stdin writer)--> child stdin pipe
//	child stdout pipe --(stdout reader)--> Stdout sink
//	child stderr pipe --(stderr reader)--> Stderr sink   (always drained)
//	reaper: cmd.Wait, then stops the rest of its group if it holds the
//	        pipes; after Grace, closes pipes others still hold
package proc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pipeSize is what we ask the kernel for each pipe: with 1 MiB instead of the
// default 64 KiB a burst of output rarely fills the pipe, and each read and
// write moves more bytes per system call.
const pipeSize = 1 << 20

// bufSize is the size of the buffer a pump reads into.
const bufSize = 256 << 10

// Options says what to feed the child, where its output goes and how long to
// wait when stopping it.
type Options struct {
	// Stdin is copied into the child's stdin until EOF, then the child's stdin
	// is closed. A source that can block (a pipe, the prompt) should also be
	// an io.Closer, so that Stop can interrupt a read in progress. A regular
	// *os.File, or a pipe in non-blocking mode (as os.Open and os.Pipe make
	// them), is spliced: the kernel moves the bytes.
	Stdin io.Reader
	// Stdout and Stderr receive the child's output, each chunk the moment it
	// is read. A write error on Stdout (a closed pipe) is reported by
	// OutputFailed; the child's stdout is then closed so that it gets SIGPIPE.
	// An *os.File that is a regular file, a device other than a terminal or
	// a pipe is spliced into, but for the output of a PTY.
	Stdout, Stderr io.Writer
	// Grace is how long to wait at each stage of Stop, and how long the pipes
	// may stay open after the child exited (grandchildren may hold them).
	Grace time.Duration
	Env   []string // nil: inherit ours
	Dir   string
	// Path is the program to run; "" looks argv[0] up in $PATH.
	Path string
	// PTY makes the child's stdout a pseudo-terminal in raw mode instead of
	// a pipe, so that programs that buffer their output when it is not a
	// terminal (C stdio, Python) write each line at once. Its stdin and
	// stderr stay pipes.
	PTY bool
	// ParentDeathSignal, if not 0, is sent to the child when pipecli dies,
	// even of SIGKILL (prctl PR_SET_PDEATHSIG): for a docker CLI, whose
	// container would otherwise outlive us.
	ParentDeathSignal syscall.Signal
}

// Child is one running child process.
type Child struct {
	Argv []string
	cmd  *exec.Cmd
	opts Options

	stdin          *os.File // our end of the child's stdin
	stdout, stderr *os.File // our ends of its stdout and stderr
	stdinOnce      sync.Once
	// groupHWM is the largest peak RSS (VmHWM) of the processes of the
	// child's group when its stdin was closed after input, in bytes; 0 if
	// not read.
	groupHWM    atomic.Int64
	fedAny      atomic.Bool  // some input was sent
	spoke       atomic.Bool  // and some output came: it runs its program
	stdinNowait atomic.Int32 // for WriteNow: 0 not yet known, 1 stdin is O_NONBLOCK (stdin.Fd would clear it), 2 not

	fed       chan struct{} // closed once the input is all sent, or abandoned
	stopReq   chan struct{} // closed by Stop
	stopOnce  sync.Once
	termReq   chan struct{} // closed by Terminate: SIGTERM without waiting
	termOnce  sync.Once
	stoppedBy atomic.Int32  // the StopStage Stop reached
	stopping  atomic.Bool   // Stop was called
	exited    chan struct{} // closed once the process has been reaped
	status    Status        // set before exited is closed
	outFailed chan struct{} // closed when writing to Stdout failed
	outOnce   sync.Once
	outErr    error       // set before outFailed is closed
	stdinErr  error       // a write error other than the child having gone; read after Wait
	inputCut  atomic.Bool // the child closed its stdin with input still to send
	// waitingSince is when input was sent that no output has followed yet,
	// in Unix nanoseconds; 0 when the child has answered all it was sent.
	waitingSince atomic.Int64

	// pumps counts the three pipe goroutines; drained is closed when they end.
	pumps   sync.WaitGroup
	drained chan struct{}
	// owned counts every goroutine Child starts, for Wait.
	owned sync.WaitGroup
}

// Start starts argv[0] with the arguments argv[1:], never through a shell.
func Start(argv []string, o Options) (*Child, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command to run")
	}
	path := o.Path
	if path == "" {
		var err error
		if path, err = exec.LookPath(argv[0]); err != nil {
			return nil, &StartError{Name: argv[0], Err: err}
		}
	}
	var ours, theirs [3]*os.File
	closeAll := func() {
		for i := range 3 {
			for _, f := range []*os.File{ours[i], theirs[i]} {
				if f != nil {
					f.Close()
				}
			}
		}
	}
	for i := range 3 {
		if i == 1 && o.PTY {
			master, tty, err := openPTY()
			if err != nil {
				closeAll()
				return nil, fmt.Errorf("starting %s: %w", argv[0], err)
			}
			ours[i], theirs[i] = master, tty
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("making pipes for %s: %w", argv[0], err)
		}
		if i == 0 {
			ours[i], theirs[i] = w, r
		} else {
			ours[i], theirs[i] = r, w
		}
		setPipeSize(w)
	}
	cmd := &exec.Cmd{
		Path:        path,
		Args:        argv,
		Env:         o.Env,
		Dir:         o.Dir,
		Stdin:       theirs[0],
		Stdout:      theirs[1],
		Stderr:      theirs[2],
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: o.ParentDeathSignal},
	}
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, &StartError{Name: argv[0], Err: err, Interpreter: missingInterpreter(path, o.Dir, err)}
	}
	for _, f := range theirs {
		f.Close()
	}
	c := &Child{
		Argv:      argv,
		cmd:       cmd,
		opts:      o,
		stdin:     ours[0],
		stdout:    ours[1],
		stderr:    ours[2],
		fed:       make(chan struct{}),
		stopReq:   make(chan struct{}),
		termReq:   make(chan struct{}),
		exited:    make(chan struct{}),
		outFailed: make(chan struct{}),
		drained:   make(chan struct{}),
	}
	c.pumps.Add(3)
	c.owned.Add(6)
	go func() { defer c.owned.Done(); defer c.pumps.Done(); defer close(c.fed); c.feed() }()
	go func() { defer c.owned.Done(); defer c.pumps.Done(); c.copyOut(c.stdout, o.Stdout, true) }()
	go func() { defer c.owned.Done(); defer c.pumps.Done(); c.copyOut(c.stderr, o.Stderr, false) }()
	go func() { defer c.owned.Done(); c.pumps.Wait(); close(c.drained) }()
	go func() { defer c.owned.Done(); c.reap() }()
	go func() {
		defer c.owned.Done()
		select {
		case <-c.stopReq:
			c.stop()
		case <-c.exited:
		}
	}()
	return c, nil
}

// Pid is the child's process id, which is also its process group id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Exited is closed once the child has exited.
func (c *Child) Exited() <-chan struct{} { return c.exited }

// Drained is closed once all three pipes are done: input fed or abandoned,
// stdout and stderr read to the end or closed.
func (c *Child) Drained() <-chan struct{} { return c.drained }

// OutputFailed is closed when writing the child's stdout to Stdout failed,
// typically because our reader went away (`pipecli run ... | head -1`).
func (c *Child) OutputFailed() <-chan struct{} { return c.outFailed }

// OutputErr is the error that closed OutputFailed.
func (c *Child) OutputErr() error {
	select {
	case <-c.outFailed:
		return c.outErr
	default:
		return nil
	}
}

// CloseStdin closes the child's stdin, so that it reads EOF, and interrupts a
// read of the source in progress. It is safe to call more than once.
func (c *Child) CloseStdin() {
	c.stdinOnce.Do(func() {
		// After its work, while the child still runs, as it usually does
		// until it reads EOF: once it has exited, its memory is gone from
		// /proc.
		if c.fedAny.Load() && c.spoke.Load() {
			c.noteHWM()
		}
		c.stdin.Close()
		if cl, ok := c.opts.Stdin.(io.Closer); ok {
			cl.Close()
		}
	})
}

// Signal sends sig to the child's process group. A group that is already
// gone is not an error.
func (c *Child) Signal(sig syscall.Signal) error {
	if c.groupHWM.Load() == 0 {
		// It may end now, before its work did (Ctrl-C, a stop): its peak
		// so far, rather than wait4's, which counts pipecli's own size.
		c.noteHWM()
	}
	err := syscall.Kill(-c.Pid(), sig)
	if err == syscall.ESRCH {
		return nil
	}
	return err
}

// noteHWM reads the peak RSS of the child's group now, and keeps it if
// it is the largest read: a group already gone reads 0.
func (c *Child) noteHWM() {
	hwm := groupPeakRSS(c.Pid())
	for {
		old := c.groupHWM.Load()
		if hwm <= old || c.groupHWM.CompareAndSwap(old, hwm) {
			return
		}
	}
}

// Unanswered reports how long ago the child was sent input that it has
// not written anything to stdout since; 0 if it has. A child that stays
// silent long after input may be buffering its output.
func (c *Child) Unanswered() time.Duration {
	since := c.waitingSince.Load()
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since))
}

// sent and answered keep waitingSince: one clock read per chunk.
func (c *Child) sent() {
	if !c.fedAny.Load() {
		c.fedAny.Store(true)
	}
	if c.waitingSince.Load() == 0 {
		c.waitingSince.CompareAndSwap(0, time.Now().UnixNano())
	}
}

func (c *Child) answered() {
	if !c.spoke.Load() {
		c.spoke.Store(true)
	}
	if c.waitingSince.Load() != 0 {
		c.waitingSince.Store(0)
	}
}

// InputCut reports whether the child stopped reading (closed its stdin or
// exited) while there was still input to send it.
func (c *Child) InputCut() bool { return c.inputCut.Load() }

// Fed is closed once all the input has been sent (or abandoned, when the
// child went away) and the child's stdin closed.
func (c *Child) Fed() <-chan struct{} { return c.fed }

// Stop starts ending the child politely, then less so: close its stdin and
// wait Grace; SIGTERM its group and wait Grace; SIGKILL its group. It does not
// wait: Exited is closed when the child is gone. Calling it again does nothing.
func (c *Child) Stop() {
	c.stopOnce.Do(func() { c.stopping.Store(true); close(c.stopReq) })
}

// Terminate ends the child sooner than Stop: it closes its stdin and sends
// SIGTERM to its group at once, then SIGKILL after Grace. It is for when
// the child has had its chance to end by itself already (its input ended
// long ago: --eof-timeout) or must not be given one (nobody reads its
// output). Called after Stop, it cuts short the wait after closing stdin.
// Calling it again does nothing.
func (c *Child) Terminate() {
	c.termOnce.Do(func() { close(c.termReq) })
	c.Stop()
}

// StoppedBy reports which stage of Stop ended the child, and whether Stop had
// been called at all. It is meaningful once Exited is closed.
func (c *Child) StoppedBy() (StopStage, bool) {
	<-c.exited
	return StopStage(c.stoppedBy.Load()), c.stopping.Load()
}

func (c *Child) stop() {
	c.CloseStdin()
	if c.waitExit(c.opts.Grace, c.termReq) {
		return
	}
	c.stoppedBy.Store(int32(StoppedByTERM))
	c.Signal(syscall.SIGTERM)
	if c.waitExit(c.opts.Grace, nil) {
		return
	}
	c.stoppedBy.Store(int32(StoppedByKILL))
	c.Signal(syscall.SIGKILL)
	<-c.exited
}

// Kill sends SIGKILL to the child's group at once.
func (c *Child) Kill() { c.Signal(syscall.SIGKILL) }

// waitExit waits d for the child to exit, or until cut is closed, and
// reports whether it exited.
func (c *Child) waitExit(d time.Duration, cut <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.exited:
		return true
	case <-t.C:
		return false
	case <-cut:
		select {
		case <-c.exited:
			return true
		default:
			return false
		}
	}
}

// Wait waits for the child to exit and for every goroutine of Child to end,
// then reports how the child ended.
func (c *Child) Wait() (Status, error) {
	c.owned.Wait()
	return c.status, c.stdinErr
}

// PeakRSS is the child's peak resident set size in bytes, once it has
// been waited for (Wait): the largest peak of the processes of its group
// when its stdin was closed after input and output (VmHWM in /proc), the
// usual end of its work (before any output, it may not have started its
// program yet), or when pipecli first signalled it, if that came first;
// processes of the group that ended before then are not counted.
// Failing that (it had no input, exited first, or there is no /proc), the
// largest of the
// process and of the children it waited for itself, as wait4(2) reports
// it, which is at least pipecli's own size when it started the child: the
// child began as a copy of it that shared its memory until exec, and the
// kernel counts that copy's peak. 0 if not known.
func (c *Child) PeakRSS() int64 {
	select {
	case <-c.exited:
	default:
		return 0
	}
	if hwm := c.groupHWM.Load(); hwm > 0 {
		return hwm
	}
	return peakRSS(c.cmd.ProcessState)
}

// StopStage says which stage of Stop ended the child.
type StopStage int

const (
	StoppedByEOF StopStage = iota
	StoppedByTERM
	StoppedByKILL
)

// reap waits for the process, then for its output to end. Processes of its
// group that still hold its stdout or stderr (a shell's background job:
// `sh -c 'sleep 60 & cat'`) are part of the child, which is over: they are
// stopped at once, SIGTERM then SIGKILL after Grace, rather than waited
// for and left running. Other holders, outside the group (a daemon that
// called setsid), get Grace to close them before we do: they must not keep
// us waiting for ever. This is what exec.Cmd.WaitDelay does for the pipes
// os/exec makes itself; we make ours, to size them and read them directly,
// so we apply the same rule here.
func (c *Child) reap() {
	err := c.cmd.Wait()
	c.status = statusOf(c.cmd.ProcessState, err)
	close(c.exited)
	// The child is gone: nothing more can be written to it.
	c.CloseStdin()
	// Its own descriptors were closed before Wait returned, so any still
	// open are another process's, and the answer does not depend on how
	// far the pumps have read.
	if c.outputHeld() && c.groupAlive() {
		c.Signal(syscall.SIGTERM)
		if !c.waitDrained(c.opts.Grace) {
			c.Signal(syscall.SIGKILL)
		}
	}
	if !c.waitDrained(c.opts.Grace) {
		if !c.outputHeld() {
			// No other process holds the pipes: what is left in them is
			// the child's last output on its way to a slow reader of
			// ours. It is not cut short, unless we are told to end now.
			select {
			case <-c.drained:
			case <-c.termReq:
			}
		}
		c.stdout.Close()
		c.stderr.Close()
		<-c.drained
	}
	c.stdout.Close()
	c.stderr.Close()
}

func (c *Child) waitDrained(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.drained:
		return true
	case <-t.C:
		return false
	}
}

// outputHeld reports whether a process holds the child's stdout or stderr
// open for writing. Our end reports POLLHUP once no process does: a pipe's
// read end when every write end is closed, a terminal's master when its
// slave is.
func (c *Child) outputHeld() bool {
	for _, f := range []*os.File{c.stdout, c.stderr} {
		rc, err := f.SyscallConn()
		if err != nil {
			continue // closed: its sink failed, nothing more is read
		}
		held := false
		cerr := rc.Control(func(fd uintptr) {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			for {
				_, err := unix.Poll(fds, 0)
				if err == unix.EINTR {
					continue
				}
				held = err == nil && fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) == 0
				return
			}
		})
		if cerr == nil && held {
			return true
		}
	}
	return false
}

// groupAlive reports whether the child's process group still has a
// member, the child itself having exited.
func (c *Child) groupAlive() bool {
	err := syscall.Kill(-c.Pid(), 0)
	return err == nil || err == syscall.EPERM
}

// feed copies the source into the child's stdin, then closes it.
func (c *Child) feed() {
	defer c.CloseStdin()
	if c.opts.Stdin == nil {
		return
	}
	if f, ok := c.opts.Stdin.(*os.File); ok {
		if _, handled, err := spliceIn(c.stdin, f, c.sent); handled {
			switch {
			case err == nil:
			case isGone(err):
				c.inputCut.Store(true)
			default:
				c.stdinErr = fmt.Errorf("sending input to %s: %w", c.Argv[0], err)
			}
			return
		}
	}
	buf := make([]byte, bufSize)
	for {
		n, err := c.opts.Stdin.Read(buf)
		if n > 0 {
			c.sent()
			if _, werr := c.stdin.Write(buf[:n]); werr != nil {
				// The child closed its stdin or exited (EPIPE), or we
				// closed the pipe after it exited: input was left unsent.
				if isGone(werr) {
					c.inputCut.Store(true)
				} else {
					c.stdinErr = fmt.Errorf("sending input to %s: %w", c.Argv[0], werr)
				}
				return
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil && isGone(err) {
			// CloseStdin closed the source: the child exited, or Stop.
			c.inputCut.Store(true)
			return
		}
		if err != nil {
			c.stdinErr = fmt.Errorf("reading input for %s: %w", c.Argv[0], err)
			return
		}
	}
}

// copyOut copies one of the child's output pipes to its sink, each chunk as
// soon as it is read. If the sink fails, the pipe is closed, so the child
// gets SIGPIPE or EPIPE when it writes again, as it would in a shell pipeline.
func (c *Child) copyOut(src *os.File, dst io.Writer, isStdout bool) {
	if dst == nil {
		dst = io.Discard
	}
	moved := func() {}
	if isStdout {
		moved = c.answered
	}
	if f, ok := dst.(*os.File); ok && !(isStdout && c.opts.PTY) {
		_, handled, err := spliceOut(f, src, moved)
		switch {
		case !handled: // copy below
		case err == nil:
			return
		case !isStdout:
			dst = io.Discard // drain the rest below
		default:
			src.Close()
			c.outOnce.Do(func() { c.outErr = err; close(c.outFailed) })
			return
		}
	}
	buf := make([]byte, bufSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			moved()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				if !isStdout {
					// stderr is drained whatever happens to ours, so
					// that a chatty child can never block on it.
					dst = io.Discard
					continue
				}
				src.Close()
				c.outOnce.Do(func() { c.outErr = werr; close(c.outFailed) })
				return
			}
		}
		if err != nil {
			// The end: EOF from a pipe, or EIO from a pseudo-terminal
			// once every process has closed its side.
			//
			// A sink that holds back an incomplete character gives it up now.
			if f, ok := dst.(interface{ Flush() error }); ok {
				f.Flush()
			}
			return
		}
	}
}

// isGone reports whether err means the other end of a pipe went away or the
// pipe was closed under us, which ends a copy but is not a failure.
func isGone(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
}
