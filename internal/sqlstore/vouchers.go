package sqlstore

// Vouchers and their orders: the flash sale's side of the shop store.

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/zanlabs/zan"
)

const voucherCols = `id, shop_id, title, stock, remaining, begin_at, end_at, created_at`

func scanVoucher(s Scanner) (zan.Voucher, error) {
	var (
		v                   zan.Voucher
		begin, end, created int64
	)
	if err := s.Scan(&v.ID, &v.ShopID, &v.Title, &v.Stock, &v.Remaining, &begin, &end, &created); err != nil {
		return zan.Voucher{}, err
	}
	v.BeginAt, v.EndAt, v.CreatedAt = FromMicros(begin), FromMicros(end), FromMicros(created)
	return v, nil
}

// CreateVoucher stores v with all its stock remaining.
func (r Common) CreateVoucher(ctx context.Context, v zan.Voucher) error {
	return r.exec(ctx, `INSERT INTO `+r.table("vouchers")+` (`+voucherCols+`) VALUES (?,?,?,?,?,?,?,?)`,
		v.ID, v.ShopID, v.Title, v.Stock, v.Stock, Micros(v.BeginAt), Micros(v.EndAt), Micros(v.CreatedAt))
}

// Voucher returns the voucher with id.
func (r Common) Voucher(ctx context.Context, id int64) (zan.Voucher, error) {
	var v zan.Voucher
	found, err := r.one(ctx, `SELECT `+voucherCols+` FROM `+r.table("vouchers")+` WHERE id = ?`, []any{id},
		func(rows *sql.Rows) (err error) { v, err = scanVoucher(rows); return err })
	if err == nil && !found {
		err = zan.Errorf(zan.ENotFound, "voucher %d not found", id)
	}
	return v, err
}

// ShopVouchers returns a shop's vouchers, newest first.
func (r Common) ShopVouchers(ctx context.Context, shopID int64) ([]zan.Voucher, error) {
	out := []zan.Voucher{}
	err := r.query(ctx, `SELECT `+voucherCols+` FROM `+r.table("vouchers")+` WHERE shop_id = ? ORDER BY id DESC LIMIT 1000`,
		[]any{shopID}, func(rows *sql.Rows) error {
			v, err := scanVoucher(rows)
			out = append(out, v)
			return err
		})
	return out, err
}

// Order returns the stored order with id.
func (r Common) Order(ctx context.Context, id int64) (zan.VoucherOrder, error) {
	var o zan.VoucherOrder
	found, err := r.one(ctx, `SELECT id, voucher_id, user_id, status, created_at FROM `+r.table("orders")+` WHERE id = ?`,
		[]any{id}, func(rows *sql.Rows) error {
			var created int64
			err := rows.Scan(&o.ID, &o.VoucherID, &o.UserID, &o.Status, &created)
			o.CreatedAt = FromMicros(created)
			return err
		})
	if err == nil && !found {
		err = zan.Errorf(zan.ENotFound, "order %d not found", id)
	}
	return o, err
}

// UserOrders lists a user's orders, newest first, on the (user_id, id)
// index, each with its voucher in the same query.
func (r Common) UserOrders(ctx context.Context, user int64, limit int, after *zan.Cursor) (zan.UserOrderPage, error) {
	limit = LimitOf(limit)
	before := int64(math.MaxInt64)
	if after != nil {
		before = after.ID
	}
	p := zan.UserOrderPage{Items: []zan.UserOrder{}}
	err := r.query(ctx, `SELECT o.id, o.voucher_id, o.user_id, o.status, o.created_at,
		 v.shop_id, v.title, v.stock, v.remaining, v.begin_at, v.end_at, v.created_at
		 FROM `+r.table("orders")+` o LEFT JOIN `+r.table("vouchers")+` v ON v.id = o.voucher_id
		 WHERE o.user_id = ? AND o.id < ? ORDER BY o.id DESC LIMIT ?`,
		[]any{user, before, limit + 1}, func(rows *sql.Rows) error {
			var (
				it                  zan.UserOrder
				created             int64
				shop, stock, rem    sql.NullInt64
				begin, end, vcreate sql.NullInt64
				title               sql.NullString
			)
			if err := rows.Scan(&it.Order.ID, &it.Order.VoucherID, &it.Order.UserID, &it.Order.Status, &created,
				&shop, &title, &stock, &rem, &begin, &end, &vcreate); err != nil {
				return err
			}
			it.Order.CreatedAt = FromMicros(created)
			if shop.Valid {
				it.Voucher = zan.Voucher{ID: it.Order.VoucherID, ShopID: shop.Int64, Title: title.String, Stock: stock.Int64,
					Remaining: rem.Int64, BeginAt: FromMicros(begin.Int64), EndAt: FromMicros(end.Int64), CreatedAt: FromMicros(vcreate.Int64)}
			}
			p.Items = append(p.Items, it)
			return nil
		})
	if err != nil {
		return zan.UserOrderPage{}, err
	}
	if len(p.Items) > limit {
		p.Items = p.Items[:limit]
		p.Next = &zan.Cursor{ID: p.Items[limit-1].Order.ID}
	}
	return p, nil
}

