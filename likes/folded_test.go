package likes

import (
	"context"
	"testing"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/zantest"
)

// TestFoldedLimit: against one Redis, the user's token is taken by the
// toggle itself (one round trip per like), and the limit holds as with a
// separate limiter: a like sent back for a load costs one token, not two;
// likes of targets that do not exist spend tokens too; a refused user is
// refused here until a token can be there.
func TestFoldedLimit(t *testing.T) {
	rc := openRedis(t)
	missing := zan.Target{Type: "blog", ID: 404}
	check := func(_ context.Context, _ int64, t zan.Target, _ bool) error {
		if t == missing {
			return zan.Errorf(zan.ENotFound, "no such blog")
		}
		return nil
	}
	svc := New(Config{Limit: zan.Limit{Rate: 0.01, Burst: 3}, Check: check},
		rc.Likes(), zantest.Log(t, 2), zantest.Store(t), rc.Limiter(), nil)
	if svc.folded == nil {
		t.Fatal("a Redis hot state with its own limiter must take the token in the toggle")
	}
	ctx := t.Context()
	code := func(user int64, tg zan.Target) string {
		_, err := svc.Toggle(ctx, user, tg, true)
		return zan.ErrorCode(err)
	}
	// Targets not loaded yet: each like loads its target and retries.
	for i := range 2 {
		if c := code(1, zan.Target{Type: "comment", ID: int64(100 + i)}); c != "" {
			t.Fatalf("like %d: %q", i, c)
		}
	}
	if c := code(1, missing); c != zan.ENotFound {
		t.Fatalf("like of a missing blog: %q, want not_found", c)
	}
	for range 2 { // the bucket is empty: refused in Redis, then here
		if c := code(1, zan.Target{Type: "comment", ID: 102}); c != zan.ERateLimited {
			t.Fatalf("fourth like: %q, want rate_limited", c)
		}
	}
	if c := code(1, missing); c != zan.ERateLimited {
		t.Fatalf("a refused user's like of a missing blog: %q, want rate_limited before the lookup", c)
	}
	if c := code(2, zan.Target{Type: "comment", ID: 102}); c != "" {
		t.Fatalf("another user: %q", c)
	}
	got, err := svc.Get(ctx, []zan.Target{{Type: "comment", ID: 102}}, 1)
	if err != nil || got[0].Count != 1 || got[0].Liked {
		t.Fatalf("after refusals: %+v %v, want user 2's like only", got, err)
	}
}
