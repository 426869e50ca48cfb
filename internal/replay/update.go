package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Update rewrites the records whose Status in results is Changed with
// their new answers, and returns how many it rewrote. Their "output" and
// "error", and the "latency_ms", "attempts" and "replica" they have, take
// the new values; their other members stay as they were, in their order.
// Every other line is kept byte for byte (blank lines, a byte order mark,
// CRLF line ends), so that the file's diff in version control shows just
// what changed. With nothing changed, the file is not touched.
//
// The file is replaced whole or not at all: written to a temporary file
// in the same directory, with the same mode (and owner, where allowed),
// synced, then renamed over it. A symbolic link is followed, and stays.
func (rs *Records) Update(results []Result) (int, error) {
	changed := map[*Record]*Got{}
	for i := range results {
		if results[i].Verdict.Status == Changed {
			changed[results[i].Rec] = &results[i].Got
		}
	}
	if len(changed) == 0 {
		return 0, nil
	}
	var b bytes.Buffer
	if rs.bom {
		b.WriteString("\uFEFF")
	}
	for _, l := range rs.lines {
		if g := changed[l.rec]; g != nil {
			b.Write(rewrite(l.rec, g))
		} else {
			b.Write(l.text)
		}
		b.WriteString(l.eol)
	}
	if err := writeAtomic(rs.Path, b.Bytes()); err != nil {
		return 0, fmt.Errorf("updating %s: %w", rs.Path, err)
	}
	return len(changed), nil
}

// rewrite is rec's line with what g got.
func rewrite(rec *Record, g *Got) []byte {
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
	var b bytes.Buffer
	b.WriteByte('{')
	seen := false
	for i, m := range rec.members {
		if i > 0 {
			b.WriteByte(',')
		}
		key, _ := marshal(m.key)
		b.Write(key)
		b.WriteByte(':')
		v := m.value
		if nv, ok := values[m.key]; ok {
			v = nv
		}
		seen = seen || m.key == "output"
		b.Write(v)
	}
	if !seen { // a failure recorded with no "output"
		if len(rec.members) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"output":`)
		b.Write(values["output"])
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
