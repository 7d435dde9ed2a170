package sqlstore

import (
	"context"
	"database/sql"

	"github.com/zanlabs/zan"
)

const photoCols = `id, owner_id, content_type, width, height, size, created_at`

// CreatePhoto implements zan.PhotoStore.
func (r Common) CreatePhoto(ctx context.Context, p zan.Photo) error {
	return r.exec(ctx, `INSERT INTO `+r.table("photos")+` (`+photoCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.OwnerID, p.ContentType, p.Width, p.Height, p.Size, Micros(p.CreatedAt))
}

func scanPhoto(s Scanner, extra ...any) (zan.Photo, error) {
	var p zan.Photo
	var created int64
	if err := s.Scan(append([]any{&p.ID, &p.OwnerID, &p.ContentType, &p.Width, &p.Height, &p.Size, &created}, extra...)...); err != nil {
		return zan.Photo{}, err
	}
	p.CreatedAt = FromMicros(created)
	return p, nil
}

func int64Args(ids []int64) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}

// Photos implements zan.PhotoStore.
func (r Common) Photos(ctx context.Context, ids []int64) (map[int64]zan.Photo, error) {
	m := make(map[int64]zan.Photo, len(ids))
	if len(ids) == 0 {
		return m, nil
	}
	err := r.query(ctx, `SELECT `+photoCols+` FROM `+r.table("photos")+` WHERE id IN (`+Placeholders(len(ids))+`)`, int64Args(ids),
		func(rows *sql.Rows) error {
			p, err := scanPhoto(rows)
			m[p.ID] = p
			return err
		})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// SetBlogPhotos implements zan.PhotoStore: one transaction, so two edits
// racing leave one of their lists, never a mix.
func (r Common) SetBlogPhotos(ctx context.Context, blog int64, photos []int64) error {
	return r.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+r.table("blog_photos")+` WHERE blog_id = ?`, blog); err != nil {
			return err
		}
		if len(photos) == 0 {
			return nil
		}
		q := `INSERT INTO ` + r.table("blog_photos") + ` (blog_id, pos, photo_id) VALUES `
		args := make([]any, 0, 3*len(photos))
		for i, id := range photos {
			if i > 0 {
				q += `, `
			}
			q += `(?, ?, ?)`
			args = append(args, blog, i, id)
		}
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
}

// BlogPhotos implements zan.PhotoStore.
func (r Common) BlogPhotos(ctx context.Context, blogs []int64) (map[int64][]zan.Photo, error) {
	m := make(map[int64][]zan.Photo)
	if len(blogs) == 0 {
		return m, nil
	}
	err := r.query(ctx, `SELECT p.id, p.owner_id, p.content_type, p.width, p.height, p.size, p.created_at, bp.blog_id
		FROM `+r.table("blog_photos")+` bp JOIN `+r.table("photos")+` p ON p.id = bp.photo_id
		WHERE bp.blog_id IN (`+Placeholders(len(blogs))+`) ORDER BY bp.blog_id, bp.pos`, int64Args(blogs),
		func(rows *sql.Rows) error {
			var blog int64
			p, err := scanPhoto(rows, &blog)
			m[blog] = append(m[blog], p)
			return err
		})
	if err != nil {
		return nil, err
	}
	return m, nil
}
