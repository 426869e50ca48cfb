package replay

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"syscall"

	"github.com/pipecli/pipecli/internal/session"
)

// Update rewrites the records whose Status in results is Changed with
// their new answers, and returns how many it rewrote. Their "output" and
// "error", and the "latency_ms", "attempts" and "replica" they have, take
// the new values; their other members stay as they were, in their order.
// A new text answer that is not UTF-8 is also written whole, in base64,
// as "output_base64" (after "output"), as 'pipecli run --json' writes it;
// a record's "output_base64" is dropped when its new answer is UTF-8.
//
// framing is the framing flags of the replay (nil: the server framed it,
// or none are known). A rewritten record's "framing" becomes framing, as
// the answer it now holds is what those flags told apart; and a record
// that replayed the same but carries other framing flags gets framing too
// (reframed counts them), or the file would hold records that a replay
// with no framing flag refuses as made with different ones. A record with
// no "framing" that is not rewritten stays without.
//
// Every other line is kept byte for byte (blank lines, a byte order mark,
// CRLF line ends), so that the file's diff in version control shows just
// what changed. With nothing to change, the file is not touched.
//
// The file is replaced whole or not at all: written to a temporary file
// in the same directory, with the same mode (and owner, where allowed),
// synced, then renamed over it. A symbolic link is followed, and stays.
func (rs *Records) Update(results []Result, framing *session.FramingFlags) (updated, reframed int, err error) {
	changed := map[*Record]*Got{}
	for i := range results {
		if results[i].Verdict.Status == Changed {
			changed[results[i].Rec] = &results[i].Got
		}
	}
	var framingJSON []byte
	if framing != nil {
		if framingJSON, err = marshal(framing); err != nil {
			return 0, 0, fmt.Errorf("updating %s: %w", rs.Path, err)
		}
	}
	otherFraming := func(rec *Record) bool {
		return framing != nil && rec.Framing != nil && !reflect.DeepEqual(rec.Framing, framing)
	}
	var b bytes.Buffer
	if rs.bom {
		b.WriteString("\uFEFF")
	}
	for _, l := range rs.lines {
		switch g := changed[l.rec]; {
		case g != nil:
			b.Write(rewrite(l.rec, g, framingJSON))
		case l.rec != nil && otherFraming(l.rec):
			b.Write(reframe(l.rec, framingJSON))
			reframed++
		default:
			b.Write(l.text)
		}
		b.WriteString(l.eol)
	}
	if len(changed) == 0 && reframed == 0 {
		return 0, 0, nil
	}
	if err := writeAtomic(rs.Path, b.Bytes()); err != nil {
		return 0, 0, fmt.Errorf("updating %s: %w", rs.Path, err)
	}
	return len(changed), reframed, nil
}

// reframe is rec's line with framing, a JSON object, for its "framing".
func reframe(rec *Record, framing []byte) []byte {
	return withMembers(rec, map[string][]byte{"framing": framing}, nil)
}

// rewrite is rec's line with what g got, and framing, if not nil, for its
// "framing".
func rewrite(rec *Record, g *Got, framing []byte) []byte {
	var output bytes.Buffer
	if json.Compact(&output, g.Output) != nil {
		output.WriteString("null") // unreachable: outputs are made valid
	}
	latency, _ := json.Marshal(millis(g.Latency))
	replica := []byte("null")
	if g.Replica > 0 {
		replica = strconv.AppendInt(nil, int64(g.Replica), 10)
	}
	values := map[string][]byte{
		"output":     output.Bytes(),
		"error":      []byte("null"),
		"latency_ms": latency,
		"attempts":   strconv.AppendInt(nil, int64(g.Attempts), 10),
		"replica":    replica,
	}
	// A failure recorded with no "output" gets one; a record with no
	// "framing", the replay's.
	always := []string{"output"}
	if g.Exact != nil {
		values["output_base64"], _ = marshal(base64.StdEncoding.EncodeToString(g.Exact))
		always = append(always, "output_base64")
	} else {
		values["output_base64"] = nil // UTF-8 now: "output" holds it
	}
	if framing != nil {
		values["framing"] = framing
		always = append(always, "framing")
	}
	return withMembers(rec, values, always)
}

// follows says after which member one that a record lacks is added, when
// it has that one: else at the end.
var follows = map[string]string{"output_base64": "output"}

// withMembers is rec's JSON object with its members in values replaced, in
// their order (a nil value removes the member), and those named in always
// that it lacks added after the member they follow, or at the end.
func withMembers(rec *Record, values map[string][]byte, always []string) []byte {
	has := map[string]bool{}
	for _, m := range rec.members {
		has[m.key] = true
	}
	var out []field
	add := func(k string, v []byte) {
		if nv, ok := values[k]; ok {
			v = nv
		}
		out = append(out, field{key: k, value: v})
	}
	for _, m := range rec.members {
		add(m.key, m.value)
		for _, k := range always {
			if !has[k] && follows[k] == m.key {
				add(k, nil)
				has[k] = true
			}
		}
	}
	for _, k := range always {
		if !has[k] {
			add(k, nil)
		}
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for _, f := range out {
		if f.value == nil {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		key, _ := marshal(f.key)
		b.Write(key)
		b.WriteByte(':')
		b.Write(f.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// marshal is json.Marshal without HTML escapes, as `pipecli run --json`
// writes.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// writeAtomic replaces the file at path with data, whole or not at all.
func writeAtomic(path string, data []byte) (err error) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(fi.Mode().Perm()); err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		// Only root may give a file away; anyone else keeps it theirs.
		if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil && !errors.Is(err, syscall.EPERM) {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
