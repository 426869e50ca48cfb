// Command overlap writes internal/corpus/overlap.txt, the paragraphs of
// the training texts that share a run of words with a fortune file, which
// training leaves out: the fortune files are what scripts/eval measures
// the model on, and every training text is quoted in them (Bierce and the
// Bible the most).
//
//	apt-get install fortunes fortunes-min
//	go run ./scripts/overlap
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/pipecli/pipecli/internal/corpus"
)

func main() {
	out := flag.String("out", filepath.Join("internal", "corpus", "overlap.txt"), "file to write")
	dir := flag.String("fortunes", "/usr/share/games/fortunes", "the fortune files")
	flag.Parse()
	list, counts, err := corpus.Overlap(*dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "overlap: %v\n", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, list, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "overlap: %v\n", err)
		os.Exit(1)
	}
	var names []string
	for name := range counts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := counts[name]
		fmt.Fprintf(os.Stderr, "overlap: %s: %d of %d paragraphs left out\n", name, c[1], c[0])
	}
}
