package main

import (
	"bytes"
	"context"
	"fmt"
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

	// The images, once, before the scripts, which run them one at a time.
	for _, img := range dockerImages {
		buildImage(t, root, goCmd, img.script, img.name)
	}
	// A hung docker must not hold the test until go test's own timeout:
	// testscript interrupts what a script runs at the deadline.
	deadline := time.Now().Add(3 * time.Minute)
	if d, ok := t.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	// A test that failed half-way may have left a container; say so and
	// remove it. Passing runs checked there was none (nocontainers). Those
	// there before the test are someone else's.
	filters := []string{"name=pipecli-"}
	for _, img := range dockerImages {
		filters = append(filters, "ancestor="+img.name)
	}
	var before []string
	for _, f := range filters {
		before = append(before, containersOf(ctx, f)...)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		var left []string
		for _, f := range filters {
			for _, id := range containersOf(context.Background(), f) {
				if !slices.Contains(before, id) && !slices.Contains(left, id) {
					left = append(left, id)
				}
			}
		}
		if len(left) > 0 {
			t.Logf("removing containers left behind: %s", strings.Join(left, " "))
			exec.Command("docker", append([]string{"rm", "--force"}, left...)...).Run()
		}
	})
	cmds := maps.Clone(scriptCmds)
	cmds["nocontainers"] = cmdNoContainers
	params := testscript.Params{
		RequireExplicitExec: true,
		Deadline:            deadline,
		Cmds:                cmds,
		// [dockersock]: the engine at docker's default socket, which
		// socket.txt names with -H, is the one the images were built in
		// (not so where DOCKER_HOST or a context points elsewhere).
		Condition: func(cond string) (bool, error) {
			if cond != "dockersock" {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := exec.CommandContext(ctx, "docker", "-H", "unix:///var/run/docker.sock", "image", "inspect", "--format", "{{.Id}}", dockerImages[0].name).Run()
			return err == nil, nil
		},
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
	}
	// One script at a time: each checks that no container of its images
	// is left, which another script's running container would fail (and
	// be removed by). t.Run returns once the script, parallel or not, ends.
	files, err := filepath.Glob(filepath.Join("testdata", "docker", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata/docker: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			p := params
			p.Files = []string{f}
			testscript.Run(t, p)
		})
	}
}

// dockerImages are the images the scripts run, and the scripts that build
// them.
var dockerImages = []struct{ name, script string }{
	{"pipe_api", "build-image.sh"},           // the demo model, FROM scratch
	{"pipe_api_py", "build-python-image.sh"}, // scripts/model.py on Debian's python3
}

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

// buildImage runs scripts/SCRIPT, which builds the image name from the
// source in root (with goCmd, for the static pipecli), and checks that the
// build left no dangling image behind (the image the tag pointed to before,
// or a failed step's).
func buildImage(t *testing.T, root, goCmd, script, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	before := danglingImages(ctx, t)
	start := time.Now()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", script))
	cmd.Dir = root
	// The whole environment, unlike the scripts': go needs its caches and
	// proxy settings, docker its engine, debootstrap the mirror.
	cmd.Env = append(os.Environ(), "GO="+goCmd, "IMAGE="+name)
	out, err := cmd.CombinedOutput()
	t.Logf("scripts/%s (%s):\n%s", script, time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("scripts/%s: %v", script, err)
	}
	var left []string
	for _, id := range danglingImages(ctx, t) {
		if !slices.Contains(before, id) {
			left = append(left, id)
		}
	}
	if len(left) > 0 {
		exec.Command("docker", append([]string{"image", "rm"}, left...)...).Run()
		t.Fatalf("building %s left dangling images (now removed): %s", name, strings.Join(left, " "))
	}
}

func danglingImages(ctx context.Context, t *testing.T) []string {
	out, err := exec.CommandContext(ctx, "docker", "images", "--quiet", "--no-trunc", "--filter", "dangling=true").Output()
	if err != nil {
		t.Fatalf("docker images: %v", err)
	}
	return strings.Fields(string(out))
}

// cmdNoContainers [-now] IMAGE checks that no container of IMAGE exists,
// running or stopped. `docker run --rm` has the daemon remove its
// container as it stops, so it allows 10s, that a container of another run
// that is just ending does not count as left behind; -now allows none,
// which is what pipecli promises with --image: it returns only once its
// containers are gone. What is still there is removed, so a failing run
// leaves nothing either.
func cmdNoContainers(ts *testscript.TestScript, neg bool, args []string) {
	now := len(args) == 2 && args[0] == "-now"
	if now {
		args = args[1:]
	}
	if neg || len(args) != 1 {
		ts.Fatalf("usage: nocontainers [-now] IMAGE")
	}
	filter := "ancestor=" + args[0]
	deadline := time.Now().Add(10 * time.Second)
	if now {
		deadline = time.Now()
	}
	for {
		ids := containersOf(context.Background(), filter)
		if ids == nil {
			ts.Fatalf("docker ps failed")
		}
		if len(ids) == 0 {
			return
		}
		if !time.Now().Before(deadline) {
			list, _ := exec.Command("docker", "ps", "--all", "--filter", filter).CombinedOutput()
			exec.Command("docker", append([]string{"rm", "--force"}, ids...)...).Run()
			ts.Fatalf("containers of %s were left behind (now removed):\n%s", args[0], list)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// containersOf lists the IDs of the containers, running or stopped, that
// docker ps's FILTER matches; nil if docker ps fails.
func containersOf(ctx context.Context, filter string) []string {
	out, err := exec.CommandContext(ctx, "docker", "ps", "--all", "--quiet", "--no-trunc", "--filter", filter).Output()
	if err != nil {
		return nil
	}
	return append([]string{}, strings.Fields(string(out))...)
}
