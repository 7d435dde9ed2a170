package targets

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/zantest"
	"github.com/zanlabs/zan/memory"
)

// blogs is a lookup over a set of ids that counts its calls.
type blogs struct {
	mu    sync.Mutex
	ids   map[int64]bool
	calls atomic.Int64
	gate  chan struct{} // when set, lookups wait on it
}

func (b *blogs) lookup(ctx context.Context, id int64) error {
	b.calls.Add(1)
	if b.gate != nil {
		<-b.gate
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.ids[id] {
		return zan.Errorf(zan.ENotFound, "no blog %d", id)
	}
	return nil
}

func start(t *testing.T, c *Checker) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	time.Sleep(50 * time.Millisecond) // the subscription reaches the server
}

func blog(id int64) zan.Target { return zan.Target{Type: "blog", ID: id} }

// A target liked again is answered from memory: 1,000 likes of an existing
// blog cost one lookup; missing ones are not_found every time.
func TestKnownTargetsCostOneLookup(t *testing.T) {
	b := &blogs{ids: map[int64]bool{1: true}}
	c := New(Config{Held: map[string]Lookup{"blog": b.lookup}}, nil, nil, nil)
	ctx := context.Background()
	for range 1000 {
		if err := c.Check(ctx, 7, blog(1), true); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.calls.Load(); n != 1 {
		t.Fatalf("%d lookups for 1,000 likes of one blog, want 1", n)
	}
	for _, tc := range []struct {
		t    zan.Target
		like bool
		code string
	}{
		{blog(2), true, zan.ENotFound},
		{blog(2), false, ""}, // unlikes are never refused
		{zan.Target{Type: "comment", ID: 2}, true, ""},
	} {
		if got := zan.ErrorCode(c.Check(ctx, 7, tc.t, tc.like)); got != tc.code {
			t.Errorf("%v like=%v: %q, want %q", tc.t, tc.like, got, tc.code)
		}
	}
}

// A deletion reaches every node, and a lookup that was in flight when it
// came does not leave the deleted target behind as known.
func TestDeletionAcrossNodes(t *testing.T) {
	log := zantest.Log(t, 1)
	b := &blogs{ids: map[int64]bool{1: true, 2: true}}
	a := New(Config{Held: map[string]Lookup{"blog": b.lookup}}, log, nil, nil)
	other := New(Config{Held: map[string]Lookup{"blog": b.lookup}}, log, nil, nil)
	start(t, a)
	start(t, other)
	ctx := context.Background()
	if err := other.Check(ctx, 7, blog(1), true); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	delete(b.ids, 1)
	b.mu.Unlock()
	a.Deleted(ctx, blog(1))
	deadline := time.Now().Add(5 * time.Second)
	for !zan.IsNotFound(other.Check(ctx, 7, blog(1), true)) {
		if time.Now().After(deadline) {
			t.Fatal("the other node still takes likes of the deleted blog")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Blog 2 is looked up (and found) while its deletion arrives.
	b.gate = make(chan struct{})
	res := make(chan error, 1)
	before := b.calls.Load()
	go func() { res <- other.Check(ctx, 7, blog(2), true) }()
	for b.calls.Load() == before {
		time.Sleep(time.Millisecond)
	}
	other.forget(blog(2))
	close(b.gate)
	<-res // found: the lookup read the blog before its deletion
	if err := other.Check(ctx, 7, blog(2), true); !zan.IsNotFound(err) {
		t.Fatalf("after a deletion that raced a lookup: %v, want not_found", err)
	}
}

// Likes of foreign targets that the node has not seen take a token each
// from the user's bucket; known ones take none.
func TestForeignTargetsBounded(t *testing.T) {
	lim := memory.NewLimiter()
	defer lim.Close()
	c := New(Config{Foreign: zan.Limit{Rate: 1e-9, Burst: 3}}, nil, lim, nil)
	ctx := context.Background()
	comment := func(id int64) zan.Target { return zan.Target{Type: "comment", ID: id} }
	for i := range int64(3) {
		if err := c.Check(ctx, 7, comment(i), true); err != nil {
			t.Fatal(err)
		}
	}
	err := c.Check(ctx, 7, comment(99), true)
	var ze *zan.Error
	if zan.ErrorCode(err) != zan.ERateLimited || !errors.As(err, &ze) || ze.RetryAfter <= 0 {
		t.Fatalf("a fourth new comment: %v, want rate_limited with a retry time", err)
	}
	for _, user := range []int64{7, 8} {
		if err := c.Check(ctx, user, comment(1), true); err != nil {
			t.Errorf("user %d, a known comment: %v", user, err)
		}
	}
	if err := c.Check(ctx, 8, comment(99), true); err != nil {
		t.Errorf("another user's budget: %v", err)
	}
}
