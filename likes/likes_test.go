package likes

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/zantest"
	"github.com/zanlabs/zan/memory"
	"github.com/zanlabs/zan/natslog"
	"github.com/zanlabs/zan/persist"
)

// env is the like service over the real embedded adapters, with a
// persister running.
type env struct {
	svc   *Service
	hot   *memory.Likes
	log   *natslog.Log
	store zan.Store
	lim   *memory.Limiter
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	ctx := context.Background()
	db, log := zantest.Store(t), zantest.Log(t, 2)
	e := &env{hot: memory.NewLikes(), log: log, store: db, lim: memory.NewLimiter()}
	e.svc = New(cfg, e.hot, log, db, e.lim, nil)
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		persist.New(persist.Config{MaxWait: 10 * time.Millisecond}, log, db, nil).Run(pctx)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		e.lim.Close()
	})
	return e
}

// restart gives the service a new, empty hot state, as a process restart
// does.
func (e *env) restart() {
	e.hot = memory.NewLikes()
	e.svc = New(e.svc.cfg, e.hot, e.log, e.store, e.lim, nil)
}

func (e *env) get(t testing.TB, tg zan.Target, user int64) Item {
	t.Helper()
	items, err := e.svc.Get(context.Background(), []zan.Target{tg}, user)
	if err != nil {
		t.Fatal(err)
	}
	return items[0]
}

var blog = zan.Target{Type: "blog", ID: zan.NewIDGen(1).Next()}

func TestToggle(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := t.Context()
	steps := []struct {
		user          int64
		like, changed bool
		count         int64
	}{
		{1, true, true, 1}, {1, true, false, 1}, {2, true, true, 2},
		{1, false, true, 1}, {1, false, false, 1}, {3, false, false, 1},
	}
	for i, s := range steps {
		ch, err := e.svc.Toggle(ctx, s.user, blog, s.like)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if ch.Changed != s.changed || ch.Count != s.count {
			t.Fatalf("step %d: %+v", i, ch)
		}
	}
	if it := e.get(t, blog, 2); it.Count != 1 || !it.Liked {
		t.Fatalf("get: %+v", it)
	}
	// The store catches up: listings see the like.
	if err := e.log.WaitApplied(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.Likers(ctx, blog, zan.LikeQuery{})
	if err != nil || len(p.Items) != 1 || p.Items[0].UserID != 2 {
		t.Fatalf("likers: %+v %v", p, err)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t, Config{Limit: zan.Limit{Rate: 0.001, Burst: 2}})
	ctx := t.Context()
	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"unknown type", func() error {
			_, err := e.svc.Toggle(ctx, 1, zan.Target{Type: "nope", ID: 1}, true)
			return err
		}, zan.ENotFound},
		{"unknown type read", func() error {
			_, err := e.svc.Get(ctx, []zan.Target{{Type: "nope", ID: 1}}, 0)
			return err
		}, zan.ENotFound},
		{"limit too big", func() error {
			_, err := e.svc.Likers(ctx, blog, zan.LikeQuery{Limit: MaxLimit + 1})
			return err
		}, zan.EBadRequest},
		{"until before since", func() error {
			now := time.Now()
			_, err := e.svc.Likers(ctx, blog, zan.LikeQuery{Since: now, Until: now.Add(-time.Second)})
			return err
		}, zan.EBadRequest},
		{"unknown type in user likes", func() error {
			_, err := e.svc.UserLikes(ctx, 1, zan.LikeQuery{Type: "nope"})
			return err
		}, zan.ENotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := zan.ErrorCode(tc.call()); got != tc.code {
				t.Fatalf("code %q, want %q", got, tc.code)
			}
		})
	}
	t.Run("rate limited", func(t *testing.T) {
		for i := range 2 {
			if _, err := e.svc.Toggle(ctx, 9, zan.Target{Type: "comment", ID: int64(i + 1)}, true); err != nil {
				t.Fatal(err)
			}
		}
		_, err := e.svc.Toggle(ctx, 9, zan.Target{Type: "comment", ID: 3}, true)
		ze, ok := err.(*zan.Error)
		if !ok || ze.Code != zan.ERateLimited || ze.RetryAfter <= 0 {
			t.Fatalf("third like: %v", err)
		}
	})
}

