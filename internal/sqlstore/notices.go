package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strconv"
	"strings"

	"github.com/zanlabs/zan"
)

// ApplyLikeNotices implements zan.NotificationStore, set-based: a batch
// costs a few statements whatever its size, plus one read of the latest
// actors per item it changed. It reads every row the batch touches (the
// recipients' unread counters, the actors' rows, their items and the open
// items of the liked targets) in one statement per table, works the
// notices out in memory one after the other, exactly as if each were
// applied on its own, and writes what changed back with multi-row
// statements. Per-notice statements (four to six each) were most of the
// notifier's CPU under a like load, and a round trip each on MySQL.
//
// The recipients' unread rows are locked first, in id order: every change
// to one inbox is serialised on that row, and two batches lock in the same
// order.
func (r Common) ApplyLikeNotices(ctx context.Context, notices []zan.LikeNotice) (map[int64]int64, error) {
	todo := coalesceNotices(notices)
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
		b := &noticeBatch{
			unread: make(map[int64]int64, len(recipients)),
			actors: make(map[actorKey]*actorRow, len(todo)),
			items:  map[int64]*itemState{},
			open:   map[openKey]int64{},
		}
		if err := r.loadNoticeBatch(ctx, tx, b, todo, recipients); err != nil {
			return err
		}
		changed := map[int64]bool{}
		for _, n := range todo {
			if b.apply(n) {
				changed[n.Recipient] = true
			}
		}
		out = make(map[int64]int64, len(changed))
		for u := range changed {
			out[u] = b.unread[u]
		}
		return r.writeNoticeBatch(ctx, tx, b, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// coalesceNotices keeps, per (target, actor), only the latest notice of a
// batch (the first one's place in the order): the inbox ends the same as
// after applying them all, since each (target, actor) keeps only the time
// and kind of its last event. Own likes and notices without a recipient
// go.
func coalesceNotices(notices []zan.LikeNotice) []zan.LikeNotice {
	last := map[actorKey]int{}
	var todo []zan.LikeNotice
	for _, n := range notices {
		if n.Kept || n.Recipient == n.User || n.Recipient <= 0 {
			continue
		}
		k := actorKey{n.Target, n.User}
		if i, ok := last[k]; ok {
			if n.At > todo[i].At {
				todo[i] = n
			}
			continue
		}
		last[k] = len(todo)
		todo = append(todo, n)
	}
	return todo
}

type actorKey struct {
	t     zan.Target
	actor int64
}

type openKey struct {
	user   int64
	target zan.Target
}

// actorRow is a notification_actors row as the batch leaves it.
type actorRow struct {
	found bool  // stored before the batch
	item  int64 // the item the actor counts in (0: none)
	liked bool
	at    int64
	dirty bool // to be written
}

// itemState is an item the batch read or made.
type itemState struct {
	id, user    int64
	target      zan.Target
	count, at   int64
	unread      bool
	made        bool // made by this batch
	dirty, gone bool // changed; deleted
	actors      string
}

// noticeBatch is what a batch read and what it changed.
type noticeBatch struct {
	unread map[int64]int64 // recipient → unread count
	actors map[actorKey]*actorRow
	items  map[int64]*itemState
	open   map[openKey]int64 // the unread item per (recipient, target); 0: none
}

// apply works notice n out on the batch's state and reports whether the
// recipient's inbox changed. It is the rule of the README's
// "Notifications": one unread item per target gathering its likers; an
// unlike before the item is read takes the liker out (the last one out
// deletes the item); after it is read, toggling tells nothing new; a stale
// notice (not newer than the actor's last) changes nothing.
func (b *noticeBatch) apply(n zan.LikeNotice) bool {
	a := b.actors[actorKey{n.Target, n.User}]
	if a.found && a.at >= n.At {
		return false // stale: a redelivery, or older than what was applied
	}
	// The item the actor counts in, while it is there.
	var it *itemState
	if a.item != 0 {
		if x := b.items[a.item]; x != nil && !x.gone && x.user == n.Recipient {
			it = x
		}
	}
	itemUnread := it != nil && it.unread
	set := func(item int64, like bool) {
		a.item, a.liked, a.at, a.dirty = item, like, n.At, true
	}
	if !n.Liked() {
		counted := a.liked && itemUnread
		set(a.item, false)
		if !counted {
			return false
		}
		it.count--
		it.dirty = true
		if it.count <= 0 {
			// Everyone it told of took their like back before it was read.
			it.gone = true
			b.open[openKey{n.Recipient, n.Target}] = 0
			b.unread[n.Recipient]--
		}
		return true
	}
	if (a.liked && itemUnread) || (it != nil && !itemUnread) {
		// Counted already; or the recipient read an item that told of
		// this actor, and toggling the like tells nothing new.
		set(a.item, true)
		return false
	}
	ok := openKey{n.Recipient, n.Target}
	id := b.open[ok]
	if id == 0 {
		id = n.NewID
		b.items[id] = &itemState{id: id, user: n.Recipient, target: n.Target, at: n.At, unread: true, made: true}
		b.open[ok] = id
		b.unread[n.Recipient]++
	}
	set(id, true)
	it = b.items[id]
	it.count++
	it.at = max(it.at, n.At)
	it.dirty = true
	return true
}

// noticeChunk bounds the rows of one statement (SQLite allows 32,766
// parameters, MySQL 65,535; the widest row here has 10).
const noticeChunk = 500

// loadNoticeBatch locks the recipients' unread counters and reads the
// actors' rows, their items and the open items of the liked targets.
func (r Common) loadNoticeBatch(ctx context.Context, tx *txStmts, b *noticeBatch, todo []zan.LikeNotice, recipients []int64) error {
	for c := range slices.Chunk(recipients, noticeChunk) {
		args := make([]any, 0, len(c))
		for _, u := range c {
			args = append(args, u)
		}
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO `+r.table("notification_unread")+` (user_id, n) VALUES `+
			rowsOf(len(c), "(?, 0)")+r.dialect.IgnoreDuplicate("n"), args...); err != nil {
			return err
		}
		err := queryRows(ctx, tx.tx, `SELECT user_id, n FROM `+r.table("notification_unread")+` WHERE user_id IN (`+
			Placeholders(len(c))+`) ORDER BY user_id`+r.dialect.ForUpdate, args, func(rows *sql.Rows) error {
			var u, n int64
			if err := rows.Scan(&u, &n); err != nil {
				return err
			}
			b.unread[u] = n
			return nil
		})
		if err != nil {
			return err
		}
	}

	// The actors' rows: a VALUES list of the keys joined to the table where
	// the dialect says so (SQLite: a seek per key; an OR of the keys cost
	// it a temporary b-tree to drop duplicates, as much as the seeks), else
	// (type = ? AND id = ? AND actor IN (...)) OR ..., grouped by target, a
	// range per target on the primary key.
	keys := make([]actorKey, 0, len(todo))
	for _, n := range todo {
		k := actorKey{n.Target, n.User}
		b.actors[k] = &actorRow{}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y actorKey) int {
		return cmp.Or(strings.Compare(x.t.Type, y.t.Type), cmp.Compare(x.t.ID, y.t.ID), cmp.Compare(x.actor, y.actor))
	})
	for c := range slices.Chunk(keys, noticeChunk) {
		var q strings.Builder
		var args []any
		if r.dialect.JoinValues {
			q.WriteString(`SELECT n.target_type, n.target_id, n.actor_id, n.notification_id, n.liked, n.at FROM (VALUES ` +
				rowsOf(len(c), "(?, ?, ?)") + `) k JOIN ` + r.table("notification_actors") +
				` n ON n.target_type = k.column1 AND n.target_id = k.column2 AND n.actor_id = k.column3`)
			for _, k := range c {
				args = append(args, k.t.Type, k.t.ID, k.actor)
			}
		} else {
			q.WriteString(`SELECT target_type, target_id, actor_id, notification_id, liked, at FROM ` + r.table("notification_actors") + ` WHERE `)
			for i := 0; i < len(c); {
				j := i + 1
				for j < len(c) && c[j].t == c[i].t {
					j++
				}
				if i > 0 {
					q.WriteString(` OR `)
				}
				q.WriteString(`(target_type = ? AND target_id = ? AND actor_id IN (` + Placeholders(j-i) + `))`)
				args = append(args, c[i].t.Type, c[i].t.ID)
				for _, k := range c[i:j] {
					args = append(args, k.actor)
				}
				i = j
			}
		}
		q.WriteString(r.dialect.ForUpdate)
		err := queryRows(ctx, tx.tx, q.String(), args, func(rows *sql.Rows) error {
			var k actorKey
			var a actorRow
			var liked int
			if err := rows.Scan(&k.t.Type, &k.t.ID, &k.actor, &a.item, &liked, &a.at); err != nil {
				return err
			}
			a.found, a.liked = true, liked == 1
			if p := b.actors[k]; p != nil {
				*p = a
			}
			return nil
		})
		if err != nil {
			return err
		}
	}

	// Their items, by id.
	var ids []int64
	for _, a := range b.actors {
		if a.found && a.item != 0 {
			ids = append(ids, a.item)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for c := range slices.Chunk(ids, noticeChunk) {
		args := make([]any, 0, len(c))
		for _, id := range c {
			args = append(args, id)
		}
		if err := r.readItems(ctx, tx, b, `id IN (`+Placeholders(len(c))+`)`, args); err != nil {
			return err
		}
	}

	// The open items of the liked targets, grouped by recipient and type:
	// (user = ? AND type = ? AND id IN (...) AND unread = 1) OR ..., a
	// range each on the index of open items.
	var opens []openKey
	for _, n := range todo {
		if n.Liked() {
			ok := openKey{n.Recipient, n.Target}
			if _, seen := b.open[ok]; !seen {
				b.open[ok] = 0
				opens = append(opens, ok)
			}
		}
	}
	slices.SortFunc(opens, func(x, y openKey) int {
		return cmp.Or(cmp.Compare(x.user, y.user), strings.Compare(x.target.Type, y.target.Type), cmp.Compare(x.target.ID, y.target.ID))
	})
	for c := range slices.Chunk(opens, noticeChunk) {
		var q strings.Builder
		var args []any
		for i := 0; i < len(c); {
			j := i + 1
			for j < len(c) && c[j].user == c[i].user && c[j].target.Type == c[i].target.Type {
				j++
			}
			if i > 0 {
				q.WriteString(` OR `)
			}
			q.WriteString(`(user_id = ? AND target_type = ? AND target_id IN (` + Placeholders(j-i) + `) AND unread = 1)`)
			args = append(args, c[i].user, c[i].target.Type)
			for _, k := range c[i:j] {
				args = append(args, k.target.ID)
			}
			i = j
		}
		if err := r.readItems(ctx, tx, b, q.String(), args); err != nil {
			return err
		}
	}
	return nil
}

// readItems reads the items that match where into the batch, and notes the
// unread ones as their targets' open items.
func (r Common) readItems(ctx context.Context, tx *txStmts, b *noticeBatch, where string, args []any) error {
	return queryRows(ctx, tx.tx, `SELECT id, user_id, target_type, target_id, actor_count, unread, updated_at FROM `+
		r.table("notifications")+` WHERE `+where, args, func(rows *sql.Rows) error {
		it := &itemState{}
		var u sql.NullInt64
		if err := rows.Scan(&it.id, &it.user, &it.target.Type, &it.target.ID, &it.count, &u, &it.at); err != nil {
			return err
		}
		if _, ok := b.items[it.id]; ok {
			return nil
		}
		it.unread = u.Valid
		b.items[it.id] = it
		if it.unread {
			b.open[openKey{it.user, it.target}] = it.id
		}
		return nil
	})
}

// writeNoticeBatch writes what the batch changed: the items it deleted,
// the actors' rows, the items it made or changed (with their latest
// actors), and the unread counters of the inboxes in changed.
func (r Common) writeNoticeBatch(ctx context.Context, tx *txStmts, b *noticeBatch, changed map[int64]int64) error {
	var gone, dirty []*itemState
	for _, it := range b.items {
		switch {
		case it.gone && !it.made:
			gone = append(gone, it)
		case it.dirty && !it.gone:
			dirty = append(dirty, it)
		}
	}
	byID := func(x, y *itemState) int { return cmp.Compare(x.id, y.id) }
	slices.SortFunc(gone, byID)
	slices.SortFunc(dirty, byID)
	for c := range slices.Chunk(gone, noticeChunk) {
		args := make([]any, 0, len(c))
		for _, it := range c {
			args = append(args, it.id)
		}
		if _, err := tx.tx.ExecContext(ctx, `DELETE FROM `+r.table("notifications")+` WHERE id IN (`+Placeholders(len(c))+`)`, args...); err != nil {
			return err
		}
	}

	var actors []actorKey
	for k, a := range b.actors {
		if a.dirty {
			actors = append(actors, k)
		}
	}
	slices.SortFunc(actors, func(x, y actorKey) int {
		return cmp.Or(strings.Compare(x.t.Type, y.t.Type), cmp.Compare(x.t.ID, y.t.ID), cmp.Compare(x.actor, y.actor))
	})
	for c := range slices.Chunk(actors, noticeChunk) {
		args := make([]any, 0, 6*len(c))
		for _, k := range c {
			a := b.actors[k]
			l := 0
			if a.liked {
				l = 1
			}
			args = append(args, k.t.Type, k.t.ID, k.actor, a.item, l, a.at)
		}
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO `+r.table("notification_actors")+
			` (target_type, target_id, actor_id, notification_id, liked, at) VALUES `+rowsOf(len(c), "(?, ?, ?, ?, ?, ?)")+
			r.dialect.Upsert([]string{"target_type", "target_id", "actor_id"}, "notification_id", "liked", "at"), args...); err != nil {
			return err
		}
	}

	// The latest actors of each item, now that its actors are written: one
	// indexed read of at most NotificationActors rows per item (a set-based
	// read would scan all the likers of a popular item). Where a statement
	// is a round trip to a server, the reads of up to unionChunk items go
	// in one statement, a UNION ALL of them.
	if r.dialect.RoundTrips {
		for c := range slices.Chunk(dirty, unionChunk) {
			if err := r.latestActorsOf(ctx, tx, c); err != nil {
				return err
			}
		}
	} else {
		for _, it := range dirty {
			var err error
			if it.actors, err = r.latestActors(ctx, tx, it.id); err != nil {
				return err
			}
		}
	}
	// One upsert makes the new items and updates the others. A changed item
	// that was there is unread (only unread items gather likers): its row
	// goes in with unread NULL, so that it cannot clash with itself on the
	// unique index of open items before the key's conflict turns the insert
	// into the update of actor_count, actors and updated_at.
	for c := range slices.Chunk(dirty, noticeChunk) {
		args := make([]any, 0, 8*len(c))
		for _, it := range c {
			var unread any
			if it.made {
				unread = 1
			}
			args = append(args, it.id, it.user, it.target.Type, it.target.ID, it.actors, it.count, unread, it.at)
		}
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO `+r.table("notifications")+` (`+notificationCols+`, read_at) VALUES `+
			rowsOf(len(c), "(?, ?, 'like', ?, ?, ?, ?, ?, ?, 0)")+
			r.dialect.Upsert([]string{"id"}, "actors", "actor_count", "updated_at"), args...); err != nil {
			return err
		}
	}

	users := slices.Sorted(func(yield func(int64) bool) {
		for u := range changed {
			if !yield(u) {
				return
			}
		}
	})
	for c := range slices.Chunk(users, noticeChunk) {
		args := make([]any, 0, 2*len(c))
		for _, u := range c {
			args = append(args, u, changed[u])
		}
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO `+r.table("notification_unread")+` (user_id, n) VALUES `+
			rowsOf(len(c), "(?, ?)")+r.dialect.Upsert([]string{"user_id"}, "n"), args...); err != nil {
			return err
		}
	}
	return nil
}

