package bench

import (
	"errors"
	"io"
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

func TestSplitLines(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		skipEmpty bool
		want      []string
		err       error
	}{
		{"lines", "a\nb\n", false, []string{"a", "b"}, nil},
		{"no final newline", "a\nb", false, []string{"a", "b"}, nil},
		{"CRLF", "a\r\nb\r\n", false, []string{"a", "b"}, nil},
		{"blank lines are requests", "a\n\nb\n", false, []string{"a", "", "b"}, nil},
		{"unless skipped", "a\n\n  \nb\n", true, []string{"a", "b"}, nil},
		{"empty", "", false, nil, ErrNoLines},
		{"only blank, skipped", "\n\n", true, nil, ErrNoLines},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitLines([]byte(tt.in), tt.skipEmpty)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v; want %v", err, tt.err)
			}
			var s []string
			for _, l := range got {
				s = append(s, string(l))
			}
			if !slices.Equal(s, tt.want) {
				t.Errorf("lines %q; want %q", s, tt.want)
			}
		})
	}
	// A line cannot grow into the next.
	got, _ := SplitLines([]byte("ab\ncd\n"), false)
	_ = append(got[0], 'X')
	if string(got[1]) != "cd" {
		t.Errorf("appending to a line changed the next: %q", got[1])
	}
}

func lines(s ...string) [][]byte {
	var ls [][]byte
	for _, l := range s {
		ls = append(ls, []byte(l))
	}
	return ls
}

// The feed gives the warm-up requests, waits for the gate, then the
// measured ones, looping over the lines from the place asked.
func TestFeed(t *testing.T) {
	tests := []struct {
		name           string
		lines          []string
		from, warm, n  int
		wantWarm, want string
	}{
		{"no warm-up", []string{"a", "b", "c"}, 0, 0, 3, "", "a\nb\nc\n"},
		{"looped", []string{"a", "b"}, 0, 0, 5, "", "a\nb\na\nb\na\n"},
		{"warm-up: the lines before", []string{"a", "b", "c"}, 0, 1, 3, "c\n", "a\nb\nc\n"},
		{"warm-up longer than the file", []string{"a", "b"}, 0, 3, 2, "b\na\nb\n", "a\nb\n"},
		{"a later round", []string{"a", "b", "c"}, 4, 1, 2, "a\n", "b\nc\n"},
		{"empty lines", []string{"", "x"}, 0, 0, 3, "", "\nx\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMeter(time.Now(), tt.warm, 1, false)
			f := newFeed(lines(tt.lines...), tt.from, tt.warm, tt.n, 0, m)
			if tt.warm > 0 {
				// The warm-up requests come in one read, which stops
				// at the gate: the next would wait for it to open.
				buf := make([]byte, 1000)
				n, err := f.Read(buf)
				if err != nil || string(buf[:n]) != tt.wantWarm {
					t.Fatalf("before the gate: %q, %v; want %q", buf[:n], err, tt.wantWarm)
				}
				m.steadyAt = time.Now()
				close(m.gate)
			}
			got, err := io.ReadAll(f)
			if err != nil || string(got) != tt.want {
				t.Fatalf("after the gate: %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// Lines longer than the reader's buffer come in pieces, whole.
func TestFeedLongLines(t *testing.T) {
	long := strings.Repeat("x", 10000)
	m := newMeter(time.Now(), 0, 1, false)
	f := newFeed(lines(long, "y"), 0, 0, 4, 0, m)
	got, err := io.ReadAll(iotest.OneByteReader(f))
	want := long + "\ny\n" + long + "\ny\n"
	if err != nil || string(got) != want {
		t.Fatalf("got %d bytes, %v; want %d", len(got), err, len(want))
	}
}

// For a time: once it is up, or no child is left, the feed ends.
func TestFeedDuration(t *testing.T) {
	m := newMeter(time.Now().Add(-time.Hour), 0, 1, false)
	f := newFeed(lines("a"), 0, 0, 0, time.Minute, m)
	if got, _ := io.ReadAll(f); len(got) != 0 {
		t.Errorf("its time was up: it gave %q", got)
	}
	m = newMeter(time.Now(), 0, 1, false)
	m.noChild.Store(true)
	f = newFeed(lines("a"), 0, 0, 0, time.Hour, m)
	if got, _ := io.ReadAll(f); len(got) != 0 {
		t.Errorf("no child was left: it gave %q", got)
	}
}

// Close ends a Read that waits at the gate.
func TestFeedClose(t *testing.T) {
	m := newMeter(time.Now(), 1, 1, false)
	f := newFeed(lines("a"), 0, 1, 1, 0, m)
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
