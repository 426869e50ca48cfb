package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pipecli/pipecli/internal/iostreams"
)

// TestSSH runs testdata/ssh/*.txt with a throwaway sshd on 127.0.0.1, so
// that the scripts can run a child on the far side of a real ssh
// connection, as a replica on another machine is run: `pipecli run -- ssh
// HOST MODEL`. The scripts get, in their environment:
//
//	SSH        the ssh command up to the remote command, one string:
//	           "ssh -F $SSHCONFIG 127.0.0.1", for flags that take a whole
//	           command line (--replica $SSH' '$TESTCHILD' -upper')
//	SSHCONFIG  the ssh_config that has the port, the key, no host key
//	           checks and no prompts: testscript does not split $SSH into
//	           words, so an argv reads `ssh -F $SSHCONFIG 127.0.0.1 ...`
//	SSHPORT    sshd's port on 127.0.0.1
//	SSHKEY     the client's private key, which sshd lets in as this user
//	TESTCHILD  testchild's absolute path: the remote command runs with the
//	           remote shell's $PATH, in the home directory, not the script's
//	           (and files it writes need $WORK/... paths)
//
// ssh joins the remote command's words with spaces into one string that the
// remote user's shell parses again: what that shell reads specially must be
// quoted for it, inside the script's own quotes (batch.txt shows how).
//
// It skips, saying which is missing, where sshd (Debian's openssh-server) or
// ssh and ssh-keygen (openssh-client) are not installed.
func TestSSH(t *testing.T) {
	sshd := "/usr/sbin/sshd" // Debian's, and not in a non-root user's $PATH
	if _, err := os.Stat(sshd); err != nil {
		if sshd, err = exec.LookPath("sshd"); err != nil {
			t.Skip("skipping: no sshd (Debian's openssh-server) at /usr/sbin/sshd or in $PATH to run the scripts' children over ssh")
		}
	}
	for _, c := range []string{"ssh", "ssh-keygen"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("skipping: no %s (Debian's openssh-client) in $PATH to run the scripts' children over ssh", c)
		}
	}
	// testscript.Main put the test binary, named testchild, in a directory
	// it added to $PATH; run as that name it is testchild.
	testchild, err := exec.LookPath("testchild")
	if err == nil {
		testchild, err = filepath.Abs(testchild)
	}
	if err != nil {
		t.Fatalf("testchild is not in $PATH, where testscript.Main puts it: %v", err)
	}
	if !plainPath(testchild) {
		t.Skipf("skipping: testchild's path %q has characters that the remote shell would read", testchild)
	}
	srv := startSSHD(t, sshd)

	cmds := maps.Clone(scriptCmds)
	cmds["procgone"] = cmdProcGone
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/ssh",
		RequireExplicitExec: true,
		Cmds:                cmds,
		// [root]: sshd runs as root, as it must to give a session a
		// terminal (it gives the pty to the user's tty group).
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("XDG_STATE_HOME", env.WorkDir+"/state")
			env.Setenv("SSH", "ssh -F "+srv.Config+" 127.0.0.1")
			env.Setenv("SSHCONFIG", srv.Config)
			env.Setenv("SSHPORT", strconv.Itoa(srv.Port))
			env.Setenv("SSHKEY", srv.Key)
			env.Setenv("TESTCHILD", testchild)
			// Under -race every process sleeps 1s at exit by default
			// (golang/go#20364). sshd sets it for the far side.
			env.Setenv("GORACE", "atexit_sleep_ms=0")
			if !plainPath(env.WorkDir) {
				return fmt.Errorf("the work dir %q has characters that $SSH's splitting or the remote shell would read", env.WorkDir)
			}
			return nil
		},
	})
}

// sshServer is a throwaway sshd on 127.0.0.1 that lets in the user the test
// runs as, with a key of its own.
type sshServer struct {
	Port   int
	Key    string // the client's private key
	Config string // an ssh_config with Host 127.0.0.1: Port, IdentityFile...
}

