package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pipecli/pipecli/internal/serve"
)

// waitserve [-inflight N] NAME|PATH waits until the server there says it
// is ready (and has N requests in flight).
func cmdWaitserve(ts *testscript.TestScript, neg bool, args []string) {
	inflight := -1
	if len(args) == 3 && args[0] == "-inflight" {
		inflight, args = atoi(ts, args[1]), args[2:]
	}
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitserve [-inflight N] NAME|PATH")
	}
	path, err := serve.Resolve(args[0], ts.Getenv, false)
	ts.Check(err)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := serve.QueryStatus(path)
		if err == nil && st.Ready && (inflight < 0 || st.InFlight == inflight) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("the server on %s is not ready: %v", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawclient NAME|PATH IN OUT speaks the protocol by hand: it sends IN as it
// is, shuts down its writing, and writes each answer to OUT as
// "id=ID output=TEXT" or "id=ID error=WHY" (TEXT a string's contents, else
// the JSON), so that scripts can cmp them.
func cmdRawclient(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: rawclient NAME|PATH IN OUT")
	}
	path, err := serve.Resolve(args[0], ts.Getenv, false)
	ts.Check(err)
	c, err := serve.Dial(path)
	ts.Check(err)
	defer c.Close()
	in, err := os.Open(ts.MkAbs(args[1]))
	ts.Check(err)
	defer in.Close()
	go func() {
		io.Copy(c, in)
		c.CloseWrite()
	}()
	out, err := os.Create(ts.MkAbs(args[2]))
	ts.Check(err)
	defer out.Close()
	w := bufio.NewWriter(out)
	defer w.Flush()
	for {
		line, err := c.R.ReadBytes('\n')
		if err == io.EOF && len(line) == 0 {
			return
		}
		ts.Check(err)
		var a struct {
			ID     json.RawMessage
			Output json.RawMessage
			Error  *string
		}
		if err := json.Unmarshal(line, &a); err != nil {
			ts.Fatalf("answer %q: %v", line, err)
		}
		id := string(a.ID)
		if id == "" {
			id = "null"
		}
		switch {
		case a.Error != nil:
			fmt.Fprintf(w, "id=%s error=%s\n", id, *a.Error)
		case len(a.Output) > 0 && a.Output[0] == '"':
			var s string
			json.Unmarshal(a.Output, &s)
			fmt.Fprintf(w, "id=%s output=%s\n", id, s)
		default:
			fmt.Fprintf(w, "id=%s output=%s\n", id, a.Output)
		}
	}
}

// seqfile FILE N FORMAT writes N lines, each FORMAT with the line's number
// (from 1) as its argument: %d, or %[1]d more than once.
func cmdSeqfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: seqfile FILE N FORMAT")
	}
	var b strings.Builder
	for i := 1; i <= atoi(ts, args[1]); i++ {
		fmt.Fprintf(&b, args[2]+"\n", i)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(b.String()), 0o666))
}

// sigserve SIGNAL NAME|PATH sends SIGNAL (TERM, INT, HUP, KILL) to the
// server there, found by its status's pid, which it puts in $SERVE_PID for
// a signal after the socket is gone (kill -INT $SERVE_PID).
func cmdSigserve(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: sigserve SIGNAL NAME|PATH")
	}
	path, err := serve.Resolve(args[len(args)-1], ts.Getenv, false)
	ts.Check(err)
	st, err := serve.QueryStatus(path)
	ts.Check(err)
	sig, ok := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "HUP": syscall.SIGHUP, "KILL": syscall.SIGKILL}[args[0]]
	if !ok {
		ts.Fatalf("sigserve: unknown signal %s", args[0])
	}
	ts.Setenv("SERVE_PID", fmt.Sprint(st.PID))
	ts.Check(syscall.Kill(st.PID, sig))
}
