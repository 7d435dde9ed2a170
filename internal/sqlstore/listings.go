package sqlstore

import (
	"context"
	"database/sql"
	"strings"

	"github.com/zanlabs/zan"
)

// ScanChunk is how many user ids ScanLikers hands fn at a time; a variable
// so tests can page through small targets.
var ScanChunk = 10000

// timeBounds appends the Since/Until conditions of q on liked_at.
func timeBounds(sqlText string, args []any, q zan.LikeQuery) (string, []any) {
	if !q.Since.IsZero() {
		sqlText += ` AND liked_at >= ?`
		args = append(args, Micros(q.Since))
	}
	if !q.Until.IsZero() {
		sqlText += ` AND liked_at < ?`
		args = append(args, Micros(q.Until))
	}
	return sqlText, args
}

// Keyset conditions are spelled out rather than written as row comparisons
// ((a, b) < (?, ?)): MySQL and MariaDB do not turn a row inequality into an
// index range, so a deep page would scan every row before the cursor. The
// redundant bound on the leading column is the range; the OR filters within
// it.

// Likers lists the users who like t, by liked_at then user id.
func (r Common) Likers(ctx context.Context, t zan.Target, q zan.LikeQuery) (zan.LikerPage, error) {
	limit := LimitOf(q.Limit)
	s := `SELECT user_id, liked_at FROM ` + r.table("likes") + ` WHERE target_type = ? AND target_id = ? AND liked = 1`
	args := []any{t.Type, t.ID}
	s, args = timeBounds(s, args, q)
	dir, op := "DESC", "<"
	if q.Order == zan.Earliest {
		dir, op = "ASC", ">"
	}
	if q.After != nil {
		s += ` AND liked_at ` + op + `= ? AND (liked_at ` + op + ` ? OR user_id ` + op + ` ?)`
		args = append(args, q.After.At, q.After.At, q.After.ID)
	}
	s += ` ORDER BY liked_at ` + dir + `, user_id ` + dir + ` LIMIT ?`
	args = append(args, limit+1)

	var page zan.LikerPage
	err := r.query(ctx, s, args, func(rows *sql.Rows) error {
		var l zan.Liker
		var at int64
		if err := rows.Scan(&l.UserID, &at); err != nil {
			return err
		}
		l.LikedAt = FromMicros(at)
		page.Items = append(page.Items, l)
		return nil
	})
	if err != nil {
		return zan.LikerPage{}, err
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		last := page.Items[limit-1]
		page.Next = &zan.Cursor{At: Micros(last.LikedAt), ID: last.UserID}
	}
	return page, nil
}

// UserLikes lists what user likes, by liked_at then target.
func (r Common) UserLikes(ctx context.Context, user int64, q zan.LikeQuery) (zan.UserLikePage, error) {
	limit := LimitOf(q.Limit)
	s := `SELECT target_type, target_id, liked_at FROM ` + r.table("likes") + ` WHERE user_id = ? AND liked = 1`
	args := []any{user}
	if q.Type != "" {
		s += ` AND target_type = ?`
		args = append(args, q.Type)
	}
	s, args = timeBounds(s, args, q)
	dir, op := "DESC", "<"
	if q.Order == zan.Earliest {
		dir, op = "ASC", ">"
	}
	if q.After != nil {
		s += ` AND liked_at ` + op + `= ? AND (liked_at ` + op + ` ? OR target_type ` + op +
			` ? OR target_type = ? AND target_id ` + op + ` ?)`
		args = append(args, q.After.At, q.After.At, q.After.Type, q.After.Type, q.After.ID)
	}
	s += ` ORDER BY liked_at ` + dir + `, target_type ` + dir + `, target_id ` + dir + ` LIMIT ?`
	args = append(args, limit+1)

	var page zan.UserLikePage
	err := r.query(ctx, s, args, func(rows *sql.Rows) error {
		var l zan.UserLike
		var at int64
		if err := rows.Scan(&l.Target.Type, &l.Target.ID, &at); err != nil {
			return err
		}
		l.LikedAt = FromMicros(at)
		page.Items = append(page.Items, l)
		return nil
	})
	if err != nil {
		return zan.UserLikePage{}, err
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		last := page.Items[limit-1]
		page.Next = &zan.Cursor{At: Micros(last.LikedAt), Type: last.Target.Type, ID: last.Target.ID}
	}
	return page, nil
}

