package webhook

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/zantest"
)

// runStore starts a deliverer over a SQLite store until the test ends.
func runStore(t *testing.T, log zan.EventLog, cfg Config, static ...Endpoint) *Deliverer {
	t.Helper()
	cfg.MaxBackoff = 200 * time.Millisecond
	d := New(cfg, log, zantest.Store(t), zan.NewIDGen(1), static, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, "the deliverer running", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.ctx != nil })
	return d
}

func TestRegisterValidation(t *testing.T) {
	d := New(Config{}, nil, zantest.Store(t), zan.NewIDGen(1), nil, nil)
	const secret = "0123456789abcdef"
	for _, tc := range []struct {
		name, url, secret string
		events            []string
	}{
		{"relative url", "/hook", secret, nil},
		{"no scheme", "example.com/hook", secret, nil},
		{"ftp", "ftp://example.com/hook", secret, nil},
		{"credentials", "https://u:p@example.com/hook", secret, nil},
		{"fragment", "https://example.com/hook#x", secret, nil},
		{"no secret", "https://example.com/hook", "", nil},
		{"short secret", "https://example.com/hook", "0123456789abcde", nil},
		{"unknown event", "https://example.com/hook", secret, []string{"like", "follow"}},
		{"no events", "https://example.com/hook", secret, []string{}},
	} {
		if _, err := d.Register(t.Context(), tc.url, tc.secret, tc.events); zan.ErrorCode(err) != zan.EBadRequest {
			t.Errorf("%s: %v, want bad request", tc.name, err)
		}
	}
	e, err := d.Register(t.Context(), "https://example.com/hook", secret, []string{"unlike", "like", "unlike"})
	if err != nil || !slices.Equal(e.Events, []zan.Op{zan.OpLike, zan.OpUnlike}) {
		t.Fatalf("Register: %+v, %v", e, err)
	}
	if e, err := d.Register(t.Context(), "http://example.com/", secret, nil); err != nil || len(e.Events) != 2 {
		t.Fatalf("Register without events: %+v, %v; want both", e, err)
	}
}

// TestRegistered: an endpoint registered while the deliverer runs gets
// only the ops it subscribed to; once deleted it gets nothing more.
func TestRegistered(t *testing.T) {
	log := zantest.Log(t, 2)
	d := runStore(t, log, Config{Refresh: time.Hour}) // Register and Delete sync at once
	const secret = "0123456789abcdef"
	all, unlikes := newReceiver(secret), newReceiver(secret)
	as, us := httptest.NewServer(all), httptest.NewServer(unlikes)
	defer as.Close()
	defer us.Close()
	ea, err := d.Register(t.Context(), as.URL, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	eu, err := d.Register(t.Context(), us.URL+"/u", secret, []string{"unlike"})
	if err != nil {
		t.Fatal(err)
	}
	ids := publish(t, log, "ev", 10) // like, unlike, like, ...
	eventually(t, "every event at the endpoint of both ops", func() bool { return all.has(ids) })
	var unlikeIDs []string
	for i, id := range ids {
		if i%2 == 1 {
			unlikeIDs = append(unlikeIDs, id)
		}
	}
	eventually(t, "the unlikes at the endpoint of unlikes", func() bool { return unlikes.has(unlikeIDs) })
	if got, bad, _ := unlikes.counts(); got != len(unlikeIDs) || bad != 0 {
		t.Errorf("unlike endpoint: %d events (%d bad), want %d", got, bad, len(unlikeIDs))
	}
	st, err := d.List(t.Context())
	if err != nil || len(st) != 2 || st[0].ID != ea.ID || st[1].ID != eu.ID {
		t.Fatalf("List: %+v, %v", st, err)
	}

	if err := d.Delete(t.Context(), ea.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(t.Context(), ea.ID); zan.ErrorCode(err) != zan.ENotFound {
		t.Fatalf("Delete again: %v, want not found", err)
	}
	more := publish(t, log, "more", 4)
	eventually(t, "the other endpoint still served", func() bool { return unlikes.has([]string{more[1], more[3]}) })
	time.Sleep(500 * time.Millisecond)
	if all.has(more[:1]) || all.has(more[2:3]) {
		t.Error("a deleted endpoint still got events")
	}
}

// TestDeadLetters: an endpoint failing for longer than DeadAfter has its
// events dead-lettered and its reader moves on; replayed once it is back,
// they arrive and leave the list.
func TestDeadLetters(t *testing.T) {
	log := zantest.Log(t, 2)
	d := runStore(t, log, Config{DeadAfter: 300 * time.Millisecond, Refresh: time.Hour})
	const secret = "0123456789abcdef"
	r := newReceiver(secret)
	r.down.Store(true)
	s := httptest.NewServer(r)
	defer s.Close()
	e, err := d.Register(t.Context(), s.URL, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := publish(t, log, "ev", 12)
	dead := func() []string {
		ds, err := d.DeadLetters(t.Context(), e.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, dl := range ds {
			out = append(out, dl.Event.ID)
			if dl.Reason == "" {
				t.Errorf("dead letter %s without a reason", dl.Event.ID)
			}
		}
		slices.Sort(out)
		return out
	}
	want := slices.Sorted(slices.Values(ids))
	eventually(t, "every event dead-lettered", func() bool { return slices.Equal(dead(), want) })
	if _, err := d.DeadLetters(t.Context(), "nope", 10); zan.ErrorCode(err) != zan.ENotFound {
		t.Errorf("DeadLetters of an unknown endpoint: %v", err)
	}

	// Replay while still down: nothing leaves the list.
	if res, err := d.Replay(t.Context(), e.ID, nil); err != nil || res.Replayed != 0 || res.Left != len(ids) || res.Err == nil {
		t.Fatalf("Replay while down: %+v, %v", res, err)
	}
	r.down.Store(false)
	if res, err := d.Replay(t.Context(), e.ID, ids[:2]); err != nil || res.Replayed != 2 || res.Left != 0 {
		t.Fatalf("Replay of two: %+v, %v", res, err)
	}
	if !r.has(ids[:2]) || len(dead()) != len(ids)-2 {
		t.Fatalf("after replaying two: received %v, %d left", r.has(ids[:2]), len(dead()))
	}
	if res, err := d.Replay(t.Context(), e.ID, nil); err != nil || res.Replayed != len(ids)-2 {
		t.Fatalf("Replay: %+v, %v", res, err)
	}
	if !r.has(ids) || len(dead()) != 0 {
		t.Fatal("replayed events missing, or still listed")
	}
	// Back, the endpoint takes new events directly.
	after := publish(t, log, "after", 3)
	eventually(t, "new events delivered", func() bool { return r.has(after) })
	if _, bad, _ := r.counts(); bad != 0 {
		t.Errorf("%d bad deliveries", bad)
	}
}
