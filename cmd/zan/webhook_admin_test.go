package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zanlabs/zan/webhook"
)

const hookSecret = "0123456789abcdef-hook"

// hookReceiver is a webhook receiver in the test process: it checks
// signatures and records the events it accepted by "op type target user".
type hookReceiver struct {
	mu     sync.Mutex
	got    map[string]int
	bad    int
	status int           // answer this instead of 200 (0: 200)
	hold   chan struct{} // non-nil: the next request waits for it to close
	held   chan struct{} // closed when a request is held
}

func newHookReceiver() *hookReceiver { return &hookReceiver{got: map[string]int{}} }

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	if hold := h.hold; hold != nil {
		h.hold = nil
		close(h.held)
		h.mu.Unlock()
		<-hold
		h.mu.Lock()
	}
	defer h.mu.Unlock()
	if h.status != 0 {
		w.WriteHeader(h.status)
		return
	}
	if !webhook.Verify(hookSecret, r.Header.Get("Zan-Timestamp"), body, r.Header.Get("Zan-Signature")) {
		h.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev struct{ Op, Type, Target, User string }
	if err := json.Unmarshal(body, &ev); err != nil {
		h.bad++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.got[ev.Op+" "+ev.Type+" "+ev.Target+" "+ev.User]++
}

func (h *hookReceiver) setStatus(s int) { h.mu.Lock(); h.status = s; h.mu.Unlock() }

// missing returns the keys not received yet.
func (h *hookReceiver) missing(keys []string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, k := range keys {
		if h.got[k] == 0 {
			out = append(out, k)
		}
	}
	return out
}

func (h *hookReceiver) count() (int, int) { h.mu.Lock(); defer h.mu.Unlock(); return len(h.got), h.bad }

// waitHooks waits up to d for every key at the receiver.
func waitHooks(t *testing.T, h *hookReceiver, keys []string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		m := h.missing(keys)
		if len(m) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events never reached the receiver, e.g. %q", len(m), len(keys), m[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func adminAPI(t *testing.T, base string) *api {
	a := newAPI(t, base)
	a.token = "admin-secret"
	return a
}

// likeMany likes comment/first.. as liker and returns the webhook keys.
func likeMany(t *testing.T, liker *api, uid string, first, n int) []string {
	t.Helper()
	var keys []string
	for i := first; i < first+n; i++ {
		liker.expect(200, "PUT", fmt.Sprintf("/api/v1/likes/comment/%d", i), nil)
		keys = append(keys, fmt.Sprintf("like comment %d %s", i, uid))
	}
	return keys
}

// TestWebhookAdmin: the admin API registers, lists and deletes endpoints,
// refuses callers without the admin token and bad input; an endpoint
// registered on one node gets the events liked on another, only the ops it
// subscribed to, and nothing once deleted.
func TestWebhookAdmin(t *testing.T) {
	for _, mode := range []string{"embedded", "scale-out"} {
		t.Run(mode, func(t *testing.T) {
			recv := newHookReceiver()
			srv := httptest.NewServer(recv)
			defer srv.Close()
			fast := func(c *Config) { c.WebhookRefresh = 200 * time.Millisecond }
			var a, b *Main
			if mode == "embedded" {
				a = startServer(t, fast)
				b = a
			} else {
				cfg := scaleOut(t)
				a = startServer(t, cfg, fast)
				b = startServer(t, cfg, fast, func(c *Config) { c.NodeID = 1 })
			}
			adminA, adminB := adminAPI(t, baseOf(a)), adminAPI(t, baseOf(b))
			anon := newAPI(t, baseOf(a))
			body := map[string]any{"url": srv.URL + "/hook", "secret": hookSecret, "events": []string{"like"}}
			anon.expect(403, "POST", "/api/v1/admin/webhooks", body)
			anon.expect(403, "GET", "/api/v1/admin/webhooks", nil)
			for _, bad := range []any{
				map[string]any{"url": "not a url", "secret": hookSecret},
				map[string]any{"url": "ftp://x.example/h", "secret": hookSecret},
				map[string]any{"url": srv.URL, "secret": "short"},
				map[string]any{"url": srv.URL},
				map[string]any{"url": srv.URL, "secret": hookSecret, "events": []string{"follow"}},
				map[string]any{"url": srv.URL, "secret": hookSecret, "events": []string{}},
				"{",
			} {
				adminA.expect(400, "POST", "/api/v1/admin/webhooks", bad)
			}
			adminA.expect(404, "DELETE", "/api/v1/admin/webhooks/123", nil)
			adminA.expect(404, "GET", "/api/v1/admin/webhooks/123/dead", nil)

			id := adminA.expect(201, "POST", "/api/v1/admin/webhooks", body).json(t)["id"].(string)
			list := adminB.expect(200, "GET", "/api/v1/admin/webhooks", nil)
			if strings.Contains(string(list.Body), hookSecret) || !strings.Contains(string(list.Body), `"id":"`+id+`"`) {
				t.Fatalf("listing: %s (want the webhook, never its secret)", list.Body)
			}

			liker, uid := login(t, baseOf(b))
			keys := likeMany(t, liker, uid, 1, 5)
			liker.expect(200, "DELETE", "/api/v1/likes/comment/1", nil) // an unlike: not subscribed
			waitHooks(t, recv, keys, 30*time.Second)
			more := likeMany(t, liker, uid, 6, 1)
			waitHooks(t, recv, more, 30*time.Second)
			if n, bad := recv.count(); n != 6 || bad != 0 {
				t.Fatalf("receiver: %d events (%d bad), want the 6 likes only", n, bad)
			}
			if d := adminB.expect(200, "GET", "/api/v1/admin/webhooks/"+id+"/dead", nil).json(t)["items"].([]any); len(d) != 0 {
				t.Fatalf("dead letters of a live endpoint: %v", d)
			}

			adminB.expect(204, "DELETE", "/api/v1/admin/webhooks/"+id, nil)
			adminA.expect(404, "DELETE", "/api/v1/admin/webhooks/"+id, nil)
			time.Sleep(time.Second) // past every node's refresh
			likeMany(t, liker, uid, 10, 3)
			time.Sleep(time.Second)
			if n, _ := recv.count(); n != 6 {
				t.Fatalf("a deleted endpoint got %d events more", n-6)
			}
		})
	}
}

// TestWebhookKill9: a zan process killed with SIGKILL while a delivery is
// in flight delivers every event at least once after its restart.
func TestWebhookKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs zan as a child process")
	}
	recv := newHookReceiver()
	srv := httptest.NewServer(recv)
	defer srv.Close()
	data, addr := t.TempDir(), freeAddr(t)
	flags := []string{"--admin-token", "admin-secret", "--webhook-refresh", "200ms"}
	c := startChild(t, data, addr, flags...)
	base := "http://" + addr
	adminAPI(t, base).expect(201, "POST", "/api/v1/admin/webhooks", map[string]any{"url": srv.URL, "secret": hookSecret})
	liker, uid := login(t, base)
	keys := likeMany(t, liker, uid, 1, 20)
	waitHooks(t, recv, keys[:5], 30*time.Second)

	recv.mu.Lock()
	hold, held := make(chan struct{}), make(chan struct{})
	recv.hold, recv.held = hold, held
	recv.mu.Unlock()
	keys = append(keys, likeMany(t, liker, uid, 21, 30)...)
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery to hold")
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
	close(hold)
	if n, _ := recv.count(); n >= len(keys) {
		t.Fatalf("everything delivered before the kill (%d): the test killed nothing mid-way", n)
	}
	startChild(t, data, addr, flags...)
	waitHooks(t, recv, keys, 60*time.Second)
	if _, bad := recv.count(); bad != 0 {
		t.Errorf("%d deliveries failed the signature check", bad)
	}
}

