package session

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/iostreams"
)

// Framed runs with streams that are not terminals: answers in input order,
// whatever order the child answers in.
func TestRunFramed(t *testing.T) {
	tests := []struct {
		name    string
		framing frame.Options
		argv    []string
		input   string
		want    string
	}{
		{
			name:    "line",
			framing: frame.Options{Mode: frame.Line},
			argv:    []string{"sed", "-u", "s/^/> /"},
			input:   "a\nb\n",
			want:    "> a\n> b\n",
		},
		{
			name:    "marker",
			framing: frame.Options{Mode: frame.Marker, Marker: "."},
			argv:    []string{"sed", "-u", `s/$/\n./`},
			input:   "a\nb\n",
			want:    "a\nb\n",
		},
		{
			// The child answers request 2 before request 1: the output
			// still follows the input.
			name:    "jsonl out of order",
			framing: frame.Options{Mode: frame.JSONL},
			argv:    []string{"sh", "-c", `read a; read b; echo "$b"; echo "$a"`},
			input:   "{\"id\":\"x\"}\n{\"id\":\"y\"}\n",
			want:    "{\"id\":\"x\"}\n{\"id\":\"y\"}\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, in, out, errOut := iostreams.Test()
			in.WriteString(tt.input)
			res, err := Run(context.Background(), Config{
				Argv:    tt.argv,
				Grace:   time.Second,
				Framing: tt.framing,
				Retries: 2,
			}, ios)
			if err != nil {
				t.Fatal(err)
			}
			if res.Failed != 0 || res.Requests != strings.Count(tt.input, "\n") {
				t.Errorf("requests %d, failed %d; stderr %q", res.Requests, res.Failed, errOut.String())
			}
			if out.String() != tt.want {
				t.Errorf("stdout = %q, want %q", out.String(), tt.want)
			}
		})
	}
}
