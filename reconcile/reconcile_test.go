package reconcile

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/zantest"
	"github.com/zanlabs/zan/memory"
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
	return &env{rc: &Reconciler{Hot: hot, Log: zantest.Log(t, 2), Store: store}, hot: hot, store: store, raw: raw}
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
	if err := e.hot.Load(t.Context(), blog, users); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // the load is before the comparison starts
}

func TestReconcile(t *testing.T) {
	tests := []struct {
		name   string
		drift  func(t *testing.T, e *env)
		want   Result
		loaded bool // still in the hot state afterwards
	}{
		{"none", func(*testing.T, *env) {}, Result{Checked: 1}, true},
		{"like only in the hot state", func(t *testing.T, e *env) {
			if _, err := e.hot.Toggle(t.Context(), blog, 3, true); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}, Result{Checked: 1, SetDrift: 1, Repaired: 1}, false},
		{"like only in the store", func(t *testing.T, e *env) {
			e.store.ApplyLikes(t.Context(), []zan.Event{{ID: "x", Op: zan.OpLike, Target: blog, User: 9, At: 5000}})
		}, Result{Checked: 1, SetDrift: 1, Repaired: 1}, false},
		{"count", func(t *testing.T, e *env) {
			if _, err := e.raw.Exec(`UPDATE like_counts SET count = 40`); err != nil {
				t.Fatal(err)
			}
		}, Result{Checked: 1, CountDrift: 1}, true},
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
				res.Repaired != tc.want.Repaired || res.Busy != tc.want.Busy ||
				len(res.Differences) != tc.want.CountDrift+tc.want.SetDrift {
				t.Fatalf("result %+v, want %+v", res, tc.want)
			}
			st, _ := e.hot.State(t.Context(), []zan.Target{blog}, 0)
			if st[0].Loaded != tc.loaded {
				t.Fatalf("loaded after reconciliation: %v, want %v", st[0].Loaded, tc.loaded)
			}
			counts, _ := e.store.LikeCounts(t.Context(), []zan.Target{blog})
			var rows int64
			e.raw.QueryRow(`SELECT COUNT(*) FROM likes WHERE liked = 1`).Scan(&rows)
			if counts[0] != rows {
				t.Fatalf("stored count %d, %d rows", counts[0], rows)
			}
			// A second pass finds nothing left.
			again, err := e.rc.Targets(t.Context(), []zan.Target{blog})
			if err != nil || again.CountDrift+again.SetDrift != 0 {
				t.Fatalf("second pass: %+v %v", again, err)
			}
		})
	}
}

// TestBusy: a target liked after the comparison began is not dropped, even
// though it differs: the next round checks it again.
func TestBusy(t *testing.T) {
	e := newEnv(t)
	e.seed(t, 1)
	start := time.Now()
	e.hot.Toggle(t.Context(), blog, 2, true) // a live like, its event still on the way
	hot, _, _ := e.hot.Members(t.Context(), blog)
	res, err := e.rc.target(t.Context(), blog, hot, true, start)
	if err != nil {
		t.Fatal(err)
	}
	if res.SetDrift != 1 || res.Busy != 1 || res.Repaired != 0 {
		t.Fatalf("result %+v, want one busy drift", res)
	}
	if st, _ := e.hot.State(t.Context(), []zan.Target{blog}, 2); !st[0].Loaded || !st[0].Liked {
		t.Fatalf("the live like was dropped: %+v", st[0])
	}
}

func TestAll(t *testing.T) {
	e := newEnv(t)
	e.seed(t, 1, 2)
	other := zan.Target{Type: "comment", ID: 5}
	e.hot.Load(t.Context(), other, nil)
	e.hot.Toggle(t.Context(), other, 7, true) // never published
	time.Sleep(5 * time.Millisecond)
	var calls int
	res, err := e.rc.All(t.Context(), func(Result) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if res.Checked != 2 || res.SetDrift != 1 || res.Repaired != 1 || calls != 1 {
		t.Fatalf("All: %+v (progress called %d times)", res, calls)
	}
}

func TestDiff(t *testing.T) {
	a, b := diff([]int64{5, 1, 3}, []int64{3, 4, 1})
	if len(a) != 1 || a[0] != 5 || len(b) != 1 || b[0] != 4 {
		t.Fatalf("diff: %v %v", a, b)
	}

}
