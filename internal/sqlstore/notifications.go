package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zanlabs/zan"
)

const notificationCols = `id, user_id, kind, target_type, target_id, actors, actor_count, unread, updated_at`

func scanNotification(rows *sql.Rows) (zan.Notification, error) {
	var n zan.Notification
	var actors string
	var unread sql.NullInt64
	var updated int64
	if err := rows.Scan(&n.ID, &n.User, &n.Kind, &n.Target.Type, &n.Target.ID, &actors, &n.ActorCount, &unread, &updated); err != nil {
		return n, err
	}
	for s := range strings.SplitSeq(actors, ",") {
		if id, err := strconv.ParseInt(s, 10, 64); err == nil {
			n.Actors = append(n.Actors, id)
		}
	}
	n.Read = !unread.Valid
	n.UpdatedAt = FromMicros(updated)
	return n, nil
}

// Notifications implements zan.NotificationStore.
func (r Common) Notifications(ctx context.Context, user int64, limit int, after *zan.Cursor) (zan.NotificationPage, error) {
	limit = LimitOf(limit)
	q := `SELECT ` + notificationCols + ` FROM ` + r.table("notifications") + ` WHERE user_id = ?`
	args := []any{user}
	if after != nil {
		q += ` AND (updated_at < ? OR (updated_at = ? AND id < ?))`
		args = append(args, after.At, after.At, after.ID)
	}
	q += ` ORDER BY updated_at DESC, id DESC LIMIT ?`
	args = append(args, limit+1)
	var page zan.NotificationPage
	err := r.query(ctx, q, args, func(rows *sql.Rows) error {
		n, err := scanNotification(rows)
		page.Items = append(page.Items, n)
		return err
	})
	if err != nil {
		return zan.NotificationPage{}, err
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		last := page.Items[limit-1]
		page.Next = &zan.Cursor{At: Micros(last.UpdatedAt), ID: last.ID}
	}
	return page, nil
}

// UnreadNotifications implements zan.NotificationStore.
func (r Common) UnreadNotifications(ctx context.Context, user int64) (int64, error) {
	var n int64
	_, err := r.one(ctx, `SELECT n FROM `+r.table("notification_unread")+` WHERE user_id = ?`, []any{user},
		func(rows *sql.Rows) error { return rows.Scan(&n) })
	return n, err
}

// MarkNotificationsRead implements zan.NotificationStore.
func (r Common) MarkNotificationsRead(ctx context.Context, user int64, ids []int64, all bool, now time.Time) (int64, error) {
	var left int64
	err := r.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT n FROM `+r.table("notification_unread")+` WHERE user_id = ?`+r.dialect.ForUpdate, user).Scan(&left)
		if err == sql.ErrNoRows {
			left = 0
			return nil // nothing was ever unread
		}
		if err != nil {
			return err
		}
		q := `UPDATE ` + r.table("notifications") + ` SET unread = NULL, read_at = ? WHERE user_id = ? AND unread = 1`
		args := []any{Micros(now), user}
		if !all {
			if len(ids) == 0 {
				return nil
			}
			q += ` AND id IN (` + Placeholders(len(ids)) + `)`
			for _, id := range ids {
				args = append(args, id)
			}
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		left = max(left-n, 0)
		if all {
			left = 0
		}
		if _, err := tx.ExecContext(ctx, `UPDATE `+r.table("notification_unread")+` SET n = ? WHERE user_id = ?`, left, user); err != nil {
			return err
		}
		return r.capRead(ctx, tx, user)
	})
	return left, err
}

// capRead deletes user's read items past the newest NotificationsKeepRead.
func (r Common) capRead(ctx context.Context, tx *sql.Tx, user int64) error {
	var at, id int64
	err := tx.QueryRowContext(ctx, `SELECT updated_at, id FROM `+r.table("notifications")+
		` WHERE user_id = ? AND unread IS NULL ORDER BY updated_at DESC, id DESC LIMIT 1 OFFSET ?`,
		user, zan.NotificationsKeepRead).Scan(&at, &id)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM `+r.table("notifications")+` WHERE user_id = ? AND unread IS NULL`+
		` AND (updated_at < ? OR (updated_at = ? AND id <= ?))`, user, at, at, id)
	return err
}

// PruneChunk bounds the rows one step of PruneNotifications reads or
// deletes. Each step is its own short transaction, so that a prune never
// holds SQLite's one writer (nor MySQL's row locks) for long, however many
// rows it goes through; other writers get in between steps. A variable so
// that tests can make a prune span several steps.
var PruneChunk = 1000