// startSSHD starts sshd with a config, host key and authorized key of its
// own in a temporary directory, waits until a login works, and stops it when
// the test ends. It runs as whoever runs the test: as root (CI), sshd
// separates privileges and needs /run/sshd, which it makes if it is missing
// (as the Debian service does at each start); as another user it cannot
// switch users, and lets in only that one, which is all the scripts need.
func startSSHD(t *testing.T, sshd string) *sshServer {
	t.Helper()
	dir := t.TempDir()
	if !plainPath(dir) {
		t.Skipf("skipping: the temporary directory %q has characters that $SSH's splitting or the remote shell would read", dir)
	}
	if os.Geteuid() == 0 {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshd run as root needs its privilege separation directory: %v", err)
		}
	}
	hostKey := filepath.Join(dir, "host_ed25519_key")
	srv := &sshServer{
		Key:    filepath.Join(dir, "client_ed25519_key"),
		Config: filepath.Join(dir, "ssh_config"),
	}
	for _, k := range []string{hostKey, srv.Key} {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pipecli-test", "-f", k).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(srv.Key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, pub, 0o600); err != nil {
		t.Fatal(err)
	}

	// A port that was free a moment ago may be taken before sshd binds it:
	// then sshd exits at once, and another is tried.
	for attempt := 1; ; attempt++ {
		srv.Port = freePort(t)
		sshdConfig := filepath.Join(dir, "sshd_config")
		writeFile(t, sshdConfig, sshdConfigText(t, sshd, dir, srv.Port, hostKey, authorized))
		writeFile(t, srv.Config, fmt.Sprintf(`# The client side of TestSSH's sshd: ssh -F this 127.0.0.1 COMMAND.
Host 127.0.0.1
	Port %d
	IdentityFile %s
	IdentitiesOnly yes
	# A new host key each run, and nothing written to ~/.ssh.
	StrictHostKeyChecking no
	UserKnownHostsFile /dev/null
	# Nor a "Warning: Permanently added" line on the child's stderr.
	LogLevel ERROR
	# Never a prompt: a test fails rather than waits.
	BatchMode yes
	ConnectTimeout 20
`, srv.Port, srv.Key))
		log, ok := runSSHD(t, sshd, sshdConfig, srv.Port)
		if ok {
			break
		}
		if attempt == 3 {
			t.Fatalf("sshd exited before it listened on 127.0.0.1:%d; its log:\n%s", srv.Port, log)
		}
	}

	// The whole way once: key, account, the user's shell, a command.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ssh", "-F", srv.Config, "127.0.0.1", "echo", "ok").CombinedOutput()
	if err != nil || string(out) != "ok\n" {
		hint := ""
		if bytes.Contains(out, []byte("Permission denied")) {
			hint = "\n(if sshd's log below says the account is locked: sshd without PAM refuses an account locked with ! in /etc/shadow even to a key; `usermod -p '*' USER` unlocks it for keys and still allows no password)"
		}
		t.Fatalf("ssh -F %s 127.0.0.1 echo ok: %v: %q%s", srv.Config, err, out, hint)
	}
	return srv
}

// sshdConfigText is the sshd_config of a throwaway sshd: keys only, for the
// user running the test, on 127.0.0.1 only.
func sshdConfigText(t *testing.T, sshd, dir string, port int, hostKey, authorized string) string {
	cfg := fmt.Sprintf(`# TestSSH's throwaway sshd, run as sshd -D -e -f this.
Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile %s
# The temporary directory's modes are not the user's home's.
StrictModes no
# PAM would need root, and its session modules do what a test does not want.
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
# Scripts run in parallel, and will run several replicas each: more than the
# default 10 logins may be under way at once.
MaxStartups 200
# The far side's processes are built with -race too; without this each
# sleeps 1s as it exits (golang/go#20364).
SetEnv GORACE=atexit_sleep_ms=0
`, port, hostKey, authorized, filepath.Join(dir, "sshd.pid"))
	// OpenSSH 9.8 and later refuse for a while a source whose connections
	// end before they log in (a test's readiness check, a killed ssh); all
	// of this test's come from 127.0.0.1. Earlier versions do not know the
	// option and must not be given it.
	probe := filepath.Join(dir, "sshd_config.probe")
	writeFile(t, probe, cfg+"PerSourcePenalties no\n")
	if exec.Command(sshd, "-t", "-f", probe).Run() == nil {
		cfg += "# See the probe in sshdConfigText.\nPerSourcePenalties no\n"
	}
	os.Remove(probe)
	return cfg
}

// runSSHD starts sshd on config and waits until it accepts connections on
// port. It reports false, with sshd's log, if sshd exited first. A started
// sshd is stopped when the test ends, and its log shown if the test failed.
func runSSHD(t *testing.T, sshd, config string, port int) (log string, ok bool) {
	t.Helper()
	var buf iostreams.Buffer
	cmd := exec.Command(sshd, "-D", "-e", "-f", config)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	// The sessions it forked may outlive it, holding its stderr; their log
	// lines after it is gone are not worth waiting for.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sshd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-exited:
			return buf.String(), false
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			t.Fatalf("sshd did not listen on %s in 20s; its log:\n%s", addr, buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		if t.Failed() {
			t.Logf("sshd's log:\n%s", buf.String())
		}
	})
	return "", true
}

// freePort is a TCP port on 127.0.0.1 that nothing listened on a moment ago.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeFile(t *testing.T, name, text string) {
	if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// plainPath reports whether p can go unquoted into $SSH, which --replica
// splits on spaces, and into a remote command line, which a shell reads.
func plainPath(p string) bool {
	return !strings.ContainsFunc(p, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+", r))
	})
}

// cmdProcGone PIDFILE waits until the process whose pid PIDFILE holds (as
// testchild -pidfile writes it) is gone, and fails if it still runs after
// 20s. A zombie counts as gone: it has ended, and where pid 1 does not reap
// orphans (some containers) it stays one. `! procgone PIDFILE` checks that
// the process runs now, without waiting.
func cmdProcGone(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: procgone PIDFILE")
	}
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		ts.Fatalf("%s holds %q, not a pid", args[0], data)
	}
	if neg {
		if !running(pid) {
			ts.Fatalf("process %d (from %s) has ended", pid, args[0])
		}
		return
	}
	deadline := time.Now().Add(20 * time.Second)
	for running(pid) {
		if time.Now().After(deadline) {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			ts.Fatalf("process %d (from %s: %s) still runs after 20s", pid, args[0], bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// running reports whether process pid exists and is not a zombie.
func running(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
