package session

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ergochat/readline"
	"golang.org/x/sys/unix"
)

// eventKind is what the person at the prompt did.
type eventKind int

const (
	evLine    eventKind = iota // a line to send
	evEOF                      // Ctrl-D, or Ctrl-C on an empty line: end the input
	evQuit                     // :quit
	evRestart                  // :restart
	evStats                    // :stats
	evLoad                     // :load FILE: send the file's lines as if typed
)

type event struct {
	kind eventKind
	line string
}

// prompt is the line editor. Its goroutine reads lines and turns them into
// events; it ends after sending evEOF or evQuit, or when Close interrupts it.
// Console commands that need nothing from the session (:help, unknown ones)
// are answered here.
type prompt struct {
	rl     *readline.Instance
	events chan event
	done   chan struct{} // closed when the goroutine has returned
	say    func(format string, a ...any)
	out    io.Writer   // the terminal the prompt is drawn on
	closed atomic.Bool // Close was called

	// outMu is held by whoever draws: a write of output above the prompt,
	// or the editor's goroutine from a key that ends the line (Enter,
	// Ctrl-C, Ctrl-D) until ReadLine has returned. In between, readline has
	// moved the cursor below the finished line but still counts itself as
	// prompting: a write there would redraw a prompt that nothing erases,
	// so the next answer printed straight after it is glued to it
	// ("> reply: x") or the next prompt is drawn after it ("> > x").
	outMu sync.Mutex
	// holding says that the editor's goroutine holds outMu; lineLen is the
	// length of the line being edited. The editor's goroutine only.
	holding bool
	lineLen int
	// midLine says that the output above the prompt ends in a line not
	// finished, after which the prompt is drawn. outMu guards it.
	midLine bool

	// in is the editor's stdin. prevLen and prevPos are the line's length
	// and the cursor's place as the Listener last saw them, and searched
	// says that a history search began in this line: the Listener's, to
	// tell whether a key went into the line as typed text.
	in               *pasteReader
	prevLen, prevPos int
	searched         bool
	// bracketed says that the terminal was asked to mark pastes; Close
	// asks it to stop.
	bracketed bool

	// resized is closed by Close to end the goroutine that passes SIGWINCH
	// on to the editor; resizing counts it.
	resized    chan struct{}
	stopResize sync.Once
	resizing   sync.WaitGroup
}

// promptConfig says where the editor reads and draws.
type promptConfig struct {
	In          *os.File
	Out, Err    io.Writer // the terminal the prompt is drawn on
	HistoryFile string    // "" keeps no history
	Prompt      string
	// Say prints one of pipecli's messages, for the commands the prompt
	// answers itself (:help).
	Say func(format string, a ...any)
}

func newPrompt(pc promptConfig) (*prompt, error) {
	p := &prompt{events: make(chan event), done: make(chan struct{}), say: pc.Say, out: pc.Out,
		in: newPasteReader(pc.In)}
	cfg := &readline.Config{
		Prompt:            pc.Prompt,
		HistoryFile:       pc.HistoryFile,
		HistorySearchFold: true,
		Stdin:             p.in,
		Stdout:            cprWatch{pc.Out, p.in},
		Stderr:            pc.Err,
		// Every key passes here before readline acts on it, and then reaches
		// the Listener unless it ended the line: see outMu.
		FuncFilterInputRune: func(key rune) (rune, bool) {
			switch key {
			case readline.CharEnter, readline.CharCtrlJ, readline.CharInterrupt:
				p.hold()
				p.freshLine()
			case readline.CharEOT:
				p.hold()
				if p.lineLen == 0 { // else it deletes a character
					p.freshLine()
				}
			}
			return key, true
		},
		// The fork answers Ctrl-C with ErrInterrupt whatever the line held;
		// the listener sees every key, so it knows whether the line was empty.
		Listener: func(line []rune, pos int, key rune) ([]rune, int, bool) {
			p.lineLen = len(line)
			p.release() // the key did not end the line: Ctrl-C in a search, Ctrl-D on text
			return p.paste(line, pos, key)
		},
		InterruptPrompt: "\n",
		EOFPrompt:       "\n",
		Undo:            true,
	}
	p.useTerminal(cfg, pc.In, pc.Out)
	if pc.HistoryFile == "" {
		cfg.HistoryLimit = -1
	} else if err := prepareHistory(pc.HistoryFile); err != nil {
		return nil, err
	}
	rl, err := readline.NewFromConfig(cfg)
	if err != nil {
		return nil, err
	}
	if pc.HistoryFile != "" {
		// The editor creates and rewrites the file with mode 0666 less the
		// umask; history may hold secrets typed at the prompt.
		os.Chmod(pc.HistoryFile, 0o600)
	}
	p.rl = rl
	if cfg.FuncIsTerminal() {
		io.WriteString(pc.Out, pasteOn)
		p.bracketed = true
	}
	go p.loop()
	return p, nil
}

