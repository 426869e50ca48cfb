package track

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/pipecli/pipecli/internal/frame"
)

// BenchmarkCycle is the engine's own work for a request, with no I/O:
// added, sent in the window's wire, its echo decoded (line framing) and
// delivered, handed back by Done. It is what the framed run does for a
// request beyond what the minimal client of scripts/pingpong does
// (scripts/bench-bench.sh compares the two over real pipes), less the
// clock readings, one per turn here as there. Each op is one request; a
// window's requests go in one wire and come back in one read.
func BenchmarkCycle(b *testing.B) {
	line := bytes.Repeat([]byte("x"), 127)
	for _, w := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("window=%d", w), func(b *testing.B) {
			book := New(Config{Framing: frame.Options{Mode: frame.Line}, Window: w, Reorder: 1024})
			book.Attach()
			book.SetReady(0)
			dec := frame.NewDecoder(frame.Options{Mode: frame.Line})
			var wires [][]byte
			answered := 0
			for n := 0; n < b.N; {
				for ; n < b.N && book.Wants(); n++ {
					book.Add(line)
				}
				now := time.Now()
				wires = book.Dispatch(wires, now)
				msgs, err := dec.Feed(wires[0]) // the echo of the wire
				if err != nil {
					b.Fatal(err)
				}
				wires[0] = wires[0][:0]
				for _, m := range msgs {
					if o, _ := book.Deliver(0, m, now); o != Answered {
						b.Fatalf("outcome %v", o)
					}
				}
				answered += len(book.Done())
			}
			if answered != b.N {
				b.Fatalf("%d answered of %d", answered, b.N)
			}
		})
	}
}
