package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"

	"github.com/zanlabs/zan"
)

type likeKey struct {
	typ  string
	id   int64
	user int64
}

// ApplyLikes applies events in one transaction; see zan.LikeStore.
func (db *DB) ApplyLikes(ctx context.Context, events []zan.Event) (zan.ApplyResult, error) {
	var res zan.ApplyResult
	if len(events) == 0 {
		return res, nil
	}

	// Only the last event per (target, user) can matter; the rest are stale
	// before they reach the database.
	idx := make(map[likeKey]int, len(events))
	batch := make([]zan.Event, 0, len(events))
	for _, ev := range events {
		k := likeKey{ev.Target.Type, ev.Target.ID, ev.User}
		i, ok := idx[k]
		if !ok {
			idx[k] = len(batch)
			batch = append(batch, ev)
			continue
		}
		res.Stale++
		if cur := batch[i]; ev.At > cur.At || ev.At == cur.At && ev.ID > cur.ID {
			batch[i] = ev
		}
	}
	// Key order turns random B-tree inserts into appends and neighbours,
	// which is what makes large batches fast.
	slices.SortFunc(batch, func(a, b zan.Event) int {
		return cmp.Or(
			cmp.Compare(a.Target.Type, b.Target.Type),
			cmp.Compare(a.Target.ID, b.Target.ID),
			cmp.Compare(a.User, b.User))
	})

	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return zan.ApplyResult{}, dbErr(ctx, err)
	}
	defer tx.Rollback()

	get, err := tx.PrepareContext(ctx,
		`SELECT liked, liked_at, changed_at FROM likes WHERE target_type = ? AND target_id = ? AND user_id = ?`)
	if err != nil {
		return zan.ApplyResult{}, dbErr(ctx, err)
	}
	defer get.Close()
	put, err := tx.PrepareContext(ctx,
		`INSERT INTO likes (target_type, target_id, user_id, liked, liked_at, changed_at) VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (target_type, target_id, user_id) DO UPDATE SET
			liked = excluded.liked, liked_at = excluded.liked_at, changed_at = excluded.changed_at`)
	if err != nil {
		return zan.ApplyResult{}, dbErr(ctx, err)
	}
	defer put.Close()

	type delta struct {
		t zan.Target
		n int64
	}
	var deltas []delta // in key order, one per target at most
	for _, ev := range batch {
		var (
			liked              bool
			likedAt, changedAt int64
			exists             = true
		)
		err := get.QueryRowContext(ctx, ev.Target.Type, ev.Target.ID, ev.User).Scan(&liked, &likedAt, &changedAt)
		if errors.Is(err, sql.ErrNoRows) {
			exists = false
		} else if err != nil {
			return zan.ApplyResult{}, dbErr(ctx, err)
		}
		if exists && ev.At <= changedAt {
			res.Stale++
			continue
		}
		now := ev.Liked()
		// A like written here is either a flip or a like that follows an
		// unlike the batch (or the log) collapsed away: either way the
		// user liked at ev.At. An unlike keeps the time of the like it
		// ends; a first-seen unlike is a tombstone whose liked_at is unused.
		newLikedAt := likedAt
		if now || !exists {
			newLikedAt = ev.At
		}
		if _, err := put.ExecContext(ctx, ev.Target.Type, ev.Target.ID, ev.User, now, newLikedAt, ev.At); err != nil {
			return zan.ApplyResult{}, dbErr(ctx, err)
		}
		if now == liked {
			continue
		}
		res.Changed++
		d := int64(1)
		if !now {
			d = -1
		}
		if n := len(deltas); n > 0 && deltas[n-1].t == ev.Target {
			deltas[n-1].n += d
		} else {
			deltas = append(deltas, delta{ev.Target, d})
		}
	}

	if len(deltas) > 0 {
		add, err := tx.PrepareContext(ctx,
			`INSERT INTO like_counts (target_type, target_id, count) VALUES (?, ?, ?)
			 ON CONFLICT (target_type, target_id) DO UPDATE SET count = count + excluded.count`)
		if err != nil {
			return zan.ApplyResult{}, dbErr(ctx, err)
		}
		defer add.Close()
		for _, d := range deltas {
			if d.n == 0 {
				continue
			}
			if _, err := add.ExecContext(ctx, d.t.Type, d.t.ID, d.n); err != nil {
				return zan.ApplyResult{}, dbErr(ctx, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return zan.ApplyResult{}, dbErr(ctx, err)
	}
	return res, nil
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
