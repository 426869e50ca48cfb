package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/serve"
)

// TestServeChaos runs the real binary as a server of two replicas that
// crash at random (about one request in 100), and sends it 20,000
// requests from 8 callers that stay, while other callers, pipecli run
// --connect and raw connections, are killed or hang up mid-run. Every
// caller that stayed must get every answer, once, in order, and only its
// own: 0 lost, 0 duplicated, 0 misdelivered, 0 failed.
func TestServeChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos test sends 20,000 requests")
	}
	pipecli, err := exec.LookPath("pipecli") // the test binary, as TestMain set it up
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "chaos.sock")
	var log iostreams.Buffer // the server writes it while the test reads it
	srv := exec.Command(pipecli, "serve", "--socket", sock, "-j", "2", "--retries", "10", "--max-restarts", "1000",
		"--", "testchild", "-upper", "-crash-random", "100")
	srv.Stderr = &log
	srv.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if srv.ProcessState == nil {
			srv.Process.Kill()
			srv.Wait()
		}
	}()
	waitReady(t, sock)

	const clients, each = 8, 2500
	type tally struct{ answered, lost, duplicated, misdelivered, failed, outOfOrder int }
	tallies := make([]tally, clients)
	var wg sync.WaitGroup
	for n := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := serve.Dial(sock)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			go func() {
				w := bufio.NewWriter(c)
				for i := range each {
					fmt.Fprintf(w, `{"id":%d,"input":"caller %d request %d"}`+"\n", i, n, i)
				}
				w.Flush()
				c.CloseWrite()
			}()
			seen := make([]bool, each)
			next := 0
			tl := &tallies[n]
			for {
				line, err := c.R.ReadBytes('\n')
				if err != nil {
					break
				}
				var a struct {
					ID     *int
					Output string
					Error  string
				}
				if err := json.Unmarshal(line, &a); err != nil || a.ID == nil || *a.ID < 0 || *a.ID >= each {
					tl.misdelivered++
					continue
				}
				i := *a.ID
				switch {
				case seen[i]:
					tl.duplicated++
				case a.Error != "":
					tl.failed++
				case a.Output != strings.ToUpper(fmt.Sprintf("caller %d request %d", n, i)):
					tl.misdelivered++
				default:
					tl.answered++
				}
				if i != next {
					tl.outOfOrder++
				}
				seen[i], next = true, i+1
			}
			for _, s := range seen {
				if !s {
					tl.lost++
				}
			}
		}()
	}

	// One that sends and never reads its answers: it stops only itself.
	hog, err := serve.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	hogDone := make(chan struct{})
	go func() {
		defer close(hogDone)
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(hog, `{"id":%d,"input":"hog %d"}`+"\n", i, i); err != nil {
				return // closed at the end
			}
		}
	}()

	// Meanwhile, callers that go away mid-run: pipecli run --connect
	// killed, and raw connections closed with their requests under way.
	victims := make(chan struct{})
	go func() {
		defer close(victims)
		var lines strings.Builder
		for i := range 2000 {
			fmt.Fprintf(&lines, "victim line %d\n", i)
		}
		in := filepath.Join(dir, "victim.txt")
		os.WriteFile(in, []byte(lines.String()), 0o666)
		for v := range 10 {
			run := exec.Command(pipecli, "run", "--connect", sock, "--file", in)
			out, _ := run.StdoutPipe()
			run.Env = srv.Env
			if err := run.Start(); err != nil {
				t.Error(err)
				return
			}
			br := bufio.NewReader(out)
			for range 1 + rand.IntN(50) {
				if _, err := br.ReadString('\n'); err != nil {
					break
				}
			}
			run.Process.Signal(syscall.SIGKILL)
			go io.Copy(io.Discard, br)
			run.Wait()

			c, err := serve.Dial(sock)
			if err != nil {
				t.Error(err)
				return
			}
			for i := range 300 {
				fmt.Fprintf(c, `{"id":%d,"input":"raw victim %d line %d"}`+"\n", i, v, i)
			}
			for range 1 + rand.IntN(20) {
				c.R.ReadString('\n')
			}
			c.Close()
		}
	}()
	wg.Wait()
	<-victims
	hog.Close()
	<-hogDone

	var sum tally
	for n, tl := range tallies {
		if tl != (tally{answered: each}) {
			t.Errorf("caller %d: %+v; want all %d answered and nothing else", n, tl, each)
		}
		sum.answered += tl.answered
		sum.lost += tl.lost
		sum.duplicated += tl.duplicated
		sum.misdelivered += tl.misdelivered
		sum.failed += tl.failed
	}
	t.Logf("%d answered, %d lost, %d duplicated, %d misdelivered, %d failed; %d replica restarts, %d callers went away",
		sum.answered, sum.lost, sum.duplicated, sum.misdelivered, sum.failed,
		strings.Count(log.String(), "restarted (pid"), strings.Count(log.String(), "went away with"))

	srv.Process.Signal(syscall.SIGTERM)
	if err := srv.Wait(); err != nil {
		t.Errorf("the server: %v", err)
	}
	if restarts := strings.Count(log.String(), "restarted (pid"); restarts == 0 {
		t.Errorf("no replica crashed and was restarted; the log:\n%s", tail([]byte(log.String())))
	}
	if t.Failed() {
		t.Logf("the server's log:\n%s", tail([]byte(log.String())))
	}
}

// waitReady waits until the server on sock says it is ready.
func waitReady(t *testing.T, sock string) {
	t.Helper()
	for range 3000 {
		if st, err := serve.QueryStatus(sock); err == nil && st.Ready {
			return
		}
		syscall.Nanosleep(&syscall.Timespec{Nsec: 10e6}, nil)
	}
	t.Fatalf("the server on %s never got ready", sock)
}

// TestServeOtherUser: a caller of another uid is refused by the server
// (SO_PEERCRED), even when the socket's mode would let it in; and the
// caller refuses a server of another uid. It needs root, to be another
// user.
func TestServeOtherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("being another user takes root")
	}
	pipecli, err := exec.LookPath("pipecli")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for d := dir; d != filepath.Dir(d) && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755) // the other user must reach the binary and the socket
	}
	sock := filepath.Join(dir, "s.sock")
	var log bytes.Buffer
	srv := exec.Command(pipecli, "serve", "--socket", sock, "--", "testchild", "-upper")
	srv.Stderr = &log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, sock)
	// The file mode keeps others out; open it, as a careless chmod
	// would, to see that the server's own check holds.
	os.Chmod(sock, 0o666)
	exe := filepath.Join(dir, "pipecli")
	data, err := os.ReadFile(pipecli)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(exe, data, 0o755)
	status := exec.Command(exe, "status", sock)
	status.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := status.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "runs as uid 0, not as you (uid 65534)") {
		t.Errorf("status as uid 65534: %v, %s; want the caller to refuse a server of another uid", err, out)
	}
	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	if !strings.Contains(log.String(), "refused a caller: uid 65534 may not use this server: only its own user, uid 0, may") {
		t.Errorf("the server did not refuse uid 65534; its log:\n%s", log.String())
	}
}
