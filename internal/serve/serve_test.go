package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/launch"
	"github.com/pipecli/pipecli/internal/session"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a log the test reads while the server writes it.
type syncBuffer = iostreams.Buffer

// startServer runs a server of argv's replicas (line framing) on a socket
// in a fresh directory, and stops it (SIGTERM: a drain) at the end of the
// test, checking that the drain ends it cleanly and removes the socket.
func startServer(t *testing.T, cfg Config, argv ...string) (path string, sigs chan os.Signal, log *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	path = filepath.Join(dir, "s.sock")
	log = new(syncBuffer)
	sigs = make(chan os.Signal, 2)
	cfg.Socket, cfg.Signals, cfg.Log = path, sigs, log
	if cfg.Pool.Target == nil {
		cfg.Pool = session.Config{Target: launch.Command(argv), Framing: frame.Options{Mode: frame.Line}, Window: 4, Grace: 5 * time.Second}
	}
	if cfg.ClientWindow == 0 {
		cfg.ClientWindow = 1
	}
	if cfg.MaxRequest == 0 {
		cfg.MaxRequest = 1 << 16
	}
	cfg.Grace = 10 * time.Second
	if cfg.UID == 0 {
		cfg.UID = os.Getuid()
	}
	listening := make(chan struct{})
	cfg.Listening = func(string) { close(listening) }
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), cfg) }()
	select {
	case <-listening:
	case err := <-done:
		t.Fatalf("the server did not start: %v", err)
	}
	t.Cleanup(func() {
		sigs <- syscall.SIGTERM
		if err := <-done; err != nil {
			t.Errorf("the server ended with %v; log:\n%s", err, log.String())
		}
		if _, err := os.Lstat(path); !os.IsNotExist(err) {
			t.Errorf("the socket is still there after a drain: %v", err)
		}
	})
	return path, sigs, log
}

// rawClient is a caller speaking the protocol by hand.
type rawClient struct {
	c *net.UnixConn
	r *bufio.Reader
}

func dialRaw(t *testing.T, path string) *rawClient {
	t.Helper()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	return &rawClient{c.UnixConn, c.R}
}

func (rc *rawClient) send(t *testing.T, lines ...string) {
	t.Helper()
	if _, err := io.WriteString(rc.c, strings.Join(lines, "\n")+"\n"); err != nil {
		t.Fatal(err)
	}
}

type answer struct {
	ID     json.RawMessage
	Output json.RawMessage
	Error  string
	Status *Status
}

func (rc *rawClient) recv(t *testing.T) answer {
	t.Helper()
	line, err := rc.r.ReadBytes('\n')
	if err != nil {
		t.Fatalf("reading an answer: %v", err)
	}
	var a answer
	if err := json.Unmarshal(line, &a); err != nil {
		t.Fatalf("answer %q: %v", line, err)
	}
	return a
}

// TestServeClients: callers at once each get exactly their own answers, in
// their own order, while one caller never reads its answers and another
// goes away with requests under way.
func TestServeClients(t *testing.T) {
	path, _, log := startServer(t, Config{ClientWindow: 8}, "cat")

	// One that never reads: it fills its ring, then the socket's buffers,
	// and stops there.
	hog := dialRaw(t, path)
	hogDone := make(chan struct{})
	go func() {
		defer close(hogDone)
		line := fmt.Sprintf(`{"id":0,"input":"%s"}`+"\n", strings.Repeat("h", 1000))
		for {
			if _, err := io.WriteString(hog.c, line); err != nil {
				return // closed at the end
			}
		}
	}()
	// One that goes away with requests under way.
	quitter := dialRaw(t, path)
	for i := range 20 {
		quitter.send(t, fmt.Sprintf(`{"id":%d,"input":"q%d"}`, i, i))
	}
	quitter.c.Close()

	const clients, each = 8, 300
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for n := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(path)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			go func() {
				w := bufio.NewWriter(c)
				for i := range each {
					fmt.Fprintf(w, `{"id":"%d-%d","input":"client %d line %d"}`+"\n", n, i, n, i)
				}
				w.Flush()
				c.CloseWrite()
			}()
			for i := range each {
				line, err := c.R.ReadBytes('\n')
				if err != nil {
					errs <- fmt.Errorf("client %d, answer %d: %v", n, i, err)
					return
				}
				want := fmt.Sprintf(`{"id":"%d-%d","output":"client %d line %d",`, n, i, n, i)
				if !strings.HasPrefix(string(line), want) {
					errs <- fmt.Errorf("client %d, answer %d: %s; want %s...", n, i, line, want)
					return
				}
			}
			if rest, err := c.R.ReadBytes('\n'); err != io.EOF {
				errs <- fmt.Errorf("client %d: after its answers, %q, %v; want the end", n, rest, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	st := dialRaw(t, path)
	st.send(t, `{"id":"s","status":true}`)
	a := st.recv(t)
	if a.Status == nil || a.Status.Served < clients*each || a.Status.Clients < 2 {
		t.Errorf("status %+v; want %d served or more, 2 clients or more (the hog and this)", a.Status, clients*each)
	}
	st.c.Close()
	hog.c.Close()
	<-hogDone
	if t.Failed() {
		t.Logf("log:\n%s", log.String())
	}
}

// TestServeBadInput: bad lines get an error answer in their place, and the
// connection goes on.
func TestServeBadInput(t *testing.T) {
	path, _, _ := startServer(t, Config{ClientWindow: 4, MaxRequest: 100}, "cat")
	c := dialRaw(t, path)
	defer c.c.Close()
	c.send(t,
		`{"id":1,"input":"one"}`,
		"\x00\xff garbage",
		`{"id":2,"input":"`+strings.Repeat("x", 1000)+`"}`,
		`{"id":3,"input":"three"}`,
		`{"id":4,"input":"a\nb"}`,
		`{"id":5,"input":"five"}`,
	)
	for _, want := range []struct{ id, out, err string }{
		{"1", `"one"`, ""}, {"null", "", "not a JSON object"}, {"2", "", "longer than --max-request 100"},
		{"3", `"three"`, ""}, {"4", "", "holds a newline"}, {"5", `"five"`, ""},
	} {
		a := c.recv(t)
		got := string(a.ID)
		if got == "" {
			got = "null"
		}
		if got != want.id || string(a.Output) != want.out || !strings.Contains(a.Error, want.err) || (want.err == "") != (a.Error == "") {
			t.Errorf("answer %s %s %q; want %s %s %q", got, a.Output, a.Error, want.id, want.out, want.err)
		}
	}
}

// TestServeRefusesOtherUsers: a caller whose uid is not the server's is
// told so and hung up on (another user cannot be had here: the server is
// told to take only a uid that is not ours).
func TestServeRefusesOtherUsers(t *testing.T) {
	path, _, log := startServer(t, Config{UID: os.Getuid() + 1}, "cat")
	_, err := Dial(path)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("uid %d may not use this server", os.Getuid())) {
		t.Errorf("Dial: %v; want a refusal", err)
	}
	if !strings.Contains(log.String(), "refused a caller") {
		t.Errorf("the log does not tell of the refusal:\n%s", log.String())
	}
}

// TestServeSocketTaken: a live server's socket is not taken; a stale one
// is replaced; a file that is not a socket is left alone.
func TestServeSocketTaken(t *testing.T) {
	path, _, _ := startServer(t, Config{}, "cat")
	if _, _, _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "already listening") {
		t.Errorf("Listen on a live server's socket: %v; want it refused", err)
	}

	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	// The socket file of a crashed server: bound, never listened on, so
	// that a child forked meanwhile by another test, holding a copy of
	// the socket until it execs, cannot make it look live.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: stale}); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	ln, release, wasStale, err := Listen(stale)
	if err != nil || !wasStale {
		t.Fatalf("Listen on a stale socket: %v, stale %v; want it replaced", err, wasStale)
	}
	fi, _ := os.Stat(stale)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("the socket's mode is %v; want 0600", fi.Mode().Perm())
	}
	ln.Close()
	release()

	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, nil, 0o600)
	if _, _, _, err := Listen(plain); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen on a plain file: %v; want it refused", err)
	}
}