// ScanLikers calls fn with every user who likes t, in chunks. Each chunk is
// read and its rows closed before fn runs, so fn may be slow without holding
// a read open. The scan follows the likers index, (liked_at, user_id): a
// covering range read per chunk, and a like made during the scan has a later
// liked_at than the cursor, so it is still reached.
func (r Common) ScanLikers(ctx context.Context, t zan.Target, fn func(users []int64) error) error {
	var afterAt, afterUser int64
	first := true
	for {
		s := `SELECT user_id, liked_at FROM ` + r.table("likes") + ` WHERE target_type = ? AND target_id = ? AND liked = 1`
		args := []any{t.Type, t.ID}
		if !first {
			s += ` AND liked_at >= ? AND (liked_at > ? OR user_id > ?)`
			args = append(args, afterAt, afterAt, afterUser)
		}
		s += ` ORDER BY liked_at, user_id LIMIT ?`
		args = append(args, ScanChunk)
		users := make([]int64, 0, min(ScanChunk, 1024))
		var lastAt int64
		err := r.query(ctx, s, args, func(rows *sql.Rows) error {
			var u int64
			if err := rows.Scan(&u, &lastAt); err != nil {
				return err
			}
			users = append(users, u)
			return nil
		})
		if err != nil {
			return err
		}
		if len(users) == 0 {
			return nil
		}
		if err := fn(users); err != nil {
			return err
		}
		if len(users) < ScanChunk {
			return nil
		}
		first, afterAt, afterUser = false, lastAt, users[len(users)-1]
	}
}

// LastLikeChange returns the greatest changed_at of t's rows, 0 for none.
func (r Common) LastLikeChange(ctx context.Context, t zan.Target) (int64, error) {
	var at int64
	err := r.query(ctx, `SELECT COALESCE(MAX(changed_at), 0) FROM `+r.table("likes")+` WHERE target_type = ? AND target_id = ?`,
		[]any{t.Type, t.ID}, func(rows *sql.Rows) error { return rows.Scan(&at) })
	return at, err
}

// summaryChunk is the most targets one LikeSummaries query takes; a
// shorter list is padded to the next of 1, 8 or summaryChunk ids (by
// repeating its last), so that three statement texts serve every call.
const summaryChunk = 64

// LikeSummaries returns the summaries of ts: per target type, one query
// per summaryChunk targets, two index lookups per target (the count's row
// and the first row of the target's key range); see zan.LikeSummaryStore.
// The ids come in as a UNION ALL list rather than VALUES, which MySQL and
// SQLite spell differently.
func (r Common) LikeSummaries(ctx context.Context, ts []zan.Target) ([]zan.LikeSummary, error) {
	out := make([]zan.LikeSummary, len(ts))
	for typ, pos := range ByType(ts) {
		for lo := 0; lo < len(pos); lo += summaryChunk {
			chunk := pos[lo:min(lo+summaryChunk, len(pos))]
			size := summaryChunk
			switch {
			case len(chunk) == 1:
				size = 1
			case len(chunk) <= 8:
				size = 8
			}
			args := make([]any, 0, 2+size)
			args = append(args, typ, typ)
			for j := range size {
				args = append(args, ts[chunk[min(j, len(chunk)-1)]].ID)
			}
			found := make(map[int64]zan.LikeSummary, len(chunk))
			err := r.query(ctx, `SELECT k.id,
				COALESCE((SELECT c.count FROM `+r.table("like_counts")+` AS c WHERE c.target_type = ? AND c.target_id = k.id), 0),
				EXISTS (SELECT 1 FROM `+r.table("likes")+` AS l WHERE l.target_type = ? AND l.target_id = k.id)
				FROM (SELECT ? AS id`+strings.Repeat(` UNION ALL SELECT ?`, size-1)+`) AS k`,
				args, func(rows *sql.Rows) error {
					var id, count, has int64
					if err := rows.Scan(&id, &count, &has); err != nil {
						return err
					}
					found[id] = zan.LikeSummary{Count: count, Rows: has != 0}
					return nil
				})
			if err != nil {
				return nil, err
			}
			for _, i := range chunk {
				out[i] = found[ts[i].ID]
			}
		}
	}
	return out, nil
}
