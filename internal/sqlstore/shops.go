package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/geo"
)

// Dialect is what the shop, voucher and order queries need of an adapter
// beyond plain queries: transactions, and the text index, which is FTS5 in
// SQLite and a word table in MySQL (TiDB has no FULLTEXT, and MariaDB's
// has minimum word lengths and stop words that would make the two stores
// answer differently).
type Dialect struct {
	// Begin starts a write transaction.
	Begin func(ctx context.Context) (*sql.Tx, error)
	// Err classifies an error of the adapter's driver (see ExecFunc).
	Err func(ctx context.Context, err error) error
	// Retry, when set, runs a transaction again while it loses a race to
	// a concurrent one (a deadlock, a lock wait, TiDB's spent pessimistic
	// lock retries), and classifies its last error as Err does.
	Retry func(ctx context.Context, tx func() error) error
	// ForUpdate is appended to a read that must lock the rows it reads
	// (" FOR UPDATE"; "" where the transaction locks everything).
	ForUpdate string
	// IndexText replaces shop id's search words in tx.
	IndexText func(ctx context.Context, tx *sql.Tx, id int64, words []string) error
	// MatchText returns a condition on s.id that holds for the shops whose
	// words match every one of words by prefix.
	MatchText func(words []string) (string, []any)
	// IgnoreDuplicate ends an INSERT so that a row whose key is there
	// already is left as it is, without an error; col is any column of the
	// table (MySQL needs one to "update").
	IgnoreDuplicate func(col string) string
	// Upsert ends a multi-row INSERT so that a row whose key (the columns
	// of key, a primary or unique key) is there already has cols set to
	// the inserted row's values instead.
	Upsert func(key []string, cols ...string) string
	// JoinValues: a lookup of many keys joins a VALUES list of them
	// (columns column1, column2, ...) rather than an OR of the keys.
	JoinValues bool
	// RoundTrips: each statement is a round trip to a server (MySQL), so
	// many small reads are worth one larger statement.
	RoundTrips bool
	// RowValues: a comparison of several columns as one row value,
	// (a, b) > (?, ?), seeks an index on them (SQLite; MySQL scans).
	RowValues bool
}

// SetDialect completes r for the shop, voucher and order queries.
func (r *Common) SetDialect(d Dialect) { r.dialect = d }

// Words splits text into lower-case words: runs of letters and digits.
// Both stores index and query these same words, so a search answers alike
// in both; a run of CJK characters is one word, as in SQLite's unicode61
// tokenizer.
func Words(text string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if len(w) > 64 {
			w = w[:64] // the word table's column; prefix search still finds it
			for !utf8ValidTail(w) {
				w = w[:len(w)-1]
			}
		}
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// SplitCJK parts query words into those matched as prefixes of indexed
// words and those matched anywhere inside a shop's name or address. Chinese
// and Japanese are written without spaces, so a run of them is one indexed
// word ("兰州拉面馆") and a prefix search would never find "拉面" in it: a
// word with any CJK character in it is looked for as a substring. That is
// a scan of the shops the other conditions leave, not an index lookup;
// cheap at the thousands of shops of a city (see the README).
func SplitCJK(words []string) (prefix, inner []string) {
	for _, w := range words {
		if strings.IndexFunc(w, isCJK) >= 0 {
			inner = append(inner, w)
		} else {
			prefix = append(prefix, w)
		}
	}
	return prefix, inner
}

func isCJK(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// likeEscape quotes LIKE's wildcards (and the escape character '!'): words
// hold only letters and digits today, but the pattern must not depend on
// that.
func likeEscape(w string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(w)
}

// utf8ValidTail reports whether w does not end inside a multi-byte rune.
func utf8ValidTail(w string) bool {
	return strings.ToValidUTF8(w, "\uFFFD") == w
}

// ShopWords returns the indexed words of a shop.
func ShopWords(s zan.Shop) []string { return Words(s.Name + " " + s.Address) }

const shopCols = `id, name, type, address, x, y, geohash, score, avg_price, open_hours, created_at, updated_at`

func scanShop(s Scanner) (zan.Shop, error) {
	var (
		sh               zan.Shop
		gh               string
		created, updated int64
	)
	if err := s.Scan(&sh.ID, &sh.Name, &sh.Type, &sh.Address, &sh.X, &sh.Y, &gh, &sh.Score, &sh.AvgPrice,
		&sh.OpenHours, &created, &updated); err != nil {
		return zan.Shop{}, err
	}
	sh.CreatedAt, sh.UpdatedAt = FromMicros(created), FromMicros(updated)
	return sh, nil
}

// inTx runs fn in a write transaction and commits it.
func (r Common) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	once := func() error {
		tx, err := r.dialect.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := fn(tx); err != nil {
			return err
		}
		return tx.Commit()
	}
	if r.dialect.Retry != nil {
		return r.dialect.Retry(ctx, once)
	}
	return r.dialect.Err(ctx, once())
}

// CreateShop stores s with its search words and geohash.
func (r Common) CreateShop(ctx context.Context, s zan.Shop) error {
	return r.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+r.table("shops")+` (`+shopCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
			s.ID, s.Name, s.Type, s.Address, s.X, s.Y, geo.Encode(s.X, s.Y), s.Score, s.AvgPrice, s.OpenHours,
			Micros(s.CreatedAt), Micros(s.UpdatedAt)); err != nil {
			return err
		}
		return r.dialect.IndexText(ctx, tx, s.ID, ShopWords(s))
	})
}

