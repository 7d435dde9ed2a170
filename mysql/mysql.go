// Package mysql is the networked store: zan.Store over MariaDB (10.11+),
// MySQL (8+) or TiDB, through github.com/go-sql-driver/mysql.
package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	mysqld "github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is goose's bookkeeping table, prefixed like ours so the
// database can be shared with other goose users.
const versionTable = "zan_goose_db_version"

// Pool sizes: enough for the API nodes' concurrent reads plus the
// persister, well under a default max_connections of 151 for a few nodes.
const (
	maxOpen = 32
	maxIdle = 16
)

// DB is a zan.Store on a MySQL-compatible server.
type DB struct {
	// Common answers the queries both SQL stores share.
	sqlstore.Common

	db        *sql.DB
	tidb      bool // the server is TiDB, whose transactions differ (see RecountLikes)
	closeOnce sync.Once
	closeErr  error
}

var _ zan.Store = (*DB)(nil)

// ParseDSN parses a go-sql-driver DSN (user:pass@tcp(host:3306)/db?...),
// also written with a mysql:// scheme, and forces the settings the store
// relies on.
func ParseDSN(dsn string) (*mysqld.Config, error) {
	dsn = strings.TrimPrefix(dsn, "mysql://")
	cfg, err := mysqld.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysql: dsn: %w", err)
	}
	if cfg.DBName == "" {
		return nil, errors.New("mysql: dsn names no database")
	}
	// One statement per call: a stray ';' in data can never run as SQL.
	cfg.MultiStatements = false
	// Arguments are quoted client-side, so a statement is one round trip
	// instead of prepare, execute and close.
	cfg.InterpolateParams = true
	// Times are stored as integer microseconds; nothing depends on the
	// server's or the driver's time zone, but keep the driver neutral.
	cfg.Loc = time.UTC
	cfg.ParseTime = false
	// utf8mb4 everywhere: blog text holds any Unicode, emoji included. The
	// collation also has to be one interpolation is safe with.
	cfg.Collation = "utf8mb4_general_ci"
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	return cfg, nil
}

// Open connects to the database named by dsn and brings its schema up to
// date.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	conn, err := mysqld.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxIdle)
	// Recycle connections now and then so that a load balancer or a TiDB
	// node being drained does not keep them forever.
	db.SetConnMaxLifetime(30 * time.Minute)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql: open %s@%s/%s: %w", cfg.User, cfg.Addr, cfg.DBName, dbErr(ctx, err))
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	var version string
	if err := db.QueryRowContext(ctx, `SELECT VERSION()`).Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql: server version: %w", dbErr(ctx, err))
	}
	d := &DB{db: db, tidb: strings.Contains(version, "TiDB")}
	d.Common = sqlstore.NewCommon("zan_", d.query, func(ctx context.Context, q string, args ...any) error {
		_, err := db.ExecContext(ctx, q, args...)
		return dbErr(ctx, err)
	})
	d.Common.SetDialect(sqlstore.Dialect{
		// READ COMMITTED: ApplyOrders reads the orders after it has locked
		// their vouchers and must see what the previous lock holder
		// committed; a repeatable-read snapshot would be from BEGIN on TiDB.
		// It also spares the word table's DELETE its gap locks.
		Begin: func(ctx context.Context) (*sql.Tx, error) {
			return db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
		},
		Err:             dbErr,
		Retry:           retryTx,
		ForUpdate:       " FOR UPDATE",
		IndexText:       indexText,
		MatchText:       matchText,
		IgnoreDuplicate: func(col string) string { return " ON DUPLICATE KEY UPDATE " + col + " = " + col },
		RoundTrips:      true,
		// The key is the one the row clashes on: MySQL needs no name for it.
		Upsert: func(_ []string, cols ...string) string {
			set := make([]string, len(cols))
			for i, c := range cols {
				set[i] = c + " = VALUES(" + c + ")"
			}
			return " ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
		},
	})
	return d, nil
}

