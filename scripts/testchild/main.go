// Command testchild is the configurable fake child of pipecli's tests
// (internal/testchild) as a program of its own, for the benchmarks in
// scripts/: `testchild -crash-random 100` dies at random, about once in a
// hundred lines, for the replicas' reliability figures.
package main

import (
	"os"

	"github.com/pipecli/pipecli/internal/testchild"
)

func main() { os.Exit(testchild.Main(os.Args[1:])) }
