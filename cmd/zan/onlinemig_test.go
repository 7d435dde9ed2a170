package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zanlabs/zan/internal/testenv"
	"github.com/zanlabs/zan/metrics"
	"github.com/zanlabs/zan/migrate"
	"github.com/zanlabs/zan/mysql"
	"github.com/zanlabs/zan/sqlite"
)

// secondDB creates a database of the test's own on the machine's MariaDB
// (dropped after) and returns its mysql:// URL and a handle on it.
func secondDB(t *testing.T) (string, *sql.DB) {
	t.Helper()
	dsn := testenv.FreshMySQL(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return "mysql://" + dsn, db
}

// migrating configures a node for an online migration to dst, with like
// budgets the load never meets.
func migrating(dst string) func(*Config) {
	return func(c *Config) {
		c.MirrorDB = dst
		c.VerifyEvery = time.Second
		c.ReconcileEvery = time.Second
		c.LikeRate, c.LikeBurst = 1e6, 1_000_000
		c.BlogRate, c.BlogBurst = 1e6, 1_000_000
	}
}

// migrated configures a node moved onto the destination dst after the
// retirement: --db on it, no --mirror-db, the budgets of migrating.
func migrated(dst string) func(*Config) {
	return func(c *Config) {
		migrating(dst)(c)
		c.MirrorDB = ""
		c.DBURL = dst
	}
}

// TestOnlineMigrationTwoNodes moves two scale-out nodes (Redis, NATS,
// MariaDB) to a second MariaDB database under continuous likes, through
// every phase and one step back: no request fails, no acknowledged like
// is lost, and both stores end equal to what the clients were told.
func TestOnlineMigrationTwoNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("a migration under load")
	}
	cfg := scaleOut(t)
	var src Config
	cfg(&src)
	dst, dstDB := secondDB(t)
	srcDB, err := sql.Open("mysql", strings.TrimPrefix(src.DBURL, "mysql://"))
	if err != nil {
		t.Fatal(err)
	}
	defer srcDB.Close()
	var bases []string
	var nodes []*Main
	for i := range 2 {
		m := startServer(t, cfg, migrating(dst), func(c *Config) { c.NodeID = i + 1 })
		bases = append(bases, baseURL(m))
		nodes = append(nodes, m)
	}
	l, rows := onlineMigration(t, bases, src.DBURL, dst, srcDB, "zan_", dstDB)

	// Retired: the nodes move onto the destination in any order, here one
	// with its old flags and one with --db on the destination alone.
	for _, n := range nodes {
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
	old := startServer(t, cfg, migrating(dst), func(c *Config) { c.NodeID = 1 })
	moved := startServer(t, cfg, migrated(dst), func(c *Config) { c.NodeID = 2 })
	afterRestart(t, l, rows, []string{baseURL(old), baseURL(moved)}, dstDB)
}

// TestOnlineMigrationSQLite moves one embedded node from its SQLite file
// to MariaDB under continuous likes. One node only: a SQLite file is not
// shared by nodes, so the migration's state is the process's own.
func TestOnlineMigrationSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("a migration under load")
	}
	dst, dstDB := secondDB(t)
	none := newAPI(t, baseURL(startServer(t)))
	none.token = "admin-secret"
	if none.expect(404, "GET", "/api/v1/admin/migration", nil).errCode(t) != "not_found" {
		t.Fatal("a node without --mirror-db runs a migration")
	}
	m := startServer(t, migrating(dst))
	l, rows := onlineMigration(t, []string{baseURL(m)}, m.Config.Data, dst, nil, "", dstDB)

	// Retired: the node moves onto the destination (--db on it, the same
	// data directory for its log), and its users stay logged in.
	data := m.Config.Data
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	moved := startServer(t, migrated(dst), func(c *Config) { c.Data = data })
	afterRestart(t, l, rows, []string{baseURL(moved)}, dstDB)
}

