package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/zantest"
)

// The deliverer runs against the embedded JetStream log (whose persister
// never runs: the deliverer needs nothing of it) and real HTTP receivers in
// this process.

func TestParseEndpoints(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string // URLs
		secrets []string
		err     bool
	}{
		{in: "", want: nil},
		{in: "http://a.example/h#s1", want: []string{"http://a.example/h"}, secrets: []string{"s1"}},
		{in: "http://a.example/h#x#s1, https://b.example#s2", want: []string{"http://a.example/h#x", "https://b.example"}, secrets: []string{"s1", "s2"}},
		{in: "http://a.example/h", err: true},
		{in: "http://a.example/h#", err: true},
		{in: "ftp://a.example#s", err: true},
		{in: "a.example#s", err: true},
	} {
		got, err := ParseEndpoints(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("%q: err %v, want error %v", tc.in, err, tc.err)
			continue
		}
		var urls, secrets []string
		for _, e := range got {
			urls, secrets = append(urls, e.URL), append(secrets, e.Secret)
			if e.ID != endpointID(e.URL) || len(e.ID) != 12 {
				t.Errorf("%q: id %q", tc.in, e.ID)
			}
		}
		if !slices.Equal(urls, tc.want) || !slices.Equal(secrets, tc.secrets) {
			t.Errorf("%q: got %v %v, want %v %v", tc.in, urls, secrets, tc.want, tc.secrets)
		}
	}
}

