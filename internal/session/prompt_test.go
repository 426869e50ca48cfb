package session

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// fakeTerm is a pseudo-terminal for the prompt to run on, and the terminal
// emulator at its far end: it answers readline's cursor position queries
// (always row 1, column 1) and throws away the rest of what is drawn.
type fakeTerm struct {
	master *os.File // what the emulator reads and types on
	tty    *os.File // the prompt's stdin and stdout
	done   chan struct{}
	// asked gets a value for each cursor position query, once it is
	// answered. readline asks when it starts reading a line, in raw mode:
	// keys sent before then would meet the terminal in canonical mode,
	// which cuts lines at 4095 bytes.
	asked chan struct{}
}

func newFakeTerm(tb testing.TB, cols, rows int) *fakeTerm {
	tb.Helper()
	// Non-blocking, so that Close ends a Read of the master in progress.
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		tb.Skipf("no pseudo-terminal: %v", err)
	}
	ft := &fakeTerm{master: os.NewFile(uintptr(mfd), "/dev/ptmx"), done: make(chan struct{}), asked: make(chan struct{}, 16)}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		tb.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		tb.Fatal(err)
	}
	ft.tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	ws := &unix.Winsize{Col: uint16(cols), Row: uint16(rows)}
	if err := unix.IoctlSetWinsize(int(ft.tty.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		tb.Fatal(err)
	}
	go ft.emulate()
	return ft
}

// emulate reads what is drawn and answers each cursor position query.
func (ft *fakeTerm) emulate() {
	defer close(ft.done)
	const dsr = "\x1b[6n"
	buf := make([]byte, 64<<10)
	var tail []byte // the end of the last read, which may start a query
	for {
		n, err := ft.master.Read(buf)
		if err != nil {
			return
		}
		seen := append(tail, buf[:n]...)
		for q := bytes.Count(seen, []byte(dsr)); q > 0; q-- {
			ft.master.Write([]byte("\x1b[1;1R"))
			ft.asked <- struct{}{}
		}
		// A query split between reads starts in the last three bytes;
		// one counted already cannot be counted again from them, as
		// "[6n" holds no ESC.
		tail = append(tail[:0], seen[max(0, len(seen)-len(dsr)+1):]...)
	}
}

// close hangs up: the prompt's reads of the terminal fail and its reader
// ends.
func (ft *fakeTerm) close() {
	ft.master.Close()
	<-ft.done
	ft.tty.Close()
}

// newTermPrompt starts a prompt on a fake terminal; cleanup closes both.
func newTermPrompt(tb testing.TB) (*prompt, *fakeTerm) {
	tb.Helper()
	ft := newFakeTerm(tb, 100, 30)
	p, err := newPrompt(promptConfig{
		In: ft.tty, Out: ft.tty, Err: ft.tty,
		Prompt: readyPrompt,
		Say:    func(string, ...any) {},
	})
	if err != nil {
		ft.close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		p.Close()
		ft.close()
	})
	return p, ft
}

