// Command eval measures the demo model on English it was neither trained
// nor tuned on, genre by genre, beside a baseline build of pipecli:
//
//	go run ./scripts/eval                 # baseline: the model before its second edition
//	go run ./scripts/eval -base HEAD~3    # any git revision
//	go run ./scripts/eval -base ""        # no baseline
//
// Each genre's text is cut into lines of 100 to 128 characters (60 to 90
// for "short"), as a user would paste sentences; up to -n lines, spread
// over the text, are encrypted with a fresh substitution key each (fixed
// seed). Every build answers them one at a time as `pipecli model` on one
// core (GOMAXPROCS=1), and eval prints, per genre and build, the lines
// exact, the letters right and the median and p90 milliseconds a line.
// Caesar (a random shift a line) and the original demo's cipher (the
// licences encrypted whole) are checked the same way.
//
// The genres, none of them in the training data (see package corpus):
// licences from /usr/share/common-licenses; verse, quotations with names
// and computing quips from the fortune files (packages fortunes and
// fortunes-min); technical prose from the Go toolchain's documents.
//
// It also makes testdata/crypt.txt, the sample ciphertext for
// `pipecli run --file testdata/crypt.txt`, and fails, writing nothing, if
// the model gets any line of it wrong:
//
//	go run ./scripts/eval -sample testdata/crypt.txt -sample-plain internal/model/testdata/crypt.plain
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pipecli/pipecli/internal/corpus"
	"github.com/pipecli/pipecli/internal/model"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "eval: %v\n", err)
		os.Exit(1)
	}
}

// defaultBase is the last revision with the first edition's tables.
const defaultBase = "4746121"

// A genre is a kind of English and where to find it.
type genre struct {
	name  string
	files []string
	short bool // 60-90 character lines, from every other genre's text
}

const fortunes = "/usr/share/games/fortunes/"

var licences = []string{
	"/usr/share/common-licenses/GPL-3",
	"/usr/share/common-licenses/Apache-2.0",
	"/usr/share/common-licenses/MPL-2.0",
}

func genres(goroot string) []genre {
	doc := filepath.Join(goroot, "doc")
	return []genre{
		{name: "licences", files: licences},
		{name: "verse", files: []string{fortunes + "songs-poems"}},
		{name: "quotations", files: []string{fortunes + "people", fortunes + "humorists", fortunes + "literature", fortunes + "wisdom"}},
		{name: "computing", files: []string{fortunes + "computers"}},
		{name: "technical", files: []string{filepath.Join(doc, "go_mem.html"), filepath.Join(doc, "godebug.md"), filepath.Join(doc, "go_spec.html")}},
		{name: "short", short: true},
	}
}

// sampleSeed and sampleLines make testdata/crypt.txt.
const (
	sampleSeed  = 2024
	sampleStart = "Basic Permissions."
	sampleLines = 20
	sampleWidth = 128
)

