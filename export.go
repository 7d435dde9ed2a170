package zan

import (
	"context"
	"strconv"
)

// LikeKey is the position of a like row in key order: target type, target
// id, user. The zero key comes before every row.
type LikeKey struct {
	Type string
	ID   int64
	User int64
}

// TargetCount is a target's stored like count.
type TargetCount struct {
	Target Target
	Count  int64
}

// Exporter reads a store's rows in key order, in batches, for migration.
// Every method pages by keyset (never by offset): a batch starts after the
// key of the previous batch's last row, so a store that keeps serving while
// it is read never makes the reader skip or repeat a row that stayed.
type Exporter interface {
	// ExportUsers returns up to limit users with ID > afterID, by ID.
	ExportUsers(ctx context.Context, afterID int64, limit int) ([]User, error)
	// ExportBlogs returns up to limit blogs with ID > afterID, by ID.
	ExportBlogs(ctx context.Context, afterID int64, limit int) ([]Blog, error)
	// ExportLikes returns up to limit like rows after the key, in key order,
	// as events: a liked row as an OpLike, a tombstone as an OpUnlike, with
	// At = the row's changed_at and ID = LikeEventID. Applying them to
	// another store (ApplyLikes) reproduces the rows and the counts, and
	// applying them again changes nothing.
	ExportLikes(ctx context.Context, after LikeKey, limit int) ([]Event, error)
	// ExportCounts returns up to limit stored like counts of targets after
	// the given one, by (type, id).
	ExportCounts(ctx context.Context, after Target, limit int) ([]TargetCount, error)
	// CountTotals counts the users, the blogs and the liked rows (not the
	// tombstones).
	CountTotals(ctx context.Context) (users, blogs, likedRows int64, err error)
	// ExportShops, ExportVouchers and ExportOrders return up to limit rows
	// with ID > afterID, by ID.
	ExportShops(ctx context.Context, afterID int64, limit int) ([]Shop, error)
	ExportVouchers(ctx context.Context, afterID int64, limit int) ([]Voucher, error)
	ExportOrders(ctx context.Context, afterID int64, limit int) ([]VoucherOrder, error)
	// CountShopTotals counts the shops, the vouchers and the orders.
	CountShopTotals(ctx context.Context) (shops, vouchers, orders int64, err error)
	// ExportIdentities returns up to limit identities after the one with
	// after's (Issuer, Subject), in that order; CountIdentities counts them.
	ExportIdentities(ctx context.Context, after Identity, limit int) ([]Identity, error)
	CountIdentities(ctx context.Context) (int64, error)
}

// Importer writes exported rows into a store, so that an import can be
// repeated: users, blogs and orders already there (by primary key or phone)
// are left alone.
// Likes need no importer: ApplyLikes is idempotent.
type Importer interface {
	ImportUsers(ctx context.Context, us []User) error
	ImportBlogs(ctx context.Context, bs []Blog) error
	// ImportShops and ImportVouchers write rows as the source has them
	// (updating those already there: they change while the source serves);
	// ImportOrders inserts the orders not there yet.
	ImportShops(ctx context.Context, ss []Shop) error
	ImportVouchers(ctx context.Context, vs []Voucher) error
	ImportOrders(ctx context.Context, os []VoucherOrder) error
	// ImportIdentities writes identities as the source has them, replacing
	// one there with the same issuer and subject or the same user and
	// issuer; their users are imported before. DropIdentity deletes one
	// that the source no longer has (a missing one is no error).
	ImportIdentities(ctx context.Context, ids []Identity) error
	DropIdentity(ctx context.Context, issuer, subject string) error
}

// Key returns the key of the like row e was exported from.
func (e Event) Key() LikeKey { return LikeKey{e.Target.Type, e.Target.ID, e.User} }

// LikeEventID is the id of the event exported for a like row:
// "m-<type>-<target>-<user>-<changed_at>".
func LikeEventID(t Target, user, changedAt int64) string {
	b := make([]byte, 0, 64)
	b = append(b, "m-"...)
	b = append(b, t.Type...)
	b = append(b, '-')
	b = strconv.AppendInt(b, t.ID, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, user, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, changedAt, 10)
	return string(b)
}
