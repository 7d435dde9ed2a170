package conformance

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zanlabs/zan"
)

// TestCache runs the shared-cache suite. Keys are unique per run.
func TestCache(t *testing.T, open func(t *testing.T) zan.Cache) {
	key := func() string { return unique("k") }
	get := func(t *testing.T, c zan.Cache, k string) (string, bool) {
		t.Helper()
		v, ok, err := c.Get(t.Context(), k)
		if err != nil {
			t.Fatal(err)
		}
		return string(v), ok
	}

	t.Run("SetGetDelete", func(t *testing.T) {
		c := open(t)
		a, b, missing := key(), key(), key()
		if _, ok := get(t, c, a); ok {
			t.Fatal("a new key is present")
		}
		buf := []byte("one")
		if err := c.Set(t.Context(), a, buf, time.Minute); err != nil {
			t.Fatal(err)
		}
		buf[0] = 'X' // the cache keeps its own copy
		if v, ok := get(t, c, a); !ok || v != "one" {
			t.Fatalf("get = %q, %v", v, ok)
		}
		if got, _, _ := c.Get(t.Context(), a); len(got) > 0 {
			got[0] = 'X' // and every reader gets its own
		}
		if v, _ := get(t, c, a); v != "one" {
			t.Fatalf("a reader's edit reached the cache: %q", v)
		}
		if err := c.Set(t.Context(), a, []byte("two"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if v, _ := get(t, c, a); v != "two" {
			t.Fatalf("after overwrite: %q", v)
		}
		if err := c.Set(t.Context(), b, []byte{0, 255, '\n'}, time.Minute); err != nil {
			t.Fatal(err)
		}
		if v, _ := get(t, c, b); v != "\x00\xff\n" {
			t.Fatalf("binary value: %q", v)
		}
		if err := c.Delete(t.Context(), a, b, missing); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{a, b} {
			if _, ok := get(t, c, k); ok {
				t.Fatalf("%s present after delete", k)
			}
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		c := open(t)
		k := key()
		if err := c.Set(t.Context(), k, []byte("v"), 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
		if _, ok := get(t, c, k); ok {
			t.Fatal("present after its ttl")
		}
	})

	t.Run("Lock", func(t *testing.T) {
		c := open(t)
		k := key()
		unlock, ok, err := c.TryLock(t.Context(), k, time.Minute)
		if err != nil || !ok {
			t.Fatalf("first lock: %v, %v", ok, err)
		}
		if _, ok, _ := c.TryLock(t.Context(), k, time.Minute); ok {
			t.Fatal("a held lock was taken again")
		}
		if err := unlock(t.Context()); err != nil {
			t.Fatal(err)
		}
		unlock2, ok, _ := c.TryLock(t.Context(), k, time.Minute)
		if !ok {
			t.Fatal("lock not free after unlock")
		}
		// The first holder's late unlock must not free the second's lock.
		if err := unlock(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := c.TryLock(t.Context(), k, time.Minute); ok {
			t.Fatal("a stale unlock freed the next holder's lock")
		}
		_ = unlock2(t.Context())
	})

	t.Run("LockExpires", func(t *testing.T) {
		c := open(t)
		k := key()
		if _, ok, _ := c.TryLock(t.Context(), k, 50*time.Millisecond); !ok {
			t.Fatal("first lock")
		}
		time.Sleep(150 * time.Millisecond)
		if _, ok, _ := c.TryLock(t.Context(), k, time.Minute); !ok {
			t.Fatal("lock not free after its ttl (a holder that died)")
		}
	})

	t.Run("LockOneWinner", func(t *testing.T) {
		c := open(t)
		k := key()
		var wins atomic.Int64
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, ok, err := c.TryLock(context.Background(), k, time.Minute); err != nil {
					t.Error(err)
				} else if ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d concurrent lockers won, want 1", wins.Load())
		}
	})
}
