package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// The prompt is tested through a real terminal, tmux, as a person sees it:
// readline asks the terminal where the cursor is, redraws the typed line
// around the child's output and reads keys in raw mode, none of which a pipe
// or testscript's ttyin can show. Each script gets a private tmux server on
// a socket of its own, started with the script's environment, so nothing
// touches the user's tmux, home or history; it is killed when the script
// ends, even on failure.
//
//	term start [-x COLS] [-y ROWS] CMD ARGS...
//	    start CMD (no shell) in a COLS x ROWS terminal (default 100 x 30),
//	    replacing the terminal of any earlier term start
//	term send KEYS...
//	    tmux send-keys: key names (Enter, C-c, C-d, C-r, Up, BSpace) or,
//	    after -l, literal text
//	term sendlines N FORMAT
//	    type N lines at once, each FORMAT with %d the line number, then Enter
//	term paste [-p] FILE
//	    paste FILE, its newlines made Enter, as tmux's paste-buffer does:
//	    with -p, between the marks of a bracketed paste if the program
//	    asked for them, as tmux's own key bindings paste
//	term wait [-S] [-cursor] REGEXP
//	    wait until the screen matches REGEXP (multi-line mode, like stdout)
//	term screen [-S] [-e] [-cursor]
//	    put the screen in stdout, for stdout, ! stdout and cmp
//	term display FORMAT
//	    put what tmux makes of FORMAT in stdout: #{pane_title}, say
//	term exit N
//	    wait for CMD to end and check that it exited with code N; tmux
//	    then adds a line at the bottom, scrolling the screen up one line
//
// -S takes the scrollback too, -e keeps colours and attributes as SGR
// escape sequences, -cursor takes only the line the cursor is on. Waits give
// up after termTimeout; nothing is checked by sleeping.
func cmdTerm(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("term does not support !; check its screen with ! stdout")
	}
	if len(args) == 0 {
		ts.Fatalf("usage: term start|send|sendlines|paste|wait|screen|display|exit ...")
	}
	if args[0] == "start" {
		termStart(ts, args[1:])
		return
	}
	t := termOf(ts)
	if t == nil {
		ts.Fatalf("term %s: no terminal; use term start first", args[0])
	}
	switch sub, args := args[0], args[1:]; sub {
	case "send":
		if len(args) == 0 {
			ts.Fatalf("usage: term send KEYS...")
		}
		_, err := t.tmux(append([]string{"send-keys", "-t", termTarget}, args...)...)
		ts.Check(err)
	case "sendlines":
		if len(args) != 2 {
			ts.Fatalf("usage: term sendlines N FORMAT")
		}
		var keys strings.Builder
		for i := 1; i <= atoi(ts, args[0]); i++ {
			fmt.Fprintf(&keys, args[1]+"\r", i)
		}
		// One send-keys: the lines reach the terminal as fast as it takes them.
		_, err := t.tmux("send-keys", "-t", termTarget, "-l", keys.String())
		ts.Check(err)
	case "paste":
		paste := []string{"paste-buffer", "-d", "-b", "script", "-t", termTarget}
		if len(args) == 2 && args[0] == "-p" {
			paste, args = append(paste, "-p"), args[1:]
		}
		if len(args) != 1 {
			ts.Fatalf("usage: term paste [-p] FILE")
		}
		_, err := t.tmux("load-buffer", "-b", "script", ts.MkAbs(args[0]))
		ts.Check(err)
		_, err = t.tmux(paste...)
		ts.Check(err)
	case "wait":
		c, rest := termCaptureFlags(ts, args)
		if len(rest) != 1 {
			ts.Fatalf("usage: term wait [-S] [-cursor] REGEXP")
		}
		re, err := regexp.Compile("(?m)" + rest[0])
		ts.Check(err)
		deadline := time.Now().Add(termTimeout)
		for {
			screen, err := t.capture(c)
			ts.Check(err)
			if re.MatchString(screen) {
				return
			}
			if time.Now().After(deadline) {
				ts.Fatalf("the screen never matched %q in %v; it shows:\n%s", rest[0], termTimeout, t.show())
			}
			time.Sleep(termPoll)
		}
	case "screen":
		c, rest := termCaptureFlags(ts, args)
		if len(rest) != 0 {
			ts.Fatalf("usage: term screen [-S] [-e] [-cursor]")
		}
		screen, err := t.capture(c)
		ts.Check(err)
		fmt.Fprint(ts.Stdout(), screen)
	case "display":
		if len(args) != 1 {
			ts.Fatalf("usage: term display FORMAT")
		}
		out, err := t.tmux("display-message", "-p", "-t", termTarget, args[0])
		ts.Check(err)
		fmt.Fprint(ts.Stdout(), out)
	case "exit":
		if len(args) != 1 {
			ts.Fatalf("usage: term exit N")
		}
		want := atoi(ts, args[0])
		deadline := time.Now().Add(termTimeout)
		for {
			out, err := t.tmux("display-message", "-p", "-t", termTarget, "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}")
			ts.Check(err)
			// The pane is dead when its terminal closed, which may come
			// before the status does.
			f := strings.Split(strings.TrimSpace(out), ":")
			if len(f) != 3 {
				ts.Fatalf("tmux said %q", out)
			}
			dead, status, sig := f[0], f[1], f[2]
			if dead == "1" && sig != "" {
				ts.Fatalf("the command was killed by signal %s; want exit code %d; the screen shows:\n%s", sig, want, t.show())
			}
			if dead == "1" && status != "" {
				if status != strconv.Itoa(want) {
					ts.Fatalf("the command exited with code %s; want %d; the screen shows:\n%s", status, want, t.show())
				}
				return
			}
			if dead == "1" {
				t.nudge()
			}
			if time.Now().After(deadline) {
				ts.Fatalf("the command had not exited after %v (tmux: %q); the screen shows:\n%s", termTimeout, out, t.show())
			}
			time.Sleep(termPoll)
		}
	default:
		ts.Fatalf("unknown term command %q", sub)
	}
}

