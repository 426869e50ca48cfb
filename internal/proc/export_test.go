package proc

import (
	"io"
	"os"
	"testing"
)

// Test helpers shared by the package's own tests and its external ones
// (package proc_test).

// Pipe is a pipe closed at the end of the test.
func Pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// Through makes the two pipes of a pipeline stage: data flows into the
// read end src, and got gives all that is written to the write end dst,
// once dst is closed.
func Through(t *testing.T, data []byte) (src, dst *os.File, got <-chan []byte) {
	src, srcW := Pipe(t)
	dstR, dst := Pipe(t)
	go func() {
		srcW.Write(data)
		srcW.Close()
	}()
	out := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(dstR)
		out <- b
	}()
	return src, dst, out
}
