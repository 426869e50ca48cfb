package session

import (
	"io"
	"sync"
)

// inbox holds what the prompt or a framed conversation sends to the child
// until the child reads it, so that sending never blocks on a child that is
// busy or not reading. It has one reader at a time (proc's stdin writer):
// when a child is restarted, the old child's reader is closed and the new one
// carries on where it stopped, so no line is lost.
//
// With attach, Write also writes straight to the child's stdin pipe while it
// has room and nothing is queued, so that the writer goroutine only wakes up
// when the pipe is full: a hand-over between goroutines per write costs
// more than the write (issue: framed throughput).
type inbox struct {
	mu     sync.Mutex
	cond   sync.Cond // signalled when buf, closed or gen change
	buf    []byte
	closed bool // no more input: readers get EOF once buf is empty
	gen    int  // the generation of the reader that may read
	// busy: the reader has returned bytes and may still be writing them;
	// it is writing no more once it reads again.
	busy bool
	// now writes to the current reader's child without waiting (see
	// proc.Child.WriteNow), or is nil.
	now func([]byte) (int, error)
}

func newInbox() *inbox {
	b := &inbox{}
	b.cond.L = &b.mu
	return b
}

// Write queues p for the child. It never blocks.
func (b *inbox) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, io.ErrClosedPipe
	}
	n := len(p)
	if len(b.buf) == 0 && !b.busy && b.now != nil {
		// Under the lock, so that the reader cannot start writing
		// meanwhile. Whatever the pipe did not take, even after an
		// error, goes to the reader, which sends it or reports why not.
		m, _ := b.now(p)
		if p = p[m:]; len(p) == 0 {
			return n, nil
		}
	}
	b.buf = append(b.buf, p...)
	b.cond.Broadcast()
	return n, nil
}

// attach makes Write write straight to r's child with now while the pipe
// has room and nothing is queued. r must be the current reader.
func (b *inbox) attach(r io.Reader, now func([]byte) (int, error)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ir, ok := r.(*inboxReader); ok && ir.gen == b.gen {
		b.now = now
	}
}

// CloseWrite ends the input: the reader gets EOF after what is queued.
func (b *inbox) CloseWrite() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.cond.Broadcast()
}

// reader returns the reader for the next child, retiring the previous one.
func (b *inbox) reader() io.ReadCloser {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.retire()
	return &inboxReader{b: b, gen: b.gen}
}

// retire ends the current reader's turn. b.mu is held.
func (b *inbox) retire() {
	b.gen++
	b.busy, b.now = false, nil
	b.cond.Broadcast()
}

type inboxReader struct {
	b   *inbox
	gen int
}

func (r *inboxReader) Read(p []byte) (int, error) {
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.gen == b.gen {
		b.busy = false // what it read before is written
	}
	for len(b.buf) == 0 && !b.closed && r.gen == b.gen {
		b.cond.Wait()
	}
	if r.gen != b.gen || len(b.buf) == 0 {
		return 0, io.EOF
	}
	b.busy = true
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	if len(b.buf) == 0 {
		b.buf = nil
	}
	return n, nil
}

// Close retires this reader: a Read in progress returns EOF.
func (r *inboxReader) Close() error {
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.gen == b.gen {
		b.retire()
	}
	return nil
}
