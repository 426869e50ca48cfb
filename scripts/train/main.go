// Command train regenerates internal/model/english.bin, the demo model's
// statistics, from the Opticks that ships with every Go toolchain and
// Debian's English word list, so anyone can reproduce the embedded file byte
// for byte:
//
//	apt-get install wamerican # /usr/share/dict/american-english
//	go run ./scripts/train
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/pipecli/pipecli/internal/model"
)

// defaultWords is where Debian's package wamerican puts its word list.
const defaultWords = "/usr/share/dict/american-english"

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "train: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	in := flag.String("in", "", "training text (default $(go env GOROOT)/src/testdata/Isaac.Newton-Opticks.txt)")
	out := flag.String("out", filepath.Join("internal", "model", "english.bin"), "statistics file to write")
	words := flag.String("words", defaultWords, "word list, one word per line (package wamerican)")
	flag.Parse()
	if *in == "" {
		// Ask the go command rather than runtime.GOROOT, deprecated since
		// Go 1.24, so the text is the installed toolchain's.
		goroot, err := exec.Command("go", "env", "GOROOT").Output()
		if err != nil {
			return fmt.Errorf("go env GOROOT: %w; pass -in FILE", err)
		}
		*in = filepath.Join(strings.TrimSpace(string(goroot)), "src", "testdata", "Isaac.Newton-Opticks.txt")
	}
	f, err := os.Open(*in)
	if err != nil {
		return fmt.Errorf("%w; is the Go toolchain complete? (the file is $(go env GOROOT)/src/testdata/Isaac.Newton-Opticks.txt)", err)
	}
	defer f.Close()
	wl, err := os.Open(*words)
	if err != nil {
		return fmt.Errorf("%w; install it with apt-get install wamerican, or pass -words FILE", err)
	}
	defer wl.Close()
	b, err := model.Train(f, wl)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "train: wrote %s (%d bytes)\n", *out, len(b))
	return nil
}
