// Command tune searches the demo model's Params on the development set:
// lines of the training corpora that package corpus holds back from
// training, and manual pages, never the texts scripts/eval reports on. It encrypts -n lines
// of 100 to 128 characters with random substitution keys, then, one
// parameter at a time, tries each value of its grid and keeps the best,
// by lines exact and then letters right, printing every trial:
//
//	go run ./scripts/tune -n 300 -rounds 2
//
// The manual pages are those installed, so the set changes as packages
// come and go; to compare changes on one set, save it and read it back:
//
//	go run ./scripts/tune -n 1200 -print > dev.txt
//	go run ./scripts/tune -n 1200 -lines dev.txt -only none
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pipecli/pipecli/internal/corpus"
	"github.com/pipecli/pipecli/internal/model"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "tune: %v\n", err)
		os.Exit(1)
	}
}

// knob is a parameter and the values to try.
type knob struct {
	name string
	ptr  func(*model.Params) *float32
	grid []float32
}

var knobs = []knob{
	{"WordWeight", func(p *model.Params) *float32 { return &p.WordWeight }, []float32{1, 1.5, 2, 2.5, 3, 4, 5}},
	{"PairWeight", func(p *model.Params) *float32 { return &p.PairWeight }, []float32{0, 0.5, 1, 1.5, 2, 3}},
	{"TripleWeight", func(p *model.Params) *float32 { return &p.TripleWeight }, []float32{0, 0.5, 1, 1.5, 2, 3}},
	{"UnknownWord", func(p *model.Params) *float32 { return &p.UnknownWord }, []float32{-7, -8, -9, -10, -11, -12}},
	{"UnknownName", func(p *model.Params) *float32 { return &p.UnknownName }, []float32{-6, -7, -8, -9, -10, -11}},
	{"LowerName", func(p *model.Params) *float32 { return &p.LowerName }, []float32{0, -1, -2, -3, -4}},
	{"TitleWord", func(p *model.Params) *float32 { return &p.TitleWord }, []float32{0, -0.3, -0.7, -1, -1.5, -2}},
}

