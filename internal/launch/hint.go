package launch

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Hint is what to say when the child, alive, has been sent input
// and answered nothing for silent: it may be holding its output in a
// buffer, as C stdio and Python do when stdout is not a terminal. The fix
// named is the one that fits how it runs. It is "" when the child is known
// not to buffer (python3 -u, grep --line-buffered...): it is just slow, and
// the caller says nothing.
func (t *Target) Hint(silent time.Duration, getenv func(string) string) string {
	return t.HintAs(t.Name(), silent, getenv)
}

// HintAs is Hint for a child that messages call name (a replica: "replica
// 2 (ssh)").
func (t *Target) HintAs(name string, silent time.Duration, getenv func(string) string) string {
	what := fmt.Sprintf("%s has answered nothing for %s since it was sent input", name, silent.Truncate(time.Second))
	argv := t.argv
	switch {
	case t.server:
		return what + "; the server's replicas may all be busy, or loading: 'pipecli status' shows them"
	case t.image != nil:
		return what + "; if the program in the container buffers its output, make it flush each answer (Python is already told to: PYTHONUNBUFFERED=1; C stdio: stdbuf -oL in the image's entrypoint)"
	case isDockerRun(argv):
		return what + "; if the program in the container buffers its output, --pty cannot reach it: add -e PYTHONUNBUFFERED=1 to docker run (Python), or use " + t.pipecli() + " --image IMAGE, which does"
	case len(argv) > 0 && filepath.Base(argv[0]) == "ssh":
		return what + "; if the program on the far side buffers its output, --pty cannot reach it (and ssh -t would echo the input back): make it flush each answer, in the remote command: python3 -u, PYTHONUNBUFFERED=1 python3, stdbuf -oL CMD"
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	argv, getenv, stdbuf := unwrap(argv, getenv)
	if len(argv) == 0 {
		argv = t.argv
	}
	if _, ok := knownREPL(argv); ok {
		return "" // it flushes each answer: a line it answers with nothing is said elsewhere
	}
	prog := filepath.Base(argv[0])
	if prog == "awk" {
		prog = awkFlavour(argv[0])
	}
	switch {
	case prog == "mawk":
		// Neither --pty nor stdbuf: mawk buffers by itself, and reads its
		// input in blocks, so a line waits for the next ones.
		if mawkInteractive(argv[1:]) {
			return ""
		}
		return what + "; mawk holds its output and reads its input in blocks on a pipe (--pty is not enough): run mawk -W interactive"
	case t.PTY:
		return what + "; its stdout is a terminal (--pty), so it is not stdio buffering: it may be busy, or waiting for more input"
	case isPythonName(prog):
		// Python buffers by itself: stdbuf cannot change it.
		if pythonUnbuffered(argv[1:]) || getenv("PYTHONUNBUFFERED") != "" {
			return ""
		}
		return what + "; Python buffers its output on a pipe: run python3 -u, set PYTHONUNBUFFERED=1, or use " + t.pipecli() + " --pty"
	case prog == "gawk":
		if slices.ContainsFunc(argv[1:], func(a string) bool { return strings.Contains(a, "fflush") }) {
			return ""
		}
		return what + "; gawk holds its output on a pipe until the program calls fflush(): add fflush() after each print, or use " + t.pipecli() + " --pty"
	case stdbuf:
		return "" // C stdio told to flush by stdbuf -o
	case prog == "sed":
		if sedUnbuffered(argv[1:]) {
			return ""
		}
		return what + "; sed holds its output on a pipe: run sed -u, or use " + t.pipecli() + " --pty"
	case prog == "grep" || prog == "egrep" || prog == "fgrep":
		if slices.Contains(optionsOf(argv[1:]), "--line-buffered") {
			return ""
		}
		return what + "; grep holds its output on a pipe: run grep --line-buffered, or use " + t.pipecli() + " --pty"
	case prog == "awk":
		return what + "; awk holds its output on a pipe: with mawk run mawk -W interactive, with gawk add fflush() after each print"
	}
	return what + "; if it buffers its output when it is not on a terminal (C stdio: tr, cut, uniq), use " + t.pipecli() + " --pty, or make it flush each answer (stdbuf -oL)"
}

// unwrap takes off the commands argv runs its program through that change
// its environment (env NAME=VALUE) or its buffering (stdbuf -oL): it
// returns the program's argv, its environment, and whether stdbuf set its
// stdout's buffering (which C stdio obeys, and Python and awk do not).
// What it does not understand it leaves on.
func unwrap(argv []string, getenv func(string) string) ([]string, func(string) string, bool) {
	stdbuf := false
	for len(argv) > 1 {
		switch filepath.Base(argv[0]) {
		case "env":
			set := map[string]string{}
			cleared := false
			i := 1
		opts:
			for ; i < len(argv); i++ {
				a := argv[i]
				switch name, value, isSet := strings.Cut(a, "="); {
				case a == "-i" || a == "--ignore-environment" || a == "-":
					cleared = true
				case a == "-u" && i+1 < len(argv):
					i++
					set[argv[i]] = ""
				case strings.HasPrefix(a, "--unset="):
					set[strings.TrimPrefix(a, "--unset=")] = ""
				case a == "--":
					i++
					break opts
				case strings.HasPrefix(a, "-"):
					return argv, getenv, stdbuf // -S, -C...: not ours to follow
				case isSet && name != "":
					set[name] = value
				default:
					break opts
				}
			}
			outer := getenv
			getenv = func(k string) string {
				if v, ok := set[k]; ok {
					return v
				}
				if cleared {
					return ""
				}
				return outer(k)
			}
			argv = argv[i:]
		case "stdbuf":
			i := 1
			for i < len(argv) && strings.HasPrefix(argv[i], "-") {
				a := argv[i]
				i++
				if a == "--" {
					break
				}
				var out string
				switch {
				case a == "-o" || a == "-i" || a == "-e":
					if i < len(argv) && a == "-o" {
						out = argv[i]
					}
					i++
				case strings.HasPrefix(a, "--output="):
					out = strings.TrimPrefix(a, "--output=")
				case strings.HasPrefix(a, "-o"):
					out = a[2:]
				}
				if out != "" {
					// Line buffered or unbuffered; a size is a buffer.
					stdbuf = out == "L" || out == "0"
				}
			}
			argv = argv[i:]
		default:
			return argv, getenv, stdbuf
		}
	}
	return argv, getenv, stdbuf
}

// awkFlavour is the awk that the command name awk is here: mawk or gawk,
// which buffer differently, or "awk" if it is neither or cannot be told.
// A variable, so that tests can choose.
var awkFlavour = func(name string) string {
	path, err := exec.LookPath(name)
	if err != nil {
		return "awk"
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	switch base := filepath.Base(path); base {
	case "mawk", "gawk":
		return base
	}
	return "awk"
}

// isPythonName reports whether a program name is Python's (python,
// python3, python3.11).
func isPythonName(name string) bool { return strings.HasPrefix(name, "python") }

// pythonUnbuffered reports whether Python's options (args, up to the
// script, -c or -m) hold -u.
func pythonUnbuffered(args []string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" || strings.HasPrefix(a, "--") {
			return false // the script, stdin, or a long option (--help...)
		}
		for j := 1; j < len(a); j++ {
			switch a[j] {
			case 'u':
				return true
			case 'c', 'm':
				return false // the program follows
			case 'W', 'X':
				if j == len(a)-1 {
					i++ // its value is the next argument
				}
				j = len(a) // or the rest of this one
			}
		}
	}
	return false
}