// UpdateShop replaces the stored shop s.ID, keeping its created_at.
func (r Common) UpdateShop(ctx context.Context, s zan.Shop) error {
	return r.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		// Existence first: MySQL reports rows changed, not rows matched, so
		// an update to the same values would look like a missing shop.
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM `+r.table("shops")+` WHERE id = ?`+r.dialect.ForUpdate, s.ID).Scan(&one); err != nil {
			if err == sql.ErrNoRows {
				return zan.Errorf(zan.ENotFound, "shop %d not found", s.ID)
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE `+r.table("shops")+` SET name = ?, type = ?, address = ?, x = ?, y = ?,
			geohash = ?, score = ?, avg_price = ?, open_hours = ?, updated_at = ? WHERE id = ?`,
			s.Name, s.Type, s.Address, s.X, s.Y, geo.Encode(s.X, s.Y), s.Score, s.AvgPrice, s.OpenHours,
			Micros(s.UpdatedAt), s.ID); err != nil {
			return err
		}
		return r.dialect.IndexText(ctx, tx, s.ID, ShopWords(s))
	})
}

// Shop returns the shop with id.
func (r Common) Shop(ctx context.Context, id int64) (zan.Shop, error) {
	var s zan.Shop
	found, err := r.one(ctx, `SELECT `+shopCols+` FROM `+r.table("shops")+` WHERE id = ?`, []any{id},
		func(rows *sql.Rows) (err error) { s, err = scanShop(rows); return err })
	if err == nil && !found {
		err = zan.Errorf(zan.ENotFound, "shop %d not found", id)
	}
	return s, err
}

// Shops lists shops newest first, by type and words.
func (r Common) Shops(ctx context.Context, f zan.ShopFilter) (zan.ShopPage, error) {
	limit := LimitOf(f.Limit)
	q := `SELECT ` + shopCols + ` FROM ` + r.table("shops") + ` s WHERE 1 = 1`
	var args []any
	if f.Type != "" {
		q += ` AND type = ?`
		args = append(args, f.Type)
	}
	if words := Words(f.Q); len(words) > 0 {
		prefix, inner := SplitCJK(words)
		if len(prefix) > 0 {
			cond, a := r.dialect.MatchText(prefix)
			q += ` AND ` + cond
			args = append(args, a...)
		}
		for _, w := range inner {
			// LOWER on the column: query words are lower case (Words).
			q += ` AND (LOWER(s.name) LIKE ? ESCAPE '!' OR LOWER(s.address) LIKE ? ESCAPE '!')`
			pat := "%" + likeEscape(w) + "%"
			args = append(args, pat, pat)
		}
	} else if strings.TrimSpace(f.Q) != "" {
		return zan.ShopPage{}, nil // only punctuation: no word can match
	}
	if f.After != nil {
		q += ` AND id < ?`
		args = append(args, f.After.ID)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit+1)
	var p zan.ShopPage
	err := r.query(ctx, q, args, func(rows *sql.Rows) error {
		s, err := scanShop(rows)
		p.Shops = append(p.Shops, s)
		return err
	})
	if err != nil {
		return zan.ShopPage{}, err
	}
	if len(p.Shops) > limit {
		p.Shops = p.Shops[:limit]
		p.Next = &zan.Cursor{ID: p.Shops[limit-1].ID}
	}
	return p, nil
}