func run() error {
	n := flag.Int("n", 300, "development lines")
	rounds := flag.Int("rounds", 1, "passes over the parameters")
	only := flag.String("only", "", "tune only these parameters, comma-separated (none: just score the defaults)")
	print := flag.Bool("print", false, "print the development lines and stop")
	set := flag.String("set", "", "start from the defaults with these values, as \"WordWeight=2 PairWeight=3\"")
	linesFile := flag.String("lines", "", "read the development lines from FILE, as -print wrote them, rather than from the corpora and the manual pages installed now (which change as packages come and go)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./scripts/tune [flags]\nsearch the demo model's weights on the development set (slow: minutes).\n\nflags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *only != "" && *only != "none" {
		for name := range strings.SplitSeq(*only, ",") {
			if !slices.ContainsFunc(knobs, func(k knob) bool { return k.name == name }) {
				return fmt.Errorf("-only %s: no such parameter; the parameters are %s", name, knobNames())
			}
		}
	}
	plain, parts, err := devLines(*n)
	if err != nil {
		return err
	}
	if *linesFile != "" {
		b, err := os.ReadFile(*linesFile)
		if err != nil {
			return err
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		// The corpora's shares are as now if the file begins with them;
		// the rest is the manual pages of when it was written.
		last := len(parts) - 2
		if len(lines) >= parts[last] && slices.Equal(lines[:parts[last]], plain[:parts[last]]) {
			parts[last+1] = len(lines)
		} else {
			parts = []int{0, len(lines)}
		}
		plain = lines
	}
	if *print {
		fmt.Println(strings.Join(plain, "\n"))
		return nil
	}
	var out bytes.Buffer
	in := strings.NewReader(strings.Join(plain, "\n") + "\n")
	if err := model.Encrypt(context.Background(), in, &out, model.EncryptOptions{Cipher: "substitution", Seed: 7, HasSeed: true}); err != nil {
		return err
	}
	crypt := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")

	best := model.DefaultParams()
	for _, kv := range strings.Fields(*set) {
		name, val, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(knobs, func(k knob) bool { return k.name == name })
		if i < 0 {
			return fmt.Errorf("-set %s: no such parameter; the parameters are %s", name, knobNames())
		}
		if _, err := fmt.Sscan(val, knobs[i].ptr(&best)); err != nil {
			return fmt.Errorf("-set %s: %v", kv, err)
		}
	}
	start := time.Now()
	results := decryptAll(best, plain, crypt)
	bestExact, bestLetters := total(results)
	fmt.Printf("start %+v: %d/%d exact, %.3f%% letters (%.1fs)\n", best, bestExact, len(plain), bestLetters, time.Since(start).Seconds())
	if len(parts) == len(devSources)+1 {
		for i, name := range devSources {
			lo, hi := parts[i], parts[i+1]
			exact, letters := total(results[lo:hi])
			fmt.Printf("  %-8s %d/%d exact, %.3f%% letters\n", name, exact, hi-lo, letters)
		}
	}
	for range *rounds {
		for _, k := range knobs {
			if *only != "" && !strings.Contains(","+*only+",", ","+k.name+",") {
				continue
			}
			for _, v := range k.grid {
				p := best
				if *k.ptr(&p) == v {
					continue
				}
				*k.ptr(&p) = v
				start := time.Now()
				exact, letters := total(decryptAll(p, plain, crypt))
				fmt.Printf("%s=%g: %d exact, %.3f%% letters (%.1fs)\n", k.name, v, exact, letters, time.Since(start).Seconds())
				if exact > bestExact || exact == bestExact && letters > bestLetters {
					best, bestExact, bestLetters = p, exact, letters
				}
			}
			fmt.Printf("best so far %+v: %d exact, %.3f%% letters\n", best, bestExact, bestLetters)
		}
	}
	return nil
}

// knobNames lists the parameters tune knows.
func knobNames() string {
	var names []string
	for _, k := range knobs {
		names = append(names, k.name)
	}
	return strings.Join(names, ", ")
}

// devSources name the development set's parts, in order.
var devSources = []string{"bible", "wordnet", "devil", "python", "kjv", "jargon", "man"}

// devLines is the development set: n/4+1 lines from each of devSources
// (fewer where a source has fewer; the share predates the fifth source,
// and is kept so that figures stay comparable), and where each source's
// lines start, with their end last.
func devLines(n int) ([]string, []int, error) {
	var dev []string
	parts := []int{0}
	for _, src := range corpus.Texts {
		b, err := src.Read()
		if err != nil {
			return nil, nil, err
		}
		_, d := corpus.Split(b)
		// An equal share of each source.
		lines := corpus.Lines(string(corpus.Plain(d)), 100, 128)
		dev = append(dev, corpus.Spread(lines, n/4+1)...)
		parts = append(parts, len(dev))
	}
	return dev, parts, nil
}

// manPages is the text of every 10th manual page of section 1, without
// its troff requests and escapes: modern technical English that the model
// is not trained on, so that the weights suit more than the training
// corpora's kinds of English (none of it is among the texts scripts/eval
// reports on).
func manPages() ([]byte, error) {
	files, err := filepath.Glob("/usr/share/man/man1/*.1.gz")
	// Thousands of generated pages of one tool would be most of the text.
	files = slices.DeleteFunc(files, func(f string) bool { return strings.HasPrefix(filepath.Base(f), "gcloud") })
	if err != nil || len(files) == 0 {
		return nil, errors.New("no manual pages in /usr/share/man/man1; install some (apt-get install man-db coreutils) or drop them from devLines")
	}
	escape := regexp.MustCompile(`\\(f[0-9A-Z]|f\(..|\(..|\[[^]]*\]|[-&e|^ ])`)
	var out bytes.Buffer
	for i := 0; i < len(files); i += 10 {
		f, err := os.Open(files[i])
		if err != nil {
			return nil, err
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			continue
		}
		b, _ := io.ReadAll(zr)
		f.Close()
		var para bytes.Buffer
		for line := range bytes.Lines(b) {
			if len(line) > 0 && (line[0] == '.' || line[0] == '\'') {
				if para.Len() > 0 {
					out.Write(bytes.TrimSpace(para.Bytes()))
					out.WriteByte('\n')
					para.Reset()
				}
				continue
			}
			para.Write(escape.ReplaceAll(bytes.TrimSpace(line), nil))
			para.WriteByte(' ')
		}
	}
	return out.Bytes(), nil
}

// result is how one line decrypted: whether exactly, and its letters and
// how many of them came out right.
type result struct{ exact, letters, right int }

// decryptAll decrypts every line with p on all cores.
func decryptAll(p model.Params, plain, crypt []string) []result {
	results := make([]result, len(crypt))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				got, err := model.DecryptWith(crypt[i], "substitution", p)
				if err != nil {
					panic(err)
				}
				r := result{}
				if got.Text == plain[i] {
					r.exact = 1
				}
				for j := 0; j < len(plain[i]); j++ {
					if c := plain[i][j] | 0x20; 'a' <= c && c <= 'z' {
						r.letters++
						if j < len(got.Text) && got.Text[j] == plain[i][j] {
							r.right++
						}
					}
				}
				results[i] = r
			}
		})
	}
	for i := range crypt {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// total is the lines exact among results and the percentage of letters
// right.
func total(results []result) (exact int, letters float64) {
	var all, right int
	for _, r := range results {
		exact += r.exact
		all += r.letters
		right += r.right
	}
	return exact, 100 * float64(right) / float64(max(all, 1))
}
