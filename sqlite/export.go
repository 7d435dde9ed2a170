package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/zanlabs/zan"
)

var (
	_ zan.Exporter = (*DB)(nil)
	_ zan.Importer = (*DB)(nil)
)

// ExportUsers returns up to limit users with ID > afterID, by ID.
func (db *DB) ExportUsers(ctx context.Context, afterID int64, limit int) ([]zan.User, error) {
	var us []zan.User
	err := db.query(ctx, `SELECT id, phone, nickname, created_at FROM users WHERE id > ? ORDER BY id LIMIT ?`,
		[]any{afterID, limitOf(limit)}, func(rows *sql.Rows) error {
			u, err := scanUser(rows)
			us = append(us, u)
			return err
		})
	return us, err
}

// ExportBlogs returns up to limit blogs with ID > afterID, by ID.
func (db *DB) ExportBlogs(ctx context.Context, afterID int64, limit int) ([]zan.Blog, error) {
	var bs []zan.Blog
	err := db.query(ctx,
		`SELECT id, author_id, title, content, shop_id, created_at FROM blogs WHERE id > ? ORDER BY id LIMIT ?`,
		[]any{afterID, limitOf(limit)}, func(rows *sql.Rows) error {
			b, err := scanBlog(rows)
			bs = append(bs, b)
			return err
		})
	return bs, err
}

// ExportLikes returns up to limit like rows after the key, as events; see
// zan.Exporter. The keyset is split into three plain ranges of the primary
// key (rest of the target, rest of the type, later types), each an index
// range scan.
func (db *DB) ExportLikes(ctx context.Context, after zan.LikeKey, limit int) ([]zan.Event, error) {
	limit = limitOf(limit)
	const sel = `SELECT target_type, target_id, user_id, liked, changed_at FROM likes WHERE `
	const order = ` ORDER BY target_type, target_id, user_id LIMIT ?`
	steps := []struct {
		cond string
		args []any
	}{
		{`target_type = ? AND target_id = ? AND user_id > ?`, []any{after.Type, after.ID, after.User}},
		{`target_type = ? AND target_id > ?`, []any{after.Type, after.ID}},
		{`target_type > ?`, []any{after.Type}},
	}
	evs := make([]zan.Event, 0, min(limit, 1024))
	for _, st := range steps {
		if len(evs) >= limit {
			break
		}
		err := db.query(ctx, sel+st.cond+order, append(st.args, limit-len(evs)), func(rows *sql.Rows) error {
			var (
				ev    zan.Event
				liked bool
			)
			if err := rows.Scan(&ev.Target.Type, &ev.Target.ID, &ev.User, &liked, &ev.At); err != nil {
				return err
			}
			ev.Op = zan.OpUnlike
			if liked {
				ev.Op = zan.OpLike
			}
			ev.ID = zan.LikeEventID(ev.Target, ev.User, ev.At)
			evs = append(evs, ev)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return evs, nil
}

// ExportCounts returns up to limit stored counts after target after, by
// (type, id).
func (db *DB) ExportCounts(ctx context.Context, after zan.Target, limit int) ([]zan.TargetCount, error) {
	limit = limitOf(limit)
	const sel = `SELECT target_type, target_id, count FROM like_counts WHERE `
	const order = ` ORDER BY target_type, target_id LIMIT ?`
	steps := []struct {
		cond string
		args []any
	}{
		{`target_type = ? AND target_id > ?`, []any{after.Type, after.ID}},
		{`target_type > ?`, []any{after.Type}},
	}
	var out []zan.TargetCount
	for _, st := range steps {
		if len(out) >= limit {
			break
		}
		err := db.query(ctx, sel+st.cond+order, append(st.args, limit-len(out)), func(rows *sql.Rows) error {
			var c zan.TargetCount
			if err := rows.Scan(&c.Target.Type, &c.Target.ID, &c.Count); err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CountTotals counts users, blogs and liked rows.
func (db *DB) CountTotals(ctx context.Context) (users, blogs, likedRows int64, err error) {
	err = db.r.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM users),
		(SELECT COUNT(*) FROM blogs),
		(SELECT COUNT(*) FROM likes WHERE liked = 1)`).Scan(&users, &blogs, &likedRows)
	return users, blogs, likedRows, dbErr(ctx, err)
}

// importChunk bounds the rows of one multi-row INSERT: 6 values a row stay
// under SQLite's 32766 host parameters.
const importChunk = 500

// ImportUsers inserts the users that are not there yet (by id or phone), in
// one transaction.
func (db *DB) ImportUsers(ctx context.Context, us []zan.User) error {
	return db.importRows(ctx, len(us),
		`INSERT INTO users (id, phone, nickname, created_at) VALUES `, "(?,?,?,?)",
		func(i int) []any { u := us[i]; return []any{u.ID, u.Phone, u.Nickname, micros(u.CreatedAt)} })
}

// ImportBlogs inserts the blogs that are not there yet, in one transaction.
func (db *DB) ImportBlogs(ctx context.Context, bs []zan.Blog) error {
	return db.importRows(ctx, len(bs),
		`INSERT INTO blogs (id, author_id, title, content, shop_id, created_at) VALUES `, "(?,?,?,?,?,?)",
		func(i int) []any {
			b := bs[i]
			return []any{b.ID, b.AuthorID, b.Title, b.Content, b.ShopID, micros(b.CreatedAt)}
		})
}

func (db *DB) importRows(ctx context.Context, n int, head, tuple string, row func(i int) []any) error {
	if n == 0 {
		return nil
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(ctx, err)
	}
	defer tx.Rollback()
	var (
		sb   strings.Builder
		args []any
	)
	for start := 0; start < n; start += importChunk {
		end := min(start+importChunk, n)
		sb.Reset()
		sb.WriteString(head)
		args = args[:0]
		for i := start; i < end; i++ {
			if i > start {
				sb.WriteByte(',')
			}
			sb.WriteString(tuple)
			args = append(args, row(i)...)
		}
		sb.WriteString(` ON CONFLICT DO NOTHING`)
		if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
			return dbErr(ctx, err)
		}
	}
	return dbErr(ctx, tx.Commit())
}
