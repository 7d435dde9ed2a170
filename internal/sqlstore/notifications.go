package sqlstore

import (
	"context"
	"database/sql"
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

// PruneNotifications implements zan.NotificationStore.
func (r Common) PruneNotifications(ctx context.Context, readBefore time.Time) (int, error) {
	var n int64
	err := r.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM `+r.table("notifications")+` WHERE unread IS NULL AND read_at < ?`, Micros(readBefore))
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM `+r.table("notification_actors")+` WHERE at < ? AND NOT EXISTS (SELECT 1 FROM `+
			r.table("notifications")+` n WHERE n.id = `+r.table("notification_actors")+`.notification_id AND n.unread = 1)`, Micros(readBefore))
		return err
	})
	return int(n), err
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
