package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pipecli/pipecli/internal/frame"
)

// Rules say what a difference between a recorded answer and a new one is.
type Rules struct {
	// JSONL: the answers are JSON messages (--framing jsonl), compared as
	// JSON values (the order of members and white space between tokens do
	// not count), else text. In jsonl, the "id" of the answer to an input
	// that had none of its own is pipecli's correlation id, which need not
	// be the same from run to run: it is not compared.
	JSONL bool
	// IgnoreFields are removed from both answers before comparing them
	// (jsonl only).
	IgnoreFields []Path
	// IgnoreSpace compares text, and in jsonl every string, with its runs
	// of white space made one space and its ends trimmed.
	IgnoreSpace bool
}

// Path names a member of an answer object: "meta.time" is the member
// "time" of the object that is the member "meta". Where a step reaches an
// array, the rest of the path applies to each of its elements.
type Path []string

// ParsePath reads a dotted path such as meta.time.
func ParsePath(s string) (Path, error) {
	p := Path(strings.Split(s, "."))
	if slices.Contains(p, "") {
		return nil, fmt.Errorf("%q is not a field name: give one such as time, or a dotted path such as meta.time", s)
	}
	return p, nil
}

func (p Path) String() string { return strings.Join(p, ".") }

// Status is how a replayed record compares with its record.
type Status int

const (
	Same    Status = iota // answered as recorded, or failing as recorded
	Changed               // answered otherwise, or answered where it failed
	Failed                // failed where it was answered
)

func (s Status) String() string {
	return [...]string{"same", "changed", "failed"}[s]
}

// Got is what became of a record's input this time.
type Got struct {
	// Output is as a --json record's "output" would have it
	// (session.RecordOutput).
	Output json.RawMessage
	// Exact is the answer's bytes when Output cannot hold them whole
	// (session.ExactAnswer): not UTF-8, in line or marker framing.
	Exact        []byte
	Err          string // why it failed; "" if it did not
	Failed       bool
	Notification bool
	Latency      time.Duration
	Attempts     int
	Replica      int // the replica it was last sent to, from 1; 0: never sent
}

// Verdict is what Compare found.
type Verdict struct {
	Status Status
	// AsRecorded: it failed, as it had when recorded (Status Same).
	AsRecorded bool
	// Changes say what differs, when Status is Changed: one with an empty
	// Path when the whole answer differs.
	Changes []Change
}

// Change is one difference between a recorded answer and the new one.
type Change struct {
	Path string // where in the answer: ".text", "[2]"; "" for all of it
	// Recorded and Got are the values there, normalized as compared.
	Recorded, Got any
	// Added: there was no Recorded, the member is new; Removed: there is
	// no Got, the member is gone.
	Added, Removed bool
	// RecordedErr, when not "", is why the request failed when recorded:
	// now it was answered.
	RecordedErr string
}

// Compare compares what a record's input got now with its record. A text
// answer recorded with its bytes ("output_base64": it was not UTF-8) is
// compared byte for byte with the new answer's; one recorded without, as
// JSON holds it, with U+FFFD for such bytes, as the new one would be.
func Compare(rec *Record, got Got, rules Rules) Verdict {
	gotExact := got.Exact
	if rec.Exact == nil {
		gotExact = nil
	}
	switch {
	case got.Failed && rec.Err != nil:
		return Verdict{Status: Same, AsRecorded: true}
	case got.Failed:
		return Verdict{Status: Failed}
	case rec.Err != nil:
		return Verdict{Status: Changed, Changes: []Change{{RecordedErr: *rec.Err, Got: rules.normalize(rec.Input, got.Output, got.Exact)}}}
	case rec.Notification && got.Notification:
		return Verdict{Status: Same}
	}
	changes := diff("", rules.normalize(rec.Input, rec.Output, rec.Exact), rules.normalize(rec.Input, got.Output, gotExact), nil)
	if len(changes) == 0 {
		return Verdict{Status: Same}
	}
	return Verdict{Status: Changed, Changes: changes}
}

// final is the answer in an output: with partial messages (jsonl), the
// last of them; else the output itself.
func final(output json.RawMessage, jsonl bool) json.RawMessage {
	if !jsonl || output[0] != '[' {
		return output
	}
	var all []json.RawMessage
	if json.Unmarshal(output, &all) != nil || len(all) == 0 {
		return output
	}
	return all[len(all)-1]
}

