package session

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// CheckSameFile refuses only a regular file that is both read and written,
// whatever names or streams it is reached by.
func TestCheckSameFile(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	other := filepath.Join(dir, "other.txt")
	for _, p := range []string{in, other} {
		if err := os.WriteFile(p, []byte("keep me\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hard := filepath.Join(dir, "hard.txt")
	if err := os.Link(in, hard); err != nil {
		t.Fatal(err)
	}
	sym := filepath.Join(dir, "sym.txt")
	if err := os.Symlink(in, sym); err != nil {
		t.Fatal(err)
	}
	open := func(p string) *os.File {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	inFile, otherFile, devNull := open(in), open(other), open(os.DevNull)

	tests := []struct {
		name          string
		input, output string
		stdin, stdout *os.File
		want          string // the error, or "" for none
	}{
		{"--file X --output X", in, in, nil, nil, in + ": input file is output file; give --output another file"},
		{"hard link", in, hard, nil, nil, in + ": input file is output file; give --output another file"},
		{"symbolic link", sym, in, nil, nil, sym + ": input file is output file; give --output another file"},
		{"--output X < X", "", in, inFile, nil, in + ": input file is output file; give --output another file"},
		{"--file - --output X < X", "-", in, inFile, nil, in + ": input file is output file; give --output another file"},
		{"--file X >> X", in, "", nil, inFile, in + ": input file is output file; redirect stdout to another file"},
		{"< X >> X", "", "", inFile, inFile, "stdin: input file is output file; redirect stdout to another file"},
		{"different files", in, other, nil, nil, ""},
		{"stdin another file", "", in, otherFile, nil, ""},
		{"--output does not exist yet", in, filepath.Join(dir, "new.txt"), nil, nil, ""},
		{"--file does not exist", filepath.Join(dir, "missing.txt"), in, nil, nil, ""},
		{"/dev/null both", os.DevNull, os.DevNull, nil, nil, ""},
		{"/dev/null stdin and stdout", "", "", devNull, devNull, ""},
		{"no stdin file", "", in, nil, nil, ""},
		{"stdout not a file", in, "", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSameFile(tt.input, tt.output, tt.stdin, tt.stdout)
			if tt.want == "" {
				if err != nil {
					t.Errorf("err = %v, want none", err)
				}
				return
			}
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an *InputError", err)
			}
			if err.Error() != tt.want {
				t.Errorf("err = %q, want %q", err, tt.want)
			}
		})
	}
	if data, _ := os.ReadFile(in); string(data) != "keep me\n" {
		t.Errorf("the input now holds %q", data)
	}
}
