package migrate_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/memory"
	"github.com/zanlabs/zan/migrate"
	"github.com/zanlabs/zan/mysql"
	"github.com/zanlabs/zan/sqlite"
)

var (
	_ migrate.RowStore = (*sqlite.DB)(nil)
	_ migrate.RowStore = (*mysql.DB)(nil)
)

// pairs are the (source, destination) stores the row copy is tested
// between; MariaDB ones skip without ZAN_TEST_MYSQL.
var pairs = []struct {
	name     string
	src, dst func(*testing.T) migrate.RowStore
}{
	{"sqlite-mysql", func(t *testing.T) migrate.RowStore { return open(t) }, func(t *testing.T) migrate.RowStore { return openMySQL(t) }},
	{"mysql-mysql", func(t *testing.T) migrate.RowStore { return openMySQL(t) }, func(t *testing.T) migrate.RowStore { return openMySQL(t) }},
	{"sqlite-sqlite", func(t *testing.T) migrate.RowStore { return open(t) }, func(t *testing.T) migrate.RowStore { return open(t) }},
}

// rowWriter makes rows of every table through s, with ids from base.
type rowWriter struct {
	t    *testing.T
	s    zan.Store
	base int64
	n    int64
}

func (w *rowWriter) id() int64 { w.n++; return w.base + w.n }

func (w *rowWriter) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// all writes one of each kind of row, changes some and deletes some.
func (w *rowWriter) all() {
	w.t.Helper()
	ctx := w.t.Context()
	at := time.UnixMicro(t0 + w.base).UTC()
	u, err := w.s.EnsureUser(ctx, zan.User{ID: w.id(), Phone: fmt.Sprintf("+2%09d", w.base+w.n), Nickname: "a", CreatedAt: at})
	w.must(err)
	w.must(w.s.SetNickname(ctx, u.ID, "renamed"))
	w.must(w.s.SetAvatar(ctx, u.ID, 3))
	o, err := w.s.EnsureIdentityUser(ctx, zan.Identity{Issuer: "https://idp", Subject: fmt.Sprint("s", w.base), CreatedAt: at},
		zan.User{ID: w.id(), Nickname: "oidc", CreatedAt: at})
	w.must(err)
	w.must(w.s.LinkIdentity(ctx, zan.Identity{Issuer: "https://other", Subject: fmt.Sprint("o", w.base), UserID: o.ID, CreatedAt: at}))
	w.must(w.s.UnlinkIdentity(ctx, o.ID, "https://other"))
	w.must(w.s.LinkIdentity(ctx, zan.Identity{Issuer: "https://other", Subject: fmt.Sprint("p", w.base), UserID: o.ID, CreatedAt: at}))
	b, err := w.s.CreateBlog(ctx, zan.Blog{ID: w.id(), AuthorID: u.ID, Title: "t", Content: "c", CreatedAt: at})
	w.must(err)
	b.Title = "t2"
	w.must(w.s.UpdateBlog(ctx, b))
	gone, err := w.s.CreateBlog(ctx, zan.Blog{ID: w.id(), AuthorID: u.ID, Title: "gone", Content: "c", CreatedAt: at})
	w.must(err)
	p := zan.Photo{ID: w.id(), OwnerID: u.ID, ContentType: "image/png", Width: 2, Height: 2, Size: 10, CreatedAt: at}
	w.must(w.s.CreatePhoto(ctx, p))
	w.must(w.s.SetBlogPhotos(ctx, b.ID, []int64{p.ID}))
	w.must(w.s.SetBlogPhotos(ctx, gone.ID, []int64{p.ID}))
	w.must(w.s.DeleteBlog(ctx, gone.ID))
	sh := zan.Shop{ID: w.id(), Name: "Noodle House", Type: "food", Address: "1 Main St", X: 120.1, Y: 30.2, Score: 4.5,
		AvgPrice: 30, OpenHours: "10-22", CreatedAt: at, UpdatedAt: at}
	w.must(w.s.CreateShop(ctx, sh))
	sh.Name, sh.UpdatedAt = "Ramen House", at.Add(time.Second)
	w.must(w.s.UpdateShop(ctx, sh))
	v := zan.Voucher{ID: w.id(), ShopID: sh.ID, Title: "half", Stock: 5, Remaining: 5, BeginAt: at, EndAt: at.Add(time.Hour), CreatedAt: at}
	w.must(w.s.CreateVoucher(ctx, v))
	_, err = w.s.ApplyOrders(ctx, []zan.VoucherOrder{
		{ID: w.id(), VoucherID: v.ID, UserID: u.ID, Status: zan.OrderCreated, CreatedAt: at},
		{ID: w.id(), VoucherID: v.ID, UserID: o.ID, Status: zan.OrderCreated, CreatedAt: at},
	})
	w.must(err)
	_, err = w.s.ApplyLikeNotices(ctx, []zan.LikeNotice{{
		Event:     zan.Event{ID: fmt.Sprint("n", w.base), Op: zan.OpLike, Target: zan.Target{Type: "blog", ID: b.ID}, User: o.ID, At: t0 + w.base},
		Recipient: u.ID, NewID: w.id(),
	}})
	w.must(err)
	_, err = w.s.MarkNotificationsRead(ctx, u.ID, nil, true, at)
	w.must(err)
	hook := zan.Webhook{ID: w.id(), URL: "https://hooks.example/x", Secret: "s", Events: []zan.Op{zan.OpLike}, CreatedAt: at}
	w.must(w.s.CreateWebhook(ctx, hook))
	ep := fmt.Sprint(hook.ID)
	w.must(w.s.AddWebhookDead(ctx, []zan.WebhookDead{
		{Endpoint: ep, Event: zan.Event{ID: "d1", Op: zan.OpLike, Target: zan.Target{Type: "blog", ID: b.ID}, User: o.ID, At: t0}, Reason: "500", At: at},
		{Endpoint: ep, Event: zan.Event{ID: "d2", Op: zan.OpLike, Target: zan.Target{Type: "blog", ID: b.ID}, User: o.ID, At: t0}, Reason: "500", At: at},
	}))
	w.must(w.s.DeleteWebhookDead(ctx, ep, []string{"d1"}))
	h1, h2 := [32]byte{byte(w.base), 1}, [32]byte{byte(w.base), 2}
	w.must(w.s.CreateSession(ctx, zan.Session{TokenHash: h1, UserID: u.ID, ExpiresAt: at.Add(time.Hour)}))
	w.must(w.s.TouchSession(ctx, h1, at.Add(2*time.Hour)))
	w.must(w.s.CreateSession(ctx, zan.Session{TokenHash: h2, UserID: u.ID, ExpiresAt: at.Add(time.Hour)}))
	w.must(w.s.DeleteSession(ctx, h2))
}