func run() error {
	seed := flag.Uint64("seed", 1, "seed for keys and shifts")
	limit := flag.Int("n", 200, "at most this many lines per genre")
	base := flag.String("base", defaultBase, "git revision of the baseline build (\"\": none)")
	only := flag.String("genre", "", "evaluate only this genre, or a text file given as dev=FILE")
	verbose := flag.Bool("v", false, "print the lines the new build did not decrypt exactly")
	dump := flag.String("dump", "", "also write each substitution line's plaintext and ciphertext, tab-separated, to FILE")
	sample := flag.String("sample", "", "write the sample ciphertext file FILE instead of evaluating")
	samplePlain := flag.String("sample-plain", "", "with -sample, also write its plaintext to FILE")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./scripts/eval [flags]\nmeasure the demo model by genre beside a baseline build (slow: minutes).\n\nflags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *sample != "" {
		raw, err := readTexts(licences)
		if err != nil {
			return err
		}
		return writeSample(*sample, *samplePlain, raw)
	}

	tmp, err := os.MkdirTemp("", "eval")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	builds := []build{{name: "new", bin: filepath.Join(tmp, "pipecli-new")}}
	if err := goBuild(".", builds[0].bin); err != nil {
		return err
	}
	if *base != "" {
		b, err := buildAt(*base, tmp)
		if err != nil {
			return err
		}
		builds = append([]build{b}, builds...)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	all := genres(strings.TrimSpace(string(goroot)))
	if name, file, ok := strings.Cut(*only, "="); ok {
		all = []genre{{name: name, files: []string{file}}}
	} else if *only != "" {
		all = slices.DeleteFunc(all, func(g genre) bool { return g.name != *only })
		switch {
		case len(all) == 0:
			return fmt.Errorf("-genre %s: no such genre; use licences, verse, quotations, computing or technical, or NAME=FILE", *only)
		case all[0].short:
			return fmt.Errorf("-genre short: short lines are cut from all the other genres; run eval without -genre")
		}
	}

	fmt.Printf("%-12s %-13s %-8s %5s %7s %9s %7s %7s\n", "genre", "cipher", "build", "lines", "exact%", "letters%", "p50 ms", "p90 ms")
	r := rand.New(rand.NewPCG(*seed, 0))
	var every [][]byte
	var caesarPlain []string
	for _, g := range all {
		var raw []byte
		if g.short {
			raw = bytes.Join(every, []byte("\n"))
		} else if raw, err = readTexts(g.files); err != nil {
			return err
		}
		every = append(every, raw)
		lo, hi := 100, 128
		if g.short {
			lo, hi = 60, 90
		}
		plain := corpus.Spread(corpus.Lines(string(raw), lo, hi), *limit)
		caesarPlain = append(caesarPlain, corpus.Spread(plain, max(*limit/len(all), 1))...)
		crypt, err := encryptLines(plain, model.EncryptOptions{Cipher: "substitution", Seed: int64(*seed), HasSeed: true})
		if err != nil {
			return err
		}
		if *dump != "" {
			if err := appendPairs(*dump, plain, crypt); err != nil {
				return err
			}
		}
		if err := compare(g.name, "substitution", builds, plain, crypt, *verbose); err != nil {
			return err
		}
	}
	if *only != "" {
		return nil
	}
	caesar := make([]string, len(caesarPlain))
	for i, p := range caesarPlain {
		c, err := encryptLines([]string{p}, model.EncryptOptions{Cipher: "caesar", Shift: 1 + r.IntN(25)})
		if err != nil {
			return err
		}
		caesar[i] = c[0]
	}
	if err := compare("all", "caesar", builds, caesarPlain, caesar, *verbose); err != nil {
		return err
	}
	raw, err := readTexts(licences)
	if err != nil {
		return err
	}
	var orig bytes.Buffer
	if err := model.Encrypt(context.Background(), bytes.NewReader(raw), &orig, model.EncryptOptions{Cipher: "original", Whole: true}); err != nil {
		return err
	}
	origCipher := strings.Split(strings.TrimSuffix(orig.String(), "\n"), "\n")
	var origPlain []string
	for _, piece := range model.CutRunes(raw, 128) {
		origPlain = append(origPlain, string(piece))
	}
	if len(origCipher) != len(origPlain) {
		return fmt.Errorf("original: %d ciphertext lines for %d plaintext lines; does the text contain '~'?", len(origCipher), len(origPlain))
	}
	n := min(len(origPlain), *limit)
	return compare("licences", "original", builds, origPlain[:n], origCipher[:n], *verbose)
}

// appendPairs appends plaintext and ciphertext lines to a file, a pair a
// line, tab-separated.
func appendPairs(path string, plain, crypt []string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	for i := range plain {
		fmt.Fprintf(f, "%s\t%s\n", plain[i], crypt[i])
	}
	return f.Close()
}

// build is a pipecli binary under evaluation.
type build struct{ name, bin string }

func goBuild(dir, out string) error {
	cmd := exec.Command("go", "build", "-o", out, "./cmd/pipecli")
	cmd.Dir, cmd.Stderr = dir, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build in %s: %w", dir, err)
	}
	return nil
}

// buildAt builds pipecli at a git revision, in a worktree it removes.
func buildAt(rev, tmp string) (build, error) {
	src := filepath.Join(tmp, "base-src")
	if out, err := exec.Command("git", "worktree", "add", "--detach", "-q", src, rev).CombinedOutput(); err != nil {
		return build{}, fmt.Errorf("git worktree add %s: %v: %s", rev, err, out)
	}
	defer exec.Command("git", "worktree", "remove", "--force", src).Run()
	b := build{name: "base", bin: filepath.Join(tmp, "pipecli-base")}
	return b, goBuild(src, b.bin)
}