// PruneNotifications implements zan.NotificationStore, in steps of
// PruneChunk rows: first the items read before readBefore, oldest reading
// first (by the index of read items: what a step deletes is gone, so the
// next one starts where it stopped); then the memory of actors, walked by
// its primary key from where the last step stopped (there is no index by
// time: it would cost every notice an index write, for an hourly prune).
func (r Common) PruneNotifications(ctx context.Context, readBefore time.Time) (int, error) {
	before := Micros(readBefore)
	items := r.table("notifications")
	var n int
	for {
		var got, deleted int
		err := r.inTx(ctx, func(tx *sql.Tx) error {
			got, deleted = 0, 0 // the dialect may run a transaction again
			var args []any
			err := queryRows(ctx, tx, `SELECT id FROM `+items+` WHERE unread IS NULL AND read_at < ? ORDER BY read_at LIMIT ?`,
				[]any{before, PruneChunk}, func(rows *sql.Rows) error {
					var id int64
					err := rows.Scan(&id)
					args = append(args, id)
					return err
				})
			if got = len(args); err != nil || got == 0 {
				return err
			}
			// Again unread IS NULL and read_at: a read item stays read and
			// its read_at never changes, but MySQL's read took no locks.
			res, err := tx.ExecContext(ctx, `DELETE FROM `+items+` WHERE id IN (`+Placeholders(got)+`) AND unread IS NULL AND read_at < ?`,
				append(args, before)...)
			if err != nil {
				return err
			}
			d, err := res.RowsAffected()
			deleted = int(d)
			return err
		})
		if err != nil {
			return n, err
		}
		n += deleted
		if got < PruneChunk {
			break
		}
	}

	actors := r.table("notification_actors")
	key := []string{"target_type", "target_id", "actor_id"}
	var after []any // the primary key the last step stopped at; nil: the start
	for {
		var got int
		var first, last []any
		err := r.inTx(ctx, func(tx *sql.Tx) error {
			got, first, last = 0, nil, nil // the dialect may run a transaction again
			q := `SELECT target_type, target_id, actor_id, at FROM ` + actors
			var args []any
			if after != nil {
				c, a := r.keyCompare(key, ">", after)
				q += ` WHERE ` + c
				args = slices.Clone(a)
			}
			old := false
			err := queryRows(ctx, tx, q+` ORDER BY target_type, target_id, actor_id LIMIT ?`, append(args, PruneChunk),
				func(rows *sql.Rows) error {
					var tt string
					var ti, ai, at int64
					if err := rows.Scan(&tt, &ti, &ai, &at); err != nil {
						return err
					}
					if first == nil {
						first = []any{tt, ti, ai}
					}
					last = []any{tt, ti, ai}
					old = old || at < before
					got++
					return nil
				})
			if err != nil || got == 0 || !old {
				return err
			}
			// The step's range of the key, again with the conditions: a row
			// may have changed since the read (MySQL's read took no locks).
			lo, loArgs := r.keyCompare(key, ">=", first)
			hi, hiArgs := r.keyCompare(key, "<=", last)
			args = slices.Concat(loArgs, hiArgs, []any{before})
			_, err = tx.ExecContext(ctx, `DELETE FROM `+actors+` WHERE `+lo+` AND `+hi+` AND at < ? AND NOT EXISTS (SELECT 1 FROM `+
				items+` n WHERE n.id = `+actors+`.notification_id AND n.unread = 1)`, args...)
			return err
		})
		if err != nil {
			return n, err
		}
		if got < PruneChunk {
			break
		}
		after = last
	}
	return n, nil
}

// keyCompare returns the condition that the columns cols, taken together
// in their order, compare to vals by op (">", ">=", "<", "<="), and its
// arguments: a row value where the dialect seeks an index with one
// (SQLite), else spelled out as nested ORs, which MySQL turns into ranges
// of the index (it scans the whole index for a row value).
func (r Common) keyCompare(cols []string, op string, vals []any) (string, []any) {
	if r.dialect.RowValues {
		return `(` + strings.Join(cols, ", ") + `) ` + op + ` (` + Placeholders(len(cols)) + `)`, vals
	}
	strict := op[:1] // the comparison of every column but the last
	var q strings.Builder
	var args []any
	for i, c := range cols {
		if i == len(cols)-1 {
			q.WriteString(c + ` ` + op + ` ?`)
			args = append(args, vals[i])
			break
		}
		q.WriteString(`(` + c + ` ` + strict + ` ? OR (` + c + ` = ? AND `)
		args = append(args, vals[i], vals[i])
	}
	q.WriteString(strings.Repeat(`))`, len(cols)-1))
	return q.String(), args
}

// txStmts prepares each statement of a transaction once: the read of an
// item's latest actors runs once per item a batch changed, and parsing it
// again each time costs SQLite as much as running it. The transaction
// closes them when it ends.
type txStmts struct {
	tx *sql.Tx
	m  map[string]*sql.Stmt
}

func (t *txStmts) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := t.m[q]; ok {
		return st, nil
	}
	st, err := t.tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if t.m == nil {
		t.m = map[string]*sql.Stmt{}
	}
	t.m[q] = st
	return st, nil
}

func (t *txStmts) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}
