package launch

import (
	"strings"
	"testing"
	"time"

	"github.com/pipecli/pipecli/internal/container"
)

// The buffering hint names the fix that fits how the child runs, and says
// nothing when the child is known not to buffer: it is only slow.
func TestBufferingHint(t *testing.T) {
	argv := func(a ...string) *Target { return Command(a) }
	pty := func(a ...string) *Target { t := Command(a); t.PTY = true; return t }
	bench := func(a ...string) *Target { t := Command(a); t.Cmd = "bench"; return t }
	tests := []struct {
		name      string
		cfg       *Target
		env       map[string]string // the environment the child inherits
		awk       string            // what awk is here
		want, not string            // want "": no hint
	}{
		{name: "grep", cfg: argv("grep", "x"), want: "grep holds its output on a pipe: run grep --line-buffered, or use pipecli run --pty", not: "Python"},
		{name: "grep --line-buffered", cfg: argv("grep", "--line-buffered", "x")},
		{name: "bench", cfg: bench("grep", "x"), want: "grep holds its output on a pipe: run grep --line-buffered, or use pipecli bench --pty", not: "pipecli run"},
		{name: "bench, C stdio", cfg: bench("tr", "a", "b"), want: "use pipecli bench --pty, or make it flush", not: "pipecli run"},
		{name: "bench, docker run", cfg: bench("docker", "run", "-i", "img"), want: "or use pipecli bench --image IMAGE, which does", not: "pipecli run"},
		{name: "grep option after pattern", cfg: argv("grep", "x", "--line-buffered")},
		{name: "grep -- --line-buffered", cfg: argv("grep", "--", "--line-buffered"), want: "run grep --line-buffered"},
		{name: "python", cfg: argv("python3", "model.py"), want: "run python3 -u, set PYTHONUNBUFFERED=1, or use pipecli run --pty"},
		{name: "python path", cfg: argv("/usr/bin/python3.11", "-X", "dev", "m.py"), want: "run python3 -u"},
		{name: "python -u", cfg: argv("python3", "-u", "model.py")},
		{name: "python -Bu", cfg: argv("python", "-Bu", "model.py")},
		{name: "python -Wdefault", cfg: argv("python3", "-Wdefault", "m.py"), want: "run python3 -u"},
		{name: "python -X utf8", cfg: argv("python3", "-X", "utf8", "-u", "m.py")},
		{name: "python -c with u", cfg: argv("python3", "-c", "import sys; print(1)"), want: "run python3 -u"},
		{name: "python script -u", cfg: argv("python3", "model.py", "-u"), want: "run python3 -u"},
		{name: "PYTHONUNBUFFERED", cfg: argv("python3", "model.py"), env: map[string]string{"PYTHONUNBUFFERED": "1"}},
		{name: "PYTHONUNBUFFERED empty", cfg: argv("python3", "model.py"), env: map[string]string{"PYTHONUNBUFFERED": ""}, want: "run python3 -u"},
		{name: "env PYTHONUNBUFFERED=1", cfg: argv("env", "PYTHONUNBUFFERED=1", "python3", "model.py")},
		{name: "env -u PYTHONUNBUFFERED", cfg: argv("env", "-u", "PYTHONUNBUFFERED", "python3", "m.py"), env: map[string]string{"PYTHONUNBUFFERED": "1"}, want: "run python3 -u"},
		{name: "env -i", cfg: argv("env", "-i", "python3", "m.py"), env: map[string]string{"PYTHONUNBUFFERED": "1"}, want: "run python3 -u"},
		{name: "stdbuf python", cfg: argv("stdbuf", "-oL", "python3", "m.py"), want: "run python3 -u"},
		{name: "stdbuf -oL", cfg: argv("stdbuf", "-oL", "tr", "a-z", "A-Z")},
		{name: "stdbuf -o 0 grep", cfg: argv("stdbuf", "-o", "0", "grep", "x")},
		{name: "stdbuf -o size", cfg: argv("stdbuf", "-o", "4096", "tr", "a", "b"), want: "use pipecli run --pty"},
		{name: "mawk", cfg: argv("mawk", "{print $1}"), want: "mawk holds its output and reads its input in blocks on a pipe (--pty is not enough): run mawk -W interactive", not: "use pipecli run --pty"},
		{name: "mawk -W interactive", cfg: argv("mawk", "-W", "interactive", "{print}")},
		{name: "mawk -Wi", cfg: argv("mawk", "-F:", "-Wi", "{print}")},
		{name: "mawk -W in program", cfg: argv("mawk", "{print \"-W interactive\"}"), want: "run mawk -W interactive"},
		{name: "mawk --pty", cfg: pty("mawk", "{print}"), want: "run mawk -W interactive"},
		{name: "awk is mawk", cfg: argv("awk", "{print}"), awk: "mawk", want: "run mawk -W interactive"},
		{name: "awk is gawk", cfg: argv("/usr/bin/awk", "{print}"), awk: "gawk", want: "gawk holds its output on a pipe until the program calls fflush(): add fflush() after each print, or use pipecli run --pty"},
		{name: "awk unknown", cfg: argv("awk", "{print}"), awk: "awk", want: "with mawk run mawk -W interactive, with gawk add fflush() after each print"},
		{name: "gawk", cfg: argv("gawk", "{print}"), want: "add fflush() after each print"},
		{name: "gawk fflush", cfg: argv("gawk", "{print; fflush()}")},
		{name: "sed", cfg: argv("sed", "s/a/b/"), want: "sed holds its output on a pipe: run sed -u, or use pipecli run --pty"},
		{name: "sed -u", cfg: argv("sed", "-u", "s/a/b/")},
		{name: "sed -nu", cfg: argv("sed", "-nu", "s/a/b/p")},
		{name: "sed --unbuffered", cfg: argv("sed", "--unbuffered", "-e", "s/a/b/")},
		{name: "sed -i suffix", cfg: argv("sed", "-i.bu", "s/a/b/"), want: "run sed -u"},
		{name: "tr", cfg: argv("tr", "a-z", "A-Z"), want: "use pipecli run --pty, or make it flush each answer (stdbuf -oL)"},
		{name: "docker run", cfg: argv("docker", "run", "-i", "--rm", "img"), want: "--pty cannot reach it: add -e PYTHONUNBUFFERED=1 to docker run (Python), or use pipecli run --image IMAGE"},
		{name: "podman", cfg: argv("podman", "run", "-i", "img"), want: "--pty cannot reach it"},
		{name: "docker ps", cfg: argv("docker", "ps"), want: "use pipecli run --pty", not: "PYTHONUNBUFFERED"},
		{name: "ssh", cfg: argv("ssh", "-T", "gpu1", "python3", "model.py"), want: "--pty cannot reach it (and ssh -t would echo the input back): make it flush each answer, in the remote command: python3 -u", not: "use pipecli run --pty"},
		{name: "--image", cfg: Image(container.Spec{Image: "img"}), want: "Python is already told to: PYTHONUNBUFFERED=1", not: "--pty"},
		{name: "--pty", cfg: pty("python3", "m.py"), want: "its stdout is a terminal (--pty), so it is not stdio buffering", not: "python3 -u"},
		// REPLs flush: their silence is a line they answer with nothing.
		{name: "bc", cfg: argv("bc", "-l")},
		{name: "sqlite3", cfg: argv("/usr/bin/sqlite3", "db.sqlite")},
		{name: "env sqlite3", cfg: argv("env", "LC_ALL=C", "sqlite3")},
		{name: "aspell -a", cfg: argv("aspell", "-a")},
		{name: "aspell list", cfg: argv("aspell", "list"), want: "use pipecli run --pty"},
	}
	defer func(f func(string) string) { awkFlavour = f }(awkFlavour)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			awkFlavour = func(string) string { return tt.awk }
			getenv := func(k string) string { return tt.env[k] }
			got := tt.cfg.Hint(3500*time.Millisecond, getenv)
			if tt.want == "" {
				if got != "" {
					t.Errorf("hint %q, want none", got)
				}
				return
			}
			if !strings.Contains(got, " has answered nothing for 3s since it was sent input; ") {
				t.Errorf("hint %q does not say what happened", got)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("hint %q does not say %q", got, tt.want)
			}
			if tt.not != "" && strings.Contains(got, tt.not) {
				t.Errorf("hint %q says %q", got, tt.not)
			}
		})
	}
}

