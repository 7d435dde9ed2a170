package main

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// natsServer finds the nats-server binary, or skips.
func natsServer(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server"
	}
	t.Skip("nats-server not installed: cannot start a private NATS")
	return ""
}

// startNATS runs a private JetStream server on port, storing under dir.
// The caller stops it.
func startNATS(t *testing.T, bin, dir string, port int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("nats-server on %s did not start", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNATSDown: with the event log gone, likes answer 503 quickly and leave
// nothing behind; once it is back, likes work again and nothing earlier was
// lost.
func TestNATSDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private nats-server")
	}
	bin := natsServer(t)
	dir := t.TempDir()
	port, _ := strconv.Atoi(freeAddr(t)[len("127.0.0.1:"):])
	// Registered before the server's cleanup, so it runs after zan stopped.
	var nats *exec.Cmd
	t.Cleanup(func() {
		if nats != nil {
			nats.Process.Kill()
			nats.Wait()
		}
	})
	nats = startNATS(t, bin, dir, port)
	m := startServer(t, func(c *Config) {
		c.NATSURL = "nats://127.0.0.1:" + strconv.Itoa(port)
		c.Name = "fault"
		c.PublishTimeout = 500 * time.Millisecond
	})
	a, _ := login(t, baseURL(m))
	a.expect(200, "PUT", "/api/v1/likes/comment/1", nil)
	// Applied before the crash: a batch in flight when NATS dies comes back
	// only after the consumer's AckWait (30 s), which is not this test.
	listed := func(id string) func() error {
		return func() error {
			r := a.do("GET", "/api/v1/likes/comment/"+id+"/users", nil)
			if items, _ := r.json(t)["items"].([]any); len(items) != 1 {
				return errStatus(r)
			}
			return nil
		}
	}
	eventually(t, "comment/1 listed", listed("1"))

	nats.Process.Kill()
	nats.Wait()
	start := time.Now()
	a.expect(503, "PUT", "/api/v1/likes/comment/2", nil)
	a.expect(503, "DELETE", "/api/v1/likes/comment/1", nil)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("two writes with NATS down took %v", d)
	}
	for id, want := range map[string]struct {
		count float64
		liked bool
	}{"1": {1, true}, "2": {0, false}} {
		v := a.expect(200, "GET", "/api/v1/likes/comment/"+id, nil).json(t)
		if v["count"] != want.count || v["liked"] != want.liked {
			t.Fatalf("comment/%s after refused writes: %v, want %+v", id, v, want)
		}
	}
	a.expect(503, "GET", "/readyz", nil)

	nats = startNATS(t, bin, dir, port)
	eventually(t, "likes work again", func() error {
		if r := a.do("PUT", "/api/v1/likes/comment/2", nil); r.Status != 200 {
			return errStatus(r)
		}
		return nil
	})
	eventually(t, "comment/2 listed", listed("2"))
	eventually(t, "comment/1 still listed", listed("1"))
}

type statusErr resp

func (e statusErr) Error() string { return strconv.Itoa(e.Status) + ": " + string(e.Body) }

func errStatus(r resp) error { return statusErr(r) }