// TestWebhookReceiverDown: a receiver that refuses connections, then
// answers 503, for 30 s while likes go on gets every event once it is
// back, and none is dead-lettered: the limit is above the outage.
func TestWebhookReceiverDown(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30 s outage")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hookAddr := ln.Addr().String()
	ln.Close() // refused until it listens again
	m := startServer(t, func(c *Config) { c.WebhookDeadAfter, c.WebhookMaxBackoff = 2*time.Minute, 2*time.Second })
	admin := adminAPI(t, baseOf(m))
	id := admin.expect(201, "POST", "/api/v1/admin/webhooks",
		map[string]any{"url": "http://" + hookAddr + "/hook", "secret": hookSecret}).json(t)["id"].(string)
	liker, uid := login(t, baseOf(m))

	recv := newHookReceiver()
	recv.setStatus(http.StatusServiceUnavailable)
	var keys []string
	start := time.Now()
	for i := 1; time.Since(start) < 30*time.Second; i++ {
		keys = append(keys, likeMany(t, liker, uid, i, 1)...)
		if i == 30 { // halfway: up, but failing
			if ln, err = net.Listen("tcp", hookAddr); err != nil {
				t.Skipf("cannot listen on %s again: %v", hookAddr, err)
			}
			s := &http.Server{Handler: recv}
			go s.Serve(ln)
			defer s.Close()
		}
		time.Sleep(500 * time.Millisecond)
	}
	if n, _ := recv.count(); n != 0 {
		t.Fatalf("%d events accepted while the receiver failed", n)
	}
	recv.setStatus(0)
	keys = append(keys, likeMany(t, liker, uid, 1000, 5)...)
	back := time.Now()
	waitHooks(t, recv, keys, 60*time.Second) // the back-off is at its 2 s cap
	t.Logf("every event delivered %v after the receiver came back", time.Since(back).Round(10*time.Millisecond))
	if d := admin.expect(200, "GET", "/api/v1/admin/webhooks/"+id+"/dead", nil).json(t)["items"].([]any); len(d) != 0 {
		t.Fatalf("%d events dead-lettered under the limit", len(d))
	}
	t.Logf("%d events delivered after a 30 s outage", len(keys))
}