// equal fails unless a sweep finds every table equal in both stores.
func equal(t *testing.T, r *migrate.Router, what string) {
	t.Helper()
	sw := &migrate.Sweeper{Router: r, Batch: 3, Settle: time.Millisecond}
	rep := sw.Sweep(t.Context())
	if rep.Error != "" || rep.Differ != 0 || rep.Rows == 0 {
		t.Fatalf("%s: %+v", what, rep)
	}
}

// TestRowMirror: every write of a row through the Router lands in the
// record and is copied to the other store, in each phase and in both
// directions; in PhaseRetired the source is left alone.
func TestRowMirror(t *testing.T) {
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			ctx := t.Context()
			src, dst := p.src(t), p.dst(t)
			sw, err := migrate.NewSwitch(ctx, nil, "db2", nil)
			if err != nil {
				t.Fatal(err)
			}
			r := migrate.NewRouter(src, dst, sw)
			w := &rowWriter{t: t, s: r, base: 1000}
			w.all()
			equal(t, r, "copy")
			u, err := dst.User(ctx, 1001)
			if err != nil || u.Nickname != "renamed" || u.Avatar != 3 {
				t.Fatalf("destination: %+v %v", u, err)
			}
			for _, ph := range []migrate.Phase{migrate.PhaseMirror, migrate.PhaseReads, migrate.PhaseWrites} {
				if _, err := sw.Set(ctx, ph, nil); err != nil {
					t.Fatal(err)
				}
			}
			w.base = 2000
			w.n = 0
			w.all()
			equal(t, r, "writes")
			if _, err := src.User(ctx, 2001); err != nil {
				t.Fatalf("writes: not copied to the source: %v", err)
			}
			if v, err := src.Voucher(ctx, 2000+7); err != nil || v.Remaining != 3 {
				t.Fatalf("writes: the source's voucher %+v %v", v, err)
			}
			if _, err := sw.Set(ctx, migrate.PhaseRetired, nil); err != nil {
				t.Fatal(err)
			}
			if err := r.SetNickname(ctx, 2001, "retired"); err != nil {
				t.Fatal(err)
			}
			if u, _ := src.User(ctx, 2001); u.Nickname != "renamed" {
				t.Fatalf("retired: the source was written: %+v", u)
			}
			if u, _ := r.User(ctx, 2001); u.Nickname != "retired" {
				t.Fatalf("retired: not read from the destination: %+v", u)
			}
		})
	}
}