// latestActors returns the latest NotificationActors likers counted in
// item, newest first, comma-separated.
func (r Common) latestActors(ctx context.Context, tx *txStmts, item int64) (string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT actor_id FROM `+r.table("notification_actors")+
		` WHERE notification_id = ? AND liked = 1 ORDER BY at DESC LIMIT ?`, item, zan.NotificationActors)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return "", err
		}
		ids = append(ids, strconv.FormatInt(id, 10))
	}
	return strings.Join(ids, ","), rows.Err()
}

// unionChunk bounds the items of one UNION ALL read of latest actors.
const unionChunk = 100

// latestActorsOf sets the latest actors of items, in one statement.
func (r Common) latestActorsOf(ctx context.Context, tx *txStmts, items []*itemState) error {
	var q strings.Builder
	args := make([]any, 0, 2*len(items))
	for i, it := range items {
		if i > 0 {
			q.WriteString(` UNION ALL `)
		}
		q.WriteString(`(SELECT notification_id, actor_id, at FROM ` + r.table("notification_actors") +
			` WHERE notification_id = ? AND liked = 1 ORDER BY at DESC LIMIT ?)`)
		args = append(args, it.id, zan.NotificationActors)
	}
	type actor struct{ id, at int64 }
	byItem := map[int64][]actor{}
	err := queryRows(ctx, tx.tx, q.String(), args, func(rows *sql.Rows) error {
		var item int64
		var a actor
		if err := rows.Scan(&item, &a.id, &a.at); err != nil {
			return err
		}
		byItem[item] = append(byItem[item], a)
		return nil
	})
	if err != nil {
		return err
	}
	for _, it := range items {
		// A UNION ALL keeps no order of its parts' rows: newest first again.
		as := byItem[it.id]
		slices.SortStableFunc(as, func(x, y actor) int { return cmp.Compare(y.at, x.at) })
		ids := make([]string, len(as))
		for i, a := range as {
			ids[i] = strconv.FormatInt(a.id, 10)
		}
		it.actors = strings.Join(ids, ",")
	}
	return nil
}

// rowsOf returns n copies of row, comma-separated: a multi-row VALUES list.
func rowsOf(n int, row string) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat(row+", ", n-1) + row
}

// queryRows runs q in tx and hands each row to scan.
func queryRows(ctx context.Context, tx *sql.Tx, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