// NearbyShops lists the shops within q.RadiusM of (q.X, q.Y), nearest
// first: the geohash cells around the point are range scans on the
// geohash index, and the exact distance filters and orders what they hold.
func (r Common) NearbyShops(ctx context.Context, q zan.NearbyQuery) (zan.NearbyPage, error) {
	limit := LimitOf(q.Limit)
	type hit struct {
		s  zan.Shop
		mm int64 // distance in millimetres: the cursor's unit
		d  float64
	}
	var hits []hit
	seen := map[int64]bool{}
	for _, prefix := range geo.Cover(q.X, q.Y, q.RadiusM) {
		s := `SELECT ` + shopCols + ` FROM ` + r.table("shops") + ` WHERE geohash >= ? AND geohash < ?`
		args := []any{prefix, geo.Upper(prefix)}
		if q.Type != "" {
			s += ` AND type = ?`
			args = append(args, q.Type)
		}
		err := r.query(ctx, s, args, func(rows *sql.Rows) error {
			sh, err := scanShop(rows)
			if err != nil || seen[sh.ID] {
				return err
			}
			seen[sh.ID] = true
			d := geo.Distance(q.X, q.Y, sh.X, sh.Y)
			if d > q.RadiusM {
				return nil
			}
			mm := int64(math.Round(d * 1000))
			if q.After != nil && (mm < q.After.Score || mm == q.After.Score && sh.ID <= q.After.ID) {
				return nil
			}
			hits = append(hits, hit{sh, mm, d})
			return nil
		})
		if err != nil {
			return zan.NearbyPage{}, err
		}
	}
	slices.SortFunc(hits, func(a, b hit) int { return cmp.Or(cmp.Compare(a.mm, b.mm), cmp.Compare(a.s.ID, b.s.ID)) })
	var p zan.NearbyPage
	for i, h := range hits {
		if i == limit {
			last := hits[limit-1]
			p.Next = &zan.Cursor{Score: last.mm, ID: last.s.ID}
			break
		}
		p.Shops = append(p.Shops, h.s)
		p.Distances = append(p.Distances, h.d)
	}
	return p, nil
}

// ShopIDs calls fn with every shop id, ScanChunk at a time.
func (r Common) ShopIDs(ctx context.Context, fn func(ids []int64) error) error {
	after := int64(0)
	for {
		var ids []int64
		err := r.query(ctx, `SELECT id FROM `+r.table("shops")+` WHERE id > ? ORDER BY id LIMIT ?`,
			[]any{after, ScanChunk}, func(rows *sql.Rows) error {
				var id int64
				err := rows.Scan(&id)
				ids = append(ids, id)
				return err
			})
		if err != nil || len(ids) == 0 {
			return err
		}
		if err := fn(ids); err != nil {
			return err
		}
		if len(ids) < ScanChunk {
			return nil
		}
		after = ids[len(ids)-1]
	}
}

// ExportShops returns up to limit shops with ID > afterID, by ID.
func (r Common) ExportShops(ctx context.Context, afterID int64, limit int) ([]zan.Shop, error) {
	var out []zan.Shop
	err := r.query(ctx, `SELECT `+shopCols+` FROM `+r.table("shops")+` WHERE id > ? ORDER BY id LIMIT ?`,
		[]any{afterID, limit}, func(rows *sql.Rows) error {
			s, err := scanShop(rows)
			out = append(out, s)
			return err
		})
	return out, err
}

// ExportVouchers returns up to limit vouchers with ID > afterID, by ID.
func (r Common) ExportVouchers(ctx context.Context, afterID int64, limit int) ([]zan.Voucher, error) {
	var out []zan.Voucher
	err := r.query(ctx, `SELECT `+voucherCols+` FROM `+r.table("vouchers")+` WHERE id > ? ORDER BY id LIMIT ?`,
		[]any{afterID, limit}, func(rows *sql.Rows) error {
			v, err := scanVoucher(rows)
			out = append(out, v)
			return err
		})
	return out, err
}

// ExportOrders returns up to limit orders with ID > afterID, by ID.
func (r Common) ExportOrders(ctx context.Context, afterID int64, limit int) ([]zan.VoucherOrder, error) {
	var out []zan.VoucherOrder
	err := r.query(ctx, `SELECT id, voucher_id, user_id, status, created_at FROM `+r.table("orders")+` WHERE id > ? ORDER BY id LIMIT ?`,
		[]any{afterID, limit}, func(rows *sql.Rows) error {
			var o zan.VoucherOrder
			var created int64
			err := rows.Scan(&o.ID, &o.VoucherID, &o.UserID, &o.Status, &created)
			o.CreatedAt = FromMicros(created)
			out = append(out, o)
			return err
		})
	return out, err
}

