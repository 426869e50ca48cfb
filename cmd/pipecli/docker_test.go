package main

import (
	"bytes"
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestDocker runs the demo model as the original setup did, in a container:
// testdata/docker/*.txt build the image pipe_api FROM scratch with
// scripts/build-image.sh and talk to it through `docker run -i --rm
// pipe_api`. It needs a docker engine and the go command (the image holds a
// static pipecli built from this source: the pipecli the scripts run is the
// test binary) and skips, saying which is missing, where either is.
//
// It is a test of its own, not part of TestScript, so that the build does
// not compete for the CPU with the timing-sensitive prompt scripts that
// TestScript runs in parallel.
func TestDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short mode: builds the docker image pipe_api")
	}
	root := repoRoot(t)
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("skipping: no go command to build pipe_api's static pipecli: %v", err)
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skipf("skipping: scripts/build-image.sh needs bash: %v", err)
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("skipping: docker not found in $PATH, so there is no engine to run pipe_api in")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	info := exec.CommandContext(ctx, "docker", "info")
	info.Stderr = &stderr
	if err := info.Run(); err != nil {
		t.Skipf("skipping: `docker info` failed, so there is no docker engine to run pipe_api in: %v: %s",
			err, strings.ReplaceAll(strings.TrimSpace(stderr.String()), "\n", "; "))
	}

	// A test that failed half-way may have left a container; say so and
	// remove it. Passing runs checked there was none (nocontainers). Those
	// there before the test are someone else's.
	before := containersOf(ctx, dockerImage)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		var left []string
		for _, id := range containersOf(context.Background(), dockerImage) {
			if !slices.Contains(before, id) {
				left = append(left, id)
			}
		}
		if len(left) > 0 {
			t.Logf("removing containers of %s left behind: %s", dockerImage, strings.Join(left, " "))
			exec.Command("docker", append([]string{"rm", "--force"}, left...)...).Run()
		}
	})

	// A hung docker must not hold the test until go test's own timeout:
	// testscript interrupts what a script runs at the deadline.
	deadline := time.Now().Add(3 * time.Minute)
	if d, ok := t.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	cmds := maps.Clone(scriptCmds)
	cmds["buildimage"] = cmdBuildImage(root, goCmd)
	cmds["nocontainers"] = cmdNoContainers
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/docker",
		RequireExplicitExec: true,
		Deadline:            deadline,
		Cmds:                cmds,
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", root)
			env.Setenv("XDG_STATE_HOME", env.WorkDir+"/state")
			// testscript clears the environment and sets HOME to
			// /no-home: give docker back what finds its engine.
			for _, k := range []string{"DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"} {
				if v, ok := os.LookupEnv(k); ok {
					env.Setenv(k, v)
				}
			}
			env.Setenv("DOCKER_CONFIG", dockerConfigDir())
			// Under -race every pipecli would sleep 1s as it exits
			// (the race runtime's atexit_sleep_ms; golang/go#20364).
			env.Setenv("GORACE", "atexit_sleep_ms=0")
			return nil
		},
	})
}

// dockerImage is the image the scripts build and run.
const dockerImage = "pipe_api"

// repoRoot is the module's root, two levels above this package's directory,
// where go test runs it.
func repoRoot(t *testing.T) string {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !bytes.Contains(mod, []byte("module github.com/pipecli/pipecli\n")) {
		t.Fatalf("%s is not the root of github.com/pipecli/pipecli (go.mod: %v); run the test from cmd/pipecli", root, err)
	}
	return root
}

// dockerConfigDir is where docker keeps its config and contexts, as the
// docker CLI decides it.
func dockerConfigDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker")
}

// cmdBuildImage returns the command buildimage: it runs
// scripts/build-image.sh, which builds pipe_api from the source in root
// with goCmd, and checks that the build left no dangling image behind (the
// image the tag pointed to before, or a failed step's).
func cmdBuildImage(root, goCmd string) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 0 {
			ts.Fatalf("usage: buildimage")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		before := danglingImages(ctx, ts)
		start := time.Now()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "build-image.sh"))
		cmd.Dir = root
		// The whole environment, unlike the script's: go needs its
		// caches and proxy settings, docker its engine.
		cmd.Env = append(os.Environ(), "GO="+goCmd, "IMAGE="+dockerImage)
		out, err := cmd.CombinedOutput()
		ts.Logf("scripts/build-image.sh (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
		if err != nil {
			ts.Fatalf("scripts/build-image.sh: %v", err)
		}
		var left []string
		for _, id := range danglingImages(ctx, ts) {
			if !slices.Contains(before, id) {
				left = append(left, id)
			}
		}
		if len(left) > 0 {
			exec.Command("docker", append([]string{"image", "rm"}, left...)...).Run()
			ts.Fatalf("building %s left dangling images (now removed): %s", dockerImage, strings.Join(left, " "))
		}
	}
}

func danglingImages(ctx context.Context, ts *testscript.TestScript) []string {
	out, err := exec.CommandContext(ctx, "docker", "images", "--quiet", "--no-trunc", "--filter", "dangling=true").Output()
	ts.Check(err)
	return strings.Fields(string(out))
}

// cmdNoContainers IMAGE checks that no container of IMAGE exists, running
// or stopped: `docker run --rm` removes its container before it exits,
// however pipecli ended it. It allows 10s, so that a container of another
// run of the image that is just ending, such as a test run alongside, does
// not count as left behind; what is still there then is removed, so a
// failing run leaves nothing either.
func cmdNoContainers(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: nocontainers IMAGE")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ids := containersOf(context.Background(), args[0])
		if ids == nil {
			ts.Fatalf("docker ps failed")
		}
		if len(ids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			list, _ := exec.Command("docker", "ps", "--all", "--filter", "ancestor="+args[0]).CombinedOutput()
			exec.Command("docker", append([]string{"rm", "--force"}, ids...)...).Run()
			ts.Fatalf("containers of %s were left behind (now removed):\n%s", args[0], list)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// containersOf lists the IDs of IMAGE's containers, running or stopped; nil
// if docker ps fails.
func containersOf(ctx context.Context, image string) []string {
	out, err := exec.CommandContext(ctx, "docker", "ps", "--all", "--quiet", "--no-trunc", "--filter", "ancestor="+image).Output()
	if err != nil {
		return nil
	}
	return append([]string{}, strings.Fields(string(out))...)
}
