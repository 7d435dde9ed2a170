package live

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/zantest"
)

func startHub(t *testing.T, n zan.Notifier) *Hub {
	h := NewHub(n, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

func wait(t *testing.T, s *Sub, want map[zan.Target]int64) {
	t.Helper()
	got := map[zan.Target]int64{}
	deadline := time.After(5 * time.Second)
	for {
		for k, v := range s.Take() {
			got[k] = v
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		select {
		case <-s.C:
		case <-deadline:
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

// Two hubs on one log are two nodes: a change on A reaches B's subscriber,
// coalesced to the latest count, and an older change arriving late is
// dropped.
func TestAcrossHubs(t *testing.T) {
	log := zantest.Log(t, 1)
	a, b := startHub(t, log), startHub(t, log)
	x, y := zan.Target{Type: "blog", ID: 1}, zan.Target{Type: "blog", ID: 2}
	s, err := b.Subscribe([]zan.Target{x, y})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	time.Sleep(100 * time.Millisecond) // the subscriptions reach the server
	for i := int64(1); i <= 100; i++ {
		a.Changed(x, i, 1000+i)
	}
	a.Changed(y, 7, 5000)
	wait(t, s, map[zan.Target]int64{x: 100, y: 7})
	a.Changed(x, 3, 1003) // older than what B has seen
	a.Changed(y, 8, 5001)
	wait(t, s, map[zan.Target]int64{y: 8})
}

// A subscriber that never takes its updates costs one pending count per
// target, and delivering to it never blocks.
func TestSlowSubscriberNeverBlocks(t *testing.T) {
	h := NewHub(zantest.Log(t, 1), nil)
	ts := make([]zan.Target, 200)
	for i := range ts {
		ts[i] = zan.Target{Type: "comment", ID: int64(i + 1)}
	}
	slow, _ := h.Subscribe(ts)
	done := make(chan struct{})
	go func() {
		for i := int64(1); i <= 100000; i++ {
			h.deliver(Update{ts[i%200], i, i})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("delivery blocked on a subscriber that does not read")
	}
	if n := len(slow.Take()); n != 200 {
		t.Fatalf("%d pending updates, want one per target (200)", n)
	}
}

func TestMaxSubscribers(t *testing.T) {
	h := NewHub(zantest.Log(t, 1), nil)
	h.MaxSubscribers = 2
	ts := []zan.Target{{Type: "blog", ID: 1}}
	a, _ := h.Subscribe(ts)
	if _, err := h.Subscribe(ts); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(ts); zan.ErrorCode(err) != zan.EUnavailable {
		t.Fatalf("third subscriber: %v, want unavailable", err)
	}
	a.Close()
	if _, err := h.Subscribe(ts); err != nil {
		t.Fatalf("after a close: %v", err)
	}
}

func TestParseUpdate(t *testing.T) {
	for _, bad := range []string{"", "blog 1 2", "Blog 1 2 3", "blog x 2 3", "blog 1 two 3", "blog 1 2 3 4"} {
		if _, err := parseUpdate([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	u := Update{zan.Target{Type: "blog", ID: 9}, 4, 77}
	if got, err := parseUpdate(appendUpdate(nil, u)[:len(appendUpdate(nil, u))-1]); err != nil || got != u {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
}
