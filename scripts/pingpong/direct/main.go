// Command direct is the reference side of the ping-pong benchmark in
// scripts/bench.sh: it does what `pipecli run --framing line --window W
// --file F -- CHILD` does, directly over the child's pipes and no more, so
// that pipecli's requests/s and round trip can be read next to it.
//
//	direct -window W -file F -- CHILD [ARGS...] > answers
//
// It starts CHILD, writes the lines of F to it keeping at most W requests
// in flight, reads one answer line per request, and copies the answers to
// stdout. One goroutine does it all, with bufio on every stream: requests
// that fit in the window go in one write, answers already read are handled
// without another read. At the end it prints on stderr, like pipecli's
// --stats, the count, the rate and the round-trip percentiles, a round trip
// being the time from queueing a request for writing (pipecli: handing it
// to the child's stdin) to having read its answer (pipecli: the dispatcher
// receiving it): both include the write and read system calls and the
// child's turnaround.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"time"
)

func main() {
	window := flag.Int("window", 1, "requests in flight at once")
	file := flag.String("file", "", "the requests, one per line")
	flag.Parse()
	if *window < 1 || *file == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: direct -window W -file F -- CHILD [ARGS...]")
		os.Exit(2)
	}
	if err := run(*window, *file, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "direct: %v\n", err)
		os.Exit(1)
	}
}

func run(window int, file string, argv []string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	start := time.Now()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	lats, err := converse(window, f, stdin, stdout, out)
	stdin.Close()
	if werr := cmd.Wait(); err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(os.Stderr, "direct: requests: %d in %s (%.1f/s)%s\n",
		len(lats), elapsed.Round(time.Millisecond), float64(len(lats))/elapsed.Seconds(), percentiles(lats))
	return nil
}

// converse sends the lines of src to the child keeping at most window in
// flight, copies the answers to out and returns each request's round trip.
func converse(window int, src io.Reader, stdin io.Writer, stdout io.Reader, out io.Writer) ([]time.Duration, error) {
	in := bufio.NewReaderSize(src, 64<<10)
	w := bufio.NewWriterSize(stdin, 64<<10)
	r := bufio.NewReaderSize(stdout, 64<<10)
	sentAt := make([]time.Time, window) // a ring: request i is at i % window
	var (
		lats      []time.Duration
		sent, got int
		eof       bool
	)
	for {
		for !eof && sent-got < window {
			line, err := in.ReadSlice('\n')
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, fmt.Errorf("request %d is longer than %d bytes", sent+1, in.Size())
			}
			if len(line) > 0 {
				w.Write(line)
				if line[len(line)-1] != '\n' {
					w.WriteByte('\n')
				}
				sentAt[sent%window] = time.Now()
				sent++
			}
			switch {
			case err == io.EOF:
				eof = true
			case err != nil:
				return nil, err
			}
		}
		if err := w.Flush(); err != nil {
			return nil, fmt.Errorf("writing to the child: %w", err)
		}
		if got == sent {
			return lats, nil // eof: all answered
		}
		// One answer, waiting for it if need be, then those already read.
		for {
			ans, err := r.ReadSlice('\n')
			if err != nil {
				return nil, fmt.Errorf("reading answer %d: %w", got+1, err)
			}
			lats = append(lats, time.Since(sentAt[got%window]))
			got++
			out.Write(ans)
			if got == sent || !lineBuffered(r) {
				break
			}
		}
	}
}

// lineBuffered reports whether r holds a complete line it can return without
// reading.
func lineBuffered(r *bufio.Reader) bool {
	b, _ := r.Peek(r.Buffered())
	return bytes.IndexByte(b, '\n') >= 0
}

// percentiles is "; latency p50 …" as pipecli's --stats prints it, with the
// same choice of element, in microseconds.
func percentiles(lats []time.Duration) string {
	if len(lats) == 0 {
		return ""
	}
	l := slices.Clone(lats)
	slices.Sort(l)
	pct := func(p float64) time.Duration { return l[min(len(l)-1, int(p*float64(len(l))))] }
	us := func(d time.Duration) string { return fmt.Sprintf("%.1fus", float64(d)/float64(time.Microsecond)) }
	return fmt.Sprintf("; latency p50 %s, p90 %s, p99 %s, max %s", us(pct(0.50)), us(pct(0.90)), us(pct(0.99)), us(l[len(l)-1]))
}
