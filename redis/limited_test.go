package redis

import (
	"context"
	"errors"
	"testing"

	"github.com/zanlabs/zan"
)

// testLimitedToggle: the toggle that takes the user's token takes exactly
// one per answered toggle, none for a target sent back for a load, shares
// its buckets with the Limiter, and a refusal changes nothing.
func testLimitedToggle(t *testing.T, c *Client) {
	ctx := context.Background()
	l := c.Likes()
	if c.cluster {
		if l.Limits(c.Limiter()) {
			t.Fatal("a cluster cannot take the token in the toggle's slot")
		}
		return
	}
	if !l.Limits(c.Limiter()) || l.Limits(&Limiter{c: &Client{}}) {
		t.Fatal("Limits must name this client's limiter only")
	}
	lim := zan.Limit{Rate: 0.001, Burst: 3}
	tg := zan.Target{Type: "blog", ID: 77}
	const user, key = 5, "like:5"

	// Not loaded: sent back, no token taken (three of them, burst 3).
	for range 3 {
		if _, err := l.ToggleLimited(ctx, tg, user, true, testID(), key, lim); !errors.Is(err, zan.ErrNotLoaded) {
			t.Fatalf("toggle of a target not loaded: %v, want ErrNotLoaded", err)
		}
	}
	if err := l.Load(ctx, tg, nil, 0); err != nil {
		t.Fatal(err)
	}
	for i, like := range []bool{true, false} {
		ch, err := l.ToggleLimited(ctx, tg, user, like, testID(), key, lim)
		if err != nil || !ch.Changed {
			t.Fatalf("toggle %d: %+v %v", i, ch, err)
		}
	}
	// The third token is the Limiter's: the buckets are one.
	if ok, _, err := c.Limiter().Allow(ctx, key, lim); !ok || err != nil {
		t.Fatalf("limiter after two toggles: %v %v, want the third token", ok, err)
	}
	ch, err := l.ToggleLimited(ctx, tg, user, true, testID(), key, lim)
	var e *zan.Error
	if zan.ErrorCode(err) != zan.ERateLimited || !errors.As(err, &e) || e.RetryAfter <= 0 {
		t.Fatalf("fourth toggle: %+v %v, want rate_limited with a wait", ch, err)
	}
	st, err := l.State(ctx, []zan.Target{tg}, user)
	if err != nil || st[0].Count != 0 || st[0].Liked {
		t.Fatalf("after a refusal: %+v %v, want 0 likes, not liked", st, err)
	}
	// Another user's bucket is full.
	if _, err := l.ToggleLimited(ctx, tg, user+1, true, testID(), "like:6", lim); err != nil {
		t.Fatal(err)
	}
}