// TestPublishFailure: when the log cannot take the event, the toggle is
// undone and the caller gets unavailable.
func TestPublishFailure(t *testing.T) {
	e := newEnv(t, Config{PublishTimeout: 500 * time.Millisecond})
	ctx := t.Context()
	if _, err := e.svc.Toggle(ctx, 1, blog, true); err != nil {
		t.Fatal(err)
	}
	e.log.Close()
	_, err := e.svc.Toggle(ctx, 2, blog, true)
	if zan.ErrorCode(err) != zan.EUnavailable {
		t.Fatalf("like with the log down: %v", err)
	}
	_, err = e.svc.Toggle(ctx, 1, blog, false)
	if zan.ErrorCode(err) != zan.EUnavailable {
		t.Fatalf("unlike with the log down: %v", err)
	}
	st, _ := e.hot.State(ctx, []zan.Target{blog}, 1)
	users, _, _ := e.hot.Members(ctx, blog)
	if st[0].Count != 1 || !st[0].Liked || len(users) != 1 {
		t.Fatalf("hot state after failed publishes: %+v %v", st[0], users)
	}
}

// TestRestart: an empty hot state fills from the store, after the persister
// applied what the log still held.
func TestRestart(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := t.Context()
	for u := int64(1); u <= 50; u++ {
		if _, err := e.svc.Toggle(ctx, u, blog, true); err != nil {
			t.Fatal(err)
		}
	}
	e.restart() // no wait: some events are still in the log
	if it := e.get(t, blog, 50); it.Count != 50 || !it.Liked {
		t.Fatalf("after restart: %+v", it)
	}
	ch, err := e.svc.Toggle(ctx, 50, blog, true)
	if err != nil || ch.Changed || ch.Count != 50 {
		t.Fatalf("re-like after restart: %+v %v", ch, err)
	}
}

// TestConcurrentLoad: many readers and writers racing on a target missing
// from the hot state all see one consistent state.
func TestConcurrentLoad(t *testing.T) {
	e := newEnv(t, Config{Limit: zan.Limit{Rate: 1e6, Burst: 1e6}})
	ctx := t.Context()
	for u := int64(1); u <= 10; u++ {
		e.svc.Toggle(ctx, u, blog, true)
	}
	e.restart()
	var wg sync.WaitGroup
	for u := int64(11); u <= 60; u++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := e.svc.Toggle(ctx, u, blog, true); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := e.svc.Get(ctx, []zan.Target{blog}, u); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if it := e.get(t, blog, 1); it.Count != 60 || !it.Liked {
		t.Fatalf("after concurrent load: %+v", it)
	}
}

func oldBlog(age time.Duration) zan.Target {
	ms := (time.Since(zan.IDEpoch) - age).Milliseconds()
	return zan.Target{Type: "blog", ID: ms<<22 | 1}
}

