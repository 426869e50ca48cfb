package serve

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
)

// client is one caller connected. Its reader reads its requests and
// queues them (or answers at once what it cannot take); its writer writes
// the answers in the order of the requests, from a ring of ClientWindow
// slots: request k of the caller's is slot k mod ClientWindow, from when
// it is read until its answer is written, and no more are read while the
// ring is full.
type client struct {
	s    *server
	n    int // the how-manieth caller since the start, for messages
	conn *net.UnixConn

	// Guarded by s.mu:
	slots   []slot
	read    uint64 // requests read: the next one's number
	written uint64 // answers written: the next one's number
	eof     bool   // the caller has sent all it will
	gone    bool   // it went away: its answers are dropped

	wakeW chan struct{} // the writer: an answer is ready, or the caller gone
	room  chan struct{} // the reader: a slot is free
}

// slot is a request of the caller's, read and not yet answered and written.
type slot struct {
	id   json.RawMessage // its id, as the caller wrote it
	line []byte          // what the pool is fed, until it is
	ans  []byte          // its answer line, once done
	done bool
}

func (c *client) slot(k uint64) *slot { return &c.slots[k%uint64(len(c.slots))] }

// answer makes sl's answer ans, and wakes the writer. s.mu is held.
func (c *client) answer(sl *slot, ans []byte) {
	sl.ans, sl.done = ans, true
	wake(c.wakeW)
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// headLen is how much of a request over --max-request is kept, to read its
// id from.
const headLen = 256

// readLoop reads the caller's requests until it has sent all, or is gone.
func (c *client) readLoop() {
	defer c.s.wg.Done()
	br := bufio.NewReaderSize(c.conn, 64<<10)
	var buf []byte
	for {
		line, over, err := readRequest(br, c.s.cfg.MaxRequest, buf[:0])
		if len(line) > 0 || over || err == nil {
			if !c.waitRoom() {
				c.ended(nil)
				return
			}
			c.take(line, over)
		}
		if err != nil {
			c.ended(err)
			return
		}
		buf = line
		if cap(buf) > 64<<10 {
			buf = nil
		}
	}
}

// readRequest reads one line of br into buf, without its "\n": all of it,
// or, if it is longer than limit bytes, its first headLen bytes, with over
// set (the rest is read and dropped, never held). At the end of the
// input, err is io.EOF, and line what came after the last "\n".
func readRequest(br *bufio.Reader, limit int, buf []byte) (line []byte, over bool, err error) {
	for {
		frag, err := br.ReadSlice('\n')
		frag = bytes.TrimSuffix(frag, []byte("\n"))
		switch {
		case over:
		case len(buf)+len(frag) > limit:
			over = true
			buf = buf[:min(len(buf), headLen)]
			buf = append(buf, frag[:min(len(frag), headLen-len(buf))]...)
		default:
			buf = append(buf, frag...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return buf, over, err
	}
}

// waitRoom waits until the caller's ring has room for one more request;
// false if it is gone, or the server shuts down.
func (c *client) waitRoom() bool {
	s := c.s
	for {
		s.mu.Lock()
		full, gone := c.read-c.written >= uint64(len(c.slots)), c.gone
		s.mu.Unlock()
		switch {
		case gone:
			return false
		case !full:
			return true
		}
		select {
		case <-c.room:
		case <-s.stop:
			return false
		}
	}
}

// take handles one line the caller sent: it queues the request for the
// pool, or answers it at once (status, errors). The ring has room.
func (c *client) take(line []byte, over bool) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	k := c.read
	c.read++
	sl := c.slot(k)
	*sl = slot{ans: sl.ans[:0]}
	var (
		r   request
		err error
	)
	if over {
		r.id = idOf(line)
		err = fmt.Errorf("request longer than --max-request %d bytes; send shorter ones, or start the server with a larger --max-request", s.cfg.MaxRequest)
	} else {
		r, err = parseRequest(line, s.mode)
	}
	sl.id = r.id
	switch {
	case err != nil:
		c.answer(sl, appendError(sl.ans, r.id, err.Error()))
	case r.status:
		c.answer(sl, appendStatus(sl.ans, r.id, s.status()))
	case s.closed != nil:
		c.answer(sl, appendError(sl.ans, r.id, "not sent: "+s.closed.Error()))
	case s.draining:
		c.answer(sl, appendError(sl.ans, r.id, "not sent: the server is stopping"))
	default:
		sl.line = r.line
		s.queue.push(c, k)
		s.wakeFeeder()
	}
}

// ended is called when the reader is done: the caller shut down its
// writing (it waits for its answers), or went away (err, or its socket
// closed: the kernel tells the two apart, see hungUp).
func (c *client) ended(err error) {
	if err != nil && !errors.Is(err, io.EOF) || err != nil && hungUp(c.conn) {
		c.s.drop(c, err)
		return
	}
	c.s.mu.Lock()
	c.eof = true
	c.s.mu.Unlock()
	wake(c.wakeW)
}

// writeLoop greets the caller, then writes its answers in order, as they
// are done, until it has sent all and had all answered, or is gone.
func (c *client) writeLoop() {
	s := c.s
	defer s.wg.Done()
	defer c.conn.Close()
	defer func() {
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
	}()
	if _, err := c.conn.Write(s.greeting); err != nil {
		s.drop(c, err)
		return
	}
	var buf []byte
	for {
		s.mu.Lock()
		buf = buf[:0]
		n := uint64(0)
		for k := c.written; k < c.read; k++ {
			sl := c.slot(k)
			if !sl.done {
				break
			}
			buf = append(buf, sl.ans...)
			n++
		}
		finished := n == 0 && c.eof && c.written == c.read
		gone := c.gone
		s.mu.Unlock()
		if gone || finished {
			return
		}
		if n == 0 {
			<-c.wakeW
			continue
		}
		if _, err := c.conn.Write(buf); err != nil {
			s.drop(c, err)
			return
		}
		s.mu.Lock()
		for range n {
			sl := c.slot(c.written)
			ans := sl.ans[:0]
			if cap(ans) > 64<<10 {
				ans = nil
			}
			*sl = slot{ans: ans}
			c.written++
		}
		s.mu.Unlock()
		wake(c.room)
		if cap(buf) > 1<<20 {
			buf = nil
		}
	}
}

// drop forgets a caller that went away: its queued requests are dropped,
// the answers to those in flight will be, and its connection is closed.
func (s *server) drop(c *client, why error) {
	s.mu.Lock()
	if c.gone {
		s.mu.Unlock()
		return
	}
	c.gone = true
	dropped := len(s.queue.drop(c))
	open := -dropped // those fed to the pool and not answered
	for k := c.written; k < c.read; k++ {
		if !c.slot(k).done {
			open++
		}
	}
	delete(s.clients, c)
	s.mu.Unlock()
	c.conn.Close()
	wake(c.wakeW)
	wake(c.room)
	if dropped+open > 0 && !errors.Is(why, net.ErrClosed) {
		s.log.say("caller %d went away with %d request(s) queued, dropped, and %d under way, whose answers are dropped", c.n, dropped, open)
	}
}