const (
	// termTimeout bounds each wait: generous, as it is only reached when
	// the test fails.
	termTimeout = 30 * time.Second
	termPoll    = 20 * time.Millisecond
	termTarget  = "t" // the session, and so its one pane
)

// termConf configures each private server: the pane stays after its command
// exits, so that its last screen and exit status can be read; no status
// line, so the screen is the pane; no scrolling into the history on a full
// clear, so the scrollback holds only what scrolled off.
const termConf = `set -g remain-on-exit on
set -g status off
set -g history-limit 10000
set -g scroll-on-clear off
set -g default-terminal screen
`

// tmuxTerm is a script's private tmux server.
type tmuxTerm struct {
	dir    string // holds the sockets and the configuration
	sock   string // the running server's
	starts int
}

// terms maps each running script to its terminal: scripts run in parallel.
var terms sync.Map // *testscript.TestScript -> *tmuxTerm

func termOf(ts *testscript.TestScript) *tmuxTerm {
	t, _ := terms.Load(ts)
	tt, _ := t.(*tmuxTerm)
	return tt
}

func termStart(ts *testscript.TestScript, args []string) {
	cols, rows := "100", "30"
	for len(args) >= 2 && (args[0] == "-x" || args[0] == "-y") {
		n := strconv.Itoa(atoi(ts, args[1]))
		if args[0] == "-x" {
			cols = n
		} else {
			rows = n
		}
		args = args[2:]
	}
	if len(args) == 0 {
		ts.Fatalf("usage: term start [-x COLS] [-y ROWS] CMD ARGS...")
	}
	t := termOf(ts)
	if t == nil {
		// A socket's path must fit in sun_path (108 bytes): under $WORK
		// if it is short enough, else in a directory of our own.
		dir := filepath.Join(ts.Getenv("WORK"), ".tmux")
		if len(dir) > 80 {
			d, err := os.MkdirTemp("", "tmux")
			ts.Check(err)
			dir = d
			ts.Defer(func() { os.RemoveAll(d) })
		} else {
			ts.Check(os.MkdirAll(dir, 0o700))
		}
		ts.Check(os.WriteFile(filepath.Join(dir, "tmux.conf"), []byte(termConf), 0o600))
		t = &tmuxTerm{dir: dir}
		terms.Store(ts, t)
		ts.Defer(func() {
			t.kill()
			terms.Delete(ts)
		})
	} else {
		t.kill()
	}
	// Each start gets a new server, with the environment the script has
	// now, on a new socket, as the old server may take a moment to go.
	t.starts++
	t.sock = filepath.Join(t.dir, fmt.Sprintf("s%d", t.starts))
	// ts.Exec runs the client with the script's environment and directory,
	// which the server it starts, and so the pane, inherits.
	argv := append([]string{"-S", t.sock, "-f", filepath.Join(t.dir, "tmux.conf"),
		"new-session", "-d", "-s", termTarget, "-x", cols, "-y", rows, "--"}, args...)
	if err := ts.Exec("tmux", argv...); err != nil {
		ts.Fatalf("starting tmux: %v", err)
	}
}

