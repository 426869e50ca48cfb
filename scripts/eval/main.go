// Command eval measures the demo model on English it was not trained on:
// licence texts from /usr/share/common-licenses, or Go's own docs where
// those are missing. It encrypts the text with random keys from a fixed
// seed, decrypts every line on one core, and prints per family the lines,
// exact lines, letters right and latency:
//
//	go run ./scripts/eval
//
// It also makes testdata/crypt.txt, the sample ciphertext for
// `pipecli run --file testdata/crypt.txt`: 20 lines of at most 128
// characters of the GPL-3 from section 2, "Basic Permissions.",
// substitution-encrypted with seed 2024, and its plaintext, which a test
// compares with the model's answers. It fails, writing nothing, if the model
// gets any line of the sample wrong (the preamble has "we need", which
// Opticks' word counts make "be need"):
//
//	go run ./scripts/eval -sample testdata/crypt.txt -sample-plain internal/model/testdata/crypt.plain
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/pipecli/pipecli/internal/model"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "eval: %v\n", err)
		os.Exit(1)
	}
}

// defaultTexts are held-out English: none of it is in Opticks.
var defaultTexts = []string{
	"/usr/share/common-licenses/GPL-3",
	"/usr/share/common-licenses/Apache-2.0",
	"/usr/share/common-licenses/MPL-2.0",
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
	limit := flag.Int("n", 0, "at most this many lines per family (0: all)")
	verbose := flag.Bool("v", false, "print the lines that were not decrypted exactly")
	sample := flag.String("sample", "", "write the sample ciphertext file FILE instead of evaluating")
	samplePlain := flag.String("sample-plain", "", "with -sample, also write its plaintext to FILE")
	sampleAfter := flag.String("sample-after", sampleStart, "with -sample, start the sample after the first occurrence of this text")
	flag.Parse()
	// One core, as the targets are stated per core.
	runtime.GOMAXPROCS(1)

	files := flag.Args()
	if len(files) == 0 {
		var err error
		if files, err = defaultFiles(); err != nil {
			return err
		}
	}
	var raw []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if strings.HasSuffix(f, ".html") {
			b = stripHTML(b)
		}
		raw = append(raw, b...)
	}
	if *sample != "" {
		return writeSample(*sample, *samplePlain, *sampleAfter, raw)
	}
	fmt.Printf("texts: %s\n", strings.Join(files, " "))
	prose := cutProse(string(raw), 128)
	if *limit > 0 && len(prose) > *limit {
		prose = prose[:*limit]
	}
	r := rand.New(rand.NewPCG(*seed, 0))

	// substitution: a fresh key per line, from Encrypt's own seeded keys.
	subst, err := encryptLines(prose, model.EncryptOptions{Cipher: "substitution", Seed: int64(*seed), HasSeed: true})
	if err != nil {
		return err
	}
	// caesar: a random shift per line.
	caesar := make([]string, len(prose))
	for i, p := range prose {
		c, err := encryptLines([]string{p}, model.EncryptOptions{Cipher: "caesar", Shift: 1 + r.IntN(25)})
		if err != nil {
			return err
		}
		caesar[i] = c[0]
	}
	// original: the whole text at once, cut into 128-character lines.
	var orig bytes.Buffer
	err = model.Encrypt(context.Background(), bytes.NewReader(raw), &orig, model.EncryptOptions{Cipher: "original", Whole: true})
	if err != nil {
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
	if *limit > 0 && len(origPlain) > *limit {
		origPlain, origCipher = origPlain[:*limit], origCipher[:*limit]
	}

	fmt.Printf("%-13s %6s %8s %9s %10s %7s\n", "family", "lines", "exact%", "letters%", "median ms", "p90 ms")
	var fails []string
	for _, fam := range []struct {
		name          string
		plain, cipher []string
	}{
		{"substitution", prose, subst},
		{"caesar", prose, caesar},
		{"original", origPlain, origCipher},
	} {
		var exact, letters, right int
		var times []time.Duration
		for i, c := range fam.cipher {
			start := time.Now()
			res, err := model.Decrypt(c, "auto")
			times = append(times, time.Since(start))
			if err != nil {
				return err
			}
			want := fam.plain[i]
			if res.Text == want {
				exact++
			} else {
				fails = append(fails, fmt.Sprintf("%s %s\n  want %q\n  got  %q", fam.name, res.Cipher, want, res.Text))
			}
			n, ok := letterMatch(want, res.Text)
			letters += n
			right += ok
		}
		slices.Sort(times)
		fmt.Printf("%-13s %6d %8.2f %9.3f %10.2f %7.2f\n", fam.name, len(fam.cipher),
			pct(exact, len(fam.cipher)), pct(right, letters), ms(times[len(times)/2]), ms(times[len(times)*9/10]))
	}
	if *verbose {
		for _, f := range fails {
			fmt.Println(f)
		}
	}
	return nil
}

func defaultFiles() ([]string, error) {
	var files []string
	for _, f := range defaultTexts {
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		}
	}
	if len(files) > 0 {
		return files, nil
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return nil, fmt.Errorf("no licence texts and no go command: %w; name the texts as arguments", err)
	}
	doc := filepath.Join(strings.TrimSpace(string(goroot)), "doc")
	return []string{filepath.Join(doc, "go_mem.html"), filepath.Join(doc, "godebug.md")}, nil
}

var tags = regexp.MustCompile(`<[^>]*>`)

// stripHTML keeps the prose of an HTML page, roughly: tags go, entities stay.
func stripHTML(b []byte) []byte { return tags.ReplaceAll(b, nil) }

// cutProse joins the text's words with single spaces and cuts it into lines
// of at most n characters, at spaces, as a user would paste sentences.
func cutProse(text string, n int) []string {
	var lines []string
	var cur strings.Builder
	for _, w := range strings.Fields(text) {
		if cur.Len() > 0 && cur.Len()+1+len(w) > n {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(w)
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
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

func writeSample(path, plainPath, after string, raw []byte) error {
	text := string(raw)
	i := strings.Index(text, after)
	if i < 0 {
		return fmt.Errorf("-sample-after %q: not in the texts", after)
	}
	text = text[i+len(after):]
	prose := cutProse(text, sampleWidth)[:sampleLines]
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
