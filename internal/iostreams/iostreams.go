// Package iostreams describes the standard streams pipecli talks on: where they
// lead, whether each is a terminal, and whether each may be coloured.
package iostreams

import (
	"bytes"
	"io"
	"os"
	"sync"

	"golang.org/x/term"
)

// IOStreams is made once in main and passed down, so that tests can build it
// from buffers and pretend to be a terminal.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	InTTY, OutTTY, ErrTTY bool
	// OutColor and ErrColor are decided once, per stream, by SetColor.
	OutColor, ErrColor bool

	// Getenv reads the environment; tests replace it.
	Getenv func(string) string
}

// System returns the process's own streams.
func System() *IOStreams {
	s := &IOStreams{
		In:     os.Stdin,
		Out:    os.Stdout,
		ErrOut: os.Stderr,
		InTTY:  isTerminal(os.Stdin),
		OutTTY: isTerminal(os.Stdout),
		ErrTTY: isTerminal(os.Stderr),
		Getenv: os.Getenv,
	}
	s.SetColor(false)
	return s
}

// Test returns streams backed by buffers: no terminal, no colour.
func Test() (s *IOStreams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = new(bytes.Buffer), new(bytes.Buffer), new(bytes.Buffer)
	return &IOStreams{In: in, Out: out, ErrOut: errOut, Getenv: func(string) string { return "" }}, in, out, errOut
}

// SetColor decides colour for each stream: never with --no-color, NO_COLOR set
// or TERM=dumb; otherwise only where the stream is a terminal.
func (s *IOStreams) SetColor(noColor bool) {
	off := noColor || s.Getenv("NO_COLOR") != "" || s.Getenv("TERM") == "dumb"
	s.OutColor = !off && s.OutTTY
	s.ErrColor = !off && s.ErrTTY
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// Buffer is a bytes.Buffer that one goroutine may read while another
// writes to it: what tests collect from a running process or session.
type Buffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what has been written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
