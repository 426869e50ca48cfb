package bench

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestParseWindows(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		err  string
	}{
		{"64", []int{64}, ""},
		{"1,8,64", []int{1, 8, 64}, ""},
		{" 1, 8 ", []int{1, 8}, ""},
		{"0,8", nil, `--window "0,8": each window must be 1 or more, not 0`},
		{"-1", nil, `--window "-1": each window must be 1 or more, not -1`},
		{"1,,8", nil, `--window "1,,8" has an empty item; give windows separated by commas, such as 1,8,64`},
		{"", nil, `--window "" has an empty item; give windows separated by commas, such as 1,8,64`},
		{"1,x", nil, `--window "1,x": "x" is not a whole number; give windows separated by commas, such as 1,8,64`},
		{"1.5", nil, `--window "1.5": "1.5" is not a whole number; give windows separated by commas, such as 1,8,64`},
		{"8,1,8", nil, `--window "8,1,8" gives 8 twice`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseWindows(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("ParseWindows(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("ParseWindows(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// A source counts the requests of one pass, by the run's rule: a last
// line without "\n" counts; with --skip-empty, blank lines do not.
func TestSourceRequests(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		skipEmpty bool
		want      int
	}{
		{"lines", "a\nb\n", false, 2},
		{"no final newline", "a\nb", false, 2},
		{"one line, no newline", "a", false, 1},
		{"CRLF", "a\r\nb\r\n", false, 2},
		{"blank lines are requests", "a\n\nb\n", false, 3},
		{"unless skipped", "a\n\n \r\n\t\nb\n", true, 2},
		{"empty", "", false, 0},
		{"only blank, skipped", "\n \n", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, file := range []bool{false, true} {
				src, err := sourceOf(t, file, tt.in, tt.skipEmpty)
				if tt.want == 0 {
					if !errors.Is(err, ErrNoLines) {
						t.Errorf("file %v: error %v; want ErrNoLines", file, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("file %v: %v", file, err)
				}
				if n, err := src.Requests(context.Background()); err != nil || n != tt.want {
					t.Errorf("file %v: %d requests, %v; want %d", file, n, err, tt.want)
				}
			}
		})
	}
}

// sourceOf is text's source, in a file or in memory.
func sourceOf(t *testing.T, file bool, text string, skipEmpty bool) (*Source, error) {
	if file {
		return FileSource(tempFile(t, text), skipEmpty)
	}
	return BytesSource([]byte(text), skipEmpty)
}

func tempFile(t *testing.T, text string) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "in.txt"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	return f
}

// The feed gives the warm-up requests, stops at the gate, then gives the
// measured ones, looping over the source from the request asked.
func TestFeed(t *testing.T) {
	tests := []struct {
		name           string
		in             string
		skipEmpty      bool
		from, warm, n  int
		wantWarm, want string
	}{
		{"no warm-up", "a\nb\nc\n", false, 0, 0, 3, "", "a\nb\nc\n"},
		{"looped", "a\nb\n", false, 0, 0, 5, "", "a\nb\na\nb\na\n"},
		{"no final newline: one between passes", "a\nb", false, 0, 0, 3, "", "a\nb\na\n"},
		{"warm-up first", "a\nb\nc\n", false, 0, 1, 3, "a\n", "b\nc\na\n"},
		{"warm-up longer than the source", "a\nb\n", false, 0, 3, 2, "a\nb\na\n", "b\na\n"},
		{"from a later request", "a\nb\nc\n", false, 4, 1, 2, "b\n", "c\na\n"},
		{"blank lines are requests", "\nx\n", false, 0, 0, 3, "", "\nx\n\n"},
		{"skipped blank lines are not sent", "a\n\nb\n\n", true, 0, 1, 2, "a\n", "b\na\n"},
		{"skipped from", "a\n \nb\n", true, 1, 0, 2, "", "b\na\n"},
		// One pass: a file's requests are learned at its end.
		{"one pass", "a\nb\nc\n", false, 0, 0, onePass, "", "a\nb\nc\n"},
		{"one pass after the warm-up", "a\nb\nc\n", false, 0, 1, onePass, "a\n", "b\nc\na\n"},
		{"one pass, no final newline", "a\nb", false, 0, 1, onePass, "a\n", "b\na\n"},
		{"one pass, shorter than the warm-up", "a\nb\n", false, 0, 3, onePass, "a\nb\na\n", "b\na\n"},
		{"one pass ending in a blank request", "a\n\n", false, 0, 0, onePass, "", "a\n\n"},
		{"one pass ending in skipped blank lines", "a\n\nb\n\n \n", true, 0, 1, onePass, "a\n", "b\na\n"},
		{"one pass of one request", "a", false, 0, 1, onePass, "a\n", "a\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, file := range []bool{false, true} {
				src, err := sourceOf(t, file, tt.in, tt.skipEmpty)
				if err != nil {
					t.Fatal(err)
				}
				m := newMeter(tt.warm, 1, false)
				f, err := newFeed(context.Background(), src, tt.from, tt.warm, tt.n, 0, m)
				if err != nil {
					t.Fatal(err)
				}
				m.begin(time.Now())
				if tt.warm > 0 {
					// The warm-up requests come in one read, which
					// stops at the gate: the next would wait for it.
					buf := make([]byte, 1000)
					n, err := f.Read(buf)
					if err != nil || string(buf[:n]) != tt.wantWarm {
						t.Fatalf("file %v: before the gate: %q, %v; want %q", file, buf[:n], err, tt.wantWarm)
					}
					m.steadyAt = time.Now()
					close(m.gate)
				}
				got, err := io.ReadAll(f)
				if err != nil || string(got) != tt.want {
					t.Fatalf("file %v: after the gate: %q, %v; want %q", file, got, err, tt.want)
				}
			}
		})
	}
}

// Lines longer than the feed's buffer, or than a read, come in pieces,
// whole, and count once.
func TestFeedLongLines(t *testing.T) {
	long := strings.Repeat("x", 3*feedBuffer/2)
	src, err := BytesSource([]byte(long+"\ny\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	m := newMeter(0, 1, false)
	f, err := newFeed(context.Background(), src, 1, 0, 3, 0, m)
	if err != nil {
		t.Fatal(err)
	}
	m.begin(time.Now())
	got, err := io.ReadAll(iotest.OneByteReader(f))
	want := "y\n" + long + "\ny\n"
	if err != nil || string(got) != want {
		t.Fatalf("got %d bytes, %v; want %d", len(got), err, len(want))
	}
}

// feedAll reads everything a feed of src gives (warm-up requests, then n
// measured ones, from request 0), the gate open from the start, through
// wrap (nil: as it is); it returns the feed too.
func feedAll(t *testing.T, src *Source, warm, n int, wrap func(io.Reader) io.Reader) ([]byte, *feed) {
	t.Helper()
	m := newMeter(warm, 1, false)
	f, err := newFeed(context.Background(), src, 0, warm, n, 0, m)
	if err != nil {
		t.Fatal(err)
	}
	m.begin(time.Now())
	m.steadyAt = time.Now()
	close(m.gate)
	var r io.Reader = f
	if wrap != nil {
		r = wrap(f)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return got, f
}

// A file is read from its offset, as stdin that a script has read the
// first lines of: counted, scanned and sent from there.
func TestFileSourceOffset(t *testing.T) {
	f := tempFile(t, "a\nb\nc")
	if _, err := f.Seek(2, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	src, err := FileSource(f, false)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := src.Requests(context.Background()); n != 2 || err != nil {
		t.Fatalf("Requests = %d, %v; want 2", n, err)
	}
	src.requests = 0 // learned in the pass, not counted
	if got, _ := feedAll(t, src, 1, onePass, nil); string(got) != "b\nc\nb\n" {
		t.Fatalf("the feed gave %q; want %q", got, "b\nc\nb\n")
	}
}

// One pass over a file of long lines ends where the file does, whichever
// piece of a line crosses the end of the pass.
func TestFeedOnePassLongLines(t *testing.T) {
	long := strings.Repeat("x", 3*feedBuffer/2)
	for _, text := range []string{long + "\ny\n" + long + "\n", "y\n" + long, long} {
		src, err := FileSource(tempFile(t, text), false)
		if err != nil {
			t.Fatal(err)
		}
		got, f := feedAll(t, src, 1, onePass, iotest.OneByteReader)
		lines := strings.SplitAfter(strings.TrimSuffix(text, "\n")+"\n", "\n")
		lines = lines[:len(lines)-1]
		// The warm-up, then one pass from the second line.
		want := lines[0] + strings.Join(lines[1:], "") + lines[0]
		if string(got) != want {
			t.Fatalf("%d lines: got %d bytes; want %d", len(lines), len(got), len(want))
		}
		if f.per != len(lines) {
			t.Fatalf("%d lines: a pass holds %d requests, it says", len(lines), f.per)
		}
	}
}

// With --skip-empty, a line of white space longer than the feed's buffer
// is no request, as the run decides; one with text after the white space
// is, whole.
func TestFeedLongBlankLines(t *testing.T) {
	blank := strings.Repeat(" ", 3*feedBuffer/2)
	for _, file := range []bool{false, true} {
		src, err := sourceOf(t, file, blank+"\na\n"+blank+"b\n", true)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := feedAll(t, src, 1, 2, nil)
		if want := "a\n" + blank + "b\na\n"; string(got) != want {
			t.Fatalf("file %v: the feed gave %d bytes (%q...); want %d", file, len(got), got[:min(len(got), 10)], len(want))
		}
	}
}

// For a time: once it is up, or no child is left, the feed ends.
func TestFeedDuration(t *testing.T) {
	src, _ := BytesSource([]byte("a\n"), false)
	m := newMeter(0, 1, false)
	f, _ := newFeed(context.Background(), src, 0, 0, 0, time.Minute, m)
	m.begin(time.Now().Add(-time.Hour))
	if got, _ := io.ReadAll(f); len(got) != 0 {
		t.Errorf("its time was up: it gave %q", got)
	}
	m = newMeter(0, 1, false)
	f, _ = newFeed(context.Background(), src, 0, 0, 0, time.Hour, m)
	m.begin(time.Now())
	m.noChild.Store(true)
	if got, _ := io.ReadAll(f); len(got) != 0 {
		t.Errorf("no child was left: it gave %q", got)
	}
}

// Close ends a Read that waits at the gate.
func TestFeedClose(t *testing.T) {
	src, _ := BytesSource([]byte("a\n"), false)
	m := newMeter(1, 1, false)
	f, _ := newFeed(context.Background(), src, 0, 1, 1, 0, m)
	m.begin(time.Now())
	buf := make([]byte, 10)
	if n, err := f.Read(buf); n != 2 || err != nil {
		t.Fatalf("warm-up read: %d, %v", n, err)
	}
	done := make(chan error)
	go func() {
		_, err := f.Read(buf)
		done <- err
	}()
	f.Close()
	if err := <-done; err != io.EOF {
		t.Errorf("Read after Close: %v; want EOF", err)
	}
}

func TestShare(t *testing.T) {
	for _, tt := range []struct {
		n, rounds int
		want      []int
	}{
		{10, 1, []int{10}},
		{10, 3, []int{4, 3, 3}},
		{2, 5, []int{1, 1, 0, 0, 0}},
	} {
		var got []int
		for r := range tt.rounds {
			got = append(got, share(tt.n, tt.rounds, r))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("share(%d over %d) = %v; want %v", tt.n, tt.rounds, got, tt.want)
		}
	}
}
