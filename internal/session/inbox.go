package session

import (
	"io"
	"sync"
)

// inbox holds what the prompt sends to the child until the child reads it,
// so that typing never blocks on a child that is busy or not reading. It has
// one reader at a time: when a child is restarted, the old child's reader is
// closed and the new one carries on where it stopped, so no line is lost.
type inbox struct {
	mu     sync.Mutex
	cond   sync.Cond // signalled when buf, closed or gen change
	buf    []byte
	closed bool // no more input: readers get EOF once buf is empty
	gen    int  // the generation of the reader that may read
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
	b.buf = append(b.buf, p...)
	b.cond.Broadcast()
	return len(p), nil
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
	b.gen++
	b.cond.Broadcast()
	return &inboxReader{b: b, gen: b.gen}
}

type inboxReader struct {
	b   *inbox
	gen int
}

func (r *inboxReader) Read(p []byte) (int, error) {
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.buf) == 0 && !b.closed && r.gen == b.gen {
		b.cond.Wait()
	}
	if r.gen != b.gen || len(b.buf) == 0 {
		return 0, io.EOF
	}
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
		b.gen++
		b.cond.Broadcast()
	}
	return nil
}

// reset drops what is queued and not yet read: the framed tracker calls it
// when a child died, before it sends the unanswered requests again, so that
// none reaches the new child twice.
func (b *inbox) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = nil
}
