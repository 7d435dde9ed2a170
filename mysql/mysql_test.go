package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	mysqld "github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/conformance"
	"github.com/zanlabs/zan/internal/mariadbtest"
	"github.com/zanlabs/zan/internal/sqlstore"
	"github.com/zanlabs/zan/internal/testenv"
)

// serverDSN returns the DSN of the test server from ZAN_TEST_MYSQL, or
// skips the test.
func serverDSN(t testing.TB) string {
	t.Helper()
	return testenv.MySQL(t)
}

func openFresh(t testing.TB) (*DB, string) {
	t.Helper()
	dsn := testenv.FreshMySQL(t)
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

func TestStore(t *testing.T) {
	serverDSN(t)
	// Small chunks, so the suite's ScanLikers target spans several, and
	// each prune several steps.
	old, oldPrune := sqlstore.ScanChunk, sqlstore.PruneChunk
	sqlstore.ScanChunk, sqlstore.PruneChunk = 700, 3
	t.Cleanup(func() { sqlstore.ScanChunk, sqlstore.PruneChunk = old, oldPrune })
	conformance.TestStore(t, func(t *testing.T) zan.Store {
		db, _ := openFresh(t)
		return db
	})
}

func TestParseDSN(t *testing.T) {
	for _, dsn := range []string{
		"u:p@tcp(db:3306)/zan?multiStatements=true&interpolateParams=false&parseTime=true&loc=Local",
		"mysql://u:p@tcp(db:3306)/zan?multiStatements=true",
	} {
		cfg, err := ParseDSN(dsn)
		if err != nil {
			t.Fatalf("ParseDSN(%q): %v", dsn, err)
		}
		if cfg.User != "u" || cfg.Passwd != "p" || cfg.Addr != "db:3306" || cfg.DBName != "zan" {
			t.Errorf("ParseDSN(%q): %+v", dsn, cfg)
		}
		if cfg.MultiStatements || !cfg.InterpolateParams || cfg.ParseTime || cfg.Loc != time.UTC {
			t.Errorf("ParseDSN(%q) did not force the settings: %+v", dsn, cfg)
		}
	}
	for _, bad := range []string{"u:p@tcp(db:3306)/", "not a dsn"} {
		if _, err := ParseDSN(bad); err == nil {
			t.Errorf("ParseDSN(%q): no error", bad)
		}
	}
}

func TestErrorClasses(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		err  error
		code string
	}{
		{mysqld.ErrInvalidConn, zan.EUnavailable},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, zan.EUnavailable},
		{&mysqld.MySQLError{Number: 1040, Message: "Too many connections"}, zan.EUnavailable},
		{&mysqld.MySQLError{Number: 2006, Message: "MySQL server has gone away"}, zan.EUnavailable},
		{&mysqld.MySQLError{Number: 1290, Message: "read-only"}, zan.EUnavailable},
		{&mysqld.MySQLError{Number: 1062, Message: "Duplicate entry"}, zan.EInternal},
		{&mysqld.MySQLError{Number: 1064, Message: "syntax"}, zan.EInternal},
	} {
		if got := zan.ErrorCode(dbErr(ctx, tc.err)); got != tc.code {
			t.Errorf("dbErr(%v): code %q, want %q", tc.err, got, tc.code)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := dbErr(cctx, mysqld.ErrInvalidConn); !errors.Is(err, context.Canceled) || errors.Is(err, zan.ErrUnavailable) {
		t.Errorf("dbErr with a cancelled context: %v", err)
	}
}

func TestOpenTwice(t *testing.T) {
	ctx := t.Context()
	db, dsn := openFresh(t)
	tg := zan.Target{Type: "blog", ID: 1}
	e := zan.Event{ID: "e1", Op: zan.OpLike, Target: tg, User: 1, At: 10}
	if _, err := db.ApplyLikes(ctx, []zan.Event{e}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	// Twice more, once through the mysql:// form the server's flag uses:
	// migrations are found applied and the data is still there.
	for _, d := range []string{dsn, "mysql://" + dsn} {
		db, err := Open(ctx, d)
		if err != nil {
			t.Fatalf("reopen %s: %v", d, err)
		}
		p, err := goose.NewProvider(goose.DialectMySQL, db.db, fsys, goose.WithTableName(versionTable))
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
		r, err := db.ApplyLikes(ctx, []zan.Event{e})
		if err != nil || r != (zan.ApplyResult{Stale: 1}) {
			t.Fatalf("ApplyLikes after reopen: %+v, %v", r, err)
		}
		if c, err := db.LikeCounts(ctx, []zan.Target{tg}); err != nil || c[0] != 1 {
			t.Fatalf("LikeCounts after reopen: %v, %v", c, err)
		}
		db.Close()
	}
}

func TestClosedIsUnavailable(t *testing.T) {
	db, _ := openFresh(t)
	db.Close()
	ctx := t.Context()
	if _, err := db.User(ctx, 1); !errors.Is(err, zan.ErrUnavailable) {
		t.Fatalf("User on a closed store: %v, want unavailable", err)
	}
	_, err := db.ApplyLikes(ctx, []zan.Event{{ID: "a", Op: zan.OpLike, Target: zan.Target{Type: "blog", ID: 1}, User: 1, At: 1}})
	if zan.ErrorCode(err) != zan.EUnavailable {
		t.Fatalf("ApplyLikes on a closed store: %v, want unavailable", err)
	}
}

func TestUnreachableIsUnavailable(t *testing.T) {
	serverDSN(t)
	port := mariadbtest.FreePort(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := Open(ctx, "mysql://root@tcp(127.0.0.1:"+strconv.Itoa(port)+")/zan")
	if zan.ErrorCode(err) != zan.EUnavailable {
		t.Fatalf("Open of a closed port: %v, want unavailable", err)
	}
}

func TestServerKilled(t *testing.T) {
	serverDSN(t)
	ctx := t.Context()
	srv := mariadbtest.Start(t)
	db, err := Open(ctx, "mysql://"+srv.DSN())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()

	// Batch i likes target blog/i by 2000 users: after a crash a target
	// has all of them or none.
	const users = 2000
	batch := func(i int64) []zan.Event {
		evs := make([]zan.Event, users)
		for u := range evs {
			evs[u] = zan.Event{ID: fmt.Sprint(i, "-", u), Op: zan.OpLike,
				Target: zan.Target{Type: "blog", ID: i}, User: int64(u + 1), At: i*10_000 + int64(u)}
		}
		return evs
	}
	var i int64
	for ; i < 3; i++ {
		if _, err := db.ApplyLikes(ctx, batch(i+1)); err != nil {
			t.Fatalf("ApplyLikes before the crash: %v", err)
		}
	}
	// Kill the server while batches are being applied.
	applied := make(chan error)
	go func() {
		for j := int64(100); ; j++ {
			if _, err := db.ApplyLikes(ctx, batch(j)); err != nil {
				applied <- err
				return
			}
		}
	}()
	time.Sleep(150 * time.Millisecond)
	srv.Kill()
	if err := <-applied; zan.ErrorCode(err) != zan.EUnavailable {
		t.Fatalf("ApplyLikes as the server dies: %v, want unavailable", err)
	}
	_, err = db.ApplyLikes(ctx, batch(50))
	if zan.ErrorCode(err) != zan.EUnavailable {
		t.Fatalf("ApplyLikes with the server down: %v, want unavailable", err)
	}
	if err := db.Ping(ctx); zan.ErrorCode(err) != zan.EUnavailable {
		t.Fatalf("Ping with the server down: %v, want unavailable", err)
	}

	srv.Restart(t)
	// The pool's connections died with the server; the store recovers
	// without being reopened.
	if r, err := db.ApplyLikes(ctx, batch(50)); err != nil || r.Changed != users {
		t.Fatalf("ApplyLikes after restart: %+v, %v", r, err)
	}
	// Every target holds all of its batch or none, and its count agrees.
	rows, err := db.db.QueryContext(ctx,
		`SELECT l.target_id, COUNT(*), COALESCE(MAX(c.count), -1) FROM zan_likes l
		 LEFT JOIN zan_like_counts c ON c.target_type = l.target_type AND c.target_id = l.target_id
		 WHERE l.liked = 1 GROUP BY l.target_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var id, n, count int64
		if err := rows.Scan(&id, &n, &count); err != nil {
			t.Fatal(err)
		}
		if n != users || count != users {
			t.Errorf("target %d: %d liking rows, count %d; want %d of both", id, n, count, users)
		}
		seen++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen < 4 {
		t.Errorf("%d targets with likes, want at least 4", seen)
	}
	t.Logf("%d batches survived the crash", seen)
}

// TestConcurrentAppliers runs overlapping batches from several goroutines,
// as persisters sharing a store might: rows created by one while another
// found them missing must be retried, never double counted.
func TestConcurrentAppliers(t *testing.T) {
	db, _ := openFresh(t)
	const (
		workers = 4
		rounds  = 15
		targets = 5
		users   = 60
	)
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for r := range rounds {
				evs := make([]zan.Event, 200)
				for i := range evs {
					op := zan.OpLike
					if rng.IntN(3) == 0 {
						op = zan.OpUnlike
					}
					evs[i] = zan.Event{ID: fmt.Sprint(w, "-", r, "-", i), Op: op,
						Target: zan.Target{Type: "blog", ID: 1 + rng.Int64N(targets)},
						User:   1 + rng.Int64N(users), At: int64(r*1000 + rng.IntN(2000))}
				}
				if _, err := db.ApplyLikes(t.Context(), evs); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatalf("ApplyLikes: %v", err)
		}
	}
	for id := int64(1); id <= targets; id++ {
		before, after, err := db.RecountLikes(t.Context(), zan.Target{Type: "blog", ID: id})
		if err != nil || before != after {
			t.Errorf("blog %d: stored count %d, %d liking rows (%v)", id, before, after, err)
		}
	}
}

// BenchmarkApplyLikes applies batches of 1000 events, the persister's batch
// size, on random users of random targets; a tenth are unlikes.
func BenchmarkApplyLikes(b *testing.B) {
	db, _ := openFresh(b)
	const batch = 1000
	rng := rand.New(rand.NewPCG(1, 2))
	evs := make([]zan.Event, batch)
	n, at := 0, int64(0)
	for b.Loop() {
		for i := range evs {
			at++
			op := zan.OpLike
			if rng.IntN(10) == 0 {
				op = zan.OpUnlike
			}
			evs[i] = zan.Event{ID: strconv.FormatInt(at, 10), Op: op,
				Target: zan.Target{Type: "blog", ID: 1 + rng.Int64N(10_000)}, User: 1 + rng.Int64N(1_000_000), At: at}
		}
		if _, err := db.ApplyLikes(b.Context(), evs); err != nil {
			b.Fatal(err)
		}
		n += batch
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "likes/s")
}

// TestMigrateToIdentities: the users of a store made before identities
// existed are all there after the upgrade, and users without phones can
// then be made; the migration runs again harmlessly (DDL is not
// transactional: one cut halfway is run again).
func TestMigrateToIdentities(t *testing.T) {
	ctx := t.Context()
	dsn := testenv.FreshMySQL(t)
	old, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectMySQL, old, fsys, goose.WithTableName(versionTable))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := old.ExecContext(ctx, `INSERT INTO zan_users (id, phone, nickname, created_at) VALUES (1, '13800138000', 'old', 5)`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	up, err := fs.ReadFile(fsys, "00003_identities.sql")
	if err != nil {
		t.Fatal(err)
	}
	var again strings.Builder
	for _, line := range strings.Split(string(up[:strings.Index(string(up), "-- +goose Down")]), "\n") {
		if !strings.HasPrefix(line, "--") {
			again.WriteString(line + "\n")
		}
	}
	for _, stmt := range strings.Split(again.String(), ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := old.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("running the migration again: %v", err)
		}
	}

	db, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := zan.User{ID: 1, Phone: "13800138000", Nickname: "old", CreatedAt: time.UnixMicro(5).UTC()}
	if got, err := db.User(ctx, 1); err != nil || got != want {
		t.Fatalf("the old user after the upgrade: %+v, %v", got, err)
	}
	for i := range 2 {
		id := zan.Identity{Issuer: "https://id.example", Subject: fmt.Sprint(i)}
		if _, err := db.EnsureIdentityUser(ctx, id, zan.User{ID: int64(10 + i), Nickname: "n"}); err != nil {
			t.Fatalf("a user without a phone: %v", err)
		}
	}
}

// TestRecountUnderLoad recounts a target while batches flip its likes: a
// recount must count every flip committed before it and none after, or
// the stored count drifts from the rows. (On TiDB a repeatable-read
// snapshot is taken before the recount's lock is granted.)
func TestRecountUnderLoad(t *testing.T) {
	db, _ := openFresh(t)
	// CI's TiDB step sets ZAN_TEST_TIDB: the server must be recognised.
	if want := os.Getenv("ZAN_TEST_TIDB") != ""; db.tidb != want {
		t.Fatalf("recognised as TiDB: %v, ZAN_TEST_TIDB says %v", db.tidb, want)
	}
	ctx := t.Context()
	tg := zan.Target{Type: "blog", ID: 1}
	const workers, rounds = 3, 40
	errs := make(chan error, workers+1)
	stop := make(chan struct{})
	for w := range workers {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for r := range rounds {
				evs := make([]zan.Event, 20)
				for i := range evs {
					op := zan.OpLike
					if rng.IntN(2) == 0 {
						op = zan.OpUnlike
					}
					evs[i] = zan.Event{ID: fmt.Sprint(w, "-", r, "-", i), Op: op, Target: tg,
						User: 1 + rng.Int64N(200), At: int64(r*1000 + w*100 + i)}
				}
				if _, err := db.ApplyLikes(ctx, evs); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	go func() {
		for {
			select {
			case <-stop:
				errs <- nil
				return
			default:
			}
			if _, _, err := db.RecountLikes(ctx, tg); err != nil {
				errs <- err
				return
			}
		}
	}()
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	if err := <-errs; err != nil {
		t.Fatalf("RecountLikes: %v", err)
	}
	var rows, count int64
	if err := db.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM zan_likes WHERE target_type = 'blog' AND target_id = 1 AND liked = 1`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if err := db.db.QueryRowContext(ctx, `SELECT count FROM zan_like_counts WHERE target_type = 'blog' AND target_id = 1`).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if rows != count {
		t.Fatalf("after recounts under load: %d liking rows, stored count %d", rows, count)
	}
}

// TestOpenConcurrently opens a fresh database from several nodes at once:
// the named lock lets one migrate while the others wait, and all come up
// on the same schema.
func TestOpenConcurrently(t *testing.T) {
	dsn := testenv.FreshMySQL(t)
	const nodes = 4
	errs := make(chan error, nodes)
	for range nodes {
		go func() {
			db, err := Open(t.Context(), dsn)
			if err == nil {
				_, err = db.ApplyLikes(t.Context(), []zan.Event{{ID: "e", Op: zan.OpLike, Target: zan.Target{Type: "blog", ID: 1}, User: 1, At: 1}})
				db.Close()
			}
			errs <- err
		}()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Fatalf("Open beside other nodes: %v", err)
		}
	}
}
