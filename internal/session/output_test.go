package session

import (
	"errors"
	"testing"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/track"
)

// An answer that is not UTF-8 is kept whole, for "output_base64", in the
// framings that pass bytes through; nowhere else.
func TestExactAnswer(t *testing.T) {
	tests := []struct {
		name string
		mode frame.Mode
		r    track.Request
		want string // "" for nil
	}{
		{"line, UTF-8", frame.Line, track.Request{Answer: []byte("café")}, ""},
		{"line, not UTF-8", frame.Line, track.Request{Answer: []byte("caf\xe9")}, "caf\xe9"},
		{"marker, not UTF-8", frame.Marker, track.Request{Answer: []byte("a\n\xff\xfe")}, "a\n\xff\xfe"},
		{"jsonl", frame.JSONL, track.Request{Answer: []byte("\"\xff\"")}, ""},
		{"failed", frame.Line, track.Request{Answer: []byte("\xff"), Err: errors.New("timeout")}, ""},
		{"notification", frame.Line, track.Request{Answer: []byte("\xff"), Notification: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ExactAnswer(tt.mode, &tt.r)
			if string(got) != tt.want || (got == nil) != (tt.want == "") {
				t.Errorf("ExactAnswer = %q, want %q", got, tt.want)
			}
		})
	}
}
