package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/sqlstore"
)

// ApplyLikes applies events in one transaction; see zan.LikeStore.
func (db *DB) ApplyLikes(ctx context.Context, events []zan.Event) (zan.ApplyResult, error) {
	var res zan.ApplyResult
	if len(events) == 0 {
		return res, nil
	}
	batch, dropped := sqlstore.CollapseLikes(events)
	res.Stale = dropped

	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return zan.ApplyResult{}, dbErr(ctx, err)
	}
	defer tx.Rollback()

	stored, err := readLikes(ctx, tx, batch)
	if err != nil {
		return zan.ApplyResult{}, dbErr(ctx, err)
	}
	type delta struct {
		t zan.Target
		n int64
	}
	var (
		deltas []delta // in key order, one per target at most
		puts   []likeRow
	)
	for _, ev := range batch {
		cur, exists := stored[sqlstore.KeyOf(ev)]
		d := sqlstore.Decide(ev, cur, exists)
		if d.Stale {
			res.Stale++
			continue
		}
		puts = append(puts, likeRow{ev.Target, ev.User, d.Liked, d.LikedAt, ev.At})
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

	// Rows and counts go chunk by chunk in multi-row statements: one
	// statement per row made the driver's per-call work (binding, stepping,
	// database/sql's bookkeeping) cost as much as SQLite's own. A short last
	// chunk is padded by repeating its last row, which writes the same
	// values twice (and adds a zero to a count), so one statement text
	// serves every chunk.
	err = chunked(ctx, tx, len(puts), 6, `INSERT INTO likes (target_type, target_id, user_id, liked, liked_at, changed_at) VALUES `,
		` ON CONFLICT (target_type, target_id, user_id) DO UPDATE SET
			liked = excluded.liked, liked_at = excluded.liked_at, changed_at = excluded.changed_at`,
		func(args []any, i int, pad bool) []any {
			r := puts[i]
			return append(args, r.t.Type, r.t.ID, r.user, r.liked, r.likedAt, r.changedAt)
		})
	if err != nil {
		return zan.ApplyResult{}, dbErr(ctx, err)
	}
	deltas = slices.DeleteFunc(deltas, func(d delta) bool { return d.n == 0 })
	err = chunked(ctx, tx, len(deltas), 3, `INSERT INTO like_counts (target_type, target_id, count) VALUES `,
		` ON CONFLICT (target_type, target_id) DO UPDATE SET count = count + excluded.count`,
		func(args []any, i int, pad bool) []any {
			d := deltas[i]
			if pad {
				d.n = 0
			}
			return append(args, d.t.Type, d.t.ID, d.n)
		})
	if err != nil {
		return zan.ApplyResult{}, dbErr(ctx, err)
	}
	if err := tx.Commit(); err != nil {
		return zan.ApplyResult{}, dbErr(ctx, err)
	}
	return res, nil
}

// chunkRows is the rows per multi-row statement: past about a hundred the
// gain flattens, and the statement text (parsed once per batch) grows.
const chunkRows = 100

type likeRow struct {
	t                  zan.Target
	user               int64
	liked              bool
	likedAt, changedAt int64
}

// chunked runs head + chunkRows "(?, ...)" tuples + tail for rows [0, n),
// chunkRows at a time, with row(args, i, pad) appending row i's cols
// values; the last chunk is padded with its last row (pad true).
func chunked(ctx context.Context, tx *sql.Tx, n, cols int, head, tail string, row func(args []any, i int, pad bool) []any) error {
	if n == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, head+tuples(min(n, chunkRows), cols)+tail)
	if err != nil {
		return err
	}
	defer st.Close()
	size := min(n, chunkRows)
	args := make([]any, 0, size*cols)
	for lo := 0; lo < n; lo += size {
		args = args[:0]
		for j := range size {
			i, pad := lo+j, false
			if i >= n {
				i, pad = n-1, true
			}
			args = row(args, i, pad)
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// tuples returns n comma-separated tuples of cols placeholders.
func tuples(n, cols int) string {
	t := "(?" + strings.Repeat(", ?", cols-1) + ")"
	return t + strings.Repeat(", "+t, n-1)
}

// readLikes returns the stored rows of the batch's keys, chunkRows keys a
// query (a join of a VALUES list with the primary key: one index search
// per key, in key order).
func readLikes(ctx context.Context, tx *sql.Tx, batch []zan.Event) (map[sqlstore.LikeKey]sqlstore.StoredLike, error) {
	size := min(len(batch), chunkRows)
	st, err := tx.PrepareContext(ctx, `SELECT l.target_type, l.target_id, l.user_id, l.liked, l.liked_at, l.changed_at
		FROM (VALUES `+tuples(size, 3)+`) AS k
		JOIN likes AS l ON l.target_type = k.column1 AND l.target_id = k.column2 AND l.user_id = k.column3`)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	out := make(map[sqlstore.LikeKey]sqlstore.StoredLike, len(batch))
	args := make([]any, 0, size*3)
	for lo := 0; lo < len(batch); lo += size {
		args = args[:0]
		for j := range size {
			ev := batch[min(lo+j, len(batch)-1)]
			args = append(args, ev.Target.Type, ev.Target.ID, ev.User)
		}
		rows, err := st.QueryContext(ctx, args...)
		if err != nil {
			return nil, err
		}
		if err := sqlstore.ScanStoredLikes(rows, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// query runs q on the reader pool and calls scan for each row.
func (db *DB) query(ctx context.Context, q string, args []any, scan func(*sql.Rows) error) error {
	st, err := db.prepared(ctx, q)
	if err != nil {
		return dbErr(ctx, err)
	}
	var rows *sql.Rows
	if st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = db.r.QueryContext(ctx, q, args...)
	}
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

// RecountLikes sets t's stored count to its number of liking rows.
func (db *DB) RecountLikes(ctx context.Context, t zan.Target) (before, after int64, err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, dbErr(ctx, err)
	}
	defer tx.Rollback()
	err = tx.QueryRowContext(ctx,
		`SELECT count FROM like_counts WHERE target_type = ? AND target_id = ?`, t.Type, t.ID).Scan(&before)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, dbErr(ctx, err)
	}
	err = tx.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM likes WHERE target_type = ? AND target_id = ? AND liked = 1`, t.Type, t.ID).Scan(&after)
	if err != nil {
		return 0, 0, dbErr(ctx, err)
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO like_counts (target_type, target_id, count) VALUES (?, ?, ?)
		 ON CONFLICT (target_type, target_id) DO UPDATE SET count = excluded.count`, t.Type, t.ID, after)
	if err != nil {
		return 0, 0, dbErr(ctx, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, dbErr(ctx, err)
	}
	return before, after, nil
}

// CommonLikers returns up to limit users who like both a and b, by user id.
func (db *DB) CommonLikers(ctx context.Context, a, b zan.Target, limit int) ([]int64, error) {
	var users []int64
	err := db.query(ctx,
		`SELECT x.user_id FROM likes x
		 JOIN likes y ON y.target_type = ? AND y.target_id = ? AND y.user_id = x.user_id AND y.liked = 1
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