// afterRestart runs the load again through the nodes restarted after the
// retirement: every request succeeds with the tokens of before, and the
// destination ends where every answer, before and after, said.
func afterRestart(t *testing.T, l *ledger, rows *rowLoad, bases []string, dstDB *sql.DB) {
	t.Helper()
	const label = "9 restarted"
	l.start(6, 0.7, label, bases...)
	rows.bases = bases
	rows.setPhase(label)
	rows.start(2)
	time.Sleep(3 * time.Second)
	l.stop()
	rows.stop()
	l.report(t)
	ok, other := l.counts(label)
	wok, wother, wsample := rows.counts(label)
	if other > 0 || ok == 0 || wother > 0 || wok == 0 {
		t.Errorf("%s: likes %d ok, %d not; row writes %d ok, %d not (%s)", label, ok, other, wok, wother, wsample)
	}
	l.converge(t, bases[0], dstDB, "zan_", 60*time.Second)
	rows.check(t, dstDB, "zan_")
}

// onlineMigration runs the load through bases and the migration from from
// to to, phase after phase, then checks the ledger against both stores
// (srcDB nil: the source through the API only) and the verifier.
func onlineMigration(t *testing.T, bases []string, from, to string, srcDB *sql.DB, srcPrefix string, dstDB *sql.DB) (*ledger, *rowLoad) {
	l := newLedger(t, bases[0], 40, 60)
	reads := startReads(t, l, bases)
	l.start(6, 0.7, "0 copy", bases...)
	rows := newRowLoad(t, bases, 60)
	rows.setPhase("0 copy")
	rows.start(2)
	srcRows, dstRows := openRowStore(t, from), openRowStore(t, to)

	// The copy, beside the live log: the mirror persister started first.
	time.Sleep(time.Second)
	var out bytes.Buffer
	err := runMigrate(t.Context(), []string{"--from", from, "--to", to, "--checkpoint", filepath.Join(t.TempDir(), "cp.json")}, &out)
	if err != nil && !errors.Is(err, migrate.ErrDifferent) { // the source moved under the copy
		t.Fatalf("zan migrate: %v\n%s", err, out.String())
	}
	t.Logf("copy under load: %s", strings.TrimSpace(out.String()))

	steps := []struct {
		phase string
		share int // -1: none given
	}{
		{"mirror", -1}, {"reads", 10}, {"reads", 50}, {"reads", 100}, {"writes", -1},
		{"reads", 100}, // back
		{"writes", -1}, {"retired", -1},
	}
	var driftBefore float64
	var order []string
	order = append(order, "0 copy")
	for i, s := range steps {
		label := fmt.Sprintf("%d %s", i+1, s.phase)
		if s.share >= 0 {
			label += fmt.Sprintf(" %d%%", s.share)
		}
		if s.phase == "retired" {
			// The source as it retires: the load pauses, and the source, the
			// destination and the ledgers agree.
			l.stop()
			reads.stop()
			rows.stop()
			retiring(t, l, rows, bases, from, to, srcDB, srcPrefix, dstDB, srcRows, dstRows)
			l.setPhase(label)
			reads.setPhase(label)
			rows.setPhase(label)
			l.start(6, 0.7, label, bases...)
			reads.run(l, bases)
			rows.start(2)
		}
		l.setPhase(label)
		reads.setPhase(label)
		rows.setPhase(label)
		order = append(order, label)
		body := map[string]any{"phase": s.phase}
		if s.share >= 0 {
			body["read_share"] = s.share
		}
		a := newAPI(t, bases[i%len(bases)])
		a.token = "admin-secret"
		a.expect(200, "POST", "/api/v1/admin/migration", body)
		want := s.share
		if want < 0 {
			want = map[string]int{"mirror": 0, "writes": 100, "retired": 100}[s.phase]
		}
		for _, b := range bases { // every node follows within a second
			eventually(t, b+" switched", func() error {
				var st migrate.Status
				if err := getJSON(b, "/api/v1/admin/migration", "admin-secret", &st); err != nil {
					return err
				}
				if string(st.Phase) != s.phase || st.DestReads != want {
					return fmt.Errorf("phase %s %d%%", st.Phase, st.DestReads)
				}
				return nil
			})
		}
		if s.phase == "mirror" {
			// From here both stores hold everything: a verification round
			// that starts now finds no drift, under load too.
			since := time.Now()
			for _, b := range bases {
				within(t, b+" verified after the copy", time.Minute, func() error {
					var st migrate.Status
					if err := getJSON(b, "/api/v1/admin/migration", "admin-secret", &st); err != nil {
						return err
					}
					if v := st.Verification; v == nil || v.At.Before(since) {
						return errors.New("no round since the copy")
					}
					return nil
				})
			}
			driftBefore = testutil.ToFloat64(metrics.MigrationVerified.WithLabelValues("drift"))
		}
		time.Sleep(3 * time.Second)
	}
	l.stop()
	reads.stop()
	rows.stop()
	l.report(t)
	a := newAPI(t, bases[0])
	a.token = "admin-secret"
	a.expect(409, "POST", "/api/v1/admin/migration", map[string]any{"phase": "writes"}) // retired is final
	a.expect(400, "POST", "/api/v1/admin/migration", map[string]any{"phase": "reads", "read_share": 101})
	a.expect(400, "POST", "/api/v1/admin/migration", map[string]any{"phase": "sideways"})

	// No request failed in any phase, and the latencies for the README.
	for _, p := range order {
		ok, other := l.counts(p)
		rok, rother := reads.counts(p)
		if other > 0 || rother > 0 || ok == 0 || rok == 0 {
			t.Errorf("%s: likes %d ok, %d not; reads %d ok, %d not (%v)", p, ok, other, rok, rother, reads.sample(p))
		}
		wok, wother, wsample := rows.counts(p)
		if wother > 0 || wok == 0 {
			t.Errorf("%s: row writes %d answered as asked, %d not (%s)", p, wok, wother, wsample)
		}
		t.Logf("%-14s likes %5d p50 %6v p99 %6v | reads %5d p99 %6v | row writes %4d p99 %6v", p, ok,
			l.quantile(p, .5).Round(100*time.Microsecond), l.quantile(p, .99).Round(100*time.Microsecond),
			rok, reads.quantile(p, .99).Round(100*time.Microsecond), wok, rows.quantile(p, .99).Round(100*time.Microsecond))
	}
	for _, b := range bases {
		var st migrate.Status
		if err := getJSON(b, "/api/v1/admin/migration", "admin-secret", &st); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: longest hold of row writes at a switch of the record: %d ms", b, st.MaxHoldMS)
		if st.MaxHoldMS == 0 || st.MaxHoldMS > 5000 {
			t.Errorf("%s: fence hold %d ms", b, st.MaxHoldMS)
		}
	}

	// The source was left at the retirement (checked then): the API and
	// the destination end where the answers said.
	l.converge(t, bases[0], dstDB, "zan_", 60*time.Second)
	rows.check(t, dstDB, "zan_")
	noDeadLetters(t, bases[0], "admin-secret")

	m := func(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }
	t.Logf("verification rounds (all nodes of this process): %v equal, %v drift, %v error; shadow reads: %v equal, %v different, %v skipped",
		m(metrics.MigrationVerified.WithLabelValues("equal")), m(metrics.MigrationVerified.WithLabelValues("drift")),
		m(metrics.MigrationVerified.WithLabelValues("error")), m(metrics.MigrationShadow.WithLabelValues("equal")),
		m(metrics.MigrationShadow.WithLabelValues("different")), m(metrics.MigrationShadow.WithLabelValues("skipped")))
	// Rounds under load are best effort (a like between the two stores'
	// reads can look like drift; seen in 2 of 31 rounds in CI): they are
	// reported, and the proof is the round after the load and the full
	// verify at the retirement, which must be exact.
	if d := m(metrics.MigrationVerified.WithLabelValues("drift")) - driftBefore; d != 0 {
		t.Logf("%v verification rounds under load after the copy reported drift", d)
	}
	return l, rows
}