// BenchmarkPaste pastes one long line at the prompt and waits for the
// editor to hand it over; ns/KB is the cost of each KB pasted, which stays
// the same whatever the size when pasting is linear. The terminal either
// marks the paste (bracketed paste, as xterm and tmux do when asked) or
// sends it as if typed.
func BenchmarkPaste(b *testing.B) {
	for _, bracketed := range []bool{true, false} {
		for _, kb := range []int{5, 20, 50} {
			name := fmt.Sprintf("typed/%dKB", kb)
			if bracketed {
				name = fmt.Sprintf("bracketed/%dKB", kb)
			}
			b.Run(name, func(b *testing.B) {
				p, ft := newTermPrompt(b)
				line := pasteLine(kb << 10)
				keys := line + "\r"
				if bracketed {
					keys = "\x1b[200~" + line + "\x1b[201~\r"
				}
				for b.Loop() {
					<-ft.asked
					if _, err := ft.master.WriteString(keys); err != nil {
						b.Fatal(err)
					}
					if ev := <-p.events; ev.kind != evLine || ev.line != line {
						b.Fatalf("got event %d with a line of %d bytes; want the %d bytes pasted", ev.kind, len(ev.line), len(line))
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(kb), "ns/KB")
			})
		}
	}
}

// pasteLine is n bytes of text that differs along the line.
func pasteLine(n int) string {
	var sb strings.Builder
	for i := 0; sb.Len() < n; i++ {
		fmt.Fprintf(&sb, "word%d ", i)
	}
	return sb.String()[:n]
}

// TestPromptPaste pastes at a prompt on a pseudo-terminal: the lines
// reach the session whole, the text put where the cursor is.
func TestPromptPaste(t *testing.T) {
	long := pasteLine(50 << 10)
	tests := []struct {
		name string
		keys string
		want []string
	}{
		{"marked", "\x1b[200~" + long + "\x1b[201~\r", []string{long}},
		{"not marked", long + "\r", []string{long}},
		{"two lines", "\x1b[200~" + long + "\r" + long + "\r\x1b[201~", []string{long, long}},
		{"after the cursor", "ab\x1b[D\x1b[200~" + long + "\x1b[201~\r", []string{"a" + long + "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ft := newTermPrompt(t)
			<-ft.asked
			// The prompt reads no more keys until its line is taken.
			wrote := make(chan error, 1)
			go func() {
				_, err := ft.master.WriteString(tt.keys)
				wrote <- err
			}()
			for i, want := range tt.want {
				if ev := <-p.events; ev.kind != evLine || ev.line != want {
					t.Errorf("line %d: got event %d with %d bytes %.20q...; want %d bytes %.20q...", i+1, ev.kind, len(ev.line), ev.line, len(want), want)
				}
			}
			if err := <-wrote; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEndsMidLine(t *testing.T) {
	tests := []struct {
		out     string
		mid, ok bool
	}{
		{"abc", true, true},
		{"abc\n", false, true},
		{"one\ntwo", true, true},
		{"\x1b[33mwarning\n\x1b[0m", false, true}, // a coloured line of stderr
		{"\x1b[2mpartial\x1b[0m", true, true},
		{"abc\x1b[K", true, true},
		{"abc\n\x1b7", true, true}, // not a control sequence: counts as a character
		{"\x1b[0m", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		mid, ok := endsMidLine([]byte(tt.out))
		if mid != tt.mid || ok != tt.ok {
			t.Errorf("endsMidLine(%q) = %v, %v; want %v, %v", tt.out, mid, ok, tt.mid, tt.ok)
		}
	}
}

// TestPasteReader checks the keys readline gets, and the text the editor
// takes after the first character of a run ("first+rest"), for what the
// terminal sends, a read at a time.
func TestPasteReader(t *testing.T) {
	long := strings.Repeat("x", burstMin)
	tests := []struct {
		name   string
		reads  []string
		cpr    bool // readline has asked where the cursor is
		noTake bool // the editor takes nothing: a history search
		want   []string
	}{
		{"typed keys", []string{"a", "b", "\r"}, false, false,
			[]string{"a", "b", "\r"}},
		{"text read at once", []string{"hello\r"}, false, false,
			[]string{"h+ello", "\r"}},
		{"keys between runs", []string{"ab\x1b[Acd\x01ef\x7fgh"}, false, false,
			[]string{"a+b", "\x1b[A", "c+d", "\x01", "e+f", "\x7f", "g+h"}},
		{"not taken: as typed", []string{"hello", "\r"}, false, true,
			[]string{"h", "ello", "\r"}},
		{"bracketed paste over reads", []string{"\x1b[200~abc", "def\rgh", "i\x1b[201~\r"}, false, false,
			[]string{"a+bcdef", "\r", "g+hi", "\r"}},
		{"paste marks cut between reads", []string{"\x1b[20", "0~abc\x1b[2", "01~"}, false, false,
			[]string{"a+bc"}},
		{"character cut between reads", []string{"ab\xc3", "\xa9cd"}, false, false,
			[]string{"a+b", "é+cd"}},
		{"invalid UTF-8", []string{"a\xffb"}, false, false,
			[]string{"a+\ufffdb"}},
		{"Alt and Alt-arrow", []string{"\x1bbxy\x1b\x1b[C"}, false, false,
			[]string{"\x1bb", "x+y", "\x1b", "\x1b[C"}},
		{"the cursor's place first", []string{"ab", "\x1b[12;40R"}, true, false,
			[]string{"\x1b[12;40R", "a+b"}},
		{"cursor's place cut between reads", []string{"ab\x1b[12", ";40Rc"}, true, false,
			[]string{"\x1b[12;40R", "a+bc"}},
		{"a long run waits for more", []string{long, long + "\r"}, false, false,
			[]string{"x+" + long[1:] + long, "\r"}},
		{"a short run does not", []string{"abc", "def"}, false, false,
			[]string{"a+bc", "d+ef"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &chunkReader{chunks: tt.reads}
			r := &pasteReader{in: in, ready: func(time.Duration) bool { return len(in.chunks) > 0 }}
			r.cprWanted.Store(tt.cpr)
			var got []string
			p := make([]byte, 4096)
			for {
				n, err := r.Read(p)
				if n > 0 {
					key := string(p[:n])
					if first, size := utf8.DecodeRuneInString(key); size == n && !tt.noTake {
						if rest := r.take(first); rest != nil {
							key += "+" + string(rest)
						}
					}
					got = append(got, key)
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// chunkReader returns its chunks a read each, then EOF.
type chunkReader struct{ chunks []string }

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	if c.chunks[0] = c.chunks[0][n:]; c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}
