package replay

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/fatih/color"
)

// edit is one piece of a word diff: text both have (kind '='), only the
// recorded one has ('-'), or only the new one ('+').
type edit struct {
	kind byte
	text string
}

// maxCells bounds the table of a word diff, in token pairs: past it, what
// lies between the common start and end is shown as removed and added
// whole.
const maxCells = 1 << 20

// wordDiff returns the edits that make b of a, word by word: a word is a
// run of non-space characters, and the runs of space between them count as
// words too. It finds a longest common subsequence of words.
func wordDiff(a, b string) []edit {
	x, y := tokens(a), tokens(b)
	var head, tail []edit
	for len(x) > 0 && len(y) > 0 && x[0] == y[0] {
		head = append(head, edit{'=', x[0]})
		x, y = x[1:], y[1:]
	}
	for len(x) > 0 && len(y) > 0 && x[len(x)-1] == y[len(y)-1] {
		tail = append(tail, edit{'=', x[len(x)-1]})
		x, y = x[:len(x)-1], y[:len(y)-1]
	}
	var mid []edit
	if len(x)*len(y) <= maxCells {
		mid = lcs(x, y)
	} else {
		mid = append(mid, edit{'-', strings.Join(x, "")}, edit{'+', strings.Join(y, "")})
	}
	slices.Reverse(tail)
	return tidy(append(append(head, mid...), tail...))
}

// lcs is the edits from x to y by the classic table of the lengths of
// their longest common subsequences.
func lcs(x, y []string) []edit {
	n, m := len(x), len(y)
	// t[i*(m+1)+j] is the length of the LCS of x[i:] and y[j:].
	t := make([]int32, (n+1)*(m+1))
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				t[i*(m+1)+j] = t[(i+1)*(m+1)+j+1] + 1
			} else {
				t[i*(m+1)+j] = max(t[(i+1)*(m+1)+j], t[i*(m+1)+j+1])
			}
		}
	}
	var out []edit
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case x[i] == y[j]:
			out = append(out, edit{'=', x[i]})
			i, j = i+1, j+1
		case t[(i+1)*(m+1)+j] >= t[i*(m+1)+j+1]:
			out = append(out, edit{'-', x[i]})
			i++
		default:
			out = append(out, edit{'+', y[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, edit{'-', x[i]})
	}
	for ; j < m; j++ {
		out = append(out, edit{'+', y[j]})
	}
	return out
}