// TestWebhookDeadLetters: past --webhook-dead-after the events go to the
// endpoint's dead letters, listed and, once the receiver is back, replayed
// through the admin API.
func TestWebhookDeadLetters(t *testing.T) {
	recv := newHookReceiver()
	recv.setStatus(http.StatusServiceUnavailable)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	m := startServer(t, func(c *Config) { c.WebhookDeadAfter = time.Second })
	admin := adminAPI(t, baseOf(m))
	id := admin.expect(201, "POST", "/api/v1/admin/webhooks", map[string]any{"url": srv.URL, "secret": hookSecret}).json(t)["id"].(string)
	liker, uid := login(t, baseOf(m))
	keys := likeMany(t, liker, uid, 1, 8)
	dead := func() []any {
		return admin.expect(200, "GET", "/api/v1/admin/webhooks/"+id+"/dead", nil).json(t)["items"].([]any)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(dead()) < len(keys) {
		if time.Now().After(deadline) {
			t.Fatalf("dead letters: %v, want %d", dead(), len(keys))
		}
		time.Sleep(100 * time.Millisecond)
	}
	admin.expect(400, "GET", "/api/v1/admin/webhooks/"+id+"/dead?limit=0", nil)
	admin.expect(400, "POST", "/api/v1/admin/webhooks/"+id+"/dead/replay", "[")
	newAPI(t, baseOf(m)).expect(403, "POST", "/api/v1/admin/webhooks/"+id+"/dead/replay", nil)
	metrics := string(newAPI(t, baseOf(m)).expect(200, "GET", "/metrics", nil).Body)
	if !strings.Contains(metrics, `zan_webhook_dead_total{endpoint="`+id+`"} `) {
		t.Error("zan_webhook_dead_total of the endpoint missing from /metrics")
	}

	// Still down: the replay stops at the first failure, nothing leaves.
	res := admin.expect(200, "POST", "/api/v1/admin/webhooks/"+id+"/dead/replay", nil).json(t)
	if res["replayed"] != 0.0 || res["left"] != float64(len(keys)) || res["error"] == nil {
		t.Fatalf("replay while down: %v", res)
	}
	recv.setStatus(0)
	res = admin.expect(200, "POST", "/api/v1/admin/webhooks/"+id+"/dead/replay", nil).json(t)
	if res["replayed"] != float64(len(keys)) || res["left"] != 0.0 {
		t.Fatalf("replay: %v", res)
	}
	waitHooks(t, recv, keys, time.Second) // replayed synchronously
	if d := dead(); len(d) != 0 {
		t.Fatalf("replayed dead letters still listed: %v", d)
	}
	// The endpoint accepts again: new events go straight through.
	waitHooks(t, recv, likeMany(t, liker, uid, 100, 2), 30*time.Second)
}
