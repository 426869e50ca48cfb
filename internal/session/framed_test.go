package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/launch"
	"github.com/pipecli/pipecli/internal/track"
)

// Framed runs with streams that are not terminals: answers in input order,
// whatever order the child answers in.
func TestRunFramed(t *testing.T) {
	tests := []struct {
		name    string
		framing frame.Options
		argv    []string
		input   string
		want    string
	}{
		{
			name:    "line",
			framing: frame.Options{Mode: frame.Line},
			argv:    []string{"sed", "-u", "s/^/> /"},
			input:   "a\nb\n",
			want:    "> a\n> b\n",
		},
		{
			name:    "marker",
			framing: frame.Options{Mode: frame.Marker, Marker: "."},
			argv:    []string{"sed", "-u", `s/$/\n./`},
			input:   "a\nb\n",
			want:    "a\nb\n",
		},
		{
			// The child answers request 2 before request 1: the output
			// still follows the input.
			name:    "jsonl out of order",
			framing: frame.Options{Mode: frame.JSONL},
			argv:    []string{"sh", "-c", `read a; read b; echo "$b"; echo "$a"`},
			input:   "{\"id\":\"x\"}\n{\"id\":\"y\"}\n",
			want:    "{\"id\":\"x\"}\n{\"id\":\"y\"}\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, in, out, errOut := iostreams.Test()
			in.WriteString(tt.input)
			res, err := Run(context.Background(), Config{
				Target:  launch.Command(tt.argv),
				Grace:   time.Second,
				Framing: tt.framing,
				Retries: 2,
			}, ios)
			if err != nil {
				t.Fatal(err)
			}
			if res.Failed != 0 || res.Requests != strings.Count(tt.input, "\n") {
				t.Errorf("requests %d, failed %d; stderr %q", res.Requests, res.Failed, errOut.String())
			}
			if out.String() != tt.want {
				t.Errorf("stdout = %q, want %q", out.String(), tt.want)
			}
		})
	}
}

// Observe is told of every request once, as it ends, with its answer or
// why it failed, in the order the requests are written out.
func TestRunFramedObserve(t *testing.T) {
	type seen struct {
		seq           uint64
		input, answer string
		failed        bool
	}
	tests := []struct {
		name      string
		framing   frame.Options
		unordered bool
		argv      []string
		input     string
		want      []seen
	}{
		{
			// The last request is never answered: the child reads
			// EOF and exits, and it fails.
			name:    "line, one failed",
			framing: frame.Options{Mode: frame.Line},
			argv:    []string{"sh", "-c", `while read l; do [ "$l" = drop ] || echo "$l!"; done`},
			input:   "a\nb\ndrop\n",
			want:    []seen{{1, "a", "a!", false}, {2, "b", "b!", false}, {3, "drop", "", true}},
		},
		{
			name:    "jsonl answered out of order",
			framing: frame.Options{Mode: frame.JSONL},
			argv:    []string{"sh", "-c", `read a; read b; echo "$b"; echo "$a"`},
			input:   "{\"id\":\"x\"}\n{\"id\":\"y\"}\n",
			want:    []seen{{1, `{"id":"x"}`, `{"id":"x"}`, false}, {2, `{"id":"y"}`, `{"id":"y"}`, false}},
		},
		{
			name:      "jsonl unordered: as they end",
			framing:   frame.Options{Mode: frame.JSONL},
			unordered: true,
			argv:      []string{"sh", "-c", `read a; read b; echo "$b"; echo "$a"`},
			input:     "{\"id\":\"x\"}\n{\"id\":\"y\"}\n",
			want:      []seen{{2, `{"id":"y"}`, `{"id":"y"}`, false}, {1, `{"id":"x"}`, `{"id":"x"}`, false}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, in, _, _ := iostreams.Test()
			in.WriteString(tt.input)
			var got []seen
			res, _ := Run(context.Background(), Config{
				Target:    launch.Command(tt.argv),
				Grace:     time.Second,
				Framing:   tt.framing,
				Unordered: tt.unordered,
				Observe: func(r *track.Request) {
					// Copied: r and its slices are reused.
					got = append(got, seen{r.Seq, string(r.Input), string(r.Answer), r.Err != nil})
				},
			}, ios)
			if !slices.Equal(got, tt.want) {
				t.Errorf("observed %+v, want %+v", got, tt.want)
			}
			if res.Requests != len(tt.want) {
				t.Errorf("%d requests, observed %d", res.Requests, len(got))
			}
		})
	}
}

