package reconcile

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/zantest"
	"github.com/zanlabs/zan/likes"
	"github.com/zanlabs/zan/memory"
	"github.com/zanlabs/zan/persist"
	"github.com/zanlabs/zan/sqlite"
)

type env struct {
	rc    *Reconciler
	hot   *memory.Likes
	store *sqlite.DB
	raw   *sql.DB // the same file, to corrupt it as a bug would
}

func newEnv(t *testing.T) *env {
	path := filepath.Join(t.TempDir(), "zan.db")
	store, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close(); store.Close() })
	hot := memory.NewLikes()
	log := zantest.Log(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		persist.New(persist.Config{MaxWait: 10 * time.Millisecond}, log, store, nil).Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	svc := likes.New(likes.Config{PublishTimeout: time.Second}, hot, log, store, nil, nil)
	go svc.Run(ctx) // confirmations
	return &env{rc: &Reconciler{Hot: hot, Log: log, Store: store, Resolve: svc.Resolve, PendingAge: 50 * time.Millisecond},
		hot: hot, store: store, raw: raw}
}

var blog = zan.Target{Type: "blog", ID: 1}

// seed stores likes of users and loads the same set into the hot state.
func (e *env) seed(t *testing.T, users ...int64) {
	t.Helper()
	var evs []zan.Event
	for i, u := range users {
		evs = append(evs, zan.Event{ID: "e" + itoa(u), Op: zan.OpLike, Target: blog, User: u, At: int64(1000 + i)})
	}
	if _, err := e.store.ApplyLikes(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	if err := e.hot.Load(t.Context(), blog, users, 0); err != nil {
		t.Fatal(err)
	}
}

// bug changes the hot state as no answer would: a toggle confirmed without
// its event.
func (e *env) bug(t *testing.T, tg zan.Target, user int64, like bool) {
	t.Helper()
	ch, err := e.hot.Toggle(t.Context(), tg, user, like, testID())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.hot.Confirm(t.Context(), tg, user, ch.At); err != nil {
		t.Fatal(err)
	}
}

func TestReconcile(t *testing.T) {
	tests := []struct {
		name   string
		drift  func(t *testing.T, e *env)
		want   Result
		loaded bool // still in the hot state afterwards
		liked  map[int64]bool
	}{
		{"none", func(*testing.T, *env) {}, Result{Checked: 1}, true, map[int64]bool{1: true, 2: true}},
		{"like only in the hot state", func(t *testing.T, e *env) { e.bug(t, blog, 3, true) },
			Result{Checked: 1, SetDrift: 1, Repaired: 1}, false, map[int64]bool{3: false}},
		{"like only in the store", func(t *testing.T, e *env) {
			e.store.ApplyLikes(t.Context(), []zan.Event{{ID: "x", Op: zan.OpLike, Target: blog, User: 9, At: 5000}})
		}, Result{Checked: 1, SetDrift: 1, Repaired: 1}, false, map[int64]bool{9: true}},
		{"one liker swapped for another", func(t *testing.T, e *env) {
			e.bug(t, blog, 3, true)
			e.bug(t, blog, 2, false)
		}, Result{Checked: 1, SetDrift: 1, Repaired: 1}, false, map[int64]bool{2: true, 3: false}},
		{"count", func(t *testing.T, e *env) {
			if _, err := e.raw.Exec(`UPDATE like_counts SET count = 40`); err != nil {
				t.Fatal(err)
			}
		}, Result{Checked: 1, CountDrift: 1}, true, nil},
		{"answers a dead writer left unconfirmed", func(t *testing.T, e *env) {
			for _, u := range []int64{3, 2} {
				if _, err := e.hot.Toggle(t.Context(), blog, u, u == 3, testID()); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(100 * time.Millisecond) // older than PendingAge
		}, Result{Checked: 1, Resolved: 2}, true, map[int64]bool{1: true, 2: false, 3: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.seed(t, 1, 2)
			tc.drift(t, e)
			res, err := e.rc.Targets(t.Context(), []zan.Target{blog})
			if err != nil {
				t.Fatal(err)
			}
			if res.Checked != tc.want.Checked || res.CountDrift != tc.want.CountDrift || res.SetDrift != tc.want.SetDrift ||
				res.Repaired != tc.want.Repaired || res.Busy != tc.want.Busy || res.Resolved != tc.want.Resolved {
				t.Fatalf("result %+v, want %+v", res, tc.want)
			}
			st, _ := e.hot.State(t.Context(), []zan.Target{blog}, 0)
			if st[0].Loaded != tc.loaded {
				t.Fatalf("loaded after reconciliation: %v, want %v", st[0].Loaded, tc.loaded)
			}
			if err := e.rc.Log.WaitApplied(t.Context()); err != nil {
				t.Fatal(err)
			}
			counts, _ := e.store.LikeCounts(t.Context(), []zan.Target{blog})
			var rows int64
			e.raw.QueryRow(`SELECT COUNT(*) FROM likes WHERE liked = 1`).Scan(&rows)
			if counts[0] != rows {
				t.Fatalf("stored count %d, %d rows", counts[0], rows)
			}
			for u, want := range tc.liked {
				if l, _ := e.store.Liked(t.Context(), []zan.Target{blog}, u); l[0] != want {
					t.Fatalf("stored like of %d: %v, want %v", u, l[0], want)
				}
			}
			// A second pass finds nothing left.
			time.Sleep(100 * time.Millisecond) // confirmations
			again, err := e.rc.Targets(t.Context(), []zan.Target{blog})
			if err != nil || again.CountDrift+again.SetDrift+again.Resolved+again.Busy != 0 {
				t.Fatalf("second pass: %+v %v", again, err)
			}
		})
	}
}

// TestBusy: a target toggled after it was inspected is not dropped, even
// though it differs: the next round checks it again.
func TestBusy(t *testing.T) {
	e := newEnv(t)
	e.seed(t, 1)
	e.bug(t, blog, 3, true)
	in, err := e.hot.Inspect(t.Context(), []zan.Target{blog}, 0)
	if err != nil {
		t.Fatal(err)
	}
	e.bug(t, blog, 2, true) // a live like, its event on the way
	var res Result
	if err := e.rc.repair(t.Context(), blog, in[0], 1, &res); err != nil {
		t.Fatal(err)
	}
	if res.Busy != 1 || res.Repaired != 0 {
		t.Fatalf("result %+v, want busy", res)
	}
	if st, _ := e.hot.State(t.Context(), []zan.Target{blog}, 2); !st[0].Loaded || !st[0].Liked {
		t.Fatalf("the live like was dropped: %+v", st[0])
	}
}

func TestAll(t *testing.T) {
	e := newEnv(t)
	e.seed(t, 1, 2)
	other := zan.Target{Type: "comment", ID: 5}
	e.hot.Load(t.Context(), other, nil, 0)
	e.bug(t, other, 7, true)
	var calls int
	res, err := e.rc.All(t.Context(), func(Result) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if res.Checked != 2 || res.SetDrift != 1 || res.Repaired != 1 || calls != 1 {
		t.Fatalf("All: %+v (progress called %d times)", res, calls)
	}
}

// TestPass: the periodic pass takes the targets used since the last one,
// and finds drift by counts.
func TestPass(t *testing.T) {
	e := newEnv(t)
	e.seed(t, 1, 2)
	if res, err := e.rc.Pass(t.Context()); err != nil || res.Checked != 1 || res.SetDrift != 0 {
		t.Fatalf("first pass: %+v %v", res, err)
	}
	e.bug(t, blog, 3, true)
	res, err := e.rc.Pass(t.Context())
	if err != nil || res.SetDrift != 1 || res.Repaired != 1 {
		t.Fatalf("pass after drift: %+v %v", res, err)
	}
	time.Sleep(2 * e.rc.PendingAge)
	if res, err := e.rc.Pass(t.Context()); err != nil || res.Checked != 0 {
		t.Fatalf("pass with nothing used since: %+v %v; want nothing checked", res, err)
	}
}

func TestDiff(t *testing.T) {
	a, b := diff([]int64{5, 1, 3}, []int64{3, 4, 1})
	if len(a) != 1 || a[0] != 5 || len(b) != 1 || b[0] != 4 {
		t.Fatalf("diff: %v %v", a, b)
	}
}

// testID returns a fresh request id for a toggle.
var testID = zan.NewEventIDs().Next

// slowInspect is a hot state whose Inspect hangs for a while once.
type slowInspect struct {
	zan.LikeState
	hang time.Duration
}

func (s *slowInspect) Inspect(ctx context.Context, ts []zan.Target, before int64) ([]zan.Inspection, error) {
	time.Sleep(s.hang)
	s.hang = 0
	return s.LikeState.Inspect(ctx, ts, before)
}

// TestNoResolveRightAfterAHang: a hot state that hung makes every
// unconfirmed answer old at once, while the writers that answered 503 are
// about to take theirs back. Reconciliation publishes none of them until
// the hot state has answered promptly for the pending age.
func TestNoResolveRightAfterAHang(t *testing.T) {
	e := newEnv(t)
	e.seed(t, 1, 2)
	if _, err := e.hot.Toggle(t.Context(), blog, 3, true, testID()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // older than PendingAge (50 ms)
	e.rc.Hot = &slowInspect{LikeState: e.hot, hang: 80 * time.Millisecond}
	e.rc.Stall = 40 * time.Millisecond
	for i, want := range []int{0, 0} { // the slow look, then one right after it
		res, err := e.rc.Targets(t.Context(), []zan.Target{blog})
		if err != nil || res.Resolved != want {
			t.Fatalf("pass %d: %+v %v, want %d resolved", i, res, err, want)
		}
	}
	time.Sleep(60 * time.Millisecond) // settled: prompt answers for PendingAge
	res, err := e.rc.Targets(t.Context(), []zan.Target{blog})
	if err != nil || res.Resolved != 1 {
		t.Fatalf("after settling: %+v %v, want 1 resolved", res, err)
	}
}
