package frame

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// benchDecode measures decoding line, a line with its "\n", one per Feed
// (ping-pong: one request in flight) and in 64 KiB chunks (a batch).
func benchDecode(b *testing.B, o Options, line []byte) {
	b.Run("pingpong", func(b *testing.B) {
		d := NewDecoder(o)
		b.SetBytes(int64(len(line)))
		b.ReportAllocs()
		for b.Loop() {
			if ms, err := d.Feed(line); err != nil || len(ms) != 1 {
				b.Fatal(ms, err)
			}
		}
	})
	b.Run("64KiB", func(b *testing.B) {
		chunk := bytes.Repeat(line, 64<<10/len(line))
		n := bytes.Count(chunk, []byte("\n"))
		d := NewDecoder(o)
		b.SetBytes(int64(len(chunk)))
		b.ReportAllocs()
		for b.Loop() {
			if ms, err := d.Feed(chunk); err != nil || len(ms) != n {
				b.Fatal(len(ms), err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/line")
	})
}

func BenchmarkDecodeLine(b *testing.B) {
	benchDecode(b, Options{Mode: Line}, []byte(strings.Repeat("x", 127)+"\n"))
}

func BenchmarkDecodeJSONL(b *testing.B) {
	line := fmt.Sprintf(`{"jsonrpc":"2.0","id":123456,"result":{"text":%q,"score":-1.5}}`+"\n", strings.Repeat("plain text ", 5))
	benchDecode(b, Options{Mode: JSONL}, []byte(line))
}

func BenchmarkEncodeJSONL(b *testing.B) {
	for _, tt := range []struct{ name, line string }{
		{"text", strings.Repeat("some words ", 11)},
		{"object", `{"method":"decrypt","params":{"text":"` + strings.Repeat("x", 80) + `"}}`},
		{"object_id", `{"jsonrpc":"2.0","id":"req-1","method":"m","params":["` + strings.Repeat("x", 80) + `"]}`},
	} {
		b.Run(tt.name, func(b *testing.B) {
			line := []byte(tt.line)
			var dst []byte
			seq := uint64(1000)
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, _, err = EncodeRequest(dst[:0], Options{Mode: JSONL}, seq, line); err != nil {
					b.Fatal(err)
				}
				seq++
			}
		})
	}
}