// A reader of our output that goes away (`pipecli ... | head -1`) ends a
// framed run at once, with input and answers still coming: the child's
// stdout pump and the input reader must not wait for a loop that has
// returned.
func TestRunFramedOutputClosed(t *testing.T) {
	ios, in, _, _ := iostreams.Test()
	for i := range 100000 {
		fmt.Fprintf(in, "line %d\n", i)
	}
	ios.Out = writerFunc(func([]byte) (int, error) { return 0, syscall.EPIPE })
	res, err := Run(context.Background(), Config{
		Target:  launch.Command([]string{"cat"}),
		Grace:   time.Second,
		Framing: frame.Options{Mode: frame.Line},
		Window:  64,
	}, ios)
	var oc *OutputClosed
	if !errors.As(err, &oc) || !oc.Quiet() || !res.OutputClosed {
		t.Errorf("res %+v, err %v; want a quiet *OutputClosed", res, err)
	}
}

// Input that comes one line at a time, each only once the answer to the one
// before is out: the window has room while no input is at hand, and the
// line that comes next is taken all the same.
func TestRunFramedTrickle(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	pr, pw := io.Pipe()
	ios.In = pr
	answers := make(chan string, 16)
	ios.Out = writerFunc(func(p []byte) (int, error) {
		answers <- string(p)
		return len(p), nil
	})
	done := make(chan error)
	go func() {
		_, err := Run(context.Background(), Config{
			Target:  launch.Command([]string{"cat"}),
			Grace:   time.Second,
			Framing: frame.Options{Mode: frame.Line},
			Window:  1, // full while the loop waits: the pump frees it
		}, ios)
		done <- err
	}()
	for i := range 5 {
		line := fmt.Sprintf("line %d\n", i)
		pw.Write([]byte(line))
		if got := <-answers; got != line {
			t.Errorf("answer %q, want %q", got, line)
		}
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// A signal ends a framed run: the child gets it, what is in flight fails,
// and nothing waits forever for output that comes as the child goes.
func TestRunFramedSignal(t *testing.T) {
	ios, in, _, _ := iostreams.Test()
	in.WriteString("a\nb\n")
	up := make(chan struct{})
	var once sync.Once
	ios.ErrOut = writerFunc(func(p []byte) (int, error) {
		once.Do(func() { close(up) })
		return len(p), nil
	})
	done := make(chan Result)
	go func() {
		res, _ := Run(context.Background(), Config{
			Target:  launch.Command([]string{"sh", "-c", `trap 'echo bye; echo bye; exit 0' TERM; read a; read b; echo up >&2; while :; do sleep 0.01; done`}),
			Grace:   time.Second,
			Framing: frame.Options{Mode: frame.Line},
		}, ios)
		done <- res
	}()
	<-up
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	res := <-done
	if res.Interrupted != syscall.SIGTERM || res.Requests != 2 || res.Failed != 2 {
		t.Errorf("res %+v, want interrupted by SIGTERM, 2 requests failed", res)
	}
}

func TestReadLines(t *testing.T) {
	long := strings.Repeat("x", 3*chunkSize+5)
	many := strings.Repeat("a\n", maxBatch+3)
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"lines", "a\nbb\n", []string{"a", "bb"}},
		{"empty lines count", "\n\na\n", []string{"", "", "a"}},
		{"CRLF", "a\r\nb\r\n", []string{"a", "b"}},
		{"no final newline", "a\nb", []string{"a", "b"}},
		{"long line", "a\n" + long + "\nb\n", []string{"a", long, "b"}},
		{"long last line", long, []string{long}},
		{"more than a batch", many, strings.Split(strings.TrimSuffix(many, "\n"), "\n")},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/one byte reads %v", tt.name, oneByte), func(t *testing.T) {
				var src io.Reader = strings.NewReader(tt.input)
				if oneByte {
					src = iotest.OneByteReader(src)
				}
				ch := make(chan [][]byte)
				errc := make(chan error, 1)
				go func() {
					defer close(ch)
					errc <- readLines(src, ch, nil, nil, nil)
				}()
				var got []string
				for batch := range ch {
					if len(batch) > maxBatch {
						t.Errorf("batch of %d lines, more than %d", len(batch), maxBatch)
					}
					for _, l := range batch {
						got = append(got, string(l))
					}
				}
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("got %d lines %.40q, want %d %.40q", len(got), got, len(tt.want), tt.want)
				}
			})
		}
	}
}