// docker's error line is found among the advice it prints after it: what
// docker 28 and older versions really print when they cannot run a
// container.
func TestDockerErrorLine(t *testing.T) {
	tests := []struct {
		name   string
		stderr string
		want   string
	}{
		{"unknown flag", "unknown flag: --bogusopt\n\nUsage:  docker run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'docker run --help' for more information\n",
			"unknown flag: --bogusopt"},
		{"bad flag value", "invalid argument \"abc\" for \"-m, --memory\" flag: invalid size: 'abc'\n\nUsage:  docker run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'docker run --help' for more information\n",
			`invalid argument "abc" for "-m, --memory" flag: invalid size: 'abc'`},
		{"bad reference", "docker: invalid reference format: repository name (Ref) must be lowercase\n\nRun 'docker run --help' for more information\n",
			"invalid reference format: repository name (Ref) must be lowercase"},
		{"no such image", "Unable to find image 'nosuch:latest' locally\ndocker: Error response from daemon: pull access denied for nosuch, repository does not exist or may require 'docker login'\n\nRun 'docker run --help' for more information\n",
			"Error response from daemon: pull access denied for nosuch, repository does not exist or may require 'docker login'"},
		{"older docker", "docker: unknown flag: --bogusopt.\nSee 'docker run --help'.\n",
			"unknown flag: --bogusopt"},
		{"nothing said", "", ""},
		{"only advice", "\nRun 'docker run --help' for more information\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := strings.Split(strings.TrimRight(tt.stderr, "\n"), "\n")
			if got := dockerErrorLine(lines); got != tt.want {
				t.Errorf("dockerErrorLine() = %q, want %q", got, tt.want)
			}
		})
	}
}

