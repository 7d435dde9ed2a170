// Package sqlstore holds what the SQL stores (sqlite, mysql) share: the
// queries whose text is the same in both dialects, and the row helpers.
// Each adapter keeps what differs: connections, migrations, upserts, the
// apply transaction, listings that need dialect-specific keyset syntax.
package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/zanlabs/zan"
)

// QueryFunc runs a query and calls scan for each row; ExecFunc runs a
// statement. Both are the adapter's own: its pools, statement cache and
// error mapping (errors come back classified).
type (
	QueryFunc func(ctx context.Context, q string, args []any, scan func(*sql.Rows) error) error
	ExecFunc  func(ctx context.Context, q string, args ...any) error
)

// Common answers the queries whose text both dialects share. Embedded in
// an adapter's DB, its methods become the adapter's.
type Common struct {
	query   QueryFunc
	exec    ExecFunc
	prefix  string
	dialect Dialect
}

// NewCommon returns a Common over tables named prefix+"users", and so on.
func NewCommon(prefix string, query QueryFunc, exec ExecFunc) Common {
	return Common{query: query, exec: exec, prefix: prefix}
}

// one runs q for a single row; found is false when there was none.
func (r Common) one(ctx context.Context, q string, args []any, scan func(*sql.Rows) error) (found bool, err error) {
	err = r.query(ctx, q, args, func(rows *sql.Rows) error {
		if found {
			return nil
		}
		found = true
		return scan(rows)
	})
	return found, err
}

func (r Common) table(name string) string { return r.prefix + name }

// Scanner is a *sql.Row or *sql.Rows.
type Scanner interface{ Scan(dest ...any) error }

// UserCols are the columns ScanUser reads, in its order.
const UserCols = "id, phone, nickname, created_at, avatar"

// ScanUser reads UserCols. A user without a phone has NULL there, and
// Phone "".
func ScanUser(s Scanner) (zan.User, error) {
	var u zan.User
	var created int64
	var phone sql.NullString
	if err := s.Scan(&u.ID, &phone, &u.Nickname, &created, &u.Avatar); err != nil {
		return zan.User{}, err
	}
	u.Phone = phone.String
	u.CreatedAt = FromMicros(created)
	return u, nil
}

// Phone is how a user's phone is written: NULL for none, so that the unique
// key on phones holds only for the phones there are.
func Phone(phone string) any {
	if phone == "" {
		return nil
	}
	return phone
}

// ScanBlog reads id, author_id, title, content, shop_id, created_at and
// then extra columns into extra.
func ScanBlog(s Scanner, extra ...any) (zan.Blog, error) {
	var b zan.Blog
	var created int64
	dest := append([]any{&b.ID, &b.AuthorID, &b.Title, &b.Content, &b.ShopID, &created}, extra...)
	if err := s.Scan(dest...); err != nil {
		return zan.Blog{}, err
	}
	b.CreatedAt = FromMicros(created)
	return b, nil
}

// Micros is how times are stored: Unix microseconds.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// FromMicros reads a stored time.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// LimitOf applies the default page size when a caller passes none; the
// services validate limits before they get here.
func LimitOf(n int) int {
	if n <= 0 {
		return 20
	}
	return n
}

// Placeholders returns "?,?,...,?" with n marks.
func Placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}

// ByType groups the positions of ts by target type, so each type is one
// indexed IN query.
func ByType(ts []zan.Target) map[string][]int {
	m := make(map[string][]int)
	for i, t := range ts {
		m[t.Type] = append(m[t.Type], i)
	}
	return m
}

// LikeCounts returns the stored counts of ts, in order; 0 for unknown targets.
func (r Common) LikeCounts(ctx context.Context, ts []zan.Target) ([]int64, error) {
	return perTarget(ctx, r, ts,
		func(typ string) []any { return []any{typ} },
		`SELECT target_id, count FROM `+r.table("like_counts")+` WHERE target_type = ? AND target_id IN (`,
		func(rows *sql.Rows) (id, n int64, err error) { return id, n, rows.Scan(&id, &n) })
}

// Liked reports, in order, whether user likes each of ts.
func (r Common) Liked(ctx context.Context, ts []zan.Target, user int64) ([]bool, error) {
	return perTarget(ctx, r, ts,
		func(typ string) []any { return []any{typ, user} },
		`SELECT target_id FROM `+r.table("likes")+` WHERE target_type = ? AND user_id = ? AND liked = 1 AND target_id IN (`,
		func(rows *sql.Rows) (id int64, ok bool, err error) { return id, true, rows.Scan(&id) })
}

// perTarget answers a batch of targets with one IN query per target type:
// lead gives the arguments before the ids, head the SQL up to the IN list,
// and scan one row's target id and value. Targets without a row get T's
// zero value; the result is in the order of ts.
func perTarget[T any](ctx context.Context, r Common, ts []zan.Target,
	lead func(typ string) []any, head string,
	scan func(*sql.Rows) (int64, T, error)) ([]T, error) {
	out := make([]T, len(ts))
	for typ, pos := range ByType(ts) {
		args := lead(typ)
		for _, i := range pos {
			args = append(args, ts[i].ID)
		}
		found := make(map[int64]T, len(pos))
		err := r.query(ctx, head+Placeholders(len(pos))+`)`, args, func(rows *sql.Rows) error {
			id, v, err := scan(rows)
			found[id] = v
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, i := range pos {
			out[i] = found[ts[i].ID]
		}
	}
	return out, nil
}
