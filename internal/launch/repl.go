package launch

import (
	"path/filepath"
	"slices"
)

// REPL is what pipecli knows of a REPL that answers some lines with
// nothing, which in-order framings (line, marker) cannot tell from a
// slow answer: the answer to the next line would be taken for it.
type REPL struct {
	// Quiet says which lines it answers with nothing: "it says nothing
	// to ...".
	Quiet string
	// Flags are the framing flags that make it answer every line, as a
	// shell would take them.
	Flags string
	// Banner is how many lines it prints when it starts, before any
	// answer.
	Banner int
}

// REPL returns what is known of the program t runs as a REPL that does
// not answer every line (bc, sqlite3, aspell -a), and whether it is one.
// Such programs flush each answer: their silence is not stdio buffering.
// A program in a container or over ssh is not looked into.
func (t *Target) REPL() (REPL, bool) {
	if t.server || t.image != nil || len(t.argv) == 0 || isDockerRun(t.argv) || filepath.Base(t.argv[0]) == "ssh" {
		return REPL{}, false
	}
	argv, _, _ := unwrap(t.argv, func(string) string { return "" })
	if len(argv) == 0 {
		return REPL{}, false
	}
	return knownREPL(argv)
}

// knownREPL is REPL for a program's argv.
func knownREPL(argv []string) (REPL, bool) {
	switch prog := filepath.Base(argv[0]); {
	case prog == "bc":
		return REPL{
			Quiet: "an assignment (x=5), a definition, an empty line or an error (said on its stderr)",
			Flags: `--framing marker --marker --END-- --sentinel 'print "--END--\n"'`,
		}, true
	case prog == "sqlite3" || prog == "sqlite":
		return REPL{
			Quiet: "a statement that returns no rows (CREATE, INSERT), a dot-command that prints nothing, or a statement not ended with \";\"",
			Flags: "--framing marker --marker --END-- --sentinel '.print --END--'",
		}, true
	case (prog == "aspell" || prog == "ispell" || prog == "hunspell") && slices.ContainsFunc(argv[1:], isPipeMode):
		return REPL{
			Quiet:  "an empty line or a line that starts with one of *&@+-~#!% (a command; to check such a line, start it with ^)",
			Flags:  "--framing marker --marker '' --skip-banner 1 --skip-empty",
			Banner: 1,
		}, true
	}
	return REPL{}, false
}

// isPipeMode reports whether an ispell-like option is -a, its pipe mode
// (aspell also takes it as --pipe).
func isPipeMode(a string) bool { return a == "-a" || a == "--pipe" }
