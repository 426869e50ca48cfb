package progress_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipecli/pipecli/internal/progress"
)

func TestCountLines(t *testing.T) {
	long := strings.Repeat("x", 1<<20+10) // longer than CountLines' reads
	tests := []struct {
		name      string
		content   string
		skip      int64 // bytes read before counting
		all, text int64 // lines, and lines with more than white space
	}{
		{"empty", "", 0, 0, 0},
		{"one line", "a\n", 0, 1, 1},
		{"last line unended", "a\nb", 0, 2, 2},
		{"blank lines", "a\n\n  \t\nb\r\n\r\n", 0, 5, 2},
		{"unicode space is blank", "\u00a0\u3000\na\n", 0, 2, 1},
		{"only a newline", "\n", 0, 1, 0},
		{"from the offset", "skipped\na\nb\n", int64(len("skipped\n")), 2, 2},
		{"long lines", long + "\n" + strings.Repeat(" ", 1<<20+10) + "\n" + long, 0, 3, 2},
		{"long line ends at a read's end", strings.Repeat("y", 1<<20), 0, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tempFile(t, tt.content)
			if _, err := f.Seek(tt.skip, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				skipBlank bool
				want      int64
			}{{false, tt.all}, {true, tt.text}} {
				n, err := progress.CountLines(context.Background(), f, c.skipBlank)
				if n != c.want || err != nil {
					t.Errorf("CountLines(skipBlank=%v) = %d, %v; want %d", c.skipBlank, n, err, c.want)
				}
				if off, _ := f.Seek(0, io.SeekCurrent); off != tt.skip {
					t.Errorf("offset moved to %d, want %d", off, tt.skip)
				}
			}
		})
	}
}

func TestCountLinesNotRegular(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if n, err := progress.CountLines(context.Background(), r, false); n != 0 || err != nil {
		t.Errorf("pipe: CountLines = %d, %v; want 0, nil", n, err)
	}
}

func TestCountLinesCancelled(t *testing.T) {
	f := tempFile(t, strings.Repeat("a\n", 1<<20)) // two reads
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, skipBlank := range []bool{false, true} {
		if _, err := progress.CountLines(ctx, f, skipBlank); err != context.Canceled {
			t.Errorf("skipBlank=%v: err = %v, want context.Canceled", skipBlank, err)
		}
	}
}

func tempFile(t *testing.T, content string) *os.File {
	t.Helper()
	name := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
