package session

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ergochat/readline"
)

// eventKind is what the person at the prompt did.
type eventKind int

const (
	evLine    eventKind = iota // a line to send
	evEOF                      // Ctrl-D, or Ctrl-C on an empty line: end the input
	evQuit                     // :quit
	evRestart                  // :restart
	evStats                    // :stats
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
	p := &prompt{events: make(chan event), done: make(chan struct{}), say: pc.Say, out: pc.Out}
	cfg := &readline.Config{
		Prompt:            pc.Prompt,
		HistoryFile:       pc.HistoryFile,
		HistorySearchFold: true,
		Stdin:             pc.In,
		Stdout:            pc.Out,
		Stderr:            pc.Err,
		// Every key passes here before readline acts on it, and then reaches
		// the Listener unless it ended the line: see outMu.
		FuncFilterInputRune: func(key rune) (rune, bool) {
			switch key {
			case readline.CharEnter, readline.CharCtrlJ, readline.CharInterrupt, readline.CharEOT:
				p.hold()
			}
			return key, true
		},
		// The fork answers Ctrl-C with ErrInterrupt whatever the line held;
		// the listener sees every key, so it knows whether the line was empty.
		Listener: func(line []rune, pos int, key rune) ([]rune, int, bool) {
			p.lineLen = len(line)
			p.release() // the key did not end the line: Ctrl-C in a search, Ctrl-D on text
			return nil, 0, false
		},
		InterruptPrompt: "\n",
		EOFPrompt:       "\n",
		Undo:            true,
	}
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
	go p.loop()
	return p, nil
}

func (p *prompt) loop() {
	defer close(p.done)
	for {
		p.lineLen = 0
		closedBefore := p.closed.Load()
		line, err := p.rl.ReadLine()
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
	switch line {
	case ":quit", ":q", ":exit":
		return event{kind: evQuit}, true
	case ":restart":
		return event{kind: evRestart}, true
	case ":stats":
		return event{kind: evStats}, true
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
  :stats     requests answered and failed, latency (with --framing)
  ::text     send ":text" to the child
keys: Ctrl-C clears the line; on an empty line it ends the input, like Ctrl-D;
      Ctrl-R searches the history; Up/Down walk it`

// Close restores the terminal and ends the goroutine, even if it is blocked
// reading a key.
func (p *prompt) Close() {
	p.closed.Store(true)
	p.rl.Close()
	for {
		select {
		case <-p.events:
		case <-p.done:
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
func (p *prompt) stdout() io.Writer { return lockedWriter{&p.outMu, p.rl.Stdout()} }
func (p *prompt) stderr() io.Writer { return lockedWriter{&p.outMu, p.rl.Stderr()} }

// lockedWriter writes to w holding mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (lw lockedWriter) Write(b []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(b)
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
