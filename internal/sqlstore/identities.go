package sqlstore

import (
	"context"
	"database/sql"

	"github.com/zanlabs/zan"
)

const identityCols = `issuer, subject, user_id, created_at`

// EnsureIdentityUser returns the user of (id.Issuer, id.Subject), creating
// u (no phone) and the identity when there is none. The identity row is
// written first and read back with a lock: of two first sign-ins racing,
// the second waits on the first's row and then finds it, so one identity
// is only ever one user.
func (r Common) EnsureIdentityUser(ctx context.Context, id zan.Identity, u zan.User) (zan.User, error) {
	var got zan.User
	err := r.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+r.table("identities")+` (`+identityCols+`) VALUES (?, ?, ?, ?)`+
			r.dialect.IgnoreDuplicate("user_id"), id.Issuer, id.Subject, u.ID, Micros(id.CreatedAt)); err != nil {
			return err
		}
		var uid int64
		if err := tx.QueryRowContext(ctx, `SELECT user_id FROM `+r.table("identities")+` WHERE issuer = ? AND subject = ?`+
			r.dialect.ForUpdate, id.Issuer, id.Subject).Scan(&uid); err != nil {
			return err
		}
		if uid == u.ID {
			if _, err := tx.ExecContext(ctx, `INSERT INTO `+r.table("users")+` (id, phone, nickname, created_at) VALUES (?, NULL, ?, ?)`,
				u.ID, u.Nickname, Micros(u.CreatedAt)); err != nil {
				return err
			}
			got = zan.User{ID: u.ID, Nickname: u.Nickname, CreatedAt: FromMicros(Micros(u.CreatedAt))}
			return nil
		}
		var err error
		got, err = ScanUser(tx.QueryRowContext(ctx, `SELECT `+UserCols+` FROM `+r.table("users")+` WHERE id = ?`, uid))
		return err
	})
	if err != nil {
		return zan.User{}, err
	}
	return got, nil
}

// lockUser locks user's row for the rest of tx (so that changes to one
// user's ways in are serialised) and reports whether the user has a phone.
func (r Common) lockUser(ctx context.Context, tx *sql.Tx, user int64) (hasPhone bool, err error) {
	var phone sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT phone FROM `+r.table("users")+` WHERE id = ?`+r.dialect.ForUpdate, user).Scan(&phone)
	if err == sql.ErrNoRows {
		return false, zan.Errorf(zan.ENotFound, "user not found")
	}
	return phone.Valid, err
}

// LinkIdentity adds id to the account id.UserID.
func (r Common) LinkIdentity(ctx context.Context, id zan.Identity) error {
	return r.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := r.lockUser(ctx, tx, id.UserID); err != nil {
			return err
		}
		var owner int64
		err := tx.QueryRowContext(ctx, `SELECT user_id FROM `+r.table("identities")+` WHERE issuer = ? AND subject = ?`+
			r.dialect.ForUpdate, id.Issuer, id.Subject).Scan(&owner)
		switch {
		case err == nil && owner == id.UserID:
			return nil
		case err == nil:
			return zan.Errorf(zan.EConflict, "this identity signs in to another account")
		case err != sql.ErrNoRows:
			return err
		}
		var other string
		err = tx.QueryRowContext(ctx, `SELECT subject FROM `+r.table("identities")+` WHERE user_id = ? AND issuer = ?`,
			id.UserID, id.Issuer).Scan(&other)
		switch {
		case err == nil:
			return zan.Errorf(zan.EConflict, "another identity of this issuer is linked to the account: unlink it first")
		case err != sql.ErrNoRows:
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO `+r.table("identities")+` (`+identityCols+`) VALUES (?, ?, ?, ?)`,
			id.Issuer, id.Subject, id.UserID, Micros(id.CreatedAt))
		return err
	})
}

// Identities lists user's identities, oldest first.
func (r Common) Identities(ctx context.Context, user int64) ([]zan.Identity, error) {
	var out []zan.Identity
	err := r.query(ctx, `SELECT `+identityCols+` FROM `+r.table("identities")+` WHERE user_id = ? ORDER BY created_at, issuer`,
		[]any{user}, func(rows *sql.Rows) error {
			id, err := scanIdentity(rows)
			out = append(out, id)
			return err
		})
	return out, err
}

