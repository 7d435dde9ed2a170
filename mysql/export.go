package mysql

import (
	"context"
	"strings"

	"github.com/zanlabs/zan"
)

var (
	_ zan.Exporter = (*DB)(nil)
	_ zan.Importer = (*DB)(nil)
)

// importChunk and importBytes bound one multi-row INSERT: few enough
// rows and bytes to stay well under max_allowed_packet (4 MB on older
// servers) whatever the blogs hold.
const (
	importChunk = 500
	importBytes = 2 << 20
)

// ImportUsers inserts the users that are not there yet (by id or phone), in
// one transaction.
func (db *DB) ImportUsers(ctx context.Context, us []zan.User) error {
	return db.importRows(ctx, len(us),
		`INSERT INTO zan_users (id, phone, nickname, created_at, avatar) VALUES `, "(?,?,?,?,?)",
		func(i int) ([]any, int) {
			u := us[i]
			return []any{u.ID, nullPhone(u.Phone), u.Nickname, micros(u.CreatedAt), u.Avatar}, len(u.Phone) + len(u.Nickname)
		})
}

// ImportBlogs inserts the blogs that are not there yet, in one transaction.
func (db *DB) ImportBlogs(ctx context.Context, bs []zan.Blog) error {
	return db.importRows(ctx, len(bs),
		`INSERT INTO zan_blogs (id, author_id, title, content, shop_id, created_at) VALUES `, "(?,?,?,?,?,?)",
		func(i int) ([]any, int) {
			b := bs[i]
			return []any{b.ID, b.AuthorID, b.Title, b.Content, b.ShopID, micros(b.CreatedAt)}, len(b.Title) + len(b.Content)
		})
}

// importRows inserts n rows in statements of at most importChunk rows and
// about importBytes of text. The no-op update makes a row that is there no
// error, without INSERT IGNORE's habit of turning every other error into a
// warning.
func (db *DB) importRows(ctx context.Context, n int, head, tuple string, row func(i int) ([]any, int)) error {
	if n == 0 {
		return nil
	}
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(ctx, err)
	}
	defer tx.Rollback()
	var (
		sb   strings.Builder
		args []any
		rows int
		size int
	)
	flush := func() error {
		if rows == 0 {
			return nil
		}
		sb.WriteString(` ON DUPLICATE KEY UPDATE id = id`)
		_, err := tx.ExecContext(ctx, sb.String(), args...)
		sb.Reset()
		args, rows, size = args[:0], 0, 0
		return err
	}
	for i := 0; i < n; i++ {
		vals, sz := row(i)
		if rows > 0 && (rows == importChunk || size+sz > importBytes) {
			if err := flush(); err != nil {
				return dbErr(ctx, err)
			}
		}
		if rows == 0 {
			sb.WriteString(head)
		} else {
			sb.WriteByte(',')
		}
		sb.WriteString(tuple)
		args = append(args, vals...)
		rows++
		size += sz
	}
	if err := flush(); err != nil {
		return dbErr(ctx, err)
	}
	return dbErr(ctx, tx.Commit())
}
