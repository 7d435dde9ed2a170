// Package conformance holds the test suites every adapter of a family
// passes: hot state (memory, redis), event log (embedded and external NATS)
// and store (sqlite, mysql). An adapter's tests call them with a func that
// opens a fresh, empty instance.
package conformance

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zanlabs/zan"
)

// unique returns a name no other test run uses, for adapters whose backend
// is shared between tests (one Redis, one NATS server).
func unique(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// uniqueID returns a target id unlikely to be used by another run against a
// shared backend.
func uniqueID() int64 {
	b := make([]byte, 6)
	rand.Read(b)
	var n int64
	for _, c := range b {
		n = n<<8 | int64(c)
	}
	return n + 1
}

// TestLikeState runs the hot-state suite. open returns a LikeState; targets
// are chosen unique per run, so a shared backend may be reused.
func TestLikeState(t *testing.T, open func(t *testing.T) zan.LikeState) {
	target := func() zan.Target { return zan.Target{Type: "blog", ID: uniqueID()} }

	t.Run("Unconfirmed", func(t *testing.T) { testUnconfirmed(t, open(t), target()) })

	t.Run("NotLoaded", func(t *testing.T) {
		h := open(t)
		tg := target()
		if _, err := h.Toggle(t.Context(), tg, 1, true); err != zan.ErrNotLoaded {
			t.Fatalf("Toggle on a missing target: %v, want ErrNotLoaded", err)
		}
		st, err := h.State(t.Context(), []zan.Target{tg}, 1)
		if err != nil || st[0].Loaded || st[0].Count != 0 || st[0].Liked {
			t.Fatalf("State of a missing target: %+v, %v", st, err)
		}
		if _, ok, err := h.Members(t.Context(), tg); ok || err != nil {
			t.Fatalf("Members of a missing target: ok=%v err=%v", ok, err)
		}
		if err := h.Undo(t.Context(), tg, 1, true); err != nil {
			t.Fatalf("Undo on a missing target: %v", err)
		}
	})

	t.Run("Toggle", func(t *testing.T) {
		h := open(t)
		tg := target()
		must(t, h.Load(t.Context(), tg, []int64{5, 6}))
		steps := []struct {
			user          int64
			like, changed bool
			count         int64
		}{
			{7, true, true, 3},
			{7, true, false, 3},
			{5, false, true, 2},
			{5, false, false, 2},
			{8, false, false, 2},
			{5, true, true, 3},
		}
		var lastAt int64
		for i, s := range steps {
			ch, err := h.Toggle(t.Context(), tg, s.user, s.like)
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if ch.Changed != s.changed || ch.Count != s.count {
				t.Fatalf("step %d: %+v, want changed=%v count=%d", i, ch, s.changed, s.count)
			}
			if ch.Changed {
				if ch.At <= lastAt {
					t.Fatalf("step %d: At %d not after %d", i, ch.At, lastAt)
				}
				lastAt = ch.At
			} else if ch.At != 0 && !ch.Unconfirmed {
				t.Fatalf("step %d: At %d on a confirmed no change", i, ch.At)
			}
		}
		st, err := h.State(t.Context(), []zan.Target{tg, target()}, 7)
		must(t, err)
		if !st[0].Loaded || st[0].Count != 3 || !st[0].Liked || st[1].Loaded {
			t.Fatalf("State: %+v", st)
		}
		st, _ = h.State(t.Context(), []zan.Target{tg}, 0)
		if st[0].Liked {
			t.Fatalf("State for no user says liked")
		}
		users, ok, err := h.Members(t.Context(), tg)
		must(t, err)
		slices.Sort(users)
		if !ok || !slices.Equal(users, []int64{5, 6, 7}) {
			t.Fatalf("Members: %v %v", users, ok)
		}
	})

	t.Run("AtIncreasesAcrossUsers", func(t *testing.T) {
		h := open(t)
		tg := target()
		must(t, h.Load(t.Context(), tg, nil))
		var last int64
		for u := int64(1); u <= 200; u++ {
			ch, err := h.Toggle(t.Context(), tg, u%7+1, u%2 == 1)
			must(t, err)
			if ch.Changed {
				if ch.At <= last {
					t.Fatalf("At %d after %d", ch.At, last)
				}
				last = ch.At
			}
		}
	})

	t.Run("MembersLeavesIdle", func(t *testing.T) {
		// Reconciliation reads members and then evicts only targets not used
		// since: its own read must not count as use.
		h := open(t)
		tg := target()
		must(t, h.Load(t.Context(), tg, []int64{1}))
		time.Sleep(5 * time.Millisecond)
		since := time.Now()
		time.Sleep(5 * time.Millisecond)
		if _, _, err := h.Members(t.Context(), tg); err != nil {
			t.Fatal(err)
		}
		if ok, err := h.Evict(t.Context(), tg, since); !ok || err != nil {
			t.Fatalf("Evict after Members: %v, %v; want evicted", ok, err)
		}
	})

	t.Run("Epoch", func(t *testing.T) {
		h := open(t)
		e1, err := h.Epoch(t.Context())
		must(t, err)
		e2, err := h.Epoch(t.Context())
		must(t, err)
		if e1 == "" || e1 != e2 {
			t.Fatalf("epoch %q then %q: want one stable, non-empty epoch", e1, e2)
		}
	})

	t.Run("LoadKeepsPresentState", func(t *testing.T) {
		h := open(t)
		tg := target()
		must(t, h.Load(t.Context(), tg, []int64{1}))
		_, err := h.Toggle(t.Context(), tg, 2, true)
		must(t, err)
		must(t, h.Load(t.Context(), tg, []int64{9})) // a late loader loses
		st, _ := h.State(t.Context(), []zan.Target{tg}, 2)
		if st[0].Count != 2 || !st[0].Liked {
			t.Fatalf("a second Load replaced the state: %+v", st[0])
		}
	})

	t.Run("Undo", func(t *testing.T) {
		h := open(t)
		tg := target()
		must(t, h.Load(t.Context(), tg, []int64{1}))
		_, err := h.Toggle(t.Context(), tg, 2, true)
		must(t, err)
		must(t, h.Undo(t.Context(), tg, 2, true))
		_, err = h.Toggle(t.Context(), tg, 1, false)
		must(t, err)
		must(t, h.Undo(t.Context(), tg, 1, false))
		must(t, h.Undo(t.Context(), tg, 3, true)) // never liked: nothing to undo
		users, _, _ := h.Members(t.Context(), tg)
		if !slices.Equal(users, []int64{1}) {
			t.Fatalf("after undos: %v, want [1]", users)
		}
		st, _ := h.State(t.Context(), []zan.Target{tg}, 0)
		if st[0].Count != 1 {
			t.Fatalf("count after undos: %d", st[0].Count)
		}
	})

	t.Run("EvictAndIdle", func(t *testing.T) {
		h := open(t)
		a, b := target(), target()
		must(t, h.Load(t.Context(), a, []int64{1}))
		must(t, h.Load(t.Context(), b, []int64{1}))
		idle, err := h.Idle(t.Context(), time.Now().Add(time.Hour), 1<<20)
		must(t, err)
		if !slices.Contains(idle, a) || !slices.Contains(idle, b) {
			t.Fatalf("Idle(future) misses loaded targets: %v", idle)
		}
		idle, err = h.Idle(t.Context(), time.Now().Add(-time.Hour), 1<<20)
		must(t, err)
		if slices.Contains(idle, a) {
			t.Fatalf("Idle(past) holds a target just used")
		}
		if idle, _ := h.Idle(t.Context(), time.Now().Add(time.Hour), 1); len(idle) > 1 {
			t.Fatalf("Idle ignores its limit: %d", len(idle))
		}
		if ok, err := h.Evict(t.Context(), a, time.Now().Add(-time.Hour)); ok || err != nil {
			t.Fatalf("Evict of a target used since idleSince: %v, %v", ok, err)
		}
		if ok, err := h.Evict(t.Context(), a, time.Now().Add(time.Hour)); !ok || err != nil {
			t.Fatalf("Evict of an idle target: %v, %v", ok, err)
		}
		if ok, _ := h.Evict(t.Context(), a, time.Now().Add(time.Hour)); ok {
			t.Fatal("Evict of a missing target says it evicted")
		}
		if _, err := h.Toggle(t.Context(), a, 1, false); err != zan.ErrNotLoaded {
			t.Fatalf("Toggle after Evict: %v", err)
		}
		st, _ := h.State(t.Context(), []zan.Target{a, b}, 1)
		if st[0].Loaded || !st[1].Loaded || !st[1].Liked {
			t.Fatalf("Evict touched the wrong target: %+v", st)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		h := open(t)
		tg := target()
		must(t, h.Load(t.Context(), tg, nil))
		const users, rounds = 50, 20
		var wg sync.WaitGroup
		ats := make(chan int64, users*rounds*2)
		for u := int64(1); u <= users; u++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := 0; r < rounds; r++ {
					like := r%2 == 0 || u%2 == 0
					ch, err := h.Toggle(t.Context(), tg, u, like)
					if err != nil {
						t.Error(err)
						return
					}
					if ch.Changed {
						ats <- ch.At
					}
				}
			}()
		}
		wg.Wait()
		close(ats)
		seen := map[int64]bool{}
		for at := range ats {
			if seen[at] {
				t.Fatalf("two changes of one target share At %d", at)
			}
			seen[at] = true
		}
		st, _ := h.State(t.Context(), []zan.Target{tg}, 0)
		// Odd users end unliked (last round is odd), even users liked.
		if st[0].Count != users/2 {
			t.Fatalf("count %d, want %d", st[0].Count, users/2)
		}
	})
}

