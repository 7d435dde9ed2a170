package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	mysqld "github.com/go-sql-driver/mysql"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/sqlstore"
)

// applyChunk is how many rows one statement of ApplyLikes reads or writes:
// 500 rows of six values stay far below max_allowed_packet (16 MB by
// default, 4 MB on older servers) and the 65535 placeholders a prepared
// statement may have, should interpolation ever be turned off. It is also
// below MariaDB's in_predicate_conversion_threshold (1000), beyond which a
// long IN list becomes a derived-table join instead of primary key lookups.
const applyChunk = 500

// applyAttempts bounds the retries of an ApplyLikes transaction that lost a
// deadlock or timed out on a lock: both leave nothing applied.
const applyAttempts = 5

// ApplyLikes applies events in one transaction; see zan.LikeStore.
//
// A batch costs a handful of round trips whatever its size: per chunk of
// applyChunk distinct (target, user) pairs, one locking read of the stored
// rows, one multi-row INSERT of the new rows and one multi-row upsert of the
// changed ones; then one upsert of the count deltas. The decisions are made
// here, in Go, from what the read returned.
func (db *DB) ApplyLikes(ctx context.Context, events []zan.Event) (zan.ApplyResult, error) {
	if len(events) == 0 {
		return zan.ApplyResult{}, nil
	}

	batch, collapsed := sqlstore.CollapseLikes(events)

	var res zan.ApplyResult
	err := retryTx(ctx, func() (err error) {
		res, err = db.applyOnce(ctx, batch)
		return err
	})
	if err != nil {
		return zan.ApplyResult{}, err
	}
	res.Stale += collapsed
	return res, nil
}

// retryTx runs tx, a transaction whose error is raw, again while it loses
// to a concurrent one (retryable), up to applyAttempts times; the last
// error is classified (dbErr).
func retryTx(ctx context.Context, tx func() error) error {
	for attempt := 1; ; attempt++ {
		err := tx()
		if err == nil {
			return nil
		}
		if !retryable(err) || attempt == applyAttempts {
			return dbErr(ctx, err)
		}
		// A short, growing pause lets the winner of the lock commit.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt*attempt) * 5 * time.Millisecond):
		}
	}
}

// errRaced marks a row another transaction inserted after this one found
// it missing: running the transaction again reads (and locks) it.
var errRaced = errors.New("mysql: a like row appeared concurrently")

// retryable reports whether err rolled back a transaction that may well
// succeed when run again.
func retryable(err error) bool {
	if errors.Is(err, errRaced) {
		return true
	}
	var me *mysqld.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Number {
	case 1213, // ER_LOCK_DEADLOCK
		1205, // ER_LOCK_WAIT_TIMEOUT
		9007: // TiDB write conflict (optimistic transactions)
		return true
	}
	return lockRetriesSpent(me)
}

// lockRetriesSpent reports TiDB's "pessimistic lock retry limit reached": a
// statement that kept meeting write conflicts on its locks (seen in CI with
// three appliers and a recount on one target). TiDB sends it as the
// generic 1105, so only its message tells; the transaction was rolled
// back, and running it again is what TiDB asks for.
func lockRetriesSpent(me *mysqld.MySQLError) bool {
	return me.Number == 1105 && strings.Contains(me.Message, "pessimistic lock retry limit reached")
}

type delta struct {
	t zan.Target
	n int64
}

const likeColumns = `INSERT INTO zan_likes (target_type, target_id, user_id, liked, liked_at, changed_at) VALUES `