// TestSweep: rows the Router never copied (written before it, or lost
// with a node) are copied by the first sweep in PhaseCopy; after it, a
// row changed behind the Router's back is drift, repaired, and the next
// sweep finds the stores equal.
func TestSweep(t *testing.T) {
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			ctx := t.Context()
			src, dst := p.src(t), p.dst(t)
			(&rowWriter{t: t, s: src, base: 1000}).all() // before the migration
			sw, err := migrate.NewSwitch(ctx, nil, "db2", nil)
			if err != nil {
				t.Fatal(err)
			}
			r := migrate.NewRouter(src, dst, sw)
			s := &migrate.Sweeper{Router: r, Batch: 4, Settle: time.Millisecond}
			rep := s.Sweep(ctx)
			if rep.Error != "" || rep.Repaired == 0 || rep.Drift != 0 || rep.Differ != rep.Repaired {
				t.Fatalf("copy: %+v", rep)
			}
			equal(t, r, "after the copy")
			if _, err := sw.Set(ctx, migrate.PhaseMirror, nil); err != nil {
				t.Fatal(err)
			}
			// Behind the Router: a rename the destination missed, a blog only
			// the destination has, a user it lost.
			if err := src.SetNickname(ctx, 1001, "missed"); err != nil {
				t.Fatal(err)
			}
			if _, err := dst.CreateBlog(ctx, zan.Blog{ID: 5000, AuthorID: 1001, Title: "phantom", Content: "c", CreatedAt: time.UnixMicro(t0).UTC()}); err != nil {
				t.Fatal(err)
			}
			if err := dst.DeleteTableRows(ctx, "users", []string{"id"}, [][]any{{int64(1002)}}); err != nil {
				t.Fatal(err)
			}
			rep = s.Sweep(ctx)
			if rep.Error != "" || rep.Drift != 3 || rep.Repaired != 3 {
				t.Fatalf("mirror: %+v", rep)
			}
			equal(t, r, "after the repair")
			if u, err := dst.User(ctx, 1001); err != nil || u.Nickname != "missed" {
				t.Fatalf("%+v %v", u, err)
			}
		})
	}
}

// TestFence: two nodes write users through routers sharing a switch
// while the record moves to the destination and back; every write
// succeeds (held, never failed), and the stores end equal.
func TestFence(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	src, dst := open(t), open(t)
	cache := memory.NewCache()
	defer cache.Close()
	var routers []*migrate.Router
	var switches []*migrate.Switch
	for range 2 {
		sw, err := migrate.NewSwitch(ctx, cache, "db2", nil)
		if err != nil {
			t.Fatal(err)
		}
		go sw.Run(ctx)
		switches = append(switches, sw)
		routers = append(routers, migrate.NewRouter(src, dst, sw))
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	stop := make(chan struct{})
	for n, r := range routers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(1); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := int64(n+1)*1_000_000 + i
				at := time.UnixMicro(t0 + id).UTC()
				if _, err := r.EnsureUser(ctx, zan.User{ID: id, Phone: fmt.Sprint("+3", id), Nickname: "a", CreatedAt: at}); err != nil {
					failed.Add(1)
				}
				// Both nodes rename the first user of node 1, in turn.
				if err := r.SetNickname(ctx, 1_000_001, fmt.Sprint("n", n, "-", i)); err != nil && i > 1 {
					failed.Add(1)
				}
			}
		}()
	}
	for _, ph := range []migrate.Phase{migrate.PhaseMirror, migrate.PhaseReads, migrate.PhaseWrites, migrate.PhaseReads, migrate.PhaseWrites} {
		time.Sleep(50 * time.Millisecond)
		if _, err := switches[0].Set(ctx, ph, nil); err != nil {
			t.Fatal(err)
		}
		waitPhase(t, switches[1], ph)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d writes failed", failed.Load())
	}
	if switches[0].MaxHold() == 0 || switches[1].MaxHold() == 0 {
		t.Fatal("a change of the record held no write")
	}
	equal(t, routers[0], "after the switches")
}

