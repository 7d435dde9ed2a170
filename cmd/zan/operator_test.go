package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// zanCmd runs the built binary and returns its exit status and output.
func zanCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	bin, err := buildZan()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "ZAN_URL=http://127.0.0.1:1") // never a real server
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// TestExitCodes: --help exits 0, a command line that cannot run 2, a
// failure while running 1, for every command.
func TestExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds zan")
	}
	data := t.TempDir()
	startServer(t, func(c *Config) { c.Data = data }) // holds data
	cases := []struct {
		code int
		args []string
	}{
		{0, []string{"--help"}},
		{0, []string{"help"}},
		{0, []string{"serve", "--help"}},
		{0, []string{"dlq", "list", "--help"}},
		{0, []string{"dlq", "--help"}},
		{0, []string{"reconcile", "-h"}},
		{0, []string{"migrate", "--help"}},
		{0, []string{"seed", "--help"}},
		{0, []string{"bench", "--help"}},
		{0, []string{"version"}},

		{2, nil},
		{2, []string{"nope"}},
		{2, []string{"version", "extra"}},
		{2, []string{"serve", "--nope"}},
		{2, []string{"serve", "extra"}},
		{2, []string{"serve", "--node-id", "5000"}},
		{2, []string{"serve", "--log-level", "loud"}},
		{2, []string{"serve", "--ip-code-limit", "many"}},
		{2, []string{"serve", "--trusted-proxies", "10.0.0.0/99"}},
		{2, []string{"serve", "--cors-origins", "app.example"}},
		{2, []string{"dlq"}},
		{2, []string{"dlq", "list", "--limit", "0"}},
		{2, []string{"reconcile"}},
		{2, []string{"migrate"}},
		{2, []string{"seed", "--shops", "0"}},
		{2, []string{"bench", "--conns", "0"}},
		{2, []string{"bench", "--duration", "0s"}},
		{2, []string{"bench", "--zipf", "1"}},
		{2, []string{"bench", "--batch", "500"}},
		{2, []string{"bench", "--users", "-1"}},
		{2, []string{"bench", "--targets", "1"}},
		{2, []string{"bench", "--stock", "0"}},
		{2, []string{"bench", "--scenarios", "nope"}},
		{2, []string{"bench", "--url", "localhost:8080"}},

		{1, []string{"dlq", "list"}}, // nothing listens on ZAN_URL
		{1, []string{"reconcile", "--all"}},
		{1, []string{"seed"}},
		{1, []string{"migrate", "--from", t.TempDir(), "--to", "mysql://u@tcp(127.0.0.1:1)/x"}},
		{1, []string{"serve", "--data", data, "--addr", "127.0.0.1:0"}}, // the data directory is taken
	}
	for _, c := range cases {
		code, out := zanCmd(t, c.args...)
		if code != c.code {
			t.Errorf("zan %s: exit %d, want %d\n%s", strings.Join(c.args, " "), code, c.code, out)
		}
	}
	if _, out := zanCmd(t, "serve", "--data", data, "--addr", "127.0.0.1:0"); !strings.Contains(out, "in use by another zan serve (pid") {
		t.Errorf("second server on one data directory: %s", out)
	}
	_, out := zanCmd(t, "version")
	if !strings.HasPrefix(out, "zan ") || !strings.Contains(out, " go1.") {
		t.Errorf("zan version: %q", out)
	}
	t.Logf("zan version: %s", strings.TrimSpace(out))
	// Built from a git checkout with VCS stamping (go build's default,
	// unless GOFLAGS says -buildvcs=false), it names the commit.
	bin := t.TempDir() + "/zan"
	if b, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Logf("no VCS stamping here (%v: %s): the commit is not checked", err, b)
		return
	}
	info, _ := exec.Command("go", "version", "-m", bin).Output()
	rev := regexp.MustCompile(`vcs\.revision=([0-9a-f]+)`).FindSubmatch(info)
	if rev == nil {
		t.Logf("the toolchain stamped no commit here (a git worktree?): not checked")
		return
	}
	b, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.Contains(string(b), "commit "+string(rev[1])) {
		t.Errorf("zan version of a build of commit %s: %v %q", rev[1], err, b)
	}
	t.Logf("stamped: %s", strings.TrimSpace(string(b)))
}

// TestDataDirLock: a second server on a data directory in use fails at
// start with a clear error; once the first stops, it starts.
func TestDataDirLock(t *testing.T) {
	data := t.TempDir()
	first := startServer(t, func(c *Config) { c.Data = data })
	m := NewMain()
	m.Config.Addr, m.Config.Data, m.Stderr = "127.0.0.1:0", data, io.Discard
	err := m.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "in use by another zan serve") {
		t.Fatalf("second server on %s: %v", data, err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	startServer(t, func(c *Config) { c.Data = data })
}

// TestExposedWarnings: --dev or pprof on an address beyond loopback is
// said at start.
func TestExposedWarnings(t *testing.T) {
	for _, c := range []struct {
		dev        bool
		addr, dbg  string
		warn, none bool
	}{
		{dev: true, addr: "0.0.0.0:0", warn: true},
		{dev: true, addr: "127.0.0.1:0", none: true},
		{addr: "127.0.0.1:0", dbg: "0.0.0.0:0", warn: true},
		{addr: "127.0.0.1:0", dbg: "[::1]:0", none: true},
	} {
		var logs bytes.Buffer
		m := NewMain()
		m.Config.Addr, m.Config.Data, m.Config.Dev, m.Config.DebugAddr, m.Config.LogLevel = c.addr, t.TempDir(), c.dev, c.dbg, "warn"
		m.Stderr = &logs
		if err := m.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		m.Close()
		if got := strings.Contains(logs.String(), "exposed:"); got != c.warn {
			t.Errorf("dev=%v addr=%s debug=%s: warned %v\n%s", c.dev, c.addr, c.dbg, got, logs.String())
		}
	}
}

// TestSeedTwice: zan seed run twice makes its shops once.
func TestSeedTwice(t *testing.T) {
	m := startServer(t) // --dev: 60 demo shops, the first 60 of seed 1
	count := func() int {
		a := adminClient{url: baseURL(m), token: "admin-secret"}
		have, err := existingShops(t.Context(), &a)
		if err != nil {
			t.Fatal(err)
		}
		return len(have)
	}
	before := count()
	var out bytes.Buffer
	args := []string{"seed", "--url", baseURL(m), "--admin-token", "admin-secret", "--shops", "150"}
	for range 2 {
		if err := run(t.Context(), args, &out, io.Discard); err != nil {
			t.Fatalf("zan seed: %v\n%s", err, out.String())
		}
	}
	if after := count(); after != 150 || before != 60 {
		t.Fatalf("shops: %d before, %d after seeding 150 twice; want 60 and 150\n%s", before, after, out.String())
	}
	if !strings.Contains(out.String(), "150 of the 150 shops are there already") {
		t.Errorf("second run: %s", out.String())
	}
}
