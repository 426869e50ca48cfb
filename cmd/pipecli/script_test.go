package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/testchild"
)

// The test binary plays both pipecli and the children it talks to: the
// scripts run it under those names, as real processes over real pipes.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"pipecli":   func() { os.Exit(run(os.Args[1:], iostreams.System())) },
		"testchild": func() { os.Exit(testchild.Main(os.Args[1:])) },
	})
}

func TestScript(t *testing.T) {
	root := repoRoot(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Cmds:                scriptCmds,
		Setup: func(env *testscript.Env) error {
			// The prompt keeps its history under the work dir, not $HOME.
			env.Setenv("XDG_STATE_HOME", env.WorkDir+"/state")
			env.Setenv("REPO", root)
			// Under -race every process sleeps 1s at exit by default
			// (golang/go#20364); the scripts start hundreds.
			env.Setenv("GORACE", "atexit_sleep_ms=0")
			// Servers' sockets: the script's own.
			run := env.WorkDir + "/run"
			env.Setenv("XDG_RUNTIME_DIR", run)
			return os.Mkdir(run, 0o700)
		},
	})
}

var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"gen":       cmdGen,
	"filesize":  cmdFilesize,
	"waitfor":   cmdWaitfor,
	"exitcode":  cmdExitcode,
	"term":      cmdTerm,
	"counts":    cmdCounts,
	"benchjson": cmdBenchJSON,
	// serve_test.go
	"waitserve": cmdWaitserve,
	"rawclient": cmdRawclient,
	"seqfile":   cmdSeqfile,
	"sigserve":  cmdSigserve,
}

// gen FILE SIZE [LINELEN] writes SIZE bytes of lines of LINELEN bytes
// (newline included; default 128; 0: one line with no newline) of
// lower-case text that differs from line to line.
func cmdGen(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: gen FILE SIZE [LINELEN]")
	}
	size := atoi(ts, args[1])
	lineLen := 128
	if len(args) == 3 {
		lineLen = atoi(ts, args[2])
	}
	f, err := os.Create(ts.MkAbs(args[0]))
	ts.Check(err)
	defer f.Close()
	buf := make([]byte, 0, 1<<20)
	for i := 0; i < size; i++ {
		line := 0
		if lineLen > 0 {
			line = i / lineLen
		}
		c := byte('a' + (i*7+line)%26)
		if lineLen > 0 && i%lineLen == lineLen-1 {
			c = '\n'
		}
		buf = append(buf, c)
		if len(buf) == cap(buf) {
			_, err := f.Write(buf)
			ts.Check(err)
			buf = buf[:0]
		}
	}
	_, err = f.Write(buf)
	ts.Check(err)
}

// filesize FILE SIZE checks the size of FILE.
func cmdFilesize(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: filesize FILE SIZE")
	}
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	want := int64(atoi(ts, args[1]))
	if (fi.Size() == want) == neg {
		ts.Fatalf("%s has %d bytes; want %s%d", args[0], fi.Size(), map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// waitfor FILE REGEXP waits until FILE's contents match REGEXP: scripts
// synchronise with a background pipecli this way, never by sleeping.
func cmdWaitfor(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitfor FILE REGEXP")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, _ := os.ReadFile(ts.MkAbs(args[0]))
		if re.Match(data) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s never matched %q; it holds:\n%s", args[0], args[1], tail(data))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return bytes.ToValidUTF8(b, []byte("?"))
}

func atoi(ts *testscript.TestScript, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		ts.Fatalf("%q is not a number", s)
	}
	return n
}

// exitcode N PROG ARGS... runs PROG like exec and checks that it exits with
// code N; its stdout and stderr can be checked after, as with exec.
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N[,N...] PROG ARGS...")
	}
	var want []int // any of them
	for _, n := range strings.Split(args[0], ",") {
		want = append(want, atoi(ts, n))
	}
	err := ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%v", err)
	}
	if !slices.Contains(want, got) {
		ts.Fatalf("%s exited with code %d; want %s", args[1], got, args[0])
	}
}

// counts FILE N REGEXP checks that N lines of FILE match REGEXP;
// counts FILE = REGEXP1 REGEXP2 that as many match each, and more than 0
// (as many deaths as restarts said).
func cmdCounts(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 && (len(args) != 4 || args[1] != "=") {
		ts.Fatalf("usage: counts FILE N REGEXP | counts FILE = REGEXP1 REGEXP2")
	}
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	count := func(expr string) int {
		re, err := regexp.Compile(expr)
		ts.Check(err)
		n := 0
		for _, l := range strings.Split(string(data), "\n") {
			if re.MatchString(l) {
				n++
			}
		}
		ts.Logf("%d line(s) match %q", n, expr)
		return n
	}
	if args[1] == "=" {
		if a, b := count(args[2]), count(args[3]); a != b || a == 0 {
			ts.Fatalf("%d line(s) of %s match %q, and %d %q; want as many, more than 0", a, args[0], args[2], b, args[3])
		}
		return
	}
	if n := count(args[2]); n != atoi(ts, args[1]) {
		ts.Fatalf("%d line(s) of %s match %q; want %s", n, args[0], args[2], args[1])
	}
}
