package sqlstore

import (
	"context"
	"database/sql"

	"github.com/zanlabs/zan"
)

// ExportUsers returns up to limit users with ID > afterID, by ID.
func (r Common) ExportUsers(ctx context.Context, afterID int64, limit int) ([]zan.User, error) {
	var us []zan.User
	err := r.query(ctx, `SELECT `+UserCols+` FROM `+r.table("users")+` WHERE id > ? ORDER BY id LIMIT ?`,
		[]any{afterID, LimitOf(limit)}, func(rows *sql.Rows) error {
			u, err := ScanUser(rows)
			us = append(us, u)
			return err
		})
	return us, err
}

// ExportBlogs returns up to limit blogs with ID > afterID, by ID.
func (r Common) ExportBlogs(ctx context.Context, afterID int64, limit int) ([]zan.Blog, error) {
	var bs []zan.Blog
	err := r.query(ctx,
		`SELECT id, author_id, title, content, shop_id, created_at FROM `+r.table("blogs")+` WHERE id > ? ORDER BY id LIMIT ?`,
		[]any{afterID, LimitOf(limit)}, func(rows *sql.Rows) error {
			b, err := ScanBlog(rows)
			bs = append(bs, b)
			return err
		})
	return bs, err
}

// ExportLikes returns up to limit like rows after the key, as events; see
// zan.Exporter. The keyset is split into three plain ranges of the primary
// key (rest of the target, rest of the type, later types), each an index
// range scan.
func (r Common) ExportLikes(ctx context.Context, after zan.LikeKey, limit int) ([]zan.Event, error) {
	limit = LimitOf(limit)
	sel := `SELECT target_type, target_id, user_id, liked, changed_at FROM ` + r.table("likes") + ` WHERE `
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
		err := r.query(ctx, sel+st.cond+order, append(st.args, limit-len(evs)), func(rows *sql.Rows) error {
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
func (r Common) ExportCounts(ctx context.Context, after zan.Target, limit int) ([]zan.TargetCount, error) {
	limit = LimitOf(limit)
	sel := `SELECT target_type, target_id, count FROM ` + r.table("like_counts") + ` WHERE `
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
		err := r.query(ctx, sel+st.cond+order, append(st.args, limit-len(out)), func(rows *sql.Rows) error {
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
func (r Common) CountTotals(ctx context.Context) (users, blogs, likedRows int64, err error) {
	err = r.query(ctx, `SELECT
		(SELECT COUNT(*) FROM `+r.table("users")+`),
		(SELECT COUNT(*) FROM `+r.table("blogs")+`),
		(SELECT COUNT(*) FROM `+r.table("likes")+` WHERE liked = 1)`, nil, func(rows *sql.Rows) error {
		return rows.Scan(&users, &blogs, &likedRows)
	})
	return users, blogs, likedRows, err
}
