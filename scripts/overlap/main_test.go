package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/pipecli/pipecli/internal/corpus"
)

// TestUpToDate checks that internal/corpus/overlap.txt lists every
// paragraph of the training texts that the fortune files installed quote
// (it was made from fortunes and fortunes-min, and may list more than
// fewer fortune files quote).
func TestUpToDate(t *testing.T) {
	const fortunes = "/usr/share/games/fortunes"
	for _, path := range []string{fortunes, corpus.KJVDir, corpus.JargonFile} {
		if _, err := os.Stat(path); err != nil {
			t.Skipf("skipping: %v; apt-get install fortunes fortunes-min %s", err, corpus.Packages)
		}
	}
	got, _, err := corpus.Overlap(fortunes)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "internal", "corpus", "overlap.txt"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for line := range bytes.Lines(want) {
		listed[string(line)] = true
	}
	for line := range bytes.Lines(got) {
		if !listed[string(line)] {
			t.Errorf("internal/corpus/overlap.txt lacks %q, which a fortune file quotes; run go run ./scripts/overlap", line)
		}
	}
}
