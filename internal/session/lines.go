package session

import (
	"bytes"
	"io"
	"sync/atomic"
)

// maxBatch is the most lines readLines hands over at once, so the most
// the loop holds beyond what the book wants.
const maxBatch = 256

// chunkSize is how much readLines reads at once, and minRead the least
// room it reads into: with less left, it starts a new chunk.
const (
	chunkSize = 32 << 10 // the largest size the allocator keeps in classes: larger ones cost more
	minRead   = 4 << 10
)

// readLines sends the lines of src, without their line endings, until EOF
// or stop. It sends in one batch the complete lines that one read brought
// (up to maxBatch at a time) without waiting for more input: a file costs
// one channel operation, and one wake-up of the loop, per batch,
// while a line that comes alone is sent at once.
//
// It reads straight into chunks that the lines it sends then share: a line
// is copied once, by the read, and a chunk is one allocation for hundreds
// of lines (issue: framed throughput). Only the unfinished line at the end
// of a chunk is copied again, to the start of the next one. No line is too
// long: the chunk for an unfinished line grows as it must, doubling.
//
// The batches it sends are the receiver's until it gives them back, all
// used, on free (which may be nil): readLines makes the next batches in
// them, instead of allocating one per batch. A receiver that gives them
// back (free is not nil) must also be done with the lines of every batch
// before the one it last received, as the loop is, which copies each line
// (track.Book.Add) before it takes the next batch: readLines then reads
// into their chunk again instead of allocating, clearing and collecting
// one per 32 KiB of input (issue: bench's overhead).
//
// ended, if not nil, is set as soon as src has no more to give (EOF or an
// error), before the last batches are handed over: the receiver may then
// take them all, their number being known to be small.
func readLines(src io.Reader, out chan<- [][]byte, stop <-chan struct{}, free <-chan [][]byte, ended *atomic.Bool) error {
	var (
		buf     = make([]byte, 0, chunkSize)
		start   int      // buf[start:] is read and not yet sent
		scanned int      // buf[start:scanned] holds no "\n"
		lines   [][]byte // the batch being made
		// old is the chunk before buf, whose lines the receiver may
		// still hold, until it takes a batch after them; then it is
		// spare, to read into again.
		old, spare []byte
	)
	// newBatch is an empty batch: one given back, or a new one.
	newBatch := func() [][]byte {
		select {
		case b := <-free:
			return b[:0]
		default:
			return make([][]byte, 0, maxBatch)
		}
	}
	send := func(batch [][]byte) bool {
		select {
		case out <- batch:
			return true
		case <-stop:
			return false
		}
	}
	for {
		if cap(buf)-len(buf) < minRead {
			rest := buf[start:]
			var next []byte
			if size := max(chunkSize, 2*len(rest)+minRead); size == chunkSize && spare != nil {
				next, spare = spare[:len(rest)], nil
			} else {
				next = make([]byte, len(rest), size)
			}
			copy(next, rest)
			if free != nil && cap(buf) == chunkSize {
				old = buf[:0] // one that grew for a long line is not kept
			}
			buf, scanned, start = next, scanned-start, 0
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil && ended != nil {
			ended.Store(true)
		}
		for {
			if lines == nil {
				lines = newBatch()
			}
			for len(lines) < maxBatch {
				i := bytes.IndexByte(buf[scanned:], '\n')
				if i < 0 {
					scanned = len(buf)
					break
				}
				end := scanned + i + 1
				lines = append(lines, trimEOL(buf[start:end]))
				start, scanned = end, end
			}
			if len(lines) == 0 {
				break
			}
			if !send(lines) {
				return nil
			}
			lines = nil
			if old != nil {
				spare, old = old, nil // the receiver is done with its lines
			}
		}
		if err != nil {
			// The last line may have no "\n"; a failed read still sends
			// what came before it. lines is an empty batch here.
			if start < len(buf) && !send(append(lines, trimEOL(buf[start:]))) {
				return nil
			}
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// trimEOL removes a line's "\n" and a "\r" before it, and its spare
// capacity, so that nothing appended to it can reach the next line.
func trimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line[:len(line):len(line)]
}
