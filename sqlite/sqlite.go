// Package sqlite is the embedded store: zan.Store over one SQLite file
// (modernc.org/sqlite, no cgo).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pressly/goose/v3"
	msqlite "modernc.org/sqlite"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configure Open.
type Options struct {
	// Fsync makes every commit durable against power loss (synchronous=FULL).
	// Without it a commit survives a crash of the process but may be lost
	// with the machine (synchronous=NORMAL in WAL mode).
	Fsync bool
}

// readers is the size of the reader pool. WAL lets readers run beside the
// one writer, so a few connections serve concurrent listings.
const readers = 8

// DB is a zan.Store on a SQLite file.
type DB struct {
	// Common answers the queries both SQL stores share.
	sqlstore.Common

	w *sql.DB // the only writer: SQLite serialises writes anyway
	r *sql.DB // readers

	// stmts caches prepared reader statements by query text: parsing a
	// query costs more than running it for the point reads of the hot
	// path (a load of a new target is one indexed lookup).
	stmts     sync.Map // string → *sql.Stmt
	nstmts    atomic.Int32
	closeOnce sync.Once
	closeErr  error
}

// maxStmts bounds the cache; queries with IN lists of varying length would
// otherwise grow it without end.
const maxStmts = 512

// prepared returns the cached statement for q, or nil when the cache is
// full (the caller then runs q unprepared).
func (db *DB) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := db.stmts.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	if db.nstmts.Load() >= maxStmts {
		return nil, nil
	}
	st, err := db.r.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if old, loaded := db.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return old.(*sql.Stmt), nil
	}
	db.nstmts.Add(1)
	return st, nil
}

var _ zan.Store = (*DB)(nil)

// cachePragmas: SQLite's default page cache is 2 MB per connection, so a
// like table of any size is read and rewritten through pread/pwrite on
// every batch (profiled: a third of the persister's time). 64 MB of cache
// and memory-mapped reads keep the hot pages in memory.
const cachePragmas = "&_pragma=cache_size(-65536)&_pragma=mmap_size(1073741824)"

// Open opens (creating if needed) the database at path and brings its schema
// up to date.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	syncMode := "NORMAL"
	if opts.Fsync {
		syncMode = "FULL"
	}
	// One connection for writes means transactions queue in Go instead of
	// failing with SQLITE_BUSY; IMMEDIATE takes the write lock at BEGIN so a
	// transaction never has to upgrade a read lock halfway.
	//
	// temp_store(MEMORY): a multi-row upsert keeps a statement journal (to
	// undo just that statement if it fails), and in a temporary file that
	// was an eighth of the persister's time in pwrite calls.
	// wal_autocheckpoint: a checkpoint copies every page the WAL holds into
	// the database and syncs it; every 8,000 pages (32 MB) rather than the
	// default 1,000 a page rewritten by several batches is copied once.
	wdsn := path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(ON)" +
		"&_pragma=synchronous(" + syncMode + ")&_txlock=immediate" + cachePragmas +
		"&_pragma=temp_store(MEMORY)&_pragma=wal_autocheckpoint(8000)"
	w, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, dbErr(ctx, err))
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}

	// Opened after the writer switched the file to WAL (a persistent
	// setting), so readers need not touch the journal mode.
	rdsn := path + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_pragma=query_only(1)" + cachePragmas
	r, err := sql.Open("sqlite", rdsn)
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	r.SetConnMaxLifetime(0)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, dbErr(ctx, err))
	}
	db := &DB{w: w, r: r}
	db.Common = sqlstore.NewCommon("", db.query, func(ctx context.Context, q string, args ...any) error {
		_, err := db.w.ExecContext(ctx, q, args...)
		return dbErr(ctx, err)
	})
	db.Common.SetDialect(sqlstore.Dialect{
		Begin: func(ctx context.Context) (*sql.Tx, error) { return db.w.BeginTx(ctx, nil) },
		Err:   dbErr,
		// One writer connection with BEGIN IMMEDIATE: a transaction holds
		// the whole database's write lock from its start.
		ForUpdate:       "",
		IndexText:       indexText,
		MatchText:       matchText,
		IgnoreDuplicate: func(string) string { return " ON CONFLICT DO NOTHING" },
		JoinValues:      true,
		RowValues:       true,
		Upsert: func(key []string, cols ...string) string {
			set := make([]string, len(cols))
			for i, c := range cols {
				set[i] = c + " = excluded." + c
			}
			return " ON CONFLICT (" + strings.Join(key, ", ") + ") DO UPDATE SET " + strings.Join(set, ", ")
		},
	})
	return db, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	// Out of order: migrations numbered on separate branches may land
	// after a higher number is applied already.
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithAllowOutofOrder(true))
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: migrating: %w", dbErr(ctx, err))
	}
	return nil
}

// Ping checks that both pools reach the file.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.w.PingContext(ctx); err != nil {
		return dbErr(ctx, err)
	}
	return dbErr(ctx, db.r.PingContext(ctx))
}

// Close closes the database; it may be called more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		// The writer goes last: closing the last connection checkpoints
		// the WAL into the main file.
		db.stmts.Range(func(_, st any) bool { st.(*sql.Stmt).Close(); return true })
		rerr := db.r.Close()
		werr := db.w.Close()
		db.closeErr = errors.Join(rerr, werr)
	})
	return db.closeErr
}

// SQLite primary result codes that mean the database cannot be used right
// now, rather than that the request was wrong.
const (
	sqliteBusy     = 5
	sqliteLocked   = 6
	sqliteNoMem    = 7
	sqliteReadOnly = 8
	sqliteIOErr    = 10
	sqliteFull     = 13
	sqliteCantOpen = 14
)

// dbErr classifies err: a cancelled caller gets its context's error back, a
// database that cannot be reached, is closed, locked or full becomes
// zan.ErrUnavailable (so the API answers 503 and the persister retries
// instead of dead-lettering), anything else passes through.
func dbErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqliteBusy, sqliteLocked, sqliteNoMem, sqliteReadOnly, sqliteIOErr, sqliteFull, sqliteCantOpen:
			return zan.Unavailable("store", err)
		}
		return err
	}
	// database/sql reports a closed pool with an unexported error.
	if errors.Is(err, sql.ErrConnDone) ||
		strings.Contains(err.Error(), "database is closed") || strings.Contains(err.Error(), "database is locked") {
		return zan.Unavailable("store", err)
	}
	return err
}

// Helpers shared with the other SQL store.
var (
	micros       = sqlstore.Micros
	fromMicros   = sqlstore.FromMicros
	limitOf      = sqlstore.LimitOf
	placeholders = sqlstore.Placeholders
	scanUser     = sqlstore.ScanUser
	scanBlog     = sqlstore.ScanBlog
	nullPhone    = sqlstore.Phone
)

var errNoPhone = errors.New("EnsureUser needs a phone: users without one are made by EnsureIdentityUser")