// VoucherBuyers calls fn with the users holding an order of the voucher,
// ScanChunk at a time, by user id on the (voucher_id, user_id) key.
func (r Common) VoucherBuyers(ctx context.Context, voucherID int64, fn func(users []int64) error) error {
	after := int64(0)
	for {
		var users []int64
		err := r.query(ctx, `SELECT user_id FROM `+r.table("orders")+` WHERE voucher_id = ? AND user_id > ? ORDER BY user_id LIMIT ?`,
			[]any{voucherID, after, ScanChunk}, func(rows *sql.Rows) error {
				var u int64
				err := rows.Scan(&u)
				users = append(users, u)
				return err
			})
		if err != nil || len(users) == 0 {
			return err
		}
		if err := fn(users); err != nil {
			return err
		}
		if len(users) < ScanChunk {
			return nil
		}
		after = users[len(users)-1]
	}
}

// ApplyOrders stores orders in one transaction; see zan.VoucherStore.
//
// The vouchers' rows are locked first, in id order (no deadlock between two
// writers), and before any other read. Every writer of a voucher's orders
// holds that lock, so the plain reads that follow see every order the
// previous holder committed: SQLite has one writer, and the MySQL dialect
// reads committed (a repeatable-read snapshot could predate the lock). The
// decisions are then made in Go; the conditional decrement and the unique
// (voucher, user) key are the last guard should anything disagree: the
// whole transaction fails, decrements included, and the writer retries it.
func (r Common) ApplyOrders(ctx context.Context, orders []zan.VoucherOrder) ([]zan.OrderOutcome, error) {
	out := make([]zan.OrderOutcome, len(orders))
	if len(orders) == 0 {
		return out, nil
	}
	byVoucher := map[int64][]int{} // positions in orders
	for i, o := range orders {
		byVoucher[o.VoucherID] = append(byVoucher[o.VoucherID], i)
	}
	vouchers := make([]int64, 0, len(byVoucher))
	for v := range byVoucher {
		vouchers = append(vouchers, v)
	}
	slices.Sort(vouchers)

	err := r.inTx(ctx, func(tx *sql.Tx) error {
		remaining := map[int64]int64{}
		for _, v := range vouchers {
			var n int64
			err := tx.QueryRowContext(ctx, `SELECT remaining FROM `+r.table("vouchers")+` WHERE id = ?`+r.dialect.ForUpdate, v).Scan(&n)
			if err == sql.ErrNoRows {
				n = -1 // missing: every order of it is rejected
			} else if err != nil {
				return err
			}
			remaining[v] = n
		}
		// Orders stored before (a redelivery).
		ids := make([]any, len(orders))
		for i, o := range orders {
			ids[i] = o.ID
		}
		stored := map[int64]bool{}
		if err := queryTx(ctx, tx, `SELECT id FROM `+r.table("orders")+` WHERE id IN (`+Placeholders(len(ids))+`)`, ids,
			func(rows *sql.Rows) error {
				var id int64
				err := rows.Scan(&id)
				stored[id] = true
				return err
			}); err != nil {
			return err
		}
		// Buyers of each voucher among this batch's users.
		type vu struct{ v, u int64 }
		buyers := map[vu]bool{}
		for _, v := range vouchers {
			args := []any{v}
			for _, i := range byVoucher[v] {
				args = append(args, orders[i].UserID)
			}
			if err := queryTx(ctx, tx, `SELECT user_id FROM `+r.table("orders")+` WHERE voucher_id = ? AND user_id IN (`+
				Placeholders(len(args)-1)+`)`, args, func(rows *sql.Rows) error {
				var u int64
				err := rows.Scan(&u)
				buyers[vu{v, u}] = true
				return err
			}); err != nil {
				return err
			}
		}
		// Decide in id order (the order the hot state handed them out).
		pos := make([]int, len(orders))
		for i := range pos {
			pos[i] = i
		}
		slices.SortFunc(pos, func(a, b int) int { return cmp.Compare(orders[a].ID, orders[b].ID) })
		taken := map[int64]int64{}
		var rows []any
		nrows := 0
		for _, i := range pos {
			o := orders[i]
			switch {
			case stored[o.ID]:
				out[i] = zan.OrderExists
			case buyers[vu{o.VoucherID, o.UserID}]:
				out[i] = zan.OrderRejectedDuplicate
			case remaining[o.VoucherID] <= 0:
				out[i] = zan.OrderRejectedSoldOut
			default:
				out[i] = zan.OrderStored
				stored[o.ID] = true
				buyers[vu{o.VoucherID, o.UserID}] = true
				remaining[o.VoucherID]--
				taken[o.VoucherID]++
				rows = append(rows, o.ID, o.VoucherID, o.UserID, string(zan.OrderCreated), Micros(o.CreatedAt))
				nrows++
			}
		}
		for _, v := range vouchers {
			n := taken[v]
			if n == 0 {
				continue
			}
			res, err := tx.ExecContext(ctx, `UPDATE `+r.table("vouchers")+` SET remaining = remaining - ? WHERE id = ? AND remaining >= ?`, n, v, n)
			if err != nil {
				return err
			}
			if k, err := res.RowsAffected(); err != nil || k != 1 {
				return fmt.Errorf("sqlstore: voucher %d: stock changed under its lock (%d rows, %v)", v, k, err)
			}
		}
		const chunk = 500
		for start := 0; start < nrows; start += chunk {
			n := min(chunk, nrows-start)
			vals := strings.TrimSuffix(strings.Repeat("(?,?,?,?,?),", n), ",")
			if _, err := tx.ExecContext(ctx, `INSERT INTO `+r.table("orders")+` (id, voucher_id, user_id, status, created_at) VALUES `+vals,
				rows[start*5:(start+n)*5]...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func queryTx(ctx context.Context, tx *sql.Tx, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