// mawkInteractive reports whether mawk's options hold -W interactive,
// which mawk accepts abbreviated (-Wi) and in a comma-separated list.
func mawkInteractive(args []string) bool {
	interactive := func(v string) bool {
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimLeft(o, "-"); o != "" && strings.HasPrefix("interactive", o) {
				return true
			}
		}
		return false
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--" || !strings.HasPrefix(a, "-") || a == "-":
			return false // the program text
		case a == "-W" && i+1 < len(args):
			i++
			if interactive(args[i]) {
				return true
			}
		case strings.HasPrefix(a, "-W"):
			if interactive(a[2:]) {
				return true
			}
		case strings.HasPrefix(a, "--"):
			if interactive(a[2:]) {
				return true
			}
		case a == "-F" || a == "-v" || a == "-f":
			i++
		}
	}
	return false
}

// sedUnbuffered reports whether sed's options hold -u (--unbuffered).
func sedUnbuffered(args []string) bool {
	for _, a := range optionsOf(args) {
		if a == "--unbuffered" {
			return true
		}
		if strings.HasPrefix(a, "--") {
			continue
		}
		for _, c := range a[1:] {
			if c == 'u' {
				return true
			}
			if strings.ContainsRune("efil", c) {
				break // the rest is its value: a script, file, suffix or length
			}
		}
	}
	return false
}

// optionsOf returns the arguments that are options, up to "--": GNU
// programs take them anywhere. A value given apart (-e SCRIPT) is taken
// for an operand, which is good enough to find a flag.
func optionsOf(args []string) []string {
	var opts []string
	for _, a := range args {
		if a == "--" {
			break
		}
		if len(a) > 1 && a[0] == '-' {
			opts = append(opts, a)
		}
	}
	return opts
}
