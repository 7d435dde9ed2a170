package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/zanlabs/zan"
)

// EnsureUser returns the user with u.Phone, creating u when there is none.
func (db *DB) EnsureUser(ctx context.Context, u zan.User) (zan.User, error) {
	_, err := db.w.ExecContext(ctx,
		`INSERT INTO users (id, phone, nickname, created_at) VALUES (?, ?, ?, ?)
		 ON CONFLICT (phone) DO NOTHING`,
		u.ID, u.Phone, u.Nickname, micros(u.CreatedAt))
	if err != nil {
		return zan.User{}, dbErr(ctx, err)
	}
	// Read back on the writer: the row is there whoever inserted it.
	row := db.w.QueryRowContext(ctx,
		`SELECT id, phone, nickname, created_at FROM users WHERE phone = ?`, u.Phone)
	got, err := scanUser(row)
	if err != nil {
		return zan.User{}, dbErr(ctx, err)
	}
	return got, nil
}

// User returns the user with id.
func (db *DB) User(ctx context.Context, id int64) (zan.User, error) {
	row := db.r.QueryRowContext(ctx,
		`SELECT id, phone, nickname, created_at FROM users WHERE id = ?`, id)
	u, err := scanUser(row)
	if errors.Is(err, sql.ErrNoRows) {
		return zan.User{}, zan.Errorf(zan.ENotFound, "user not found")
	}
	if err != nil {
		return zan.User{}, dbErr(ctx, err)
	}
	return u, nil
}

// Users returns the users found among ids.
func (db *DB) Users(ctx context.Context, ids []int64) (map[int64]zan.User, error) {
	m := make(map[int64]zan.User, len(ids))
	if len(ids) == 0 {
		return m, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := db.r.QueryContext(ctx,
		`SELECT id, phone, nickname, created_at FROM users WHERE id IN (`+placeholders(len(ids))+`)`, args...)
	if err != nil {
		return nil, dbErr(ctx, err)
	}
	defer rows.Close()
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, dbErr(ctx, err)
		}
		m[u.ID] = u
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(ctx, err)
	}
	return m, nil
}

// CreateSession stores a login.
func (db *DB) CreateSession(ctx context.Context, s zan.Session) error {
	_, err := db.w.ExecContext(ctx,
		`INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?, ?, ?)`,
		s.TokenHash[:], s.UserID, micros(s.ExpiresAt))
	return dbErr(ctx, err)
}

// Session returns a live session; ENotFound when it is missing or expired.
func (db *DB) Session(ctx context.Context, hash [32]byte) (zan.Session, error) {
	var s zan.Session
	var exp int64
	err := db.r.QueryRowContext(ctx,
		`SELECT user_id, expires_at FROM sessions WHERE token_hash = ? AND expires_at > ?`,
		hash[:], micros(time.Now())).Scan(&s.UserID, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return zan.Session{}, zan.Errorf(zan.ENotFound, "session not found")
	}
	if err != nil {
		return zan.Session{}, dbErr(ctx, err)
	}
	s.TokenHash = hash
	s.ExpiresAt = fromMicros(exp)
	return s, nil
}

// TouchSession moves the expiry of a session; a missing one is no error.
func (db *DB) TouchSession(ctx context.Context, hash [32]byte, expiresAt time.Time) error {
	_, err := db.w.ExecContext(ctx,
		`UPDATE sessions SET expires_at = ? WHERE token_hash = ?`, micros(expiresAt), hash[:])
	return dbErr(ctx, err)
}

// DeleteSession removes a session; a missing one is no error.
func (db *DB) DeleteSession(ctx context.Context, hash [32]byte) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, hash[:])
	return dbErr(ctx, err)
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
