package redis

import (
	"context"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/zantest"
	"github.com/zanlabs/zan/likes"
	"github.com/zanlabs/zan/persist"
)

// private starts a redis-server of the test's own and a like service on
// it, with a persister running.
type private struct {
	bin, dir string
	port     int
	srv      interface{ Kill() error }
	c        *Client
	svc      *likes.Service
	p        *persist.Persister
}

func newPrivate(t *testing.T) *private {
	bin := needServer(t)
	pr := &private{bin: bin, dir: t.TempDir(), port: freePort(t, false)}
	pr.srv = startServer(t, bin, pr.dir, pr.port).Process
	c, err := Open(t.Context(), Config{Addrs: []string{pr.addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	pr.c = c
	store, log := zantest.Store(t), zantest.Log(t, 2)
	pr.svc = likes.New(likes.Config{}, c.Likes(), log, store, c.Limiter(), nil)
	pr.p = persist.New(persist.Config{MaxWait: 5 * time.Millisecond}, log, store, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); pr.p.Run(ctx) }()
	go pr.svc.Run(ctx)
	t.Cleanup(func() { cancel(); <-done })
	return pr
}

func (pr *private) addr() string { return "127.0.0.1:" + strconv.Itoa(pr.port) }

// restart kills the server (-9) and starts it again on the same directory:
// it loads the snapshot there, if any.
func (pr *private) restart(t *testing.T) {
	pr.srv.Kill()
	time.Sleep(50 * time.Millisecond)
	pr.srv = startServer(t, pr.bin, pr.dir, pr.port).Process
}

// get reads tg for user, retrying while the client reconnects.
func (pr *private) get(t *testing.T, tg zan.Target, user int64) likes.Item {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		items, err := pr.svc.Get(t.Context(), []zan.Target{tg}, user)
		if err == nil {
			return items[0]
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (pr *private) like(t *testing.T, user int64, tg zan.Target, like bool) zan.Change {
	t.Helper()
	ch, err := pr.svc.Toggle(t.Context(), user, tg, like)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// TestRestoredFromSnapshot: Redis comes back from a snapshot that misses
// acknowledged likes and unlikes (kill -9, restart from its own dump.rdb).
// The fence notices the restart and starts a new epoch, so nothing is
// answered from the old copy: counts and likes are read again from the
// store, and a like repeated after the restore is answered as the store
// has it.
func TestRestoredFromSnapshot(t *testing.T) {
	pr := newPrivate(t)
	tg := zan.Target{Type: "comment", ID: 1}
	for u := int64(1); u <= 5; u++ {
		pr.like(t, u, tg, true)
	}
	before, err := pr.c.Likes().Epoch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if reply, err := command(pr.addr(), "SAVE"); err != nil || reply != "+OK" {
		t.Fatalf("SAVE: %q %v", reply, err)
	}
	// After the snapshot: more likes, and an unlike, all acknowledged.
	for u := int64(6); u <= 10; u++ {
		pr.like(t, u, tg, true)
	}
	pr.like(t, 1, tg, false)
	if err := pr.p.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}

	pr.restart(t)
	if it := pr.get(t, tg, 1); it.Count != 9 || it.Liked {
		t.Fatalf("after the restore: %+v, want 9 likes, user 1's unliked", it)
	}
	if it := pr.get(t, tg, 8); !it.Liked {
		t.Fatalf("user 8's acknowledged like is hidden after the restore: %+v", it)
	}
	if ch := pr.like(t, 1, tg, false); ch.Changed || ch.Count != 9 {
		t.Fatalf("unlike repeated after the restore: %+v, want unchanged, 9", ch)
	}
	after, err := pr.c.Likes().Epoch(t.Context())
	if err != nil || after == before {
		t.Fatalf("epoch %q after the restore, %q before (%v): want a new one", after, before, err)
	}
}

// TestFlushAll: a FLUSHALL (no reconnection) is noticed by the periodic
// verification: a new epoch, and targets loaded again.
func TestFlushAll(t *testing.T) {
	pr := newPrivate(t)
	tg := zan.Target{Type: "comment", ID: 2}
	pr.like(t, 1, tg, true)
	before, _ := pr.c.Likes().Epoch(t.Context())
	if reply, err := command(pr.addr(), "FLUSHALL"); err != nil || reply != "+OK" {
		t.Fatalf("FLUSHALL: %q %v", reply, err)
	}
	deadline := time.Now().Add(5 * VerifyEvery)
	for {
		e, err := pr.c.Likes().Epoch(t.Context())
		if err == nil && e != before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("epoch still %q %v after a FLUSHALL", e, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if it := pr.get(t, tg, 1); it.Count != 1 || !it.Liked {
		t.Fatalf("after FLUSHALL: %+v", it)
	}
}

// TestEpochBackInTime: the epoch key goes back to an older epoch of the
// same server (a restore by hand, without a restart): the fence starts a
// new one rather than trusting the older state; and two clients agree.
func TestEpochBackInTime(t *testing.T) {
	pr := newPrivate(t)
	other, err := Open(t.Context(), Config{Addrs: []string{pr.addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	e1, _ := pr.c.fence.verify(t.Context())
	if e2, _ := other.fence.verify(t.Context()); e2 != e1 {
		t.Fatalf("two clients of one Redis: epochs %q and %q", e1, e2)
	}
	cur, err := command(pr.addr(), "GET "+pr.c.fence.key)
	if err != nil {
		t.Fatal(err)
	}
	_, masters, _ := strings.Cut(cur, "|")
	if _, err := command(pr.addr(), "SET "+pr.c.fence.key+" 1000-00000000|"+masters); err != nil {
		t.Fatal(err)
	}
	e3, err := pr.c.fence.verify(t.Context())
	if err != nil || e3 == e1 || epochTime(e3) <= epochTime(e1) {
		t.Fatalf("after the key went back: %q (%v), want a new epoch after %q", e3, err, e1)
	}
	if e4, _ := other.fence.verify(t.Context()); e4 != e3 {
		t.Fatalf("the other client: %q, want %q", e4, e3)
	}
}

// TestStaleTargetsAreAbsent: a target stamped with an older epoch reads as
// absent, and Load replaces it; one stamped with a newer epoch makes the
// caller verify instead of overwriting it.
func TestStaleTargetsAreAbsent(t *testing.T) {
	pr := newPrivate(t)
	l := pr.c.Likes()
	tg := zan.Target{Type: "comment", ID: 3}
	ctx := t.Context()
	if err := l.Load(ctx, tg, []int64{1, 2}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := command(pr.addr(), "HSET "+l.key(tg)+" e 1-old"); err != nil {
		t.Fatal(err)
	}
	if st, err := l.State(ctx, []zan.Target{tg}, 1); err != nil || st[0].Loaded {
		t.Fatalf("State of a target of an older epoch: %+v %v", st, err)
	}
	if err := l.Load(ctx, tg, []int64{7}, 0); err != nil {
		t.Fatal(err)
	}
	if users, ok, err := l.Members(ctx, tg); err != nil || !ok || len(users) != 1 || users[0] != 7 {
		t.Fatalf("after reloading over an older epoch: %v %v %v", users, ok, err)
	}
	// A newer epoch than the client's: it verifies (the key says its own
	// epoch still), then reads the target as what it is: not its own.
	if _, err := command(pr.addr(), "HSET "+l.key(tg)+" e 99999999999999-new"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Toggle(ctx, tg, 1, true, testID()); err == nil {
		t.Fatal("a toggle on a target of a newer epoch succeeded")
	}
}

// testID returns a fresh request id for a toggle.
var testID = zan.NewEventIDs().Next

// TestLateToggleDoesNothing: a toggle sent to a Redis that hangs (SIGSTOP)
// is answered with an error when its deadline passes; when Redis resumes
// and runs what it had read, the toggle finds its deadline gone and
// changes nothing, so the 503 its caller gave holds.
func TestLateToggleDoesNothing(t *testing.T) {
	pr := newPrivate(t)
	l := pr.c.Likes()
	tg := zan.Target{Type: "comment", ID: 4}
	if err := l.Load(t.Context(), tg, []int64{1}, 0); err != nil {
		t.Fatal(err)
	}
	pr.c.stop()                                                              // no verification of its own while Redis is stopped
	if _, err := l.Toggle(t.Context(), tg, 3, false, testID()); err != nil { // connections made and verified
		t.Fatal(err)
	}
	if _, err := l.Epoch(t.Context()); err != nil {
		t.Fatal(err)
	}
	p := pr.srv.(*os.Process)
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	_, err := l.Toggle(ctx, tg, 2, true, testID())
	cancel()
	if err == nil {
		t.Fatal("a toggle on a stopped Redis succeeded")
	}
	if !strings.Contains(err.Error(), "deadline") || strings.Contains(err.Error(), "verifying") {
		t.Fatalf("toggle: %v; want it sent and timed out", err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := p.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		in, err := l.Inspect(t.Context(), []zan.Target{tg}, math.MaxInt64)
		if err == nil {
			if in[0].Count != 1 || in[0].Unconfirmed != 1 { // only 3's answer
				t.Fatalf("after Redis resumed: %+v, want the late toggle to have done nothing", in[0])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRestoredSessions: a session logged out after the snapshot Redis
// comes back from is not revived; every session of the old epoch reads as
// absent (users sign in again), and sessions opened after work.
func TestRestoredSessions(t *testing.T) {
	pr := newPrivate(t)
	ctx := t.Context()
	ss := pr.c.Sessions()
	h := [32]byte{7}
	exp := time.Now().Add(time.Hour)
	if err := ss.CreateSession(ctx, zan.Session{TokenHash: h, UserID: 42, ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	if reply, err := command(pr.addr(), "SAVE"); err != nil || reply != "+OK" {
		t.Fatalf("SAVE: %q %v", reply, err)
	}
	if err := ss.DeleteSession(ctx, h); err != nil { // the user logs out
		t.Fatal(err)
	}
	pr.restart(t)
	pr.get(t, zan.Target{Type: "comment", ID: 1}, 1) // waits for the reconnection
	if s, err := ss.Session(ctx, h); !zan.IsNotFound(err) {
		t.Fatalf("a logged-out session after the restore: %+v, %v", s, err)
	}
	h2 := [32]byte{8}
	if err := ss.CreateSession(ctx, zan.Session{TokenHash: h2, UserID: 43, ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	if s, err := ss.Session(ctx, h2); err != nil || s.UserID != 43 {
		t.Fatalf("a session opened after the restore: %+v, %v", s, err)
	}
}

// TestRestoredVoucherSale: a sale in a Redis rolled back to a snapshot has
// units sold since back in stock and their buyers gone; it reads as not
// loaded, so the next take loads it again from the store.
func TestRestoredVoucherSale(t *testing.T) {
	pr := newPrivate(t)
	ctx := t.Context()
	vs := pr.c.Vouchers()
	now := time.Now()
	sale := zan.VoucherSale{ID: 9, Remaining: 5, BeginAt: now.Add(-time.Hour), EndAt: now.Add(time.Hour)}
	if err := vs.LoadVoucher(ctx, sale); err != nil {
		t.Fatal(err)
	}
	take := func(user int64) (zan.TakeResult, error) {
		r, _, err := vs.TakeVoucher(ctx, 9, user, 1000+user, time.Now())
		return r, err
	}
	for u := int64(1); u <= 4; u++ {
		if u == 3 {
			if reply, err := command(pr.addr(), "SAVE"); err != nil || reply != "+OK" {
				t.Fatalf("SAVE: %q %v", reply, err)
			}
		}
		if r, err := take(u); err != nil || r != zan.Taken {
			t.Fatalf("take %d: %v %v", u, r, err)
		}
	}
	pr.restart(t)
	pr.get(t, zan.Target{Type: "comment", ID: 1}, 1) // waits for the reconnection
	if n, ok, err := vs.VoucherRemaining(ctx, 9); ok || err != nil {
		t.Fatalf("remaining after the restore: %d %v %v, want not loaded", n, ok, err)
	}
	if _, err := take(3); err != zan.ErrNotLoaded {
		t.Fatalf("a take after the restore: %v, want not loaded", err)
	}
	// The store's state (as the order log left it): 4 sold.
	sale.Remaining, sale.Buyers = 1, []int64{1, 2, 3, 4}
	if err := vs.LoadVoucher(ctx, sale); err != nil {
		t.Fatal(err)
	}
	if r, err := take(3); err != nil || r == zan.Taken {
		t.Fatalf("buyer 3 again after the reload: %v %v", r, err)
	}
	if n, ok, err := vs.VoucherRemaining(ctx, 9); !ok || err != nil || n != 1 {
		t.Fatalf("remaining after the reload: %d %v %v, want 1", n, ok, err)
	}
}
