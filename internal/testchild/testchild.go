// Package testchild is a small program that plays the child in pipecli's
// end-to-end tests: it echoes, delays, floods, ticks, crashes, ignores its
// input or signals, and exits with a chosen code, as its flags say.
package testchild

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Main runs the program with args (without the program name) and returns
// its exit code.
func Main(args []string) int {
	fs := flag.NewFlagSet("testchild", flag.ContinueOnError)
	var (
		printText  = fs.String("print", "", "print this first (\\n is a newline), flushed")
		emit       = fs.String("emit", "", "print this first, flushed, after Go string escapes (\\x1b, \\a, \\r, \\n...): for control characters")
		tick       = fs.Duration("tick", 0, "also print \"tick N\" every this long, from the start until the input ends (or -ticks)")
		ticks      = fs.Int("ticks", 0, "with -tick: stop after this many ticks (0: until the input ends)")
		floodOut   = fs.Int64("flood-out", 0, "write this many bytes to stdout before reading")
		floodErr   = fs.Int64("flood-err", 0, "write this many bytes to stderr before reading")
		noRead     = fs.Bool("no-read", false, "never read stdin: sleep until killed (or -sleep)")
		sleep      = fs.Duration("sleep", 0, "with -no-read: sleep this long, then exit")
		upper      = fs.Bool("upper", false, "answer each line in upper case")
		prefix     = fs.String("prefix", "", "put this before each answer")
		delay      = fs.Duration("delay", 0, "wait this long before each answer")
		slowWord   = fs.String("slow-word", "", "with -delay: wait only before answering a line equal to this")
		noNewline  = fs.Bool("partial", false, "answer without a final newline")
		count      = fs.Bool("count", false, "answer nothing per line; at EOF print lines, bytes and sha256 of the input")
		crashAfter = fs.Int("crash-after", 0, "kill itself with SIGKILL after answering this many lines")
		crashRand  = fs.Int("crash-random", 0, "kill itself with SIGKILL after a random number of lines, about this many (N/2 to 3N/2)")
		eofDelay   = fs.Duration("eof-delay", 0, "at EOF, wait this long before the last words")
		eofPrint   = fs.String("eof-print", "", "at EOF, print this")
		ignoreSigs = fs.Bool("ignore-signals", false, "ignore SIGINT, SIGTERM and SIGHUP")
		stderrLine = fs.String("stderr", "", "print this line on stderr first")
		printPPID  = fs.Bool("print-ppid", false, "print ppid=N (its parent's pid, so a test can signal pipecli) first")
		pidFile    = fs.String("pidfile", "", "write its own pid and a newline to this file first: a test can check that it is gone, where its parent is not pipecli (ssh's far side)")
		exitCode   = fs.Int("exit", 0, "exit with this code")
		killSelf   = fs.Bool("kill-self", false, "at the end, kill itself with SIGKILL instead of exiting")
		number     = fs.Bool("number", false, "put \"N: \" before the Nth answer, counting from 1: state a restart loses")
		crashOn    = fs.String("crash-on", "", "kill itself with SIGKILL on reading a line containing this, before answering it")
		jsonl      = fs.Bool("jsonl", false, "read JSON objects, answer {\"id\":ID,\"text\":TEXT} (with -upper, TEXT in upper case); other lines get {\"error\":...} with no id")
		reencode   = fs.Bool("reencode-ids", false, "with -jsonl: parse each id and write it anew, as jq and JavaScript do (1.0 becomes 1)")
		stamp      = fs.String("stamp", "", "with -jsonl: put the time (Unix nanoseconds) at this member of each answer, a dotted path (meta.time: in an object \"meta\"): a field that differs from run to run")
		promptText = fs.String("prompt", "", "print this, with no newline, first and after each answer, as a REPL prompts")
		silentOn   = fs.String("silent-on", "", "answer nothing to a line equal to this (\"\" with -silent-empty), as bc does to an empty line")
		silentNone = fs.Bool("silent-empty", false, "with -silent-on unset: answer nothing to an empty line")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *crashRand > 0 {
		*crashAfter = *crashRand/2 + rand.IntN(*crashRand)
	}
	if *ignoreSigs {
		signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	}
	// Written once signals are set up: a test that waits for the file may
	// signal it at once.
	if *pidFile != "" {
		if err := os.WriteFile(*pidFile, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o666); err != nil {
			fmt.Fprintln(os.Stderr, "testchild:", err)
			return 2
		}
	}
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	defer out.Flush()
	// outMu guards out once the ticker runs: it writes between answers.
	var outMu sync.Mutex
	if *stderrLine != "" {
		fmt.Fprintln(os.Stderr, *stderrLine)
	}
	if *printPPID {
		fmt.Fprintf(out, "ppid=%d\n", os.Getppid())
	}
	if *printText != "" {
		out.WriteString(strings.ReplaceAll(*printText, `\n`, "\n"))
		out.Flush()
	}
	if *emit != "" {
		text, err := strconv.Unquote(`"` + strings.ReplaceAll(*emit, `"`, `\"`) + `"`)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testchild: -emit:", err)
			return 2
		}
		out.WriteString(text)
		out.Flush()
	}
	flood(out, *floodOut)
	out.Flush()
	errOut := bufio.NewWriterSize(os.Stderr, 64<<10)
	flood(errOut, *floodErr)
	errOut.Flush()

	if *noRead {
		if *sleep > 0 {
			time.Sleep(*sleep)
			return *exitCode
		}
		for {
			time.Sleep(time.Hour) // not select{}: with no other goroutine the runtime would call it a deadlock
		}
	}

	stopTicker := func() {}
	if *tick > 0 {
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			t := time.NewTicker(*tick)
			defer t.Stop()
			for n := 1; *ticks == 0 || n <= *ticks; n++ {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				outMu.Lock()
				fmt.Fprintf(out, "tick %d\n", n)
				out.Flush()
				outMu.Unlock()
			}
		}()
		stopTicker = func() { close(stop); <-done }
	}

	if *promptText != "" {
		out.WriteString(*promptText)
		out.Flush()
	}
	in := bufio.NewReaderSize(os.Stdin, 64<<10)
	sum := sha256.New()
	var lines, total int64
	for {
		line, err := in.ReadBytes('\n')
		outMu.Lock()
		if len(line) > 0 {
			total += int64(len(line))
			if *count {
				sum.Write(line)
				if line[len(line)-1] == '\n' {
					lines++
				}
			} else {
				if *delay > 0 && (*slowWord == "" || string(bytes.TrimSuffix(line, []byte("\n"))) == *slowWord) {
					out.Flush()
					outMu.Unlock()
					time.Sleep(*delay)
					outMu.Lock()
				}
				body := bytes.TrimSuffix(line, []byte("\n"))
				if *crashOn != "" && bytes.Contains(body, []byte(*crashOn)) {
					out.Flush()
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
				if *silentOn != "" && string(body) == *silentOn || *silentNone && len(body) == 0 {
					goto next
				}
				if *upper && !*jsonl {
					body = bytes.ToUpper(body)
				}
				if *jsonl {
					body = jsonAnswer(body, *upper, *reencode, *stamp)
				}
				lines++
				if *number {
					fmt.Fprintf(out, "%d: ", lines)
				}
				out.WriteString(*prefix)
				out.Write(body)
				if !*noNewline {
					out.WriteByte('\n')
				}
				out.WriteString(*promptText)
				if *crashAfter > 0 && lines >= int64(*crashAfter) {
					out.Flush()
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			}
		}
	next:
		// Answer at once when no more input is waiting, so that the child is
		// interactive, yet writes in large blocks under a stream.
		var ferr error
		if in.Buffered() == 0 {
			ferr = out.Flush()
		}
		outMu.Unlock()
		if ferr != nil {
			return 1
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "testchild:", err)
			return 1
		}
	}
	// The ticks end with the input, before the last words.
	stopTicker()
	if *count {
		fmt.Fprintf(out, "lines=%d bytes=%d sha256=%x\n", lines, total, sum.Sum(nil))
	}
	out.Flush()
	if *eofDelay > 0 {
		time.Sleep(*eofDelay)
	}
	if *eofPrint != "" {
		out.WriteString(strings.ReplaceAll(*eofPrint, `\n`, "\n"))
		out.Flush()
	}
	if *killSelf {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
	return *exitCode
}

// jsonAnswer answers a JSON request line: its id and text (and the time
// at the path stamp, if not ""), or an error with no id for a line that is
// not a JSON object.
func jsonAnswer(line []byte, upper, reencode bool, stamp string) []byte {
	var req struct {
		ID   json.RawMessage `json:"id"`
		Text string          `json:"text"`
	}
	if err := json.Unmarshal(line, &req); err != nil {
		b, _ := json.Marshal(map[string]string{"error": err.Error()})
		return b
	}
	if upper {
		req.Text = strings.ToUpper(req.Text)
	}
	answer := map[string]any{"id": req.ID, "text": req.Text}
	if reencode {
		var id any
		if json.Unmarshal(req.ID, &id) == nil {
			answer["id"] = id
		}
	}
	if stamp != "" {
		m, path := answer, strings.Split(stamp, ".")
		for _, name := range path[:len(path)-1] {
			inner := map[string]any{}
			m[name], m = inner, inner
		}
		m[path[len(path)-1]] = time.Now().UnixNano()
	}
	b, _ := json.Marshal(answer)
	return b
}

// flood writes n bytes of lines of 'x'.
func flood(w io.Writer, n int64) {
	line := bytes.Repeat([]byte("x"), 127)
	line = append(line, '\n')
	for n > 0 {
		chunk := line
		if int64(len(chunk)) > n {
			chunk = chunk[:n]
		}
		if _, err := w.Write(chunk); err != nil {
			return
		}
		n -= int64(len(chunk))
	}
}