func TestSignature(t *testing.T) {
	body := []byte(`{"id":"e1"}`)
	sig := Sign("right", 1700000000, body)
	for _, tc := range []struct {
		name, secret, ts string
		body             []byte
		ok               bool
	}{
		{"matches", "right", "1700000000", body, true},
		{"wrong secret", "wrong", "1700000000", body, false},
		{"other timestamp", "right", "1700000001", body, false},
		{"other body", "right", "1700000000", []byte(`{"id":"e2"}`), false},
		{"no timestamp", "right", "", body, false},
	} {
		if got := Verify(tc.secret, tc.ts, tc.body, sig); got != tc.ok {
			t.Errorf("%s: Verify = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

// receiver is an HTTP receiver that checks signatures with its secret and
// records what it got.
type receiver struct {
	secret string
	down   atomic.Bool // answer 503

	mu       sync.Mutex
	got      map[string]int // event id → deliveries
	bad      int            // deliveries whose signature did not verify
	failures int            // 503s answered
}

func newReceiver(secret string) *receiver { return &receiver{secret: secret, got: map[string]int{}} }

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down.Load() {
		r.failures++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if !Verify(r.secret, req.Header.Get("Zan-Timestamp"), body, req.Header.Get("Zan-Signature")) {
		r.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev struct{ ID, Op, Type, Target, User string }
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID != req.Header.Get("Zan-Event-Id") || ev.Op == "" || ev.Target == "" {
		r.bad++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.got[ev.ID]++
}

func (r *receiver) has(ids []string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if r.got[id] == 0 {
			return false
		}
	}
	return true
}

func (r *receiver) counts() (got, bad, failures int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got), r.bad, r.failures
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func endpoint(t *testing.T, url, secret string) Endpoint {
	t.Helper()
	es, err := ParseEndpoints(url + "#" + secret)
	if err != nil {
		t.Fatal(err)
	}
	return es[0]
}

// run starts a deliverer until the test ends.
func run(t *testing.T, log zan.EventLog, eps ...Endpoint) {
	ctx, cancel := context.WithCancel(t.Context())
	d := New(Config{MaxBackoff: time.Second}, log, nil, nil, eps, nil)
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func publish(t *testing.T, log zan.EventLog, prefix string, n int) []string {
	t.Helper()
	var ids []string
	now := time.Now().UnixMicro()
	for i := range n {
		ev := zan.Event{ID: fmt.Sprintf("%s-%d", prefix, i), Op: zan.Op(1 + i%2), Target: zan.Target{Type: "blog", ID: int64(1 + i%5)}, User: 7, At: now + int64(i)}
		if err := log.Publish(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

// TestDeliver: events arrive signed, a kept event is not sent, and an
// endpoint that never answers 2xx holds back nobody else.
func TestDeliver(t *testing.T) {
	log := zantest.Log(t, 2)
	good, dead := newReceiver("s3cret"), newReceiver("other")
	dead.down.Store(true)
	gs, ds := httptest.NewServer(good), httptest.NewServer(dead)
	defer gs.Close()
	defer ds.Close()
	run(t, log, endpoint(t, gs.URL, "s3cret"), endpoint(t, ds.URL+"/dead", "other"))

	ids := publish(t, log, "ev", 20)
	kept := zan.Event{ID: "kept", Op: zan.OpLike, Target: zan.Target{Type: "blog", ID: 1}, User: 8, At: time.Now().UnixMicro(), Kept: true}
	if err := log.Publish(t.Context(), kept); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every event at the live endpoint", func() bool { return good.has(ids) })
	publish(t, log, "after", 1) // behind the kept one in its partition
	eventually(t, "the next event", func() bool { return good.has([]string{"after-0"}) })
	if got, bad, _ := good.counts(); got != len(ids)+1 || bad != 0 {
		t.Errorf("live endpoint: %d events, %d bad signatures; want %d, 0", got, bad, len(ids)+1)
	}
	if _, _, failures := dead.counts(); failures == 0 {
		t.Error("the dead endpoint was never tried")
	}
}

// TestReceiverDown: a receiver that refuses connections, then answers 503,
// gets everything once it is back.
func TestReceiverDown(t *testing.T) {
	log := zantest.Log(t, 2)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // connections are refused
	r := newReceiver("s")
	run(t, log, endpoint(t, "http://"+addr+"/hook", "s"))
	ids := publish(t, log, "down", 30)
	time.Sleep(1500 * time.Millisecond)

	r.down.Store(true) // up, but failing
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	srv := &http.Server{Handler: r}
	go srv.Serve(l)
	defer srv.Close()
	eventually(t, "a try at the failing receiver", func() bool { _, _, f := r.counts(); return f > 0 })
	time.Sleep(time.Second)
	if got, _, _ := r.counts(); got != 0 {
		t.Fatalf("%d events accepted while the receiver failed", got)
	}
	r.down.Store(false)
	ids = append(ids, publish(t, log, "back", 5)...)
	eventually(t, "every event after the receiver is back", func() bool { return r.has(ids) })
}

// TestWrongSecret: a receiver holding another secret sees every signature
// fail (and, refusing them, gets the events again once the secrets agree:
// here, never).
func TestWrongSecret(t *testing.T) {
	log := zantest.Log(t, 1)
	r := newReceiver("receiver's")
	s := httptest.NewServer(r)
	defer s.Close()
	run(t, log, endpoint(t, s.URL, "sender's"))
	publish(t, log, "ev", 3)
	eventually(t, "deliveries with bad signatures", func() bool { _, bad, _ := r.counts(); return bad >= 3 })
	if got, _, _ := r.counts(); got != 0 {
		t.Errorf("%d events verified under the wrong secret", got)
	}
}

// TestRestart: a deliverer stopped while its receiver fails leaves the
// batch in the log; the next one (another process, as far as the log
// knows: the reader is durable) delivers every event.
func TestRestart(t *testing.T) {
	log := zantest.Log(t, 2)
	r := newReceiver("s")
	r.down.Store(true)
	s := httptest.NewServer(r)
	defer s.Close()
	e := endpoint(t, s.URL, "s")
	ctx, cancel := context.WithCancel(t.Context())
	first := New(Config{}, log, nil, nil, []Endpoint{e}, nil)
	done := make(chan struct{})
	go func() { first.Run(ctx); close(done) }()
	ids := publish(t, log, "ev", 10)
	eventually(t, "tries at the failing receiver", func() bool { _, _, f := r.counts(); return f > 0 })
	cancel()
	<-done

	r.down.Store(false)
	run(t, log, e)
	eventually(t, "every event after the restart", func() bool { return r.has(ids) })
}
