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
	"strconv"
	"sync"
	"sync/atomic"
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

	t.Run("Pending", func(t *testing.T) { testPending(t, open(t), target()) })
	t.Run("InspectAndDrop", func(t *testing.T) { testInspectDrop(t, open(t), target, target()) })

	t.Run("NotLoaded", func(t *testing.T) {
		h := open(t)
		tg := target()
		if _, err := h.Toggle(t.Context(), tg, 1, true, testID()); err != zan.ErrNotLoaded {
			t.Fatalf("Toggle on a missing target: %v, want ErrNotLoaded", err)
		}
		st, err := h.State(t.Context(), []zan.Target{tg}, 1)
		if err != nil || st[0].Loaded || st[0].Count != 0 || st[0].Liked {
			t.Fatalf("State of a missing target: %+v, %v", st, err)
		}
		if _, ok, err := h.Members(t.Context(), tg); ok || err != nil {
			t.Fatalf("Members of a missing target: ok=%v err=%v", ok, err)
		}
		if ch, err := h.Undo(t.Context(), tg, 1, true, "never"); err != nil || ch.Changed {
			t.Fatalf("Undo on a missing target: %+v, %v", ch, err)
		}
	})

	t.Run("Toggle", func(t *testing.T) {
		h := open(t)
		tg := target()
		must(t, h.Load(t.Context(), tg, []int64{5, 6}, 0))
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
			ch, err := h.Toggle(t.Context(), tg, s.user, s.like, testID())
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if ch.Changed != s.changed || ch.Count != s.count {
				t.Fatalf("step %d: %+v, want changed=%v count=%d", i, ch, s.changed, s.count)
			}
			// Every answer, changed or not, takes a new At: its event
			// carries it.
			if ch.At <= lastAt {
				t.Fatalf("step %d: At %d not after %d", i, ch.At, lastAt)
			}
			lastAt = ch.At
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
		must(t, h.Load(t.Context(), tg, nil, 0))
		var last int64
		for u := int64(1); u <= 200; u++ {
			ch, err := h.Toggle(t.Context(), tg, u%7+1, u%2 == 1, testID())
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
		must(t, h.Load(t.Context(), tg, []int64{1}, 0))
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
		must(t, h.Load(t.Context(), tg, []int64{1}, 0))
		_, err := h.Toggle(t.Context(), tg, 2, true, testID())
		must(t, err)
		must(t, h.Load(t.Context(), tg, []int64{9}, 0)) // a late loader loses
		st, _ := h.State(t.Context(), []zan.Target{tg}, 2)
		if st[0].Count != 2 || !st[0].Liked {
			t.Fatalf("a second Load replaced the state: %+v", st[0])
		}
	})

	t.Run("Undo", func(t *testing.T) {
		h := open(t)
		tg := target()
		must(t, h.Load(t.Context(), tg, []int64{1}, 0))
		id := testID()
		ch, err := h.Toggle(t.Context(), tg, 2, true, id)
		must(t, err)
		u, err := h.Undo(t.Context(), tg, 2, true, id)
		must(t, err)
		if !u.Changed || u.Count != 1 || u.At <= ch.At {
			t.Fatalf("Undo of a like: %+v; want changed, count 1, a later At than %d", u, ch.At)
		}
		// The undo is a change of its own, unconfirmed until published.
		in, err := h.Inspect(t.Context(), []zan.Target{tg}, math.MaxInt64)
		must(t, err)
		if want := []zan.PendingChange{{User: 2, At: u.At, ID: zan.UndoID(id)}}; !slices.Equal(in[0].Pending, want) {
			t.Fatalf("pending after Undo: %v, want %v", in[0].Pending, want)
		}
		// A toggle of the user after the one to undo keeps it.
		unID, againID := testID(), testID()
		_, err = h.Toggle(t.Context(), tg, 1, false, unID)
		must(t, err)
		_, err = h.Toggle(t.Context(), tg, 1, false, againID)
		must(t, err)
		if u, err := h.Undo(t.Context(), tg, 1, false, unID); err != nil || u.Changed {
			t.Fatalf("Undo under a later answer of the same user: %+v, %v; want nothing undone", u, err)
		}
		if u, err := h.Undo(t.Context(), tg, 1, false, againID); err != nil || u.Changed {
			t.Fatalf("Undo of an answer that changed nothing: %+v, %v; want nothing undone", u, err)
		}
		if u, _ := h.Undo(t.Context(), tg, 3, true, "never"); u.Changed {
			t.Fatal("Undo of a user who never toggled changed something")
		}
		users, _, _ := h.Members(t.Context(), tg)
		if len(users) != 0 {
			t.Fatalf("after the undo and the unlike: %v, want none", users)
		}
	})

	t.Run("LoadAfter", func(t *testing.T) {
		// A target's next At follows the last change the store holds, even
		// when that is ahead of the clock (a failover to a server whose
		// clock is behind).
		h := open(t)
		tg := target()
		ahead := time.Now().Add(time.Hour).UnixMicro()
		must(t, h.Load(t.Context(), tg, []int64{1}, ahead))
		ch, err := h.Toggle(t.Context(), tg, 2, true, testID())
		must(t, err)
		if ch.At <= ahead {
			t.Fatalf("At %d not after the stored %d", ch.At, ahead)
		}
	})

	t.Run("Used", func(t *testing.T) {
		h := open(t)
		a, b := target(), target()
		must(t, h.Load(t.Context(), a, nil, 0))
		since := time.Now().Add(-time.Second)
		must(t, h.Load(t.Context(), b, nil, 0))
		_, err := h.Toggle(t.Context(), a, 1, true, testID())
		must(t, err)
		used, err := h.Used(t.Context(), since, 1<<20)
		must(t, err)
		var got []zan.Target
		for _, u := range used {
			if u.Target == a || u.Target == b {
				got = append(got, u.Target)
			}
		}
		if !slices.Equal(got, []zan.Target{b, a}) {
			t.Fatalf("Used: %v, want b then a (least recently used first)", got)
		}
		if used, _ := h.Used(t.Context(), time.Now().Add(time.Hour), 1<<20); slices.ContainsFunc(used, func(u zan.TargetUse) bool { return u.Target == a }) {
			t.Fatal("Used(future) lists a target")
		}
	})

	t.Run("EvictAndIdle", func(t *testing.T) {
		h := open(t)
		a, b := target(), target()
		must(t, h.Load(t.Context(), a, []int64{1}, 0))
		must(t, h.Load(t.Context(), b, []int64{1}, 0))
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
		if _, err := h.Toggle(t.Context(), a, 1, false, testID()); err != zan.ErrNotLoaded {
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
		must(t, h.Load(t.Context(), tg, nil, 0))
		const users, rounds = 50, 20
		var wg sync.WaitGroup
		ats := make(chan int64, users*rounds*2)
		for u := int64(1); u <= users; u++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := 0; r < rounds; r++ {
					like := r%2 == 0 || u%2 == 0
					ch, err := h.Toggle(t.Context(), tg, u, like, testID())
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

var testIDs atomic.Int64

// testID returns a request id for a toggle.
func testID() string { return unique("r") + "-" + strconv.FormatInt(testIDs.Add(1), 10) }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testPending: every answer stays unconfirmed until Confirm of it or a
// later one; Inspect lists the unconfirmed answers with the user's
// membership now and whether the answer changed anything.
func testPending(t *testing.T, h zan.LikeState, tg zan.Target) {
	ctx := t.Context()
	must(t, h.Load(ctx, tg, nil, 0))
	inspect := func(before int64) zan.Inspection {
		t.Helper()
		in, err := h.Inspect(ctx, []zan.Target{tg}, before)
		must(t, err)
		slices.SortFunc(in[0].Pending, func(a, b zan.PendingChange) int { return cmp.Compare(a.User, b.User) })
		return in[0]
	}
	id7, id8 := testID(), testID()
	ch, err := h.Toggle(ctx, tg, 7, true, id7)
	if err != nil || !ch.Changed {
		t.Fatalf("like: %+v %v", ch, err)
	}
	kept, err := h.Toggle(ctx, tg, 8, false, id8) // never liked: an answer, no change
	if err != nil || kept.Changed || kept.At <= ch.At {
		t.Fatalf("unlike of a like never made: %+v %v", kept, err)
	}
	in := inspect(math.MaxInt64)
	want := []zan.PendingChange{{User: 7, At: ch.At, ID: id7, Liked: true}, {User: 8, At: kept.At, ID: id8, Kept: true}}
	if !in.Loaded || in.Count != 1 || in.At != kept.At || in.Unconfirmed != 2 || !slices.Equal(in.Pending, want) {
		t.Fatalf("Inspect: %+v, want count 1, At %d, pending %v", in, kept.At, want)
	}
	if in := inspect(kept.At); in.Unconfirmed != 2 || len(in.Pending) != 1 || in.Pending[0].User != 7 {
		t.Fatalf("Inspect before %d: %+v, want only 7's answer listed", kept.At, in)
	}
	must(t, h.Confirm(ctx, tg, 7, ch.At-1)) // an older answer: no effect
	if in := inspect(math.MaxInt64); in.Unconfirmed != 2 {
		t.Fatalf("confirming an older answer confirmed: %+v", in)
	}
	again, err := h.Toggle(ctx, tg, 7, true, testID()) // replaces 7's mark
	must(t, err)
	must(t, h.Confirm(ctx, tg, 7, ch.At)) // the first answer: the later one stays
	if in := inspect(math.MaxInt64); in.Unconfirmed != 2 || in.Pending[0].At != again.At || !in.Pending[0].Kept {
		t.Fatalf("after confirming an earlier answer: %+v, want 7's later answer", in)
	}
	must(t, h.Confirm(ctx, tg, 7, again.At+1000)) // a later one confirms it too
	must(t, h.Confirm(ctx, tg, 8, kept.At))
	if in := inspect(math.MaxInt64); in.Unconfirmed != 0 || len(in.Pending) != 0 {
		t.Fatalf("after Confirm: %+v, want nothing unconfirmed", in)
	}
	if err := h.Confirm(ctx, zan.Target{Type: "blog", ID: uniqueID()}, 1, 1); err != nil {
		t.Fatalf("Confirm on a missing target: %v", err)
	}
	if in, err := h.Inspect(ctx, []zan.Target{{Type: "blog", ID: uniqueID()}}, math.MaxInt64); err != nil || in[0].Loaded {
		t.Fatalf("Inspect of a missing target: %+v, %v", in, err)
	}
}

// testInspectDrop: Drop removes a target only if nothing was toggled since
// its inspection and nothing is unconfirmed; Inspect marks nothing used.
func testInspectDrop(t *testing.T, h zan.LikeState, target func() zan.Target, tg zan.Target) {
	ctx := t.Context()
	must(t, h.Load(ctx, tg, []int64{1, 2}, 0))
	time.Sleep(5 * time.Millisecond)
	since := time.Now()
	time.Sleep(5 * time.Millisecond)
	in, err := h.Inspect(ctx, []zan.Target{tg, target()}, math.MaxInt64)
	must(t, err)
	if !in[0].Loaded || in[0].Count != 2 || in[1].Loaded {
		t.Fatalf("Inspect: %+v", in)
	}
	if used, _ := h.Used(ctx, since, 1<<20); slices.ContainsFunc(used, func(u zan.TargetUse) bool { return u.Target == tg }) {
		t.Fatal("Inspect marked the target used")
	}
	ch, err := h.Toggle(ctx, tg, 3, true, testID())
	must(t, err)
	if ok, err := h.Drop(ctx, tg, in[0].At); ok || err != nil {
		t.Fatalf("Drop after a toggle since the inspection: %v, %v", ok, err)
	}
	if ok, err := h.Drop(ctx, tg, ch.At); ok || err != nil {
		t.Fatalf("Drop with an answer unconfirmed: %v, %v", ok, err)
	}
	must(t, h.Confirm(ctx, tg, 3, ch.At))
	if ok, err := h.Drop(ctx, tg, ch.At); !ok || err != nil {
		t.Fatalf("Drop: %v, %v; want dropped", ok, err)
	}
	if _, err := h.Toggle(ctx, tg, 1, true, testID()); err != zan.ErrNotLoaded {
		t.Fatalf("Toggle after Drop: %v, want ErrNotLoaded", err)
	}
}