// TestCodeStore runs the SMS code suite.
func TestCodeStore(t *testing.T, open func(t *testing.T) zan.CodeStore) {
	phone := func() string { return unique("+86") }

	t.Run("IssueVerify", func(t *testing.T) {
		c := open(t)
		p := phone()
		must(t, c.IssueCode(t.Context(), p, "123456", time.Minute, 0))
		for i, tc := range []struct {
			code string
			ok   bool
		}{{"000000", false}, {"123456", true}, {"123456", false}} { // consumed
			ok, err := c.VerifyCode(t.Context(), p, tc.code, 5)
			must(t, err)
			if ok != tc.ok {
				t.Fatalf("try %d (%s): %v, want %v", i, tc.code, ok, tc.ok)
			}
		}
		if ok, _ := c.VerifyCode(t.Context(), phone(), "123456", 5); ok {
			t.Fatal("a phone without a code verified")
		}
	})

	t.Run("Burned", func(t *testing.T) {
		c := open(t)
		p := phone()
		must(t, c.IssueCode(t.Context(), p, "111111", time.Minute, 0))
		for range 3 {
			c.VerifyCode(t.Context(), p, "999999", 3)
		}
		if ok, _ := c.VerifyCode(t.Context(), p, "111111", 3); ok {
			t.Fatal("the right code worked after maxTries wrong ones")
		}
		must(t, c.IssueCode(t.Context(), p, "222222", time.Minute, 0))
		if ok, _ := c.VerifyCode(t.Context(), p, "222222", 3); !ok {
			t.Fatal("a new code did not work after a burned one")
		}
	})

	t.Run("Gap", func(t *testing.T) {
		c := open(t)
		p := phone()
		must(t, c.IssueCode(t.Context(), p, "111111", time.Minute, time.Minute))
		err := c.IssueCode(t.Context(), p, "222222", time.Minute, time.Minute)
		var e *zan.Error
		if zan.ErrorCode(err) != zan.ERateLimited {
			t.Fatalf("second code within the gap: %v", err)
		}
		if e = err.(*zan.Error); e.RetryAfter <= 0 || e.RetryAfter > time.Minute {
			t.Fatalf("RetryAfter %v", e.RetryAfter)
		}
		if ok, _ := c.VerifyCode(t.Context(), p, "111111", 5); !ok {
			t.Fatal("a refused second code replaced the first")
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		c := open(t)
		p := phone()
		must(t, c.IssueCode(t.Context(), p, "123456", 50*time.Millisecond, 0))
		time.Sleep(120 * time.Millisecond)
		if ok, _ := c.VerifyCode(t.Context(), p, "123456", 5); ok {
			t.Fatal("an expired code verified")
		}
	})
}

// TestRateLimiter runs the token bucket suite.
func TestRateLimiter(t *testing.T, open func(t *testing.T) zan.RateLimiter) {
	t.Run("Burst", func(t *testing.T) {
		l := open(t)
		key, other := unique("k"), unique("k")
		lim := zan.Limit{Rate: 1, Burst: 3}
		for i := range 3 {
			if ok, _, err := l.Allow(t.Context(), key, lim); !ok || err != nil {
				t.Fatalf("token %d refused: %v", i, err)
			}
		}
		ok, retry, err := l.Allow(t.Context(), key, lim)
		must(t, err)
		if ok || retry <= 0 || retry > time.Second {
			t.Fatalf("over the burst: ok=%v retry=%v", ok, retry)
		}
		if ok, _, _ := l.Allow(t.Context(), other, lim); !ok {
			t.Fatal("one key's bucket limited another")
		}
	})

	t.Run("Refill", func(t *testing.T) {
		l := open(t)
		key := unique("k")
		lim := zan.Limit{Rate: 20, Burst: 1}
		if ok, _, _ := l.Allow(t.Context(), key, lim); !ok {
			t.Fatal("first token refused")
		}
		if ok, _, _ := l.Allow(t.Context(), key, lim); ok {
			t.Fatal("empty bucket allowed")
		}
		time.Sleep(80 * time.Millisecond)
		if ok, _, _ := l.Allow(t.Context(), key, lim); !ok {
			t.Fatal("bucket did not refill")
		}
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testUnconfirmed: a change stays unconfirmed until Confirm; a toggle that
// finds the membership as asked reports an unconfirmed change with its At.
func testUnconfirmed(t *testing.T, h zan.LikeState, tg zan.Target) {
	ctx := t.Context()
	if err := h.Load(ctx, tg, nil); err != nil {
		t.Fatal(err)
	}
	ch, err := h.Toggle(ctx, tg, 7, true)
	if err != nil || !ch.Changed {
		t.Fatalf("like: %+v %v", ch, err)
	}
	again, err := h.Toggle(ctx, tg, 7, true)
	if err != nil || again.Changed || !again.Unconfirmed || again.At != ch.At || again.Count != 1 {
		t.Fatalf("like again before Confirm: %+v %v; want unconfirmed with At %d", again, err, ch.At)
	}
	if err := h.Confirm(ctx, tg, 7, ch.At-1); err != nil { // an older change: no effect
		t.Fatal(err)
	}
	if again, _ := h.Toggle(ctx, tg, 7, true); !again.Unconfirmed {
		t.Fatal("confirming an older change confirmed the newer one")
	}
	other, err := h.Toggle(ctx, tg, 8, true)
	if err != nil || !other.Changed {
		t.Fatalf("like by 8: %+v %v", other, err)
	}
	pending := func(before int64) []zan.PendingChange {
		t.Helper()
		ps, err := h.Pending(ctx, tg, before)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(ps, func(a, b zan.PendingChange) int { return cmp.Compare(a.User, b.User) })
		return ps
	}
	if got, want := pending(other.At+1), []zan.PendingChange{{User: 7, At: ch.At}, {User: 8, At: other.At}}; !slices.Equal(got, want) {
		t.Fatalf("Pending before %d: %v, want %v", other.At+1, got, want)
	}
	if got, want := pending(other.At), []zan.PendingChange{{User: 7, At: ch.At}}; !slices.Equal(got, want) {
		t.Fatalf("Pending before %d: %v, want %v", other.At, got, want)
	}
	must(t, h.Confirm(ctx, tg, 8, other.At))
	if got := pending(math.MaxInt64); len(got) != 1 || got[0].User != 7 {
		t.Fatalf("Pending after 8's Confirm: %v, want only 7's", got)
	}
	if got, err := h.Pending(ctx, zan.Target{Type: "blog", ID: uniqueID()}, math.MaxInt64); err != nil || len(got) != 0 {
		t.Fatalf("Pending of a missing target: %v, %v", got, err)
	}
	if err := h.Confirm(ctx, tg, 7, ch.At); err != nil {
		t.Fatal(err)
	}
	if again, _ := h.Toggle(ctx, tg, 7, true); again.Changed || again.Unconfirmed || again.At != 0 {
		t.Fatalf("like again after Confirm: %+v", again)
	}
	// An undone change leaves nothing unconfirmed.
	un, _ := h.Toggle(ctx, tg, 7, false)
	if err := h.Undo(ctx, tg, 7, false); err != nil {
		t.Fatal(err)
	}
	if again, _ := h.Toggle(ctx, tg, 7, true); again.Changed || again.Unconfirmed {
		t.Fatalf("after an undone unlike (%+v): %+v", un, again)
	}
	if err := h.Confirm(ctx, zan.Target{Type: "blog", ID: uniqueID()}, 1, 1); err != nil {
		t.Fatalf("Confirm on a missing target: %v", err)
	}
}