// tmux runs a tmux command on the private server.
func (t *tmuxTerm) tmux(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-S", t.sock}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("tmux %s: %v: %s", strings.Join(args, " "), err, ee.Stderr)
		}
	}
	return string(out), err
}

func (t *tmuxTerm) kill() { t.tmux("kill-server") }

// nudge sends the server a SIGCHLD. A tmux built with libutempter swaps in
// utempter's SIGCHLD handler while it runs its helper, which it does when a
// pane's terminal closes, just as the pane's command exits: the signal can
// be lost and the command left a zombie with no exit status. Another
// SIGCHLD makes tmux reap it (tmux issue #311).
func (t *tmuxTerm) nudge() {
	out, err := t.tmux("display-message", "-p", "#{pid}")
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(out)); err == nil {
		syscall.Kill(pid, syscall.SIGCHLD)
	}
}

type termCapture struct{ scrollback, escapes, cursor bool }

func termCaptureFlags(ts *testscript.TestScript, args []string) (termCapture, []string) {
	var c termCapture
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-S":
			c.scrollback = true
		case "-e":
			c.escapes = true
		case "-cursor":
			c.cursor = true
		default:
			ts.Fatalf("unknown flag %s", args[0])
		}
		args = args[1:]
	}
	if c.scrollback && c.cursor {
		ts.Fatalf("-S and -cursor do not mix: the cursor is on the screen")
	}
	return c, args
}

// capture returns the screen as text, a line per row. Trailing blanks are
// trimmed, as tmux does: they are invisible, and redraws leave some behind.
// So the empty prompt reads ">".
func (t *tmuxTerm) capture(c termCapture) (string, error) {
	args := []string{"capture-pane", "-p", "-t", termTarget}
	if c.scrollback {
		args = append(args, "-S", "-")
	}
	if c.escapes {
		args = append(args, "-e")
	}
	if !c.cursor {
		return t.tmux(args...)
	}
	// One tmux command line, so that the cursor and the screen are read
	// together, between two writes of the program.
	out, err := t.tmux(append([]string{"display-message", "-p", "-t", termTarget, "#{cursor_y}", ";"}, args...)...)
	if err != nil {
		return "", err
	}
	y, screen, _ := strings.Cut(out, "\n")
	row, err := strconv.Atoi(y)
	if err != nil {
		return "", fmt.Errorf("tmux gave cursor row %q", y)
	}
	lines := strings.Split(screen, "\n")
	if row < 0 || row >= len(lines) {
		return "", fmt.Errorf("cursor row %d is off the screen", row)
	}
	return lines[row] + "\n", nil
}

// show is the screen for a failure message.
func (t *tmuxTerm) show() string {
	s, err := t.capture(termCapture{})
	if err != nil {
		return err.Error()
	}
	return s
}
