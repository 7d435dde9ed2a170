package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/zanlabs/zan"
)

// EnsureUser returns the user with u.Phone, creating u when there is none.
func (db *DB) EnsureUser(ctx context.Context, u zan.User) (zan.User, error) {
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
		`SELECT id, phone, nickname, created_at FROM zan_users WHERE phone = ?`, u.Phone)
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

// User returns the user with id.
func (db *DB) User(ctx context.Context, id int64) (zan.User, error) {
	row := db.db.QueryRowContext(ctx,
		`SELECT id, phone, nickname, created_at FROM zan_users WHERE id = ?`, id)
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
	err := db.query(ctx,
		`SELECT id, phone, nickname, created_at FROM zan_users WHERE id IN (`+placeholders(len(ids))+`)`, args,
		func(rows *sql.Rows) error {
			u, err := scanUser(rows)
			m[u.ID] = u
			return err
		})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// CreateSession stores a login.
func (db *DB) CreateSession(ctx context.Context, s zan.Session) error {
	_, err := db.db.ExecContext(ctx,
		`INSERT INTO zan_sessions (token_hash, user_id, expires_at) VALUES (?, ?, ?)`,
		s.TokenHash[:], s.UserID, micros(s.ExpiresAt))
	return dbErr(ctx, err)
}

// Session returns a live session; ENotFound when it is missing or expired.
func (db *DB) Session(ctx context.Context, hash [32]byte) (zan.Session, error) {
	var s zan.Session
	var exp int64
	err := db.db.QueryRowContext(ctx,
		`SELECT user_id, expires_at FROM zan_sessions WHERE token_hash = ? AND expires_at > ?`,
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
	_, err := db.db.ExecContext(ctx,
		`UPDATE zan_sessions SET expires_at = ? WHERE token_hash = ?`, micros(expiresAt), hash[:])
	return dbErr(ctx, err)
}

// DeleteSession removes a session; a missing one is no error.
func (db *DB) DeleteSession(ctx context.Context, hash [32]byte) error {
	_, err := db.db.ExecContext(ctx, `DELETE FROM zan_sessions WHERE token_hash = ?`, hash[:])
	return dbErr(ctx, err)
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
