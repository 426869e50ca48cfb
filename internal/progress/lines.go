package progress

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
)

// chunk is how much CountLines reads at a time.
const chunk = 1 << 20

// CountLines counts the lines of f from its current offset to its end, a
// last line without a newline included, for Config.Total; with skipBlank,
// only lines with more than white space in them (the requests of
// --skip-empty, by track's rule). It returns 0 and no error when f is not a
// regular file (a pipe, a terminal): the total is then unknown. It reads with
// ReadAt, so f's offset is left where it was, and it stops early when ctx is
// done.
//
// Counting beats estimating the total from f's size and the bytes read so
// far: an estimate needs the reader to report bytes read, and it drifts with
// the length of the lines (prompts of mixed length), so done/total and the
// ETA would jump. Counting is exact, and cheap next to the run a large file
// makes: a 1 GB file is counted in about 0.3 s from the page cache (bytes.Count
// over 1 MiB reads), and a count from disk leaves the file in the cache for
// the reading that follows. Call it before f is read, since it counts from
// f's offset at the call.
func CountLines(ctx context.Context, f *os.File, skipBlank bool) (int64, error) {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0, err
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	r := io.NewSectionReader(f, off, max(fi.Size()-off, 0))
	if skipBlank {
		return countRequests(ctx, r)
	}
	buf := make([]byte, chunk)
	var n int64
	var last byte = '\n' // an empty file has no unended line
	for {
		m, err := r.Read(buf)
		if m > 0 {
			n += int64(bytes.Count(buf[:m], []byte{'\n'}))
			last = buf[m-1]
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
	}
	if last != '\n' {
		n++
	}
	return n, nil
}

// countRequests counts the lines of r that bytes.TrimSpace leaves non-empty.
// A line longer than chunk comes in pieces; a piece can end inside a
// multi-byte space, which then counts as text: only a line of over 1 MiB of
// nothing but white space would be miscounted.
func countRequests(ctx context.Context, r io.Reader) (int64, error) {
	br := bufio.NewReaderSize(r, chunk)
	var n, pieces int64
	text := false // whether the line read so far has more than white space
	for {
		piece, err := br.ReadSlice('\n')
		text = text || len(bytes.TrimSpace(piece)) > 0
		ended := len(piece) > 0 && piece[len(piece)-1] == '\n'
		if ended || errors.Is(err, io.EOF) {
			if text {
				n++
			}
			text = false
		}
		switch {
		case errors.Is(err, io.EOF):
			return n, nil
		case err != nil && !errors.Is(err, bufio.ErrBufferFull):
			return 0, err
		}
		// Asking ctx for every short line would cost more than the count.
		if pieces++; pieces%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
		}
	}
}