// TestRetiredRestart: a node without a shared cache keeps its phase
// across a restart (a file), and once retired its log persister applies
// likes to the destination, so the nodes may move onto it in any order.
func TestRetiredRestart(t *testing.T) {
	ctx := t.Context()
	file := filepath.Join(t.TempDir(), "state.json")
	src, dst := open(t), open(t)
	sw, err := migrate.NewSwitch(ctx, nil, "db2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.PersistTo(file); err != nil {
		t.Fatal(err)
	}
	r := migrate.NewRouter(src, dst, sw)
	like := func(id string, at int64) {
		t.Helper()
		if _, err := r.PrimaryLikes().ApplyLikes(ctx, []zan.Event{{ID: id, Op: zan.OpLike, Target: zan.Target{Type: "blog", ID: 1}, User: at, At: t0 + at}}); err != nil {
			t.Fatal(err)
		}
	}
	like("a", 1)
	for _, ph := range []migrate.Phase{migrate.PhaseMirror, migrate.PhaseReads, migrate.PhaseWrites, migrate.PhaseRetired} {
		if _, err := sw.Set(ctx, ph, nil); err != nil {
			t.Fatal(err)
		}
	}
	like("b", 2)
	for _, c := range []struct {
		s    zan.LikeStore
		want int64
	}{{src, 1}, {dst, 1}} {
		if n, err := c.s.LikeCounts(ctx, []zan.Target{{Type: "blog", ID: 1}}); err != nil || n[0] != c.want {
			t.Fatalf("counts %v %v, want %d", n, err, c.want)
		}
	}
	again, err := migrate.NewSwitch(ctx, nil, "db2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.PersistTo(file); err != nil || again.State().Phase != migrate.PhaseRetired {
		t.Fatalf("after a restart: %s %v", again.State().Phase, err)
	}
	other, err := migrate.NewSwitch(ctx, nil, "db3", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.PersistTo(file); err != nil || other.State().Phase != migrate.PhaseCopy {
		t.Fatalf("another migration: %s %v", other.State().Phase, err)
	}
}

// TestMirrorAfterSweep: the switch from copy to mirror waits for a sweep
// to have copied the tables other than likes.
func TestMirrorAfterSweep(t *testing.T) {
	ctx := t.Context()
	sw, err := migrate.NewSwitch(ctx, nil, "db2", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &migrate.Sweeper{Router: migrate.NewRouter(open(t), open(t), sw)}
	o := &migrate.Online{Switch: sw, Verifier: &migrate.Verifier{}, Sweeper: s}
	if _, err := o.SwitchMigration(ctx, "mirror", nil); zan.ErrorCode(err) != zan.EConflict {
		t.Fatalf("before a sweep: %v", err)
	}
	if rep := s.Sweep(ctx); rep.Error != "" {
		t.Fatal(rep.Error)
	}
	if _, err := o.SwitchMigration(ctx, "mirror", nil); err != nil {
		t.Fatal(err)
	}
}

// TestSweepShared: nodes sharing a cache take turns sweeping, and each
// shows the last sweep whichever node made it.
func TestSweepShared(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	src, dst := open(t), open(t)
	cache := memory.NewCache()
	defer cache.Close()
	var sweepers []*migrate.Sweeper
	for range 2 {
		sw, err := migrate.NewSwitch(ctx, cache, "db2", nil)
		if err != nil {
			t.Fatal(err)
		}
		s := &migrate.Sweeper{Router: migrate.NewRouter(src, dst, sw)}
		sweepers = append(sweepers, s)
		go s.Run(ctx, 10*time.Millisecond)
	}
	(&rowWriter{t: t, s: src, base: 1000}).all()
	written := time.Now()
	clean := func(r *migrate.SweepReport) bool {
		return r != nil && r.At.After(written) && r.Rows > 0 && r.Differ == 0
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		a, b := sweepers[0].Last(), sweepers[1].Last()
		if clean(a) && clean(b) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reports %+v %+v", a, b)
		}
	}
	cancel()
	equal(t, migrate.NewRouter(src, dst, mustSwitch(t)), "after the shared sweeps")
}

func mustSwitch(t *testing.T) *migrate.Switch {
	t.Helper()
	sw, err := migrate.NewSwitch(t.Context(), nil, "db2", nil)
	if err != nil {
		t.Fatal(err)
	}
	return sw
}