// A receiver that gives batches back is done with the lines of a batch
// once it takes the next one: readLines reads into their chunk again, and
// never into one whose lines the receiver still holds.
func TestReadLinesReusesChunks(t *testing.T) {
	var input strings.Builder
	var want []string
	for i := 0; input.Len() < 4<<20; i++ {
		l := fmt.Sprintf("line %d %s", i, strings.Repeat(string(rune('a'+i%26)), i%200))
		want = append(want, l)
		input.WriteString(l + "\n")
	}
	ch := make(chan [][]byte)
	free := make(chan [][]byte, 2)
	errc := make(chan error, 1)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	go func() {
		defer close(ch)
		errc <- readLines(strings.NewReader(input.String()), ch, nil, free, nil)
	}()
	n := 0
	for batch := range ch {
		runtime.Gosched() // give readLines time to read ahead, as it may
		for _, l := range batch {
			if n >= len(want) || string(l) != want[n] {
				t.Fatalf("line %d is %.60q, want %.60q", n+1, l, want[min(n, len(want)-1)])
			}
			n++
		}
		clear(batch)
		select {
		case free <- batch:
		default:
		}
	}
	runtime.ReadMemStats(&after)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Fatalf("%d lines, want %d", n, len(want))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("allocated %d KiB to read %d KiB: its chunks are not read into again", alloc>>10, input.Len()>>10)
	}
}

// While the pipe has room and nothing is queued, the inbox writes straight
// to the child; what the pipe does not take, and what comes while the
// writer goroutine is busy, waits in order for the writer.
func TestInboxWritesNow(t *testing.T) {
	b := newInbox()
	r := b.reader()
	var direct bytes.Buffer
	room := 4
	b.attach(r, func(p []byte) (int, error) {
		n := min(len(p), room)
		room -= n
		direct.Write(p[:n])
		return n, nil
	})
	b.Write([]byte("abcdef"))
	if direct.String() != "abcd" {
		t.Fatalf("written at once %q, want %q", direct.String(), "abcd")
	}
	room = 100
	b.Write([]byte("gh")) // behind "ef", for the writer
	buf := make([]byte, 64)
	n, _ := r.Read(buf)
	if got := string(buf[:n]); got != "efgh" || direct.String() != "abcd" {
		t.Fatalf("writer got %q, direct %q; want efgh, abcd", got, direct.String())
	}
	b.Write([]byte("ij")) // the writer may still be writing "efgh"
	n, _ = r.Read(buf)
	if got := string(buf[:n]); got != "ij" {
		t.Fatalf("writer got %q, want ij", got)
	}
	// The writer asks for more and finds nothing: writes go straight again.
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Read(buf)
	}()
	for idle := false; !idle; {
		runtime.Gosched()
		b.mu.Lock()
		idle = !b.busy
		b.mu.Unlock()
	}
	b.Write([]byte("kl"))
	if direct.String() != "abcdkl" {
		t.Errorf("written at once %q, want abcdkl", direct.String())
	}
	r.Close()
	<-done
}

