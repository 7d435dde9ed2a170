package sqlite

import (
	"context"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/sqlstore"
)

// EnsureUser returns the user with u.Phone, creating u when there is none.
func (db *DB) EnsureUser(ctx context.Context, u zan.User) (zan.User, error) {
	if u.Phone == "" {
		return zan.User{}, errNoPhone
	}
	_, err := db.w.ExecContext(ctx,
		`INSERT INTO users (id, phone, nickname, created_at) VALUES (?, ?, ?, ?)
		 ON CONFLICT (phone) DO NOTHING`,
		u.ID, u.Phone, u.Nickname, micros(u.CreatedAt))
	if err != nil {
		return zan.User{}, dbErr(ctx, err)
	}
	// Read back on the writer: the row is there whoever inserted it.
	row := db.w.QueryRowContext(ctx,
		`SELECT `+sqlstore.UserCols+` FROM users WHERE phone = ?`, u.Phone)
	got, err := scanUser(row)
	if err != nil {
		return zan.User{}, dbErr(ctx, err)
	}
	return got, nil
}

// DeleteExpiredSessions removes sessions that expired before now.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ?`, micros(now))
	if err != nil {
		return 0, dbErr(ctx, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, dbErr(ctx, err)
	}
	return int(n), nil
}
