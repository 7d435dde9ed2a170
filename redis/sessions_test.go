package redis

import (
	"testing"
	"time"

	"github.com/zanlabs/zan"
)

// TestSessionCacheInvalidated: a node that has cached a session sees
// another node's logout and touch at once (Redis pushes the invalidation),
// not after the cache's TTL.
func TestSessionCacheInvalidated(t *testing.T) {
	a := open(t, Config{Addrs: []string{testAddr(t)}})
	b, err := Open(t.Context(), Config{Addrs: []string{testAddr(t)}, Prefix: a.prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	h := [32]byte{1, 2, 3}
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond).UTC()
	if err := a.Sessions().CreateSession(ctx, zan.Session{TokenHash: h, UserID: 42, ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	for range 3 { // the second and third reads are from b's cache
		if s, err := b.Sessions().Session(ctx, h); err != nil || s.UserID != 42 || !s.ExpiresAt.Equal(exp) {
			t.Fatalf("b reads %+v, %v", s, err)
		}
	}
	if !b.c.DoCache(ctx, b.c.B().Get().Key(b.Sessions().key(h)).Cache(), sessionCacheTTL).IsCacheHit() {
		t.Fatal("b's session reads are not cached")
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("b did not see %s within 1 s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	later := exp.Add(time.Hour)
	if err := a.Sessions().TouchSession(ctx, h, later); err != nil {
		t.Fatal(err)
	}
	eventually("a's touch", func() bool {
		s, err := b.Sessions().Session(ctx, h)
		return err == nil && s.ExpiresAt.Equal(later)
	})
	if err := a.Sessions().DeleteSession(ctx, h); err != nil {
		t.Fatal(err)
	}
	eventually("a's logout", func() bool {
		_, err := b.Sessions().Session(ctx, h)
		return zan.IsNotFound(err)
	})
	// A session created after b cached its absence is seen too.
	if err := a.Sessions().CreateSession(ctx, zan.Session{TokenHash: h, UserID: 43, ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	eventually("a's new session", func() bool {
		s, err := b.Sessions().Session(ctx, h)
		return err == nil && s.UserID == 43
	})
}
