package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/conformance"
	"github.com/zanlabs/zan/internal/sqlstore"
)

func openTemp(t testing.TB, opts Options) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "zan.db")
	db, err := Open(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db, path
}

func TestStore(t *testing.T) {
	// Small chunks, so the suite's ScanLikers target spans several, and
	// each prune several steps.
	old, oldPrune := sqlstore.ScanChunk, sqlstore.PruneChunk
	sqlstore.ScanChunk, sqlstore.PruneChunk = 700, 3
	t.Cleanup(func() { sqlstore.ScanChunk, sqlstore.PruneChunk = old, oldPrune })
	conformance.TestStore(t, func(t *testing.T) zan.Store {
		db, _ := openTemp(t, Options{})
		return db
	})
}

func TestSessionStore(t *testing.T) {
	conformance.TestSessionStore(t, func(t *testing.T) zan.SessionStore {
		db, _ := openTemp(t, Options{})
		return db
	})
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	db, path := openTemp(t, Options{Fsync: true})
	var sync int
	if err := db.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil || sync != 2 {
		t.Fatalf("synchronous with Fsync: %d, %v; want 2 (FULL)", sync, err)
	}
	var mode string
	if err := db.r.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode: %q, %v", mode, err)
	}
	u := zan.User{ID: 1, Phone: "+1", Nickname: "n", CreatedAt: time.UnixMicro(1).UTC()}
	if _, err := db.EnsureUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	tg := zan.Target{Type: "blog", ID: 1}
	if _, err := db.ApplyLikes(ctx, []zan.Event{{ID: "e1", Op: zan.OpLike, Target: tg, User: 1, At: 10}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	for range 2 { // migrations are applied once, then found applied
		db, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		p, err := goose.NewProvider(goose.DialectSQLite3, db.r, mustSub(t))
		if err != nil {
			t.Fatal(err)
		}
		// The newest migration, whichever it is.
		srcs := p.ListSources()
		if v, err := p.GetDBVersion(ctx); err != nil || len(srcs) == 0 || v != srcs[len(srcs)-1].Version {
			t.Fatalf("schema version: %d, %v; want that of the newest of %d migrations", v, err, len(srcs))
		}
		if pending, err := p.HasPending(ctx); err != nil || pending {
			t.Fatalf("pending migrations after Open: %v, %v", pending, err)
		}
		got, err := db.User(ctx, 1)
		if err != nil || got != u {
			t.Fatalf("User after reopen: %+v, %v", got, err)
		}
		counts, err := db.LikeCounts(ctx, []zan.Target{tg})
		if err != nil || counts[0] != 1 {
			t.Fatalf("LikeCounts after reopen: %v, %v", counts, err)
		}
		// The tombstone logic survives too: the same event is stale.
		r, err := db.ApplyLikes(ctx, []zan.Event{{ID: "e1", Op: zan.OpLike, Target: tg, User: 1, At: 10}})
		if err != nil || r != (zan.ApplyResult{Stale: 1}) {
			t.Fatalf("ApplyLikes after reopen: %+v, %v", r, err)
		}
		db.Close()
	}
}

func mustSub(t *testing.T) fs.FS {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

func TestRecountRepairs(t *testing.T) {
	ctx := t.Context()
	db, _ := openTemp(t, Options{})
	defer db.Close()
	tg := zan.Target{Type: "blog", ID: 1}
	if _, err := db.ApplyLikes(ctx, []zan.Event{
		{ID: "a", Op: zan.OpLike, Target: tg, User: 1, At: 10},
		{ID: "b", Op: zan.OpLike, Target: tg, User: 2, At: 11},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.ExecContext(ctx, `UPDATE like_counts SET count = 42`); err != nil {
		t.Fatal(err)
	}
	before, after, err := db.RecountLikes(ctx, tg)
	if err != nil || before != 42 || after != 2 {
		t.Fatalf("RecountLikes: %d, %d, %v; want 42, 2", before, after, err)
	}
	if counts, err := db.LikeCounts(ctx, []zan.Target{tg}); err != nil || counts[0] != 2 {
		t.Fatalf("LikeCounts after repair: %v, %v", counts, err)
	}
}

func TestClosedIsUnavailable(t *testing.T) {
	db, _ := openTemp(t, Options{})
	db.Close()
	ctx := t.Context()
	_, err := db.User(ctx, 1)
	if !errors.Is(err, zan.ErrUnavailable) {
		t.Fatalf("User on a closed store: %v, want unavailable", err)
	}
	_, err = db.ApplyLikes(ctx, []zan.Event{{ID: "a", Op: zan.OpLike, Target: zan.Target{Type: "blog", ID: 1}, User: 1, At: 1}})
	if zan.ErrorCode(err) != zan.EUnavailable {
		t.Fatalf("ApplyLikes on a closed store: %v, want unavailable", err)
	}
	if err := db.Ping(ctx); !errors.Is(err, zan.ErrUnavailable) {
		t.Fatalf("Ping on a closed store: %v, want unavailable", err)
	}
}

func TestCancelledPassesThrough(t *testing.T) {
	db, _ := openTemp(t, Options{})
	defer db.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := db.LikeCounts(ctx, []zan.Target{{Type: "blog", ID: 1}})
	if !errors.Is(err, context.Canceled) || errors.Is(err, zan.ErrUnavailable) {
		t.Fatalf("LikeCounts with a cancelled context: %v", err)
	}
}

// BenchmarkApplyLikes applies batches of 1000 likes on 100 targets, the
// persister's batch size.
func BenchmarkApplyLikes(b *testing.B) {
	db, _ := openTemp(b, Options{})
	defer db.Close()
	const batch = 1000
	evs := make([]zan.Event, batch)
	n, at := 0, int64(0)
	for b.Loop() {
		for i := range evs {
			at++
			evs[i] = zan.Event{ID: fmt.Sprint(at), Op: zan.OpLike,
				Target: zan.Target{Type: "blog", ID: int64(i%100) + 1}, User: at, At: at}
		}
		if _, err := db.ApplyLikes(b.Context(), evs); err != nil {
			b.Fatal(err)
		}
		n += batch
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "likes/s")
}

// TestMigrateToIdentities: the users of a store made before identities
// existed (phones NOT NULL) are all there after the upgrade, and users
// without phones can then be made.
func TestMigrateToIdentities(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "zan.db")
	old, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, old, mustSub(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := old.ExecContext(ctx, `INSERT INTO users (id, phone, nickname, created_at) VALUES (1, '13800138000', 'old', 5)`); err != nil {
		t.Fatal(err)
	}
	old.Close()

	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := zan.User{ID: 1, Phone: "13800138000", Nickname: "old", CreatedAt: time.UnixMicro(5).UTC()}
	if got, err := db.User(ctx, 1); err != nil || got != want {
		t.Fatalf("the old user after the upgrade: %+v, %v", got, err)
	}
	if got, err := db.EnsureUser(ctx, zan.User{ID: 2, Phone: "13800138000", Nickname: "new"}); err != nil || got != want {
		t.Fatalf("the old phone after the upgrade: %+v, %v", got, err)
	}
	for i := range 2 {
		id := zan.Identity{Issuer: "https://id.example", Subject: fmt.Sprint(i)}
		if _, err := db.EnsureIdentityUser(ctx, id, zan.User{ID: int64(10 + i), Nickname: "n"}); err != nil {
			t.Fatalf("a user without a phone: %v", err)
		}
	}
}

// BenchmarkApplyLikeNotices: the notifier's batches under the blog-likes
// load of zan bench: 200 authors' blogs liked and unliked by 200 users,
// 1,000 notices a batch.
func BenchmarkApplyLikeNotices(b *testing.B) {
	db, _ := openTemp(b, Options{})
	defer db.Close()
	const batch, users = 1000, 200
	liked := map[[2]int64]bool{}
	rng := rand.New(rand.NewPCG(1, 1))
	ns := make([]zan.LikeNotice, batch)
	n, at, id := 0, int64(0), int64(0)
	for b.Loop() {
		for i := range ns {
			at++
			id++
			blog, user := 1+rng.Int64N(users), 1+rng.Int64N(users)
			op := zan.OpLike
			if liked[[2]int64{blog, user}] {
				op = zan.OpUnlike
			}
			liked[[2]int64{blog, user}] = op == zan.OpLike
			ns[i] = zan.LikeNotice{Event: zan.Event{ID: fmt.Sprint(at), Op: op, Target: zan.Target{Type: "blog", ID: blog}, User: user, At: at},
				Recipient: blog, NewID: id}
		}
		if _, err := db.ApplyLikeNotices(b.Context(), ns); err != nil {
			b.Fatal(err)
		}
		n += batch
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n), "µs/notice")
}