// CountShopTotals counts the shops, the vouchers and the orders.
func (r Common) CountShopTotals(ctx context.Context) (shops, vouchers, orders int64, err error) {
	for _, c := range []struct {
		table string
		n     *int64
	}{{"shops", &shops}, {"vouchers", &vouchers}, {"orders", &orders}} {
		if _, err = r.one(ctx, `SELECT COUNT(*) FROM `+r.table(c.table), nil, func(rows *sql.Rows) error { return rows.Scan(c.n) }); err != nil {
			return 0, 0, 0, err
		}
	}
	return shops, vouchers, orders, nil
}

// existing returns which of ids are in table.
func existing(ctx context.Context, tx *sql.Tx, table string, ids []int64) (map[int64]bool, error) {
	found := map[int64]bool{}
	if len(ids) == 0 {
		return found, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	err := queryTx(ctx, tx, `SELECT id FROM `+table+` WHERE id IN (`+Placeholders(len(ids))+`)`, args, func(rows *sql.Rows) error {
		var id int64
		err := rows.Scan(&id)
		found[id] = true
		return err
	})
	return found, err
}

// ImportShops writes shops as the source has them: new ones created, known
// ones updated (a migration run again converges on the source's state).
func (r Common) ImportShops(ctx context.Context, shops []zan.Shop) error {
	ids := make([]int64, len(shops))
	for i, s := range shops {
		ids[i] = s.ID
	}
	return r.inTx(ctx, func(tx *sql.Tx) error {
		known, err := existing(ctx, tx, r.table("shops"), ids)
		if err != nil {
			return err
		}
		for _, s := range shops {
			if known[s.ID] {
				_, err = tx.ExecContext(ctx, `UPDATE `+r.table("shops")+` SET name = ?, type = ?, address = ?, x = ?, y = ?,
					geohash = ?, score = ?, avg_price = ?, open_hours = ?, created_at = ?, updated_at = ? WHERE id = ?`,
					s.Name, s.Type, s.Address, s.X, s.Y, geo.Encode(s.X, s.Y), s.Score, s.AvgPrice, s.OpenHours,
					Micros(s.CreatedAt), Micros(s.UpdatedAt), s.ID)
			} else {
				_, err = tx.ExecContext(ctx, `INSERT INTO `+r.table("shops")+` (`+shopCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
					s.ID, s.Name, s.Type, s.Address, s.X, s.Y, geo.Encode(s.X, s.Y), s.Score, s.AvgPrice, s.OpenHours,
					Micros(s.CreatedAt), Micros(s.UpdatedAt))
			}
			if err != nil {
				return err
			}
			if err := r.dialect.IndexText(ctx, tx, s.ID, ShopWords(s)); err != nil {
				return err
			}
		}
		return nil
	})
}

// ImportVouchers writes vouchers as the source has them, remaining stock
// included.
func (r Common) ImportVouchers(ctx context.Context, vs []zan.Voucher) error {
	ids := make([]int64, len(vs))
	for i, v := range vs {
		ids[i] = v.ID
	}
	return r.inTx(ctx, func(tx *sql.Tx) error {
		known, err := existing(ctx, tx, r.table("vouchers"), ids)
		if err != nil {
			return err
		}
		for _, v := range vs {
			if known[v.ID] {
				_, err = tx.ExecContext(ctx, `UPDATE `+r.table("vouchers")+` SET title = ?, remaining = ?, begin_at = ?, end_at = ? WHERE id = ?`,
					v.Title, v.Remaining, Micros(v.BeginAt), Micros(v.EndAt), v.ID)
			} else {
				_, err = tx.ExecContext(ctx, `INSERT INTO `+r.table("vouchers")+` (`+voucherCols+`) VALUES (?,?,?,?,?,?,?,?)`,
					v.ID, v.ShopID, v.Title, v.Stock, v.Remaining, Micros(v.BeginAt), Micros(v.EndAt), Micros(v.CreatedAt))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// ImportOrders inserts the orders not there yet; stock is not touched (the
// vouchers carry their remaining stock).
func (r Common) ImportOrders(ctx context.Context, orders []zan.VoucherOrder) error {
	ids := make([]int64, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	return r.inTx(ctx, func(tx *sql.Tx) error {
		known, err := existing(ctx, tx, r.table("orders"), ids)
		if err != nil {
			return err
		}
		for _, o := range orders {
			if known[o.ID] {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO `+r.table("orders")+` (id, voucher_id, user_id, status, created_at) VALUES (?,?,?,?,?)`,
				o.ID, o.VoucherID, o.UserID, string(o.Status), Micros(o.CreatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
}
