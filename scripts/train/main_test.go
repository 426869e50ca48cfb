package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/pipecli/pipecli/internal/corpus"
	"github.com/pipecli/pipecli/internal/model"
)

// TestReproducible checks that the embedded english.bin is what this
// command makes from the Debian packages, byte for byte.
func TestReproducible(t *testing.T) {
	for _, path := range []string{corpus.BibleDir, corpus.KJVDir, corpus.JargonFile, corpus.WordNetDir, corpus.DevilDict, corpus.WordList, corpus.SphinxLM} {
		if _, err := os.Stat(path); err != nil {
			t.Skipf("skipping: %v; apt-get install %s", err, corpus.Packages)
		}
	}
	d, _, err := gather()
	if err != nil {
		t.Fatal(err)
	}
	got, err := model.Train(d)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "internal", "model", "english.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("training makes %d bytes that differ from internal/model/english.bin (%d bytes); run go run ./scripts/train", len(got), len(want))
	}
}