// applyOnce runs the transaction of ApplyLikes on a collapsed, sorted batch;
// its error is raw, for the caller to classify.
//
// Correctness does not rest on the isolation level. The locking read locks
// every row that exists, so no one else changes them until commit; rows it
// did not find are written with a plain INSERT, which fails with a duplicate
// key if another transaction created one meanwhile, and the whole
// transaction is run again. That allows READ COMMITTED, where InnoDB takes
// no gap locks for the missing rows: measured 10-15% faster on MariaDB, and
// concurrent appliers inserting into the same gap no longer deadlock.
// (binlog_format=STATEMENT refuses writes under READ COMMITTED; the
// defaults, ROW on MySQL and MIXED on MariaDB, are fine.)
func (db *DB) applyOnce(ctx context.Context, batch []zan.Event) (zan.ApplyResult, error) {
	var res zan.ApplyResult
	tx, err := db.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return res, err
	}
	defer tx.Rollback()

	var (
		deltas  []delta // in key order, one per target at most
		args    []any
		insArgs []any // rows that were missing
		updArgs []any // rows that exist, locked
		stored  = make(map[sqlstore.LikeKey]sqlstore.StoredLike, min(len(batch), applyChunk))
		sb      strings.Builder
	)
	for start := 0; start < len(batch); start += applyChunk {
		chunk := batch[start:min(start+applyChunk, len(batch))]

		// FORCE INDEX: left alone, the optimizer may read (and lock) the
		// range through a secondary index's user_id or target prefix;
		// through the primary key each pair is one point lookup.
		sb.Reset()
		sb.WriteString(`SELECT target_type, target_id, user_id, liked, liked_at, changed_at
			FROM zan_likes FORCE INDEX (PRIMARY) WHERE (target_type, target_id, user_id) IN (`)
		writeTuples(&sb, len(chunk), "(?,?,?)")
		sb.WriteString(`) FOR UPDATE`)
		args = args[:0]
		for _, ev := range chunk {
			args = append(args, ev.Target.Type, ev.Target.ID, ev.User)
		}
		clear(stored)
		rows, err := tx.QueryContext(ctx, sb.String(), args...)
		if err != nil {
			return res, err
		}
		if err := sqlstore.ScanStoredLikes(rows, stored); err != nil {
			return res, err
		}

		insArgs, updArgs = insArgs[:0], updArgs[:0]
		for _, ev := range chunk {
			cur, exists := stored[sqlstore.KeyOf(ev)]
			d := sqlstore.Decide(ev, cur, exists)
			if d.Stale {
				res.Stale++
				continue
			}
			if exists {
				updArgs = append(updArgs, ev.Target.Type, ev.Target.ID, ev.User, d.Liked, d.LikedAt, ev.At)
			} else {
				insArgs = append(insArgs, ev.Target.Type, ev.Target.ID, ev.User, d.Liked, d.LikedAt, ev.At)
			}
			if d.Delta == 0 {
				continue
			}
			res.Changed++
			if n := len(deltas); n > 0 && deltas[n-1].t == ev.Target {
				deltas[n-1].n += d.Delta
			} else {
				deltas = append(deltas, delta{ev.Target, d.Delta})
			}
		}
		if len(insArgs) > 0 {
			sb.Reset()
			sb.WriteString(likeColumns)
			writeTuples(&sb, len(insArgs)/6, "(?,?,?,?,?,?)")
			if _, err := tx.ExecContext(ctx, sb.String(), insArgs...); err != nil {
				var me *mysqld.MySQLError
				if errors.As(err, &me) && me.Number == 1062 { // ER_DUP_ENTRY
					return res, fmt.Errorf("%w: %w", errRaced, err)
				}
				return res, err
			}
		}
		if len(updArgs) > 0 {
			// A multi-row upsert rewrites many locked rows in one
			// statement, where UPDATE would take one per row. VALUES(col)
			// is deprecated in MySQL 8.0.20+ for a row alias that MariaDB
			// and TiDB do not parse; VALUES() works on all three.
			sb.Reset()
			sb.WriteString(likeColumns)
			writeTuples(&sb, len(updArgs)/6, "(?,?,?,?,?,?)")
			sb.WriteString(` ON DUPLICATE KEY UPDATE liked = VALUES(liked), liked_at = VALUES(liked_at), changed_at = VALUES(changed_at)`)
			if _, err := tx.ExecContext(ctx, sb.String(), updArgs...); err != nil {
				return res, err
			}
		}
	}

	deltas = slices.DeleteFunc(deltas, func(d delta) bool { return d.n == 0 })
	for start := 0; start < len(deltas); start += applyChunk {
		chunk := deltas[start:min(start+applyChunk, len(deltas))]
		args = args[:0]
		for _, d := range chunk {
			args = append(args, d.t.Type, d.t.ID, d.n)
		}
		sb.Reset()
		sb.WriteString(`INSERT INTO zan_like_counts (target_type, target_id, count) VALUES `)
		writeTuples(&sb, len(chunk), "(?,?,?)")
		sb.WriteString(` ON DUPLICATE KEY UPDATE count = count + VALUES(count)`)
		if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
			return res, err
		}
	}
	// A commit whose answer is lost may or may not have happened; the
	// caller retries and, the batch being idempotent, a replay of a
	// committed batch is all stale.
	if err := tx.Commit(); err != nil {
		return zan.ApplyResult{}, err
	}
	return res, nil
}