func scanIdentity(s Scanner) (zan.Identity, error) {
	var id zan.Identity
	var created int64
	if err := s.Scan(&id.Issuer, &id.Subject, &id.UserID, &created); err != nil {
		return zan.Identity{}, err
	}
	id.CreatedAt = FromMicros(created)
	return id, nil
}

// UnlinkIdentity removes user's identity at issuer unless it is the last
// way in. The user's row is locked first: two unlinks of the user's last
// two identities at once cannot both pass the check.
func (r Common) UnlinkIdentity(ctx context.Context, user int64, issuer string) error {
	return r.inTx(ctx, func(tx *sql.Tx) error {
		hasPhone, err := r.lockUser(ctx, tx, user)
		if err != nil {
			return err
		}
		var others, this int
		err = tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(CASE WHEN issuer = ? THEN 0 ELSE 1 END), 0),
			COALESCE(SUM(CASE WHEN issuer = ? THEN 1 ELSE 0 END), 0) FROM `+r.table("identities")+` WHERE user_id = ?`,
			issuer, issuer, user).Scan(&others, &this)
		switch {
		case err != nil:
			return err
		case this == 0:
			return zan.Errorf(zan.ENotFound, "no identity of this issuer is linked to the account")
		case !hasPhone && others == 0:
			return zan.Errorf(zan.EConflict, "this is the account's only way in: link another first")
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM `+r.table("identities")+` WHERE user_id = ? AND issuer = ?`, user, issuer)
		return err
	})
}

// ExportIdentities returns up to limit identities after (after.Issuer,
// after.Subject), in that order: the rest of the issuer, then later issuers,
// each a range of the primary key.
func (r Common) ExportIdentities(ctx context.Context, after zan.Identity, limit int) ([]zan.Identity, error) {
	limit = LimitOf(limit)
	var out []zan.Identity
	for _, st := range []struct {
		cond string
		args []any
	}{
		{`issuer = ? AND subject > ?`, []any{after.Issuer, after.Subject}},
		{`issuer > ?`, []any{after.Issuer}},
	} {
		if len(out) >= limit {
			break
		}
		err := r.query(ctx, `SELECT `+identityCols+` FROM `+r.table("identities")+` WHERE `+st.cond+
			` ORDER BY issuer, subject LIMIT ?`, append(st.args, limit-len(out)), func(rows *sql.Rows) error {
			id, err := scanIdentity(rows)
			out = append(out, id)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CountIdentities counts the identities.
func (r Common) CountIdentities(ctx context.Context) (int64, error) {
	var n int64
	_, err := r.one(ctx, `SELECT COUNT(*) FROM `+r.table("identities"), nil, func(rows *sql.Rows) error { return rows.Scan(&n) })
	return n, err
}

// ImportIdentities writes identities as the source has them, in one
// transaction: one already there under the same (issuer, subject) or the
// same (user, issuer) is replaced (REPLACE means that in both dialects), so
// a relink in the source reaches a store copied before. There are at most as
// many as users, written once: a row at a time is fast enough.
func (r Common) ImportIdentities(ctx context.Context, ids []zan.Identity) error {
	if len(ids) == 0 {
		return nil
	}
	return r.inTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `REPLACE INTO `+r.table("identities")+` (`+identityCols+`) VALUES (?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, id := range ids {
			if _, err := st.ExecContext(ctx, id.Issuer, id.Subject, id.UserID, Micros(id.CreatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
}

// DropIdentity deletes the identity (issuer, subject) without
// UnlinkIdentity's checks: for a migration removing what its source
// unlinked. A missing one is no error.
func (r Common) DropIdentity(ctx context.Context, issuer, subject string) error {
	return r.exec(ctx, `DELETE FROM `+r.table("identities")+` WHERE issuer = ? AND subject = ?`, issuer, subject)
}