// retiring checks the stores as the migration retires, the load paused:
// nothing acknowledged is lost and nothing unasked is there in either
// store, the verifier's round after the load finds no drift, every table
// other than likes is equal in both, and `zan migrate verify` finds
// every count equal.
func retiring(t *testing.T, l *ledger, rows *rowLoad, bases []string, from, to string,
	srcDB *sql.DB, srcPrefix string, dstDB *sql.DB, srcRows, dstRows migrate.RowStore) {
	t.Helper()
	l.converge(t, bases[0], srcDB, srcPrefix, 60*time.Second)
	l.converge(t, bases[0], dstDB, "zan_", 60*time.Second)
	if srcDB != nil {
		rows.check(t, srcDB, srcPrefix)
	}
	rows.check(t, dstDB, "zan_")
	stopped := time.Now()
	for _, b := range bases {
		within(t, b+" verified", time.Minute, func() error {
			var st migrate.Status
			if err := getJSON(b, "/api/v1/admin/migration", "admin-secret", &st); err != nil {
				return err
			}
			v := st.Verification
			if v == nil || v.At.Before(stopped) || v.Error != "" || v.Drift() != 0 || v.Targets == 0 {
				return fmt.Errorf("verification %+v", v)
			}
			return nil
		})
	}
	tablesEqual(t, srcRows, dstRows, migrate.PhaseWrites)
	var out bytes.Buffer
	if err := runMigrate(t.Context(), []string{"verify", "--from", from, "--to", to}, &out); err != nil {
		t.Fatalf("zan migrate verify: %v\n%s", err, out.String())
	}
	t.Logf("as it retires: %s", strings.TrimSpace(out.String()))
}

