package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/sqlstore"
)

// EnsureUser returns the user with u.Phone, creating u when there is none.
func (db *DB) EnsureUser(ctx context.Context, u zan.User) (zan.User, error) {
	if u.Phone == "" {
		return zan.User{}, errNoPhone
	}
	// The no-op update makes a known phone no error, without INSERT
	// IGNORE's habit of turning every other error into a warning.
	_, err := db.db.ExecContext(ctx,
		`INSERT INTO zan_users (id, phone, nickname, created_at) VALUES (?, ?, ?, ?)
		 ON DUPLICATE KEY UPDATE id = id`,
		u.ID, u.Phone, u.Nickname, micros(u.CreatedAt))
	if err != nil {
		return zan.User{}, dbErr(ctx, err)
	}
	// Autocommit: this read sees the row, whoever inserted it.
	row := db.db.QueryRowContext(ctx,
		`SELECT `+sqlstore.UserCols+` FROM zan_users WHERE phone = ?`, u.Phone)
	got, err := scanUser(row)
	if errors.Is(err, sql.ErrNoRows) {
		// Only a clash on the id leaves no row with this phone.
		return zan.User{}, fmt.Errorf("mysql: user id %d is taken by another phone", u.ID)
	}
	if err != nil {
		return zan.User{}, dbErr(ctx, err)
	}
	return got, nil
}

// deleteChunk bounds one DELETE of expired sessions: a backlog of millions
// would otherwise be one huge transaction (too large for TiDB, and a long
// lock on the expiry index in InnoDB).
const deleteChunk = 10000

// DeleteExpiredSessions removes sessions that expired before now.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		res, err := db.db.ExecContext(ctx,
			`DELETE FROM zan_sessions WHERE expires_at < ? LIMIT ?`, micros(now), deleteChunk)
		if err != nil {
			return total, dbErr(ctx, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, dbErr(ctx, err)
		}
		total += int(n)
		if n < deleteChunk {
			return total, nil
		}
	}
}