// compare decrypts crypt with every build and prints a row for each.
func compare(genre, cipher string, builds []build, plain, crypt []string, verbose bool) error {
	for _, b := range builds {
		got, times, err := decryptAll(b.bin, crypt)
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		var exact, letters, right int
		for i, want := range plain {
			if got[i] == want {
				exact++
			} else if verbose && b.name == "new" {
				fmt.Printf("  want %q\n  got  %q\n", want, got[i])
			}
			n, ok := letterMatch(want, got[i])
			letters += n
			right += ok
		}
		slices.Sort(times)
		fmt.Printf("%-12s %-13s %-8s %5d %7.1f %9.2f %7.1f %7.1f\n", genre, cipher, b.name, len(plain),
			pct(exact, len(plain)), pct(right, letters), ms(times[len(times)/2]), ms(times[len(times)*9/10]))
	}
	return nil
}

// marker ends each answer: the original cipher's answers may span lines.
const marker = "\x1e"

// decryptAll sends the lines one at a time to `bin model` on one core and
// returns its answers and the time each took.
func decryptAll(bin string, lines []string) ([]string, []time.Duration, error) {
	cmd := exec.Command(bin, "model", "--marker", marker)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	defer cmd.Wait()
	defer stdin.Close()
	br := bufio.NewReader(stdout)
	answers := make([]string, 0, len(lines))
	times := make([]time.Duration, 0, len(lines))
	for _, line := range lines {
		start := time.Now()
		if _, err := io.WriteString(stdin, line+"\n"); err != nil {
			return nil, nil, err
		}
		var answer []string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return nil, nil, fmt.Errorf("reading the answer to %q: %w", line, err)
			}
			l = strings.TrimSuffix(l, "\n")
			if l == marker {
				break
			}
			answer = append(answer, l)
		}
		times = append(times, time.Since(start))
		answers = append(answers, strings.Join(answer, "\n"))
	}
	return answers, times, nil
}

var (
	tags = regexp.MustCompile(`<[^>]*>`)
	code = regexp.MustCompile("(?s)<pre\\b[^>]*>.*?</pre>|```.*?```")
)

// readTexts reads and joins files: HTML and Markdown lose their code
// blocks (grammar productions too: <pre class="ebnf">) and tags, and their
// entities are decoded (&amp; is read as &), leaving the prose a reader
// sees; fortune files lose their "%" separators.
func readTexts(files []string) ([]byte, error) {
	var raw []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil && strings.HasPrefix(f, fortunes) {
			return nil, fmt.Errorf("%w; install the fortune files with: apt-get install fortunes fortunes-min", err)
		}
		if err != nil {
			return nil, err
		}
		switch {
		case strings.HasSuffix(f, ".html"), strings.HasSuffix(f, ".md"):
			b = []byte(html.UnescapeString(string(tags.ReplaceAll(code.ReplaceAll(b, nil), nil))))
		case strings.HasPrefix(f, fortunes):
			b = regexp.MustCompile(`(?m)^%$`).ReplaceAll(b, nil)
		}
		raw = append(raw, b...)
		raw = append(raw, '\n')
	}
	return raw, nil
}

func encryptLines(lines []string, o model.EncryptOptions) ([]string, error) {
	var out bytes.Buffer
	in := strings.NewReader(strings.Join(lines, "\n") + "\n")
	if err := model.Encrypt(context.Background(), in, &out, o); err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"), nil
}

// letterMatch counts the letters of want and how many got has right at the
// same byte offset.
func letterMatch(want, got string) (letters, right int) {
	for i := 0; i < len(want); i++ {
		c := want[i] | 0x20
		if c < 'a' || c > 'z' {
			continue
		}
		letters++
		if i < len(got) && got[i] == want[i] {
			right++
		}
	}
	return letters, right
}

func writeSample(path, plainPath string, raw []byte) error {
	text := string(raw)
	i := strings.Index(text, sampleStart)
	if i < 0 {
		return fmt.Errorf("%q: not in the licences", sampleStart)
	}
	prose := corpus.Lines(text[i+len(sampleStart):], 0, sampleWidth)[:sampleLines]
	lines, err := encryptLines(prose, model.EncryptOptions{Cipher: "substitution", Seed: sampleSeed, HasSeed: true})
	if err != nil {
		return err
	}
	for i, c := range lines {
		res, err := model.Decrypt(c, "auto")
		if err != nil {
			return err
		}
		if res.Text != prose[i] {
			return fmt.Errorf("sample line %d decrypts wrong, so the sample would not:\n  want %q\n  got  %q", i+1, prose[i], res.Text)
		}
	}
	if plainPath != "" {
		if err := os.WriteFile(plainPath, []byte(strings.Join(prose, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

func pct(a, b int) float64 { return 100 * float64(a) / float64(max(b, 1)) }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