// TestCold: old blogs are answered from the store without entering the hot
// state, and leave it once idle.
func TestCold(t *testing.T) {
	e := newEnv(t, Config{ColdAge: 24 * time.Hour, EvictIdle: time.Minute})
	ctx := t.Context()
	old, young := oldBlog(48*time.Hour), blog
	for _, tg := range []zan.Target{old, young} {
		if _, err := e.svc.Toggle(ctx, 7, tg, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.log.WaitApplied(ctx); err != nil {
		t.Fatal(err)
	}
	e.svc.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	n, err := e.svc.EvictCold(ctx)
	if err != nil || n != 1 {
		t.Fatalf("EvictCold: %d, %v; want 1 (the old blog)", n, err)
	}
	if st, _ := e.hot.State(ctx, []zan.Target{old, young}, 0); st[0].Loaded || !st[1].Loaded {
		t.Fatalf("hot state after eviction: %+v", st)
	}
	items, err := e.svc.Get(ctx, []zan.Target{old, young}, 7)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		if it.Count != 1 || !it.Liked {
			t.Fatalf("item %d: %+v", i, it)
		}
	}
	if st, _ := e.hot.State(ctx, []zan.Target{old}, 0); st[0].Loaded {
		t.Fatal("a cold read loaded the target")
	}
	// Writing to a cold target brings it back.
	if ch, err := e.svc.Toggle(ctx, 8, old, true); err != nil || ch.Count != 2 {
		t.Fatalf("like of a cold blog: %+v %v", ch, err)
	}
}

// BenchmarkLike is the in-process like path: rate limit, hot toggle,
// publish to the embedded log and wait for its acknowledgement, with the
// persister writing behind.
func BenchmarkLike(b *testing.B) {
	e := newEnv(b, Config{Limit: zan.Limit{Rate: 1e9, Burst: 1 << 30}})
	ctx := context.Background()
	var mu sync.Mutex
	next := int64(0)
	b.SetParallelism(32) // many clients, as behind an HTTP server
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		next++
		worker := next
		mu.Unlock()
		i := int64(0)
		for pb.Next() {
			i++
			tg := zan.Target{Type: "comment", ID: i%1000 + 1}
			if _, err := e.svc.Toggle(ctx, worker<<32|i, tg, true); err != nil {
				b.Fatal(fmt.Sprint(err))
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "likes/s")
}

// TestL1: anonymous reads of a hot target come from L1; a change through
// this node shows at once, a change made elsewhere within L1TTL.
func TestL1(t *testing.T) {
	const ttl = 150 * time.Millisecond
	e := newEnv(t, Config{L1TTL: ttl})
	ctx := t.Context()
	tg := zan.Target{Type: "comment", ID: 77}
	if _, err := e.svc.Toggle(ctx, 1, tg, true); err != nil {
		t.Fatal(err)
	}
	for range 200 { // make it hot
		if it := e.get(t, tg, 0); it.Count != 1 {
			t.Fatalf("count %d", it.Count)
		}
	}
	if !e.svc.l1.keys.Hot(tg) {
		t.Fatal("a target read 200 times is not hot")
	}
	if _, ok := e.svc.l1.counts.GetIfPresent(tg); !ok {
		t.Fatal("a hot target's count is not in L1")
	}

	// Through this node: seen at once.
	if _, err := e.svc.Toggle(ctx, 2, tg, true); err != nil {
		t.Fatal(err)
	}
	if it := e.get(t, tg, 0); it.Count != 2 {
		t.Fatalf("after a like on this node: count %d, want 2", it.Count)
	}

	// Elsewhere (straight into the shared hot state): seen within the TTL.
	if _, err := e.hot.Toggle(ctx, tg, 3, true, testID()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for e.get(t, tg, 0).Count != 3 {
		if time.Since(start) > 2*ttl {
			t.Fatalf("a like made elsewhere still hidden after %v", time.Since(start))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A reader with a token never reads L1.
	if it := e.get(t, tg, 3); it.Count != 3 || !it.Liked {
		t.Fatalf("authenticated read: %+v", it)
	}
}

// TestResolvePending: answers whose writers died before publishing them,
// and that nobody toggles again, reach the store through Resolve, each as
// what the membership is now; recent ones (a live writer may still be
// publishing) are not listed.
func TestResolvePending(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := t.Context()
	go e.svc.Run(ctx) // sends the confirmations
	tg := zan.Target{Type: "comment", ID: 78}
	if err := e.hot.Load(ctx, tg, []int64{9}, 0); err != nil {
		t.Fatal(err)
	}
	// The dead node's half of a like by 5 and of an unlike by 9.
	for _, c := range []struct {
		user int64
		like bool
	}{{5, true}, {9, false}} {
		if ch, err := e.hot.Toggle(ctx, tg, c.user, c.like, testID()); err != nil || !ch.Changed {
			t.Fatalf("%+v %v", ch, err)
		}
	}
	in, err := e.hot.Inspect(ctx, []zan.Target{tg}, time.Now().Add(-time.Hour).UnixMicro())
	if err != nil || len(in[0].Pending) != 0 || in[0].Unconfirmed != 2 {
		t.Fatalf("Inspect before an hour ago: %+v, %v; want 2 unconfirmed, none listed", in, err)
	}
	time.Sleep(2 * time.Millisecond) // Ats run ahead of the clock by a µs per change within a µs
	in, err = e.hot.Inspect(ctx, []zan.Target{tg}, time.Now().UnixMicro())
	if err != nil || len(in[0].Pending) != 2 {
		t.Fatalf("Inspect: %+v, %v; want 2 listed", in, err)
	}
	for _, p := range in[0].Pending {
		if err := e.svc.Resolve(ctx, tg, p); err != nil {
			t.Fatal(err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.log.WaitApplied(wctx); err != nil {
		t.Fatal(err)
	}
	if counts, err := e.store.LikeCounts(ctx, []zan.Target{tg}); err != nil || counts[0] != 1 {
		t.Fatalf("stored count %v, %v; want 1 (5 liked; 9's like was never stored, its unlike is)", counts, err)
	}
	if liked, err := e.store.Liked(ctx, []zan.Target{tg}, 5); err != nil || !liked[0] {
		t.Fatalf("the store does not hold 5's like: %v %v", liked, err)
	}
	// Confirmed: nothing is left to resolve.
	awaitConfirmed(t, e.hot, tg)
}

// awaitConfirmed waits (up to 10 s) until tg has no unconfirmed answer.
func awaitConfirmed(t *testing.T, hot zan.LikeState, tg zan.Target) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		in, err := hot.Inspect(t.Context(), []zan.Target{tg}, math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		if in[0].Unconfirmed == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d answers still unconfirmed: %v", in[0].Unconfirmed, in[0].Pending)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWriterDiedBeforePublish: a node changed the hot state and died before
// publishing the event (a kill -9 between the two). The same like sent again
// (to any node) finds the membership already there; its answer
// ("changed":false) leaves a kept event, so the store gets the like.
func TestWriterDiedBeforePublish(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := t.Context()
	tg := zan.Target{Type: "comment", ID: 77}
	if err := e.hot.Load(ctx, tg, nil, 0); err != nil {
		t.Fatal(err)
	}
	// The dead node's half: the hot state only.
	if ch, err := e.hot.Toggle(ctx, tg, 5, true, testID()); err != nil || !ch.Changed {
		t.Fatalf("%+v %v", ch, err)
	}
	ch, err := e.svc.Toggle(ctx, 5, tg, true)
	if err != nil || ch.Changed || ch.Count != 1 {
		t.Fatalf("like again: %+v %v", ch, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.log.WaitApplied(wctx); err != nil {
		t.Fatal(err)
	}
	if liked, err := e.store.Liked(ctx, []zan.Target{tg}, 5); err != nil || !liked[0] {
		t.Fatalf("the store does not hold the acknowledged like: %v %v", liked, err)
	}
}

// slowConfirms is a hot state whose confirmations wait until released,
// counting how many wait at once.
type slowConfirms struct {
	*memory.Likes
	waiting atomic.Int32
	release chan struct{}
}

func (h *slowConfirms) Confirm(ctx context.Context, t zan.Target, user, at int64) error {
	h.waiting.Add(1)
	defer h.waiting.Add(-1)
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return h.Likes.Confirm(context.Background(), t, user, at)
}

// TestConfirmsInParallel: confirmations go to the hot state several at a
// time. One at a time, a shared hot state's round trips made them fall
// behind a like storm, and changes met again unconfirmed were republished.
func TestConfirmsInParallel(t *testing.T) {
	e := newEnv(t, Config{})
	hot := &slowConfirms{Likes: e.hot, release: make(chan struct{})}
	svc := New(Config{}, hot, e.log, e.store, nil, nil)
	ctx := t.Context()
	go svc.Run(ctx)
	tg := zan.Target{Type: "comment", ID: 79}
	if err := e.hot.Load(ctx, tg, nil, 0); err != nil {
		t.Fatal(err)
	}
	const want = 8 // in flight at once; one sender would stop at 1
	for u := int64(1); u <= 2*want; u++ {
		if _, err := svc.Toggle(ctx, u, tg, true); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for hot.waiting.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d confirmations in flight at once, want %d", hot.waiting.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
	close(hot.release)
	awaitConfirmed(t, e.hot, tg)
}

// TestStaleHotState: the hot state is older than the store (a Redis
// restored from a snapshot that the fence has not caught yet). Answers
// that rely on it ("already liked", "not liked") still leave their fact in
// the log, so the store ends where the clients were told.
func TestStaleHotState(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := t.Context()
	tg := zan.Target{Type: "comment", ID: 80}
	// The store: 1 unliked at t0+2 after liking; 2 liked. The stale hot
	// state: 1 liked, 2 not.
	t0 := time.Now().Add(-time.Minute).UnixMicro()
	if _, err := e.store.ApplyLikes(ctx, []zan.Event{
		{ID: "a", Op: zan.OpLike, Target: tg, User: 1, At: t0},
		{ID: "b", Op: zan.OpUnlike, Target: tg, User: 1, At: t0 + 2},
		{ID: "c", Op: zan.OpLike, Target: tg, User: 2, At: t0 + 3},
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.hot.Load(ctx, tg, []int64{1}, t0+1); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user int64
		like bool
	}{{1, true}, {2, false}} {
		ch, err := e.svc.Toggle(ctx, c.user, tg, c.like)
		if err != nil || ch.Changed {
			t.Fatalf("user %d like=%v on the stale state: %+v %v; want unchanged", c.user, c.like, ch, err)
		}
	}
	if err := e.log.WaitApplied(ctx); err != nil {
		t.Fatal(err)
	}
	for u, want := range map[int64]bool{1: true, 2: false} {
		if liked, err := e.store.Liked(ctx, []zan.Target{tg}, u); err != nil || liked[0] != want {
			t.Fatalf("stored like of %d: %v %v; want %v as answered", u, liked, err, want)
		}
	}
	if p, err := e.store.Likers(ctx, tg, zan.LikeQuery{}); err != nil || len(p.Items) != 1 || p.Items[0].UserID != 1 {
		t.Fatalf("likers: %+v %v", p, err)
	}
}

// lostAck is a log whose next n publishes reach the log but report a
// failure, as when the acknowledgement is lost.
type lostAck struct {
	zan.EventLog
	n atomic.Int32
}

func (l *lostAck) Publish(ctx context.Context, ev zan.Event) error {
	err := l.EventLog.Publish(ctx, ev)
	if err == nil && l.n.Add(-1) >= 0 {
		return errors.New("acknowledgement lost")
	}
	return err
}

// TestUndoCompensates: a like whose publish reached the log but was
// reported failed is answered 503 and undone; the undo's own event makes
// the store end with no like, as the client was told.
func TestUndoCompensates(t *testing.T) {
	e := newEnv(t, Config{PublishTimeout: 200 * time.Millisecond})
	ctx := t.Context()
	go e.svc.Run(ctx)
	lost := &lostAck{EventLog: e.log}
	lost.n.Store(1)
	svc := New(Config{PublishTimeout: 200 * time.Millisecond}, e.hot, lost, e.store, nil, nil)
	go svc.Run(ctx)
	tg := zan.Target{Type: "comment", ID: 81}
	if _, err := svc.Toggle(ctx, 1, tg, true); zan.ErrorCode(err) != zan.EUnavailable {
		t.Fatalf("like with a lost acknowledgement: %v, want unavailable", err)
	}
	if st, _ := e.hot.State(ctx, []zan.Target{tg}, 1); st[0].Liked {
		t.Fatal("the hot state keeps a like answered 503")
	}
	awaitConfirmed(t, e.hot, tg) // the undo's event is in the log
	if err := e.log.WaitApplied(ctx); err != nil {
		t.Fatal(err)
	}
	if liked, err := e.store.Liked(ctx, []zan.Target{tg}, 1); err != nil || liked[0] {
		t.Fatalf("the store holds a like answered 503: %v %v", liked, err)
	}
}

// TestUnknownReadsCostNothing: reading targets nobody liked puts nothing in
// the hot state; a like does.
func TestUnknownReadsCostNothing(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := t.Context()
	var ts []zan.Target
	for i := range 50 {
		ts = append(ts, zan.Target{Type: "comment", ID: 1_000_000 + int64(i)})
	}
	for range 2 {
		items, err := e.svc.Get(ctx, ts, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if it.Count != 0 || it.Liked {
				t.Fatalf("%+v", it)
			}
		}
	}
	if n := e.hot.Len(); n != 0 {
		t.Fatalf("reads of 50 targets nobody liked put %d in the hot state", n)
	}
	if _, err := e.svc.Toggle(ctx, 1, ts[0], true); err != nil {
		t.Fatal(err)
	}
	if it := e.get(t, ts[0], 0); it.Count != 1 || e.hot.Len() != 1 {
		t.Fatalf("after a like: %+v, %d targets in the hot state", it, e.hot.Len())
	}
}

// testID returns a fresh request id for a toggle.
var testID = zan.NewEventIDs().Next

// A read of targets missing from the hot state answers from the store
// (count and liked, in one query each for the whole batch) and loads the
// liked ones in the background; a target nobody liked stays out.
func TestReadLoadsLater(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := t.Context()
	ids := zan.NewIDGen(2)
	a, b, nobody := zan.Target{Type: "blog", ID: ids.Next()}, zan.Target{Type: "blog", ID: ids.Next()}, zan.Target{Type: "blog", ID: ids.Next()}
	for _, l := range []struct {
		user int64
		t    zan.Target
	}{{7, a}, {8, a}, {8, b}} {
		if _, err := e.svc.Toggle(ctx, l.user, l.t, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.log.WaitApplied(ctx); err != nil {
		t.Fatal(err)
	}
	e.restart()
	items, err := e.svc.Get(ctx, []zan.Target{a, b, nobody}, 7)
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{{a, 2, true}, {b, 1, false}, {nobody, 0, false}}
	for i := range want {
		if items[i] != want[i] {
			t.Errorf("item %d: %+v, want %+v", i, items[i], want[i])
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := e.hot.State(ctx, []zan.Target{a, b, nobody}, 7)
		if err != nil {
			t.Fatal(err)
		}
		if st[0].Loaded && st[1].Loaded {
			if st[2].Loaded || st[0].Count != 2 || !st[0].Liked {
				t.Fatalf("hot state after the background loads: %+v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the targets read were not loaded: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
