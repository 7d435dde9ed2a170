package sqlstore

import (
	"context"
	"database/sql"

	"github.com/zanlabs/zan"
)

// CreateBlog stores b; its ID is chosen by the caller. With a client key
// the insert leaves an earlier blog of the same (author, key) in place
// (the unique key decides, so two racing submits make one blog), and the
// blog there is returned.
func (r Common) CreateBlog(ctx context.Context, b zan.Blog) (zan.Blog, error) {
	q := `INSERT INTO ` + r.table("blogs") + ` (id, author_id, title, content, shop_id, created_at, client_key) VALUES (?, ?, ?, ?, ?, ?, ?)`
	var key any
	if b.ClientKey != "" {
		key = b.ClientKey
		q += r.dialect.IgnoreDuplicate("client_key")
	}
	if err := r.exec(ctx, q, b.ID, b.AuthorID, b.Title, b.Content, b.ShopID, Micros(b.CreatedAt), key); err != nil {
		return zan.Blog{}, err
	}
	if b.ClientKey == "" {
		return b, nil
	}
	return r.BlogByKey(ctx, b.AuthorID, b.ClientKey)
}

// BlogByKey returns author's blog made with client key.
func (r Common) BlogByKey(ctx context.Context, author int64, key string) (zan.Blog, error) {
	var b zan.Blog
	found, err := r.one(ctx, `SELECT id, author_id, title, content, shop_id, created_at FROM `+r.table("blogs")+` WHERE author_id = ? AND client_key = ?`,
		[]any{author, key}, func(rows *sql.Rows) (err error) { b, err = ScanBlog(rows); return err })
	if err == nil && !found {
		err = zan.Errorf(zan.ENotFound, "blog not found")
	}
	b.ClientKey = key
	return b, err
}

// UpdateBlog replaces a blog's title and content.
func (r Common) UpdateBlog(ctx context.Context, b zan.Blog) error {
	// Existence first: MySQL reports rows changed, not rows matched.
	if _, err := r.Blog(ctx, b.ID); err != nil {
		return err
	}
	return r.exec(ctx, `UPDATE `+r.table("blogs")+` SET title = ?, content = ? WHERE id = ?`, b.Title, b.Content, b.ID)
}

// Blog returns the blog with id.
func (r Common) Blog(ctx context.Context, id int64) (zan.Blog, error) {
	var b zan.Blog
	found, err := r.one(ctx, `SELECT id, author_id, title, content, shop_id, created_at FROM `+r.table("blogs")+` WHERE id = ?`,
		[]any{id}, func(rows *sql.Rows) (err error) { b, err = ScanBlog(rows); return err })
	if err == nil && !found {
		err = zan.Errorf(zan.ENotFound, "blog not found")
	}
	return b, err
}

// BlogTitles implements zan.BlogStore.
func (r Common) BlogTitles(ctx context.Context, ids []int64) (map[int64]string, error) {
	m := make(map[int64]string, len(ids))
	if len(ids) == 0 {
		return m, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	err := r.query(ctx, `SELECT id, title FROM `+r.table("blogs")+` WHERE id IN (`+Placeholders(len(ids))+`)`, args,
		func(rows *sql.Rows) error {
			var id int64
			var title string
			err := rows.Scan(&id, &title)
			m[id] = title
			return err
		})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// DeleteBlog removes a blog and its photo rows for good; a missing one is
// no error. Its likes stay: they belong to the like store, which does not
// know about blogs. The photos' blobs stay too, for a sweep to collect.
func (r Common) DeleteBlog(ctx context.Context, id int64) error {
	return r.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+r.table("blog_photos")+` WHERE blog_id = ?`, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM `+r.table("blogs")+` WHERE id = ?`, id)
		return err
	})
}

// Blogs returns a page of blogs.
func (r Common) Blogs(ctx context.Context, f zan.BlogFilter) (zan.BlogPage, error) {
	limit := LimitOf(f.Limit)
	var (
		q    string
		args []any
		hot  = f.Sort == zan.BlogsHot
	)
	if hot {
		// The score is a range count on the likers index (liked = 1 and
		// liked_at >= since are its next columns); blogs are few next to
		// likes, so scoring every candidate is affordable.
		q = `SELECT id, author_id, title, content, shop_id, created_at, score FROM (
			SELECT b.id, b.author_id, b.title, b.content, b.shop_id, b.created_at,
				(SELECT COUNT(*) FROM ` + r.table("likes") + ` l
				 WHERE l.target_type = 'blog' AND l.target_id = b.id AND l.liked = 1 AND l.liked_at >= ?) AS score
			FROM ` + r.table("blogs") + ` b`
		args = append(args, Micros(f.HotSince))
		if f.AuthorID != 0 {
			q += ` WHERE b.author_id = ?`
			args = append(args, f.AuthorID)
		}
		q += `) s`
		if f.After != nil {
			q += ` WHERE score < ? OR score = ? AND id < ?`
			args = append(args, f.After.Score, f.After.Score, f.After.ID)
		}
		q += ` ORDER BY score DESC, id DESC LIMIT ?`
	} else {
		q = `SELECT id, author_id, title, content, shop_id, created_at FROM ` + r.table("blogs") + ` WHERE 1 = 1`
		if f.AuthorID != 0 {
			q += ` AND author_id = ?`
			args = append(args, f.AuthorID)
		}
		if f.After != nil {
			q += ` AND id < ?`
			args = append(args, f.After.ID)
		}
		q += ` ORDER BY id DESC LIMIT ?`
	}
	// One more than asked tells whether another page follows.
	args = append(args, limit+1)

	var page zan.BlogPage
	err := r.query(ctx, q, args, func(rows *sql.Rows) error {
		var (
			b     zan.Blog
			score int64
			err   error
		)
		if hot {
			b, err = ScanBlog(rows, &score)
		} else {
			b, err = ScanBlog(rows)
		}
		if err != nil {
			return err
		}
		page.Blogs = append(page.Blogs, b)
		if hot {
			page.Scores = append(page.Scores, score)
		}
		return nil
	})
	if err != nil {
		return zan.BlogPage{}, err
	}
	if len(page.Blogs) > limit {
		page.Blogs = page.Blogs[:limit]
		last := page.Blogs[limit-1]
		if hot {
			page.Scores = page.Scores[:limit]
			page.Next = &zan.Cursor{Score: page.Scores[limit-1], ID: last.ID}
		} else {
			page.Next = &zan.Cursor{ID: last.ID}
		}
	}
	return page, nil
}