// normalize decodes the answer in output, the output of a record whose
// input is input, and removes what the rules say does not count. Partial
// messages are progress, not the answer: only the last message counts.
// exact, if not nil, is a text answer's bytes, which output holds with
// U+FFFD where they are not UTF-8: the answer is exact.
func (rules Rules) normalize(input string, output json.RawMessage, exact []byte) any {
	var v any
	if exact != nil && !rules.JSONL {
		v = string(exact)
	} else {
		dec := json.NewDecoder(bytes.NewReader(final(output, rules.JSONL)))
		dec.UseNumber()
		if dec.Decode(&v) != nil {
			return nil // unreachable: outputs are checked JSON
		}
	}
	if m, ok := v.(map[string]any); ok && rules.JSONL {
		if _, _, src, err := frame.EncodeJSONL(nil, 1, []byte(input)); err == nil && src == frame.IDAdded {
			delete(m, "id")
		}
		for _, p := range rules.IgnoreFields {
			remove(m, p)
		}
	}
	if rules.IgnoreSpace {
		v = squeeze(v)
	}
	return v
}

// remove removes the member at p from v, if it has one.
func remove(v any, p Path) {
	switch v := v.(type) {
	case map[string]any:
		if len(p) == 1 {
			delete(v, p[0])
		} else if next, ok := v[p[0]]; ok {
			remove(next, p[1:])
		}
	case []any:
		for _, e := range v {
			remove(e, p)
		}
	}
}

// squeeze collapses the white space of every string in v.
func squeeze(v any) any {
	switch v := v.(type) {
	case string:
		return strings.Join(strings.Fields(v), " ")
	case map[string]any:
		for k, e := range v {
			v[k] = squeeze(e)
		}
	case []any:
		for i, e := range v {
			v[i] = squeeze(e)
		}
	}
	return v
}

// diff appends to changes the differences between a and b, JSON values
// decoded with UseNumber, found at path.
func diff(path string, a, b any, changes []Change) []Change {
	switch a := a.(type) {
	case map[string]any:
		if b, ok := b.(map[string]any); ok {
			for _, k := range slices.Sorted(maps.Keys(a)) {
				p := path + step(k)
				if bv, ok := b[k]; ok {
					changes = diff(p, a[k], bv, changes)
				} else {
					changes = append(changes, Change{Path: p, Recorded: a[k], Removed: true})
				}
			}
			for _, k := range slices.Sorted(maps.Keys(b)) {
				if _, ok := a[k]; !ok {
					changes = append(changes, Change{Path: path + step(k), Got: b[k], Added: true})
				}
			}
			return changes
		}
	case []any:
		if b, ok := b.([]any); ok && len(a) == len(b) {
			for i := range a {
				changes = diff(path+"["+strconv.Itoa(i)+"]", a[i], b[i], changes)
			}
			return changes
		}
	case json.Number:
		if b, ok := b.(json.Number); ok && sameNumber(a, b) {
			return changes
		}
	default: // string, bool, nil
		if a == b {
			return changes
		}
	}
	return append(changes, Change{Path: path, Recorded: a, Got: b})
}

// sameNumber reports whether a and b, JSON numbers, are the same number,
// exactly: 1, 1.0, 10e-1 and 1e0 are; 12345678901234567890 and
// 12345678901234567891 are not, though they are the same float64.
func sameNumber(a, b json.Number) bool {
	if a == b {
		return true
	}
	x, okA := decimalOf(string(a))
	y, okB := decimalOf(string(b))
	return okA && okB && x.neg == y.neg && x.digits == y.digits && x.exp.Cmp(y.exp) == 0
}

// decimal is a number as digits × 10^exp, in its one form: digits has
// no leading or trailing zeros ("" for zero, which has neg false and exp
// 0).
type decimal struct {
	neg    bool
	digits string
	exp    *big.Int
}

// decimalOf reads s, a number in JSON's syntax, exactly: no digit is lost
// however many there are, and an exponent however large costs only its
// own digits (math/big's Rat would compute 10^exp).
func decimalOf(s string) (decimal, bool) {
	var d decimal
	s, d.neg = strings.CutPrefix(s, "-")
	mant, expText, hasExp := strings.Cut(strings.ToLower(s), "e")
	d.exp = new(big.Int)
	if hasExp {
		if _, ok := d.exp.SetString(strings.TrimPrefix(expText, "+"), 10); !ok {
			return decimal{}, false
		}
	}
	whole, frac, _ := strings.Cut(mant, ".")
	digits := whole + frac
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return decimal{}, false
	}
	d.exp.Sub(d.exp, big.NewInt(int64(len(frac))))
	digits = strings.TrimLeft(digits, "0")
	trimmed := strings.TrimRight(digits, "0")
	d.exp.Add(d.exp, big.NewInt(int64(len(digits)-len(trimmed))))
	d.digits = trimmed
	if d.digits == "" {
		return decimal{exp: new(big.Int)}, true // 0, -0, 0.0e5
	}
	return d, true
}

// step is the path step to the member k: .k, or ["k"] for a name that
// is not an identifier.
func step(k string) string {
	ident := k != ""
	for i, c := range k {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			ident = false
		}
	}
	if ident {
		return "." + k
	}
	return "[" + strconv.Quote(k) + "]"
}
