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

// ApplyLikeNotices implements zan.NotificationStore. The recipients' unread
// rows are locked first, in id order: every change to one inbox is
// serialised on that row, and two batches lock in the same order.
func (r Common) ApplyLikeNotices(ctx context.Context, notices []zan.LikeNotice) (map[int64]int64, error) {
	// Per (target, actor) only the latest notice of the batch counts: the
	// inbox ends the same as after applying them all, in fewer statements.
	type key struct {
		t     zan.Target
		actor int64
	}
	last := map[key]int{}
	var todo []zan.LikeNotice
	for _, n := range notices {
		if n.Kept || n.Recipient == n.User || n.Recipient <= 0 {
			continue
		}
		k := key{n.Target, n.User}
		if i, ok := last[k]; ok {
			if n.At > todo[i].At {
				todo[i] = n
			}
			continue
		}
		last[k] = len(todo)
		todo = append(todo, n)
	}
	if len(todo) == 0 {
		return nil, nil
	}
	var recipients []int64
	for _, n := range todo {
		recipients = append(recipients, n.Recipient)
	}
	slices.Sort(recipients)
	recipients = slices.Compact(recipients)
	var out map[int64]int64
	err := r.inTx(ctx, func(sqlTx *sql.Tx) error {
		tx := &txStmts{tx: sqlTx}
		out = map[int64]int64{}
		unread := make(map[int64]int64, len(recipients))
		for _, u := range recipients {
			if _, err := tx.ExecContext(ctx, `INSERT INTO `+r.table("notification_unread")+` (user_id, n) VALUES (?, 0)`+
				r.dialect.IgnoreDuplicate("n"), u); err != nil {
				return err
			}
			var n int64
			if err := tx.QueryRowContext(ctx, `SELECT n FROM `+r.table("notification_unread")+` WHERE user_id = ?`+r.dialect.ForUpdate, u).Scan(&n); err != nil {
				return err
			}
			unread[u] = n
		}
		changed := map[int64]bool{}
		items := map[int64]*itemState{}
		b := &noticeBatch{unread: unread, items: items, open: map[openKey]int64{}}
		for _, n := range todo {
			c, err := r.applyNotice(ctx, tx, n, b)
			if err != nil {
				return err
			}
			changed[n.Recipient] = changed[n.Recipient] || c
		}
		for id, it := range items {
			if it.dirty && !it.deleted {
				if err := r.refreshItem(ctx, tx, it.user, id, it.count, it.at); err != nil {
					return err
				}
			}
		}
		for u, c := range changed {
			if !c {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE `+r.table("notification_unread")+` SET n = ? WHERE user_id = ?`, unread[u], u); err != nil {
				return err
			}
			out[u] = unread[u]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// actorRow is a notification_actors row.
type actorRow struct {
	found bool
	item  int64
	liked bool
	at    int64
}

// itemState is an item a batch changed: its actor count and latest time
// are written (with its latest actors) once, at the end of the batch.
type itemState struct {
	user, count, at int64
	dirty, deleted  bool
}

// item returns the batch's state of item id, reading it on first use.
func (r Common) item(ctx context.Context, tx *txStmts, items map[int64]*itemState, user, id int64) (*itemState, error) {
	if it, ok := items[id]; ok {
		return it, nil
	}
	it := &itemState{user: user}
	if err := tx.QueryRowContext(ctx, `SELECT actor_count, updated_at FROM `+r.table("notifications")+` WHERE user_id = ? AND id = ?`,
		user, id).Scan(&it.count, &it.at); err != nil {
		return nil, err
	}
	items[id] = it
	return it, nil
}

// noticeBatch is what a batch keeps between its notices: the recipients'
// unread counts, the items it changed, and the unread item per (recipient,
// target) as far as it looked one up (0: none).
type noticeBatch struct {
	unread map[int64]int64
	items  map[int64]*itemState
	open   map[openKey]int64
}

type openKey struct {
	user   int64
	target zan.Target
}

// applyNotice applies one notice in tx, keeping the batch's state; it
// reports whether the inbox changed.
func (r Common) applyNotice(ctx context.Context, tx *txStmts, n zan.LikeNotice, b *noticeBatch) (bool, error) {
	unread, items := b.unread, b.items
	var a actorRow
	var liked int
	err := tx.QueryRowContext(ctx, `SELECT notification_id, liked, at FROM `+r.table("notification_actors")+
		` WHERE target_type = ? AND target_id = ? AND actor_id = ?`+r.dialect.ForUpdate,
		n.Target.Type, n.Target.ID, n.User).Scan(&a.item, &liked, &a.at)
	switch {
	case err == nil:
		a.found, a.liked = true, liked == 1
	case err != sql.ErrNoRows:
		return false, err
	}
	if a.found && a.at >= n.At {
		return false, nil // stale: a redelivery, or older than what was applied
	}
	// The state of the item the actor counts in.
	var itemExists, itemUnread bool
	if it, ok := items[a.item]; ok && a.found && a.item != 0 {
		// The batch changed it: an unread item, unless it deleted it.
		itemExists, itemUnread = !it.deleted, !it.deleted
	} else if a.found && a.item != 0 {
		var u sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT unread FROM `+r.table("notifications")+` WHERE user_id = ? AND id = ?`,
			n.Recipient, a.item).Scan(&u)
		switch {
		case err == nil:
			itemExists, itemUnread = true, u.Valid
		case err != sql.ErrNoRows:
			return false, err
		}
	}
	setActor := func(item int64, like bool) error {
		l := 0
		if like {
			l = 1
		}
		if a.found {
			_, err := tx.ExecContext(ctx, `UPDATE `+r.table("notification_actors")+` SET notification_id = ?, liked = ?, at = ?`+
				` WHERE target_type = ? AND target_id = ? AND actor_id = ?`, item, l, n.At, n.Target.Type, n.Target.ID, n.User)
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO `+r.table("notification_actors")+
			` (target_type, target_id, actor_id, notification_id, liked, at) VALUES (?, ?, ?, ?, ?, ?)`,
			n.Target.Type, n.Target.ID, n.User, item, l, n.At)
		return err
	}

	if !n.Liked() {
		if !(a.liked && itemUnread) {
			return false, setActor(a.item, false)
		}
		if err := setActor(a.item, false); err != nil {
			return false, err
		}
		it, err := r.item(ctx, tx, items, n.Recipient, a.item)
		if err != nil {
			return false, err
		}
		it.count--
		it.dirty = true
		if it.count <= 0 {
			// Everyone it told of took their like back before it was read.
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+r.table("notifications")+` WHERE user_id = ? AND id = ?`,
				n.Recipient, a.item); err != nil {
				return false, err
			}
			it.deleted = true
			delete(b.open, openKey{n.Recipient, n.Target})
			unread[n.Recipient]--
		}
		return true, nil
	}

	switch {
	case a.liked && itemUnread:
		return false, setActor(a.item, true) // counted already
	case itemExists && !itemUnread:
		// The recipient read an item that told of this actor: toggling
		// the like tells nothing new.
		return false, setActor(a.item, true)
	}
	item := n.NewID
	ok := openKey{n.Recipient, n.Target}
	var u sql.NullInt64
	if id, seen := b.open[ok]; seen && id != 0 {
		u.Int64, err = id, nil
	} else if seen {
		err = sql.ErrNoRows
	} else {
		err = tx.QueryRowContext(ctx, `SELECT id FROM `+r.table("notifications")+
			` WHERE user_id = ? AND target_type = ? AND target_id = ? AND unread = 1`,
			n.Recipient, n.Target.Type, n.Target.ID).Scan(&u)
	}
	switch {
	case err == nil:
		item = u.Int64
		b.open[ok] = item
	case err == sql.ErrNoRows:
		b.open[ok] = item
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+r.table("notifications")+` (`+notificationCols+`, read_at)`+
			` VALUES (?, ?, 'like', ?, ?, '', 0, 1, ?, 0)`, item, n.Recipient, n.Target.Type, n.Target.ID, n.At); err != nil {
			return false, err
		}
		items[item] = &itemState{user: n.Recipient, at: n.At}
		unread[n.Recipient]++
	default:
		return false, err
	}
	if err := setActor(item, true); err != nil {
		return false, err
	}
	it, err := r.item(ctx, tx, items, n.Recipient, item)
	if err != nil {
		return false, err
	}
	it.count++
	it.at = max(it.at, n.At)
	it.dirty = true
	return true, nil
}

// refreshItem writes an item's actor count and time, and its latest actors
// from notification_actors.
func (r Common) refreshItem(ctx context.Context, tx *txStmts, user, item, count, at int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT actor_id FROM `+r.table("notification_actors")+
		` WHERE notification_id = ? AND liked = 1 ORDER BY at DESC LIMIT ?`, item, zan.NotificationActors)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, strconv.FormatInt(id, 10))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE `+r.table("notifications")+` SET actor_count = ?, actors = ?, updated_at = ?`+
		` WHERE user_id = ? AND id = ?`, count, strings.Join(ids, ","), at, user, item)
	return err
}

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

// txStmts prepares each statement of a transaction once: a batch runs the
// same few statements for every notice, and parsing them again each time
// was 40% of the notifier's CPU in SQLite (pprof under zan bench
// --scenarios blog-likes). The transaction closes them when it ends.
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

func (t *txStmts) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (t *txStmts) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// rowScanner is a row whose error may come from preparing its statement.
type rowScanner struct {
	row *sql.Row
	err error
}

func (r rowScanner) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.row.Scan(dest...)
}

func (t *txStmts) QueryRowContext(ctx context.Context, q string, args ...any) rowScanner {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return rowScanner{err: err}
	}
	return rowScanner{row: st.QueryRowContext(ctx, args...)}
}
