// Command pipecli talks to a long-running program that reads stdin and
// writes stdout, such as a model in a container, over pipes: at a prompt,
// from a file, or in a shell pipeline.
package main

import (
	"os"

	"github.com/pipecli/pipecli/internal/iostreams"
)

func main() { os.Exit(run(os.Args[1:], iostreams.System())) }
