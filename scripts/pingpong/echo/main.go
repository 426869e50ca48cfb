// Command echo is the child of the ping-pong benchmark in scripts/bench.sh:
// it writes each line it reads back unchanged, like a model serving one
// line at a time.
//
// It flushes only when no complete line is left in its input buffer, so a
// burst of requests is answered with one write, while a lone request is
// answered at once. (Flushing only when nothing at all is buffered would
// hang on a request whose first half arrived alone: the answers before it
// would wait for its second half, which its sender may send only once it has
// them.)
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := echo(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "echo: %v\n", err)
		os.Exit(1)
	}
}

func echo(in io.Reader, out io.Writer) error {
	r := bufio.NewReaderSize(in, 64<<10)
	w := bufio.NewWriterSize(out, 64<<10)
	for {
		// ReadSlice, not ReadBytes: no allocation per line. A line longer
		// than the buffer comes in pieces, each written as it comes.
		line, err := r.ReadSlice('\n')
		if len(line) > 0 {
			if _, werr := w.Write(line); werr != nil {
				return werr
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			return w.Flush()
		case err != nil:
			return err
		}
		if !lineBuffered(r) {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
}

// lineBuffered reports whether r holds a complete line it can return without
// reading.
func lineBuffered(r *bufio.Reader) bool {
	n := r.Buffered()
	if n == 0 {
		return false
	}
	b, _ := r.Peek(n)
	return bytes.IndexByte(b, '\n') >= 0
}
