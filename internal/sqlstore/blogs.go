package sqlstore

import (
	"context"
	"database/sql"

	"github.com/zanlabs/zan"
)

// CreateBlog stores b; its ID is chosen by the caller.
func (r Common) CreateBlog(ctx context.Context, b zan.Blog) error {
	return r.exec(ctx,
		`INSERT INTO `+r.table("blogs")+` (id, author_id, title, content, shop_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		b.ID, b.AuthorID, b.Title, b.Content, b.ShopID, Micros(b.CreatedAt))
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

// DeleteBlog removes a blog for good; a missing one is no error. Its likes
// stay: they belong to the like store, which does not know about blogs.
func (r Common) DeleteBlog(ctx context.Context, id int64) error {
	return r.exec(ctx, `DELETE FROM `+r.table("blogs")+` WHERE id = ?`, id)
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
