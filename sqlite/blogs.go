package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/zanlabs/zan"
)

// CreateBlog stores b; its ID is chosen by the caller.
func (db *DB) CreateBlog(ctx context.Context, b zan.Blog) error {
	_, err := db.w.ExecContext(ctx,
		`INSERT INTO blogs (id, author_id, title, content, shop_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		b.ID, b.AuthorID, b.Title, b.Content, b.ShopID, micros(b.CreatedAt))
	return dbErr(ctx, err)
}

// Blog returns the blog with id.
func (db *DB) Blog(ctx context.Context, id int64) (zan.Blog, error) {
	row := db.r.QueryRowContext(ctx,
		`SELECT id, author_id, title, content, shop_id, created_at FROM blogs WHERE id = ?`, id)
	b, err := scanBlog(row)
	if errors.Is(err, sql.ErrNoRows) {
		return zan.Blog{}, zan.Errorf(zan.ENotFound, "blog not found")
	}
	if err != nil {
		return zan.Blog{}, dbErr(ctx, err)
	}
	return b, nil
}

// DeleteBlog removes a blog for good; a missing one is no error. Its likes
// stay: they belong to the like store, which does not know about blogs.
func (db *DB) DeleteBlog(ctx context.Context, id int64) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM blogs WHERE id = ?`, id)
	return dbErr(ctx, err)
}

// Blogs returns a page of blogs.
func (db *DB) Blogs(ctx context.Context, f zan.BlogFilter) (zan.BlogPage, error) {
	limit := limitOf(f.Limit)
	var (
		q    string
		args []any
		hot  = f.Sort == zan.BlogsHot
	)
	if hot {
		// The score counts likes in the partial likers index; blogs are few
		// next to likes, so scoring every candidate is affordable.
		q = `SELECT id, author_id, title, content, shop_id, created_at, score FROM (
			SELECT b.id, b.author_id, b.title, b.content, b.shop_id, b.created_at,
				(SELECT COUNT(*) FROM likes l
				 WHERE l.target_type = 'blog' AND l.target_id = b.id AND l.liked = 1 AND l.liked_at >= ?) AS score
			FROM blogs b`
		args = append(args, micros(f.HotSince))
		if f.AuthorID != 0 {
			q += ` WHERE b.author_id = ?`
			args = append(args, f.AuthorID)
		}
		q += `)`
		if f.After != nil {
			q += ` WHERE (score, id) < (?, ?)`
			args = append(args, f.After.Score, f.After.ID)
		}
		q += ` ORDER BY score DESC, id DESC LIMIT ?`
	} else {
		q = `SELECT id, author_id, title, content, shop_id, created_at FROM blogs WHERE 1`
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

	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return zan.BlogPage{}, dbErr(ctx, err)
	}
	defer rows.Close()
	var page zan.BlogPage
	for rows.Next() {
		var (
			b     zan.Blog
			score int64
		)
		if hot {
			b, err = scanBlog(rows, &score)
		} else {
			b, err = scanBlog(rows)
		}
		if err != nil {
			return zan.BlogPage{}, dbErr(ctx, err)
		}
		page.Blogs = append(page.Blogs, b)
		if hot {
			page.Scores = append(page.Scores, score)
		}
	}
	if err := rows.Err(); err != nil {
		return zan.BlogPage{}, dbErr(ctx, err)
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
