package sqlite

import (
	"context"
	"strings"

	"github.com/zanlabs/zan"
)

var (
	_ zan.Exporter = (*DB)(nil)
	_ zan.Importer = (*DB)(nil)
)

// importChunk bounds the rows of one multi-row INSERT: 6 values a row stay
// under SQLite's 32766 host parameters.
const importChunk = 500

// ImportUsers inserts the users that are not there yet (by id or phone), in
// one transaction.
func (db *DB) ImportUsers(ctx context.Context, us []zan.User) error {
	return db.importRows(ctx, len(us),
		`INSERT INTO users (id, phone, nickname, created_at, avatar) VALUES `, "(?,?,?,?,?)",
		func(i int) []any {
			u := us[i]
			return []any{u.ID, nullPhone(u.Phone), u.Nickname, micros(u.CreatedAt), u.Avatar}
		})
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
