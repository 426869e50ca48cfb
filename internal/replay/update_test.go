package replay

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pipecli/pipecli/internal/session"
)

// Update rewrites the changed records alone: their output, error, latency,
// attempts and replica; every other byte of the file stays.
func TestUpdate(t *testing.T) {
	const old = "\uFEFF" +
		`{"id":1,"input":"a","output":"A","latency_ms":1,"attempts":1,"replica":1,"error":null}` + "\r\n" +
		"\r\n" +
		`{"id":2, "input":"b", "output":"x", "latency_ms":2, "attempts":1, "replica":1, "error":null, "note":"<kept>"}` + "\r\n" +
		`{"input":"c","error":"no answer within --timeout 1s"}` + "\r\n" +
		`{"input":"d","output":"D"}`
	const want = "\uFEFF" +
		`{"id":1,"input":"a","output":"A","latency_ms":1,"attempts":1,"replica":1,"error":null}` + "\r\n" +
		"\r\n" +
		`{"id":2,"input":"b","output":"B","latency_ms":1.5,"attempts":2,"replica":3,"error":null,"note":"<kept>"}` + "\r\n" +
		`{"input":"c","error":null,"output":"C"}` + "\r\n" +
		`{"input":"d","output":"D"}`
	dir := t.TempDir()
	path := filepath.Join(dir, "golden.jsonl")
	if err := os.WriteFile(path, []byte(old), 0o640); err != nil {
		t.Fatal(err)
	}
	rs, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	gots := []Got{
		{Output: raw(`"A"`), Latency: time.Millisecond, Attempts: 1, Replica: 1},
		{Output: raw(`"B"`), Latency: 1500 * time.Microsecond, Attempts: 2, Replica: 3},
		{Output: raw(`"C"`), Latency: time.Millisecond, Attempts: 1, Replica: 1},
		{Output: raw(`"D"`), Latency: time.Millisecond, Attempts: 1, Replica: 1},
	}
	var results []Result
	for i, rec := range rs.List {
		results = append(results, Result{Rec: rec, Got: gots[i], Verdict: Compare(rec, gots[i], Rules{})})
	}
	n, _, err := rs.Update(results, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("Update rewrote %d records, want 2", n)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != want {
		t.Errorf("got\n%s\nwant\n%s", data, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want -rw-r-----", fi.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files in the directory, want the records alone", len(entries))
	}

	// The rewritten file replays the same.
	rs, err = Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range rs.List {
		if v := Compare(rec, gots[i], Rules{}); v.Status != Same {
			t.Errorf("line %d: %v after the update", rec.Line, v.Status)
		}
	}
}

// With nothing changed, the file is not written; a symbolic link is
// followed, and stays a link.
func TestUpdateUntouched(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "golden.jsonl")
	if err := os.WriteFile(path, []byte(`{"input":"a","output":"A"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.jsonl")
	if err := os.Symlink("golden.jsonl", link); err != nil {
		t.Fatal(err)
	}
	rs, err := Load(link, nil)
	if err != nil {
		t.Fatal(err)
	}
	same := Got{Output: raw(`"A"`)}
	line := &session.FramingFlags{Mode: "line"}
	if n, m, err := rs.Update([]Result{{Rec: rs.List[0], Got: same, Verdict: Compare(rs.List[0], same, Rules{})}}, line); n != 0 || m != 0 || err != nil {
		t.Fatalf("Update = %d, %d, %v; want 0, 0, nil", n, m, err)
	}
	changed := Got{Output: raw(`"B"`), Attempts: 1}
	if n, _, err := rs.Update([]Result{{Rec: rs.List[0], Got: changed, Verdict: Compare(rs.List[0], changed, Rules{})}}, nil); n != 1 || err != nil {
		t.Fatalf("Update = %d, %v; want 1, nil", n, err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link is gone: %v, %v", fi, err)
	}
	data, _ := os.ReadFile(path)
	if want := `{"input":"a","output":"B"}` + "\n"; string(data) != want {
		t.Errorf("got %q, want %q", data, want)
	}
}

// A replay with other framing flags than the records' leaves every record
// it rewrites, and every other record that carried flags, with its own:
// the file replays with no framing flag after, as it was updated.
func TestUpdateFraming(t *testing.T) {
	const marker = `{"mode":"marker","marker":"END","sentinel":"print \"END\\n\""}`
	const prompt = `{"mode":"marker","prompt":"^> $"}`
	old := `{"input":"a","output":"A","framing":` + marker + `}` + "\n" +
		`{"input":"b","output":"x","framing":` + marker + `}` + "\n" +
		`{"input":"c","output":"C"}` + "\n" +
		`{"input":"d","output":"x"}` + "\n" +
		`{"input":"e","output":"E","framing":` + prompt + `}` + "\n"
	want := `{"input":"a","output":"A","framing":` + prompt + `}` + "\n" +
		`{"input":"b","output":"B","framing":` + prompt + `}` + "\n" +
		`{"input":"c","output":"C"}` + "\n" +
		`{"input":"d","output":"D","framing":` + prompt + `}` + "\n" +
		`{"input":"e","output":"E","framing":` + prompt + `}` + "\n"
	path := filepath.Join(t.TempDir(), "golden.jsonl")
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	rs, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var results []Result
	for i, rec := range rs.List {
		g := Got{Output: raw(`"` + string(rune('A'+i)) + `"`)}
		results = append(results, Result{Rec: rec, Got: g, Verdict: Compare(rec, g, Rules{})})
	}
	p := "^> $"
	n, m, err := rs.Update(results, &session.FramingFlags{Mode: "marker", Prompt: &p})
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || m != 1 {
		t.Errorf("Update = %d, %d; want 2 rewritten, 1 reframed", n, m)
	}
	data, _ := os.ReadFile(path)
	if string(data) != want {
		t.Errorf("got\n%s\nwant\n%s", data, want)
	}
	rs, err = Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ff, err := rs.Framing(); err != nil || ff == nil || ff.Prompt == nil || *ff.Prompt != p {
		t.Errorf("the updated records' framing: %+v, %v; want the replay's", ff, err)
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.jsonl"), nil)
	if err == nil || !filepath.IsAbs(err.(*BadInput).Path) || err.(*BadInput).Why != "cannot read the records: no such file or directory" {
		t.Errorf("err = %v", err)
	}
}

// An answer that is not UTF-8 is written whole in "output_base64", after
// "output"; one that is UTF-8 now drops it.
func TestUpdateExact(t *testing.T) {
	const old = `{"input":"a","output":"A","latency_ms":1}` + "\n" +
		`{"input":"b","output":"caf\ufffd","output_base64":"Y2Fm6Q==","latency_ms":1}` + "\n" +
		`{"input":"c","output":"caf\ufffd","output_base64":"Y2Fm6Q==","latency_ms":1}` + "\n"
	const want = `{"input":"a","output":"\ufffd\ufffd","output_base64":"//4=","latency_ms":1}` + "\n" +
		`{"input":"b","output":"café","latency_ms":1}` + "\n" +
		`{"input":"c","output":"caf\ufffd","output_base64":"Y2Z9","latency_ms":1}` + "\n"
	path := filepath.Join(t.TempDir(), "golden.jsonl")
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	rs, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	gots := []Got{
		{Output: raw(`"\ufffd\ufffd"`), Exact: []byte("\xff\xfe"), Latency: time.Millisecond, Attempts: 1},
		{Output: raw(`"café"`), Latency: time.Millisecond, Attempts: 1},
		{Output: raw(`"caf\ufffd"`), Exact: []byte("cf}"), Latency: time.Millisecond, Attempts: 1},
	}
	var results []Result
	for i, rec := range rs.List {
		results = append(results, Result{Rec: rec, Got: gots[i], Verdict: Compare(rec, gots[i], Rules{})})
	}
	if n, _, err := rs.Update(results, nil); err != nil || n != 3 {
		t.Fatalf("Update = %d, %v; want 3 rewritten", n, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != want {
		t.Errorf("got\n%s\nwant\n%s", data, want)
	}
}