// The REPLs known to answer some lines with nothing are told from other
// programs, and from the same program in another mode.
func TestREPL(t *testing.T) {
	tests := []struct {
		target   *Target
		want     bool
		quiet    string // in REPL.Quiet
		sentinel string // in REPL.Flags
	}{
		{target: Command([]string{"bc"}), want: true, quiet: "an assignment (x=5)", sentinel: `--sentinel 'print "--END--\n"'`},
		{target: Command([]string{"/usr/bin/bc", "-lq"}), want: true, quiet: "an empty line"},
		{target: Command([]string{"stdbuf", "-oL", "sqlite3", "db"}), want: true, quiet: "CREATE, INSERT", sentinel: "--sentinel '.print --END--'"},
		{target: Command([]string{"aspell", "-a"}), want: true, quiet: "an empty line", sentinel: "--skip-empty"},
		{target: Command([]string{"hunspell", "-d", "en_US", "-a"}), want: true},
		{target: Command([]string{"aspell", "check", "f.txt"})},
		{target: Command([]string{"python3", "-i"})},
		{target: Command([]string{"ssh", "host", "bc"})},
		{target: Command([]string{"docker", "run", "-i", "img", "bc"})},
		{target: Image(container.Spec{Image: "bc"})},
	}
	for _, tt := range tests {
		got, ok := tt.target.REPL()
		if ok != tt.want || !strings.Contains(got.Quiet, tt.quiet) || !strings.Contains(got.Flags, tt.sentinel) {
			t.Errorf("%q: REPL() = %+v, %v; want %v, quiet holding %q, flags %q", tt.target.argv, got, ok, tt.want, tt.quiet, tt.sentinel)
		}
	}
}