// paste puts into the line the text that came with key, in one go, if key
// went into the line as typed text: see pasteReader. It returns what the
// Listener returns.
func (p *prompt) paste(line []rune, pos int, key rune) ([]rune, int, bool) {
	if line == nil { // ReadLine starts
		p.prevLen, p.prevPos, p.searched = 0, 0, false
		return nil, 0, false
	}
	if key == readline.CharBckSearch || key == readline.CharFwdSearch {
		// Typed text goes to the search until it ends, which only
		// readline knows: take no chances for the rest of the line.
		p.searched = true
	}
	typed := !p.searched && len(line) == p.prevLen+1 && pos == p.prevPos+1 && line[pos-1] == key
	p.prevLen, p.prevPos = len(line), pos
	if !typed {
		return nil, 0, false
	}
	rest := p.in.take(key)
	if rest == nil {
		return nil, 0, false
	}
	pasted := make([]rune, 0, len(line)+len(rest))
	pasted = append(append(append(pasted, line[:pos]...), rest...), line[pos:]...)
	pos += len(rest)
	p.lineLen, p.prevLen, p.prevPos = len(pasted), len(pasted), pos
	return pasted, pos, true
}

// useTerminal makes the editor ask in and out, the terminal it reads and
// draws on, whether they are terminals and how wide, and put in in raw
// mode. Left to itself, readline asks file descriptors 0, 1 and 2, so a
// prompt could not run on a terminal of a test's own; and its SIGWINCH
// goroutine never ends, where ours ends with Close.
func (p *prompt) useTerminal(cfg *readline.Config, in *os.File, out io.Writer) {
	outFile, ok := out.(*os.File)
	if !ok {
		return // readline's defaults
	}
	inFd, outFd := int(in.Fd()), int(outFile.Fd())
	cfg.FuncIsTerminal = func() bool { return isTerminal(inFd) && isTerminal(outFd) }
	cfg.FuncGetSize = func() (int, int) {
		ws, err := unix.IoctlGetWinsize(outFd, unix.TIOCGWINSZ)
		if err != nil {
			return -1, -1
		}
		return int(ws.Col), int(ws.Row)
	}
	var raw rawMode
	cfg.FuncMakeRaw = func() error { return raw.enter(inFd) }
	cfg.FuncExitRaw = raw.exit
	p.resized = make(chan struct{})
	cfg.FuncOnWidthChanged = func(f func()) {
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		p.resizing.Add(1)
		go func() {
			defer p.resizing.Done()
			defer signal.Stop(winch)
			for {
				select {
				case <-winch:
					f()
				case <-p.resized:
					return
				}
			}
		}()
	}
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// rawMode puts a terminal in raw mode and back, as readline does: as
// cfmakeraw(3), but with output processing left on, so that the "\n" of
// the child's output still starts a line.
type rawMode struct {
	mu    sync.Mutex // readline enters and leaves from its goroutines, and Close
	fd    int
	saved *unix.Termios // nil: not in raw mode
}

func (r *rawMode) enter(fd int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	if r.saved == nil {
		saved := *t
		r.fd, r.saved = fd, &saved
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

func (r *rawMode) exit() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.saved == nil {
		return nil
	}
	if err := unix.IoctlSetTermios(r.fd, unix.TCSETS, r.saved); err != nil {
		return err
	}
	r.saved = nil
	return nil
}

func (p *prompt) loop() {
	defer close(p.done)
	for {
		p.lineLen = 0
		closedBefore := p.closed.Load()
		line, err := p.rl.ReadLine()
		if p.holding {
			// The key that ended the line left the cursor at the start
			// of the next.
			p.midLine = false
		}
		p.release()
		if err != nil && !closedBefore && p.closed.Load() {
			// Close took the prompt off the screen with the cursor still
			// after it: what pipecli says next starts on a line of its own.
			io.WriteString(p.out, "\n")
		}
		switch {
		case errors.Is(err, readline.ErrInterrupt):
			if p.lineLen > 0 {
				continue // Ctrl-C cleared the line
			}
			p.send(event{kind: evEOF})
			return
		case err != nil:
			p.send(event{kind: evEOF})
			return
		}
		ev, ok := p.parse(line)
		if !ok {
			continue
		}
		if !p.send(ev) || ev.kind == evQuit {
			return
		}
	}
}

// freshLine moves the prompt and the line typed to a line of their own if
// they follow output that ended in an unfinished line, as a key ends the
// line: readline would leave them glued to it in the scrollback, "abc> xy"
// for the child's "abc" and the line "xy" sent after it. (Until then they
// stay where they are: the line shows what the child printed last.) Drawn
// again after "\n", the prompt starts at the left, and readline, having
// counted the "\n", wipes and redraws from there. The caller holds outMu.
func (p *prompt) freshLine() {
	if p.midLine {
		p.rl.Stdout().Write([]byte("\n"))
		p.midLine = false
	}
}

// hold and release take and give back outMu for the editor's goroutine.
func (p *prompt) hold() {
	if !p.holding {
		p.outMu.Lock()
		p.holding = true
	}
}

func (p *prompt) release() {
	if p.holding {
		p.holding = false
		p.outMu.Unlock()
	}
}

// send hands ev to the session, which takes events until it calls Close;
// Close takes any event still on its way.
func (p *prompt) send(ev event) bool {
	p.events <- ev
	return true
}

// parse turns a typed line into an event. Lines starting with ':' are
// console commands; '::' sends a literal colon.
func (p *prompt) parse(line string) (event, bool) {
	if len(line) == 0 || line[0] != ':' {
		return event{kind: evLine, line: line}, true
	}
	if len(line) > 1 && line[1] == ':' {
		return event{kind: evLine, line: line[1:]}, true
	}
	if path, ok := strings.CutPrefix(line, ":load "); ok && strings.TrimSpace(path) != "" {
		return event{kind: evLoad, line: strings.TrimSpace(path)}, true
	}
	switch line {
	case ":quit", ":q", ":exit":
		return event{kind: evQuit}, true
	case ":restart":
		return event{kind: evRestart}, true
	case ":stats":
		return event{kind: evStats}, true
	case ":load":
		p.say(":load needs a file: :load FILE sends its lines as if typed")
		return event{}, false
	case ":help", ":h", ":?":
		p.say("%s", helpText)
	default:
		p.say("unknown command %q; :help lists the commands, ::text sends :text", line)
	}
	return event{}, false
}

const helpText = "commands:\n" + PromptHelp

// PromptHelp lists the prompt's commands and keys: for :help, and for
// pipecli run --help.
const PromptHelp = `  :help      this help
  :quit      close the child's input, wait for it to finish (then stop it) and exit
  :restart   stop the child and start it again
  :stats     requests answered and failed, latency (with --framing), per replica
  :load FILE send FILE's lines as if typed (with --framing)
  ::text     send ":text" to the child
keys: Ctrl-C clears the line; on an empty line it ends the input, like Ctrl-D;
      Ctrl-R searches the history; Up/Down walk it`

// Close restores the terminal and ends the goroutine, even if it is blocked
// reading a key.
func (p *prompt) Close() {
	p.closed.Store(true)
	p.rl.Close()
	if p.resized != nil {
		p.stopResize.Do(func() { close(p.resized) })
		p.resizing.Wait()
	}
	for {
		select {
		case <-p.events:
		case <-p.done:
			p.outMu.Lock()
			defer p.outMu.Unlock()
			if p.bracketed {
				io.WriteString(p.out, pasteOff)
				p.bracketed = false
			}
			return
		}
	}
}

// readyPrompt is the prompt; loadingPrompt the one shown while a framed
// child is loading (--ready, --skip-banner), with the time it has taken.
const readyPrompt = "> "

func loadingPrompt(d time.Duration) string {
	return fmt.Sprintf("loading %s %s", d.Truncate(time.Second), readyPrompt)
}

// setPrompt changes the prompt and redraws it with the line being typed.
func (p *prompt) setPrompt(s string) {
	p.outMu.Lock()
	defer p.outMu.Unlock()
	p.rl.SetPrompt(s)
	p.rl.Refresh()
}

// stdout and stderr write above the prompt, redrawing the line being typed.
func (p *prompt) stdout() io.Writer { return outputWriter{p, p.rl.Stdout()} }
func (p *prompt) stderr() io.Writer { return outputWriter{p, p.rl.Stderr()} }

// outputWriter writes to w holding p.outMu, and notes whether the output
// ends in an unfinished line.
type outputWriter struct {
	p *prompt
	w io.Writer
}

func (ow outputWriter) Write(b []byte) (int, error) {
	ow.p.outMu.Lock()
	defer ow.p.outMu.Unlock()
	n, err := ow.w.Write(b)
	if mid, ok := endsMidLine(b[:n]); ok {
		ow.p.midLine = mid
	}
	return n, err
}

// endsMidLine says whether b's last character is not a newline, looking
// past the escape sequences at its end (a colour's end: "text\n\x1b[0m").
// ok is false if b holds no character.
func endsMidLine(b []byte) (mid, ok bool) {
	for len(b) > 0 {
		i := bytes.LastIndexByte(b, 0x1b)
		if i < 0 || !isCSI(b[i:]) {
			break
		}
		b = b[:i]
	}
	if len(b) == 0 {
		return false, false
	}
	return b[len(b)-1] != '\n', true
}

// isCSI says whether b is one control sequence: ESC [, parameter and
// intermediate bytes, a final byte.
func isCSI(b []byte) bool {
	if len(b) < 3 || b[1] != '[' {
		return false
	}
	for _, c := range b[2 : len(b)-1] {
		if c < 0x20 || c > 0x3f {
			return false
		}
	}
	last := b[len(b)-1]
	return last >= 0x40 && last <= 0x7e
}

// prepareHistory makes the history's directory (0700) and file (0600).
func prepareHistory(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// HistoryPath is where the prompt keeps its history:
// $XDG_STATE_HOME/pipecli/history, else ~/.local/state/pipecli/history.
func HistoryPath(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "pipecli", "history")
	}
	home := getenv("HOME")
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".local", "state", "pipecli", "history")
}