// TestResolve: names, paths and the directory's checks.
func TestResolve(t *testing.T) {
	dir := t.TempDir()
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "XDG_RUNTIME_DIR" {
				return v
			}
			return ""
		}
	}
	got, err := Resolve("cipher", env(dir), true)
	if want := filepath.Join(dir, "pipecli", "cipher.sock"); got != want || err != nil {
		t.Errorf("Resolve(cipher) = %q, %v; want %q", got, err, want)
	}
	if got, err := Resolve("./x.sock", env(dir), true); got != "x.sock" || err != nil {
		t.Errorf("Resolve(./x.sock) = %q, %v; want the path", got, err)
	}
	for _, bad := range []string{"", ".hidden", "a b", strings.Repeat("n", 65)} {
		if _, err := Resolve(bad, env(dir), true); err == nil {
			t.Errorf("Resolve(%q) took it", bad)
		}
	}
	open := t.TempDir()
	os.Mkdir(filepath.Join(open, "pipecli"), 0o755)
	os.Chmod(filepath.Join(open, "pipecli"), 0o755)
	if _, err := Resolve("x", env(open), true); err == nil || !strings.Contains(err.Error(), "others may enter it") {
		t.Errorf("a directory others may enter: %v; want it refused", err)
	}
	if err := checkDir(dir, os.Getuid()+1); err == nil || !strings.Contains(err.Error(), "not to you") {
		t.Errorf("a directory of another user's: %v; want it refused", err)
	}
}

// TestServeFair: a caller with one request, sent while another has a
// window of them queued at a slow model, is served after a few of the
// other's, not after all: the callers take turns. Counted in answers, not
// timed.
func TestServeFair(t *testing.T) {
	path, _, _ := startServer(t, Config{ClientWindow: 64}, "sh", "-c", `while read -r l; do sleep 0.005; echo "$l"; done`)
	batch := dialRaw(t, path)
	defer batch.c.Close()
	go func() {
		for i := range 200 {
			if _, err := fmt.Fprintf(batch.c, `{"id":%d,"input":"batch %d"}`+"\n", i, i); err != nil {
				return
			}
		}
	}()
	// The batch's answers, counted as they come.
	var mu sync.Mutex
	answered := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			if _, err := batch.r.ReadBytes('\n'); err != nil {
				return
			}
			mu.Lock()
			answered++
			mu.Unlock()
		}
	}()
	for {
		mu.Lock()
		n := answered
		mu.Unlock()
		if n >= 10 { // the batch is well under way, its window full
			break
		}
		time.Sleep(time.Millisecond)
	}
	person := dialRaw(t, path)
	defer person.c.Close()
	mu.Lock()
	before := answered
	mu.Unlock()
	person.send(t, `{"id":"p","input":"hello"}`)
	if a := person.recv(t); string(a.Output) != `"hello"` {
		t.Fatalf("the person got %+v", a)
	}
	mu.Lock()
	after := answered
	mu.Unlock()
	// Before the person's turn: the batch's requests that the pool had
	// taken already (a replica's couple, one looked ahead, one in the
	// pipe) and one more in the round; and the answers in the socket.
	if after-before > 16 {
		t.Errorf("the batch got %d answers while the person waited for one; want a few", after-before)
	}
	t.Logf("the batch got %d answers while the person waited for one", after-before)
	<-done
}