// migrate applies the embedded migrations under a server-side named lock,
// so nodes starting together do not race to create the same tables.
func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	c, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("mysql: migrating: %w", dbErr(ctx, err))
	}
	defer c.Close()
	// GET_LOCK names are server-wide: qualify by database, within the
	// 64-character limit.
	const lockName = `LEFT(CONCAT('zan.migrate.', DATABASE()), 64)`
	var got sql.NullInt64
	if err := c.QueryRowContext(ctx, `SELECT GET_LOCK(`+lockName+`, 60)`).Scan(&got); err != nil {
		return fmt.Errorf("mysql: migration lock: %w", dbErr(ctx, err))
	}
	if got.Int64 != 1 {
		return zan.Unavailable("store", errors.New("mysql: migration lock: timed out waiting for another node"))
	}
	defer c.ExecContext(context.WithoutCancel(ctx), `DO RELEASE_LOCK(`+lockName+`)`)

	// Out of order: migrations numbered on separate branches may land
	// after a higher number is applied already.
	p, err := goose.NewProvider(goose.DialectMySQL, db, fsys, goose.WithTableName(versionTable), goose.WithAllowOutofOrder(true))
	if err != nil {
		return fmt.Errorf("mysql: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("mysql: migrating: %w", dbErr(ctx, err))
	}
	return nil
}

// Ping checks that the server answers.
func (db *DB) Ping(ctx context.Context) error {
	return dbErr(ctx, db.db.PingContext(ctx))
}

// Close closes the pool; it may be called more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(func() { db.closeErr = db.db.Close() })
	return db.closeErr
}

// Server error numbers that mean the server cannot serve us right now rather
// than that the request was wrong.
var unavailableErrors = map[uint16]bool{
	1040: true, // ER_CON_COUNT_ERROR: too many connections
	1053: true, // ER_SERVER_SHUTDOWN
	1152: true, // ER_ABORTING_CONNECTION
	1158: true, // ER_NET_READ_ERROR
	1159: true, // ER_NET_READ_INTERRUPTED
	1160: true, // ER_NET_ERROR_ON_WRITE
	1161: true, // ER_NET_WRITE_INTERRUPTED
	1203: true, // ER_TOO_MANY_USER_CONNECTIONS
	1205: true, // ER_LOCK_WAIT_TIMEOUT (after our retries)
	1213: true, // ER_LOCK_DEADLOCK (after our retries)
	1290: true, // ER_OPTION_PREVENTS_STATEMENT: --read-only, a replica
	1792: true, // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
	1836: true, // ER_READ_ONLY_MODE
	1927: true, // ER_CONNECTION_KILLED (MariaDB)
	2002: true, // CR_CONNECTION_ERROR
	2003: true, // CR_CONN_HOST_ERROR
	2006: true, // CR_SERVER_GONE_ERROR
	2013: true, // CR_SERVER_LOST
	8027: true, // TiDB: schema out of date, retry
	9001: true, // TiDB: PD server timeout
	9002: true, // TiDB: TiKV server timeout
	9003: true, // TiDB: TiKV server busy
	9004: true, // TiDB: resolve lock timeout
	9005: true, // TiDB: region unavailable
	9006: true, // TiDB: GC too early
	9007: true, // TiDB: write conflict
}

// dbErr classifies err: a cancelled caller gets its context's error back, a
// server that cannot be reached, has gone away, is read-only or overloaded
// becomes zan.ErrUnavailable (so the API answers 503 and the persister
// retries instead of dead-lettering), anything else passes through.
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
	var me *mysqld.MySQLError
	if errors.As(err, &me) {
		if unavailableErrors[me.Number] || lockRetriesSpent(me) {
			return zan.Unavailable("store", err)
		}
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysqld.ErrInvalidConn) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		// database/sql reports a closed pool with an unexported error.
		strings.Contains(err.Error(), "database is closed") {
		return zan.Unavailable("store", err)
	}
	return err
}

// query runs q and calls scan for each row.
func (db *DB) query(ctx context.Context, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := db.db.QueryContext(ctx, q, args...)
	if err != nil {
		return dbErr(ctx, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return dbErr(ctx, err)
		}
	}
	return dbErr(ctx, rows.Err())
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
