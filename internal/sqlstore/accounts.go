package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/zanlabs/zan"
)

// User returns the user with id.
func (r Common) User(ctx context.Context, id int64) (zan.User, error) {
	var u zan.User
	found, err := r.one(ctx, `SELECT `+UserCols+` FROM `+r.table("users")+` WHERE id = ?`,
		[]any{id}, func(rows *sql.Rows) (err error) { u, err = ScanUser(rows); return err })
	if err == nil && !found {
		err = zan.Errorf(zan.ENotFound, "user not found")
	}
	return u, err
}

// Users returns the users found among ids.
func (r Common) Users(ctx context.Context, ids []int64) (map[int64]zan.User, error) {
	m := make(map[int64]zan.User, len(ids))
	if len(ids) == 0 {
		return m, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	err := r.query(ctx,
		`SELECT `+UserCols+` FROM `+r.table("users")+` WHERE id IN (`+Placeholders(len(ids))+`)`, args,
		func(rows *sql.Rows) error {
			u, err := ScanUser(rows)
			m[u.ID] = u
			return err
		})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// SetNickname renames a user.
func (r Common) SetNickname(ctx context.Context, user int64, nickname string) error {
	// Existence first: MySQL reports rows changed, not rows matched.
	if _, err := r.User(ctx, user); err != nil {
		return err
	}
	return r.exec(ctx, `UPDATE `+r.table("users")+` SET nickname = ? WHERE id = ?`, nickname, user)
}

// SetAvatar sets a user's avatar style.
func (r Common) SetAvatar(ctx context.Context, user int64, avatar int) error {
	if _, err := r.User(ctx, user); err != nil {
		return err
	}
	return r.exec(ctx, `UPDATE `+r.table("users")+` SET avatar = ? WHERE id = ?`, avatar, user)
}

// CreateSession stores a login.
func (r Common) CreateSession(ctx context.Context, s zan.Session) error {
	return r.exec(ctx,
		`INSERT INTO `+r.table("sessions")+` (token_hash, user_id, expires_at) VALUES (?, ?, ?)`,
		s.TokenHash[:], s.UserID, Micros(s.ExpiresAt))
}

// Session returns a live session; ENotFound when it is missing or expired.
func (r Common) Session(ctx context.Context, hash [32]byte) (zan.Session, error) {
	s := zan.Session{TokenHash: hash}
	var exp int64
	found, err := r.one(ctx,
		`SELECT user_id, expires_at FROM `+r.table("sessions")+` WHERE token_hash = ? AND expires_at > ?`,
		[]any{hash[:], Micros(time.Now())}, func(rows *sql.Rows) error { return rows.Scan(&s.UserID, &exp) })
	if err != nil {
		return zan.Session{}, err
	}
	if !found {
		return zan.Session{}, zan.Errorf(zan.ENotFound, "session not found")
	}
	s.ExpiresAt = FromMicros(exp)
	return s, nil
}

// TouchSession moves the expiry of a session; a missing one is no error.
func (r Common) TouchSession(ctx context.Context, hash [32]byte, expiresAt time.Time) error {
	return r.exec(ctx, `UPDATE `+r.table("sessions")+` SET expires_at = ? WHERE token_hash = ?`, Micros(expiresAt), hash[:])
}

// DeleteSession removes a session; a missing one is no error.
func (r Common) DeleteSession(ctx context.Context, hash [32]byte) error {
	return r.exec(ctx, `DELETE FROM `+r.table("sessions")+` WHERE token_hash = ?`, hash[:])
}