// openRowStore opens a store of the migration beside the nodes: a data
// directory (its SQLite file) or a mysql:// URL.
func openRowStore(t *testing.T, where string) migrate.RowStore {
	t.Helper()
	var (
		s   migrate.RowStore
		err error
	)
	if strings.HasPrefix(where, "mysql://") {
		s, err = mysql.Open(t.Context(), where)
	} else {
		s, err = sqlite.Open(t.Context(), filepath.Join(where, "zan.db"), sqlite.Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// readLoad reads likers and users' likes through every node during the
// migration (the reads the router sends to one store or the other) and
// records each answer's status and latency per phase.
type readLoad struct {
	mu     sync.Mutex
	phase  string
	status map[string]map[int]int
	took   map[string][]time.Duration
	first  map[string]string
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startReads(t *testing.T, l *ledger, bases []string) *readLoad {
	r := &readLoad{status: map[string]map[int]int{}, took: map[string][]time.Duration{}, first: map[string]string{}}
	r.setPhase("0 copy")
	r.run(l, bases)
	return r
}

// run reads until stop.
func (r *readLoad) run(l *ledger, bases []string) {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	c := &http.Client{Timeout: 5 * time.Second}
	for w := range 2 {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				u := l.users[(i*7+w)%len(l.users)]
				path := fmt.Sprintf("/api/v1/likes/comment/%d/users", i%l.targets+1)
				if i%2 == 1 {
					path = "/api/v1/users/" + u.id + "/likes"
				}
				req, _ := http.NewRequestWithContext(ctx, "GET", bases[i%len(bases)]+path, nil)
				req.Header.Set("Authorization", "Bearer "+*u.token.Load())
				start := time.Now()
				res, err := c.Do(req)
				if ctx.Err() != nil {
					return
				}
				status := 0
				if err == nil {
					status = res.StatusCode
					res.Body.Close()
				}
				r.mu.Lock()
				if r.status[r.phase] == nil {
					r.status[r.phase] = map[int]int{}
				}
				r.status[r.phase][status]++
				r.took[r.phase] = append(r.took[r.phase], time.Since(start))
				if status != 200 && r.first[r.phase] == "" {
					r.first[r.phase] = fmt.Sprintf("%s: %d %v", path, status, err)
				}
				r.mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
}

func (r *readLoad) setPhase(p string) { r.mu.Lock(); r.phase = p; r.mu.Unlock() }
func (r *readLoad) stop()             { r.cancel(); r.wg.Wait() }
func (r *readLoad) sample(p string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first[p]
}

func (r *readLoad) counts(p string) (ok, other int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for st, n := range r.status[p] {
		if st == 200 {
			ok += n
		} else {
			other += n
		}
	}
	return ok, other
}

func (r *readLoad) quantile(p string, q float64) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := &ledger{took: map[string][]time.Duration{p: r.took[p]}}
	return l.quantile(p, q)
}