// tokens splits s into runs of white space and runs of other characters.
func tokens(s string) []string {
	var (
		out   []string
		start int
		space bool
	)
	for i, c := range s {
		sp := unicode.IsSpace(c)
		if i > 0 && sp != space {
			out = append(out, s[start:i])
			start = i
		}
		space = sp
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// tidy merges the edits so that they read well: white space alone between
// two changes becomes part of them ("[-a b-]{+x y+}", not
// "[-a-]{+x+} [-b-]{+y+}"), and each change is one removal, then one
// addition.
func tidy(es []edit) []edit {
	for i := 1; i+1 < len(es); i++ {
		if es[i].kind == '=' && es[i-1].kind != '=' && es[i+1].kind != '=' && strings.TrimSpace(es[i].text) == "" {
			es[i].kind = '~' // both removed and added
		}
	}
	var out []edit
	for i := 0; i < len(es); {
		if es[i].kind == '=' {
			j := i
			var b strings.Builder
			for ; j < len(es) && es[j].kind == '='; j++ {
				b.WriteString(es[j].text)
			}
			out = append(out, edit{'=', b.String()})
			i = j
			continue
		}
		var del, add strings.Builder
		j := i
		for ; j < len(es) && es[j].kind != '='; j++ {
			if es[j].kind != '+' {
				del.WriteString(es[j].text)
			}
			if es[j].kind != '-' {
				add.WriteString(es[j].text)
			}
		}
		if del.Len() > 0 {
			out = append(out, edit{'-', del.String()})
		}
		if add.Len() > 0 {
			out = append(out, edit{'+', add.String()})
		}
		i = j
	}
	return out
}

// around is how many characters of unchanged text are shown on each side
// of a change; more is cut to "…".
const around = 24

// style says how a diff is shown: in colour (on a terminal), else with
// git's --word-diff markers, [-removed-]{+added+}.
type style struct {
	del, add *color.Color // nil: no colour
	// delSpace and addSpace show white space, invisible in a foreground
	// colour, as a background.
	delSpace, addSpace *color.Color
}

// newStyle returns the style for a stream with colour on or off.
func newStyle(on bool) style {
	if !on {
		return style{}
	}
	s := style{del: color.New(color.FgRed), add: color.New(color.FgGreen), delSpace: color.New(color.BgRed), addSpace: color.New(color.BgGreen)}
	for _, c := range []*color.Color{s.del, s.add, s.delSpace, s.addSpace} {
		c.EnableColor() // decided by the stream, not by fatih/color's look at stdout
	}
	return s
}

func (s style) removed(text string) string { return mark(text, "[-", "-]", s.del, s.delSpace) }
func (s style) added(text string) string   { return mark(text, "{+", "+}", s.add, s.addSpace) }

// mark shows text removed or added: between the markers open and end
// without colour, else in fg, or, white space alone, on bg.
func mark(text, open, end string, fg, bg *color.Color) string {
	switch {
	case fg == nil:
		return open + text + end
	case strings.TrimSpace(text) == "":
		return bg.Sprint(text)
	}
	return fg.Sprint(text)
}

// render shows es on one line: each text escaped as in a JSON string
// (control characters, such as newlines, made visible), unchanged text
// longer than twice around cut in the middle, or at the ends, and changed
// text clipped around where the removed and the added differ (see
// clipChanged).
func (s style) render(es []edit) string {
	var b strings.Builder
	for i, e := range es {
		switch e.kind {
		case '-':
			other := ""
			if i+1 < len(es) && es[i+1].kind == '+' {
				other = es[i+1].text
			}
			b.WriteString(s.removed(escape(clipChanged(e.text, other))))
		case '+':
			other := ""
			if i > 0 && es[i-1].kind == '-' {
				other = es[i-1].text
			}
			b.WriteString(s.added(escape(clipChanged(e.text, other))))
		default:
			b.WriteString(cut(escape(e.text), i > 0, i < len(es)-1))
		}
	}
	return b.String()
}

// wordEnds is how many characters of a changed text are kept at its start
// and end when the text it has in common with the other side is elided.
const wordEnds = 8

// clipChanged shortens text, removed or added where other was added or
// removed (or "", with nothing in its place), however long it is: the part where the two differ, clipped to around characters
// at each of its ends, and around characters of what they have in common
// on each side of it, with the start and end of text; each elided run is
// said as "…(N bytes)…". A 20 MB word changed in its last byte shows as a
// line, not 40 MB.
func clipChanged(text, other string) string {
	from, to := differing(text, other)
	return elide(text[:from], wordEnds, around) + elide(text[from:to], around, around) + elide(text[to:], around, wordEnds)
}

// differing returns where a differs from b: a[:from] is their longest
// common prefix, a[to:] their longest common suffix that does not overlap
// it, both cut on character boundaries.
func differing(a, b string) (from, to int) {
	n := min(len(a), len(b))
	for from < n && a[from] == b[from] {
		from++
	}
	for from > 0 && from < len(a) && !utf8.RuneStart(a[from]) {
		from--
	}
	s := 0
	for s < n-from && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	for s > 0 && !utf8.RuneStart(a[len(a)-s]) {
		s--
	}
	return from, len(a) - s
}

// elide keeps the first head and last tail characters of s and says how
// many bytes lie between them as "…(N bytes)…", when that is shorter.
func elide(s string, head, tail int) string {
	const marker = 16 // about as long as "…(N bytes)…"
	if utf8.RuneCountInString(s) <= head+tail+marker {
		return s
	}
	h := 0
	for range head {
		_, n := utf8.DecodeRuneInString(s[h:])
		h += n
	}
	t := len(s)
	for range tail {
		_, n := utf8.DecodeLastRuneInString(s[:t])
		t -= n
	}
	return s[:h] + "…(" + strconv.Itoa(t-h) + " bytes)…" + s[t:]
}

// cut shortens unchanged text: it keeps around characters after a change
// before it (after), and before a change after it (before).
func cut(text string, after, before bool) string {
	r := []rune(text)
	switch {
	case after && before && len(r) > 2*around+1:
		return string(r[:around]) + "…" + string(r[len(r)-around:])
	case after && !before && len(r) > around:
		return string(r[:around]) + "…"
	case !after && before && len(r) > around:
		return "…" + string(r[len(r)-around:])
	}
	return text
}

// escape writes s as the inside of a JSON string: quotes, backslashes and
// control characters escaped, <, > and & as they are; a byte that is not
// UTF-8 as \xNN, so that a change in such bytes shows.
func escape(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		valid := 0
		for valid < len(s) {
			r, n := utf8.DecodeRuneInString(s[valid:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			valid += n
		}
		if valid > 0 {
			q, _ := marshal(s[:valid]) // a string always encodes
			b.Write(q[1 : len(q)-1])
		}
		if valid < len(s) {
			fmt.Fprintf(&b, `\x%02x`, s[valid])
			valid++
		}
		s = s[valid:]
	}
	return b.String()
}

// compact writes v as compact JSON, cut to maxShown characters.
func compact(v any) string {
	b, err := marshal(v)
	if err != nil {
		return "?"
	}
	return clip(string(b), maxShown)
}

// maxShown is how many characters of a value, or of an input, are shown.
const maxShown = 80

// clip cuts s to n characters, with "…" for the rest.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// show renders one change on a line: the path, then the word diff of two
// strings or the values removed and added. In text framings, an answer's
// text is shown without its quotes.
func (s style) show(c Change, jsonl bool) string {
	var b strings.Builder
	if c.Path != "" {
		b.WriteString(c.Path + ": ")
	}
	switch {
	case c.RecordedErr != "":
		b.WriteString(s.removed("failed: "+clip(escape(c.RecordedErr), maxShown)) + " " + s.added(value(c.Got, jsonl)))
	case c.Added:
		b.WriteString(s.added(compact(c.Got)))
	case c.Removed:
		b.WriteString(s.removed(compact(c.Recorded)))
	default:
		x, okX := c.Recorded.(string)
		y, okY := c.Got.(string)
		if okX && okY {
			text := s.render(wordDiff(x, y))
			if jsonl || c.Path != "" {
				text = `"` + text + `"`
			}
			b.WriteString(text)
			break
		}
		b.WriteString(s.removed(value(c.Recorded, jsonl)) + s.added(value(c.Got, jsonl)))
	}
	return b.String()
}

// value shows an answer or a part of one: a text answer as its text,
// anything else as compact JSON.
func value(v any, jsonl bool) string {
	if t, ok := v.(string); ok && !jsonl {
		return clip(escape(t), maxShown)
	}
	return compact(v)
}