// writeTuples writes n copies of tuple, comma-separated.
func writeTuples(sb *strings.Builder, n int, tuple string) {
	sb.Grow(n * (len(tuple) + 1))
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(tuple)
	}
}

// RecountLikes sets t's stored count to its number of liking rows.
func (db *DB) RecountLikes(ctx context.Context, t zan.Target) (before, after int64, err error) {
	// Locking the count row (or, when it is missing, its gap) first holds
	// back every ApplyLikes that would change it; InnoDB takes the snapshot
	// of the count below at that first plain read, after the lock, so the
	// recount includes every committed flip and no later one. TiDB takes a
	// repeatable-read snapshot when the transaction's first statement
	// starts, before the lock is granted, and missed the flips committed
	// while it waited (TestRecountUnderLoad); there every statement of a
	// READ COMMITTED transaction reads after the previous one, and its
	// pessimistic lock holds a missing row's key too, where InnoDB's
	// read-committed lock would leave the gap open.
	err = retryTx(ctx, func() error {
		before, after, err = db.recountOnce(ctx, t)
		return err
	})
	return before, after, err
}

// recountOnce runs RecountLikes's transaction; its error is raw.
func (db *DB) recountOnce(ctx context.Context, t zan.Target) (before, after int64, err error) {
	level := sql.LevelRepeatableRead
	if db.tidb {
		level = sql.LevelReadCommitted
	}
	tx, err := db.db.BeginTx(ctx, &sql.TxOptions{Isolation: level})
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	err = tx.QueryRowContext(ctx,
		`SELECT count FROM zan_like_counts WHERE target_type = ? AND target_id = ? FOR UPDATE`,
		t.Type, t.ID).Scan(&before)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, err
	}
	err = tx.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM zan_likes WHERE target_type = ? AND target_id = ? AND liked = 1`,
		t.Type, t.ID).Scan(&after)
	if err != nil {
		return 0, 0, err
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO zan_like_counts (target_type, target_id, count) VALUES (?, ?, ?)
		 ON DUPLICATE KEY UPDATE count = VALUES(count)`, t.Type, t.ID, after)
	if err != nil {
		return 0, 0, err
	}
	return before, after, tx.Commit()
}

// CommonLikers returns up to limit users who like both a and b, by user id.
func (db *DB) CommonLikers(ctx context.Context, a, b zan.Target, limit int) ([]int64, error) {
	// a's rows in primary key order are already by user id; each is
	// matched with one primary key lookup in b.
	var users []int64
	err := db.query(ctx,
		`SELECT x.user_id FROM zan_likes x FORCE INDEX (PRIMARY)
		 JOIN zan_likes y FORCE INDEX (PRIMARY)
		   ON y.target_type = ? AND y.target_id = ? AND y.user_id = x.user_id AND y.liked = 1
		 WHERE x.target_type = ? AND x.target_id = ? AND x.liked = 1
		 ORDER BY x.user_id LIMIT ?`,
		[]any{b.Type, b.ID, a.Type, a.ID, limitOf(limit)}, func(rows *sql.Rows) error {
			var u int64
			if err := rows.Scan(&u); err != nil {
				return err
			}
			users = append(users, u)
			return nil
		})
	if err != nil {
		return nil, err
	}
	return users, nil
}
