package main

import (
	"os/exec"
	"testing"
)

// TestModelPy runs the unit tests of scripts/model.py, the example Python
// model, with Python's own unittest: the scripts in
// testdata/script/model_py.txt and testdata/docker/python.txt then drive it
// through pipecli.
func TestModelPy(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("skipping: python3 is not installed")
	}
	cmd := exec.Command(python, "-m", "unittest", "discover", "-s", "scripts", "-p", "test_*.py")
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3 -m unittest (scripts/test_model.py): %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