// BenchmarkFramed plays ping-pong with cat, which writes back each chunk
// it reads at once: each op is one run of framedRequests requests of 128
// bytes, from a file to /dev/null, as scripts/bench.sh does with the
// pipecli binary. cpu-ns/req, our own CPU time per request, moves less than
// req/s on a busy machine; with everything on one core (taskset -c 0) it
// is the figure to compare changes by.
func BenchmarkFramed(b *testing.B) {
	const framedRequests = 20000
	path := filepath.Join(b.TempDir(), "in.txt")
	var in bytes.Buffer
	for i := range framedRequests {
		fmt.Fprintf(&in, "%010d %s\n", i, strings.Repeat("x", 117))
	}
	if err := os.WriteFile(path, in.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, w := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("window=%d", w), func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				ios, _, _, errOut := iostreams.Test()
				res, err := Run(context.Background(), Config{
					Target:  launch.Command([]string{"cat"}),
					File:    path,
					Output:  os.DevNull,
					Grace:   time.Minute,
					Framing: frame.Options{Mode: frame.Line},
					Window:  w,
				}, ios)
				if err != nil || res.Requests != framedRequests || res.Failed != 0 {
					b.Fatalf("res %+v, err %v; stderr %q", res, err, errOut)
				}
			}
			b.ReportMetric(float64(framedRequests*b.N)/b.Elapsed().Seconds(), "req/s")
			// Our own CPU time, without cat's: what pipecli spends.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(framedRequests*b.N), "cpu-ns/req")
		})
	}
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Result counts the children that died and reads their peak RSS; a
// request the run gave up on when it was cancelled is CutShort, not
// failed, while one whose child died is not.
func TestRunFramedDeathsAndCutShort(t *testing.T) {
	ios, in, _, _ := iostreams.Test()
	in.WriteString("a\nkill\nb\n")
	var died []error
	res, _ := Run(context.Background(), Config{
		// It dies on "kill" every time: that request fails after its
		// retries, the others are answered.
		Target:      launch.Command([]string{"sh", "-c", `while read l; do [ "$l" = kill ] && kill -9 $$; echo "$l"; done`}),
		Grace:       time.Second,
		Framing:     frame.Options{Mode: frame.Line},
		Window:      1,
		Retries:     1,
		Restart:     true,
		MaxRestarts: 5,
		Observe: func(r *track.Request) {
			if r.Err != nil {
				died = append(died, r.Err)
			}
		},
	}, ios)
	if res.Deaths != 2 {
		t.Errorf("Deaths = %d; want 2 (sent twice, --retries 1)", res.Deaths)
	}
	if res.PeakRSS <= 0 {
		t.Errorf("PeakRSS = %d; want the children's", res.PeakRSS)
	}
	if len(died) != 1 || CutShort(died[0]) {
		t.Errorf("failed: %v; want one, not CutShort", died)
	}

	// Cancelled with a request in flight and one not sent.
	ios, in, _, _ = iostreams.Test()
	in.WriteString("a\nb\n")
	ctx, cancel := context.WithCancel(context.Background())
	var cut []error
	Run(ctx, Config{
		Target:  launch.Command([]string{"sh", "-c", "read l; echo $l; exec sleep 60"}),
		Grace:   time.Second,
		Framing: frame.Options{Mode: frame.Line},
		Window:  1,
		Observe: func(r *track.Request) {
			if r.Err == nil {
				cancel() // "a" answered: "b" is in flight
				return
			}
			cut = append(cut, r.Err)
		},
	}, ios)
	cancel()
	if len(cut) != 1 || !CutShort(cut[0]) {
		t.Errorf("failed: %v; want one, CutShort", cut)
	}
}

func TestCutShort(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New(whyInterrupted), true},
		{errors.New("not sent: " + whyInterrupted), true},
		{errors.New("not sent: " + whyCancelled), true},
		{errors.New("cat exited with code 1 without answering it"), false},
		{errors.New("not sent: cat exited with code 1"), false},
	} {
		if got := CutShort(tt.err); got != tt.want {
			t.Errorf("CutShort(%v) = %v; want %v", tt.err, got, tt.want)
		}
	}
}

// NoAnswers: the answers are observed, not written; a failure is still
// told.
func TestRunFramedNoAnswers(t *testing.T) {
	ios, in, out, errOut := iostreams.Test()
	in.WriteString("a\nb\ndrop\n")
	var answers []string
	Run(context.Background(), Config{
		Target:    launch.Command([]string{"sh", "-c", `while read l; do [ "$l" = drop ] || echo "$l!"; done`}),
		Grace:     time.Second,
		Framing:   frame.Options{Mode: frame.Line},
		NoAnswers: true,
		Observe: func(r *track.Request) {
			if r.Err == nil {
				answers = append(answers, string(r.Answer))
			}
		},
	}, ios)
	if !slices.Equal(answers, []string{"a!", "b!"}) {
		t.Errorf("observed %q; want the answers", answers)
	}
	if out.Len() != 0 {
		t.Errorf("output %q; want none", out)
	}
	if !strings.Contains(errOut.String(), `request #3 "drop" failed`) {
		t.Errorf("stderr %q; want the failure told", errOut)
	}
}
