package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// The table rows below are how an online migration copies the tables
// other than likes between two stores, whatever their dialects: rows read
// by key, in key order, or by the columns that group them (a user's
// identities), normalized so that a row read from SQLite compares equal
// to the same row read from MySQL, and written back by upsert. Table and
// column names come from the caller's catalog, never from a request.

// Row is one row's values in the order of the columns asked for: int64,
// float64, string, []byte (binary columns) or nil.
type Row []any

func ident(name string) (string, error) {
	for _, c := range name {
		if c != '_' && (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return "", fmt.Errorf("sqlstore: %q is not a table or column name", name)
		}
	}
	if name == "" {
		return "", fmt.Errorf("sqlstore: empty table or column name")
	}
	return name, nil
}

func idents(names []string) (string, error) {
	for _, n := range names {
		if _, err := ident(n); err != nil {
			return "", err
		}
	}
	return strings.Join(names, ", "), nil
}

// TableColumns returns the columns of table, in the table's order. The
// outer join returns one row even from an empty table, and the query
// function reads column names only off a row.
func (r Common) TableColumns(ctx context.Context, table string) ([]string, error) {
	if _, err := ident(table); err != nil {
		return nil, err
	}
	var cols []string
	err := r.query(ctx, `SELECT t.* FROM (SELECT 1 AS zan_one) z LEFT JOIN `+r.table(table)+` t ON 1 = 1 LIMIT 1`, nil,
		func(rows *sql.Rows) error {
			c, err := rows.Columns()
			cols = c
			return err
		})
	return cols, err
}

// kind is how a column's values are normalized.
type kind uint8

const (
	kindText kind = iota
	kindInt
	kindFloat
	kindBinary
)

func kindOf(dbType string) kind {
	t := strings.ToUpper(dbType)
	switch {
	case strings.Contains(t, "INT"):
		return kindInt
	case strings.Contains(t, "DOUBLE"), strings.Contains(t, "FLOAT"), strings.Contains(t, "REAL"), strings.Contains(t, "DECIMAL"):
		return kindFloat
	case strings.Contains(t, "BLOB"), strings.Contains(t, "BINARY"):
		return kindBinary
	}
	return kindText
}

// normalize turns what a driver scanned into one of Row's types, by the
// column's kind: MySQL's text protocol hands numbers as bytes, SQLite
// hands what the value's storage class is.
func normalize(v any, k kind) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		switch k {
		case kindBinary:
			return append([]byte(nil), x...), nil
		case kindText:
			return string(x), nil
		}
		return normalize(string(x), k)
	case string:
		switch k {
		case kindInt:
			return strconv.ParseInt(x, 10, 64)
		case kindFloat:
			return strconv.ParseFloat(x, 64)
		case kindBinary:
			return []byte(x), nil
		}
		return x, nil
	case int64:
		if k == kindFloat {
			return float64(x), nil
		}
		return x, nil
	case int32:
		return normalize(int64(x), k)
	case int:
		return normalize(int64(x), k)
	case uint64:
		return normalize(int64(x), k)
	case uint32:
		return normalize(int64(x), k)
	case bool:
		if x {
			return normalize(int64(1), k)
		}
		return normalize(int64(0), k)
	case float64:
		if k == kindInt && x == float64(int64(x)) {
			return int64(x), nil
		}
		return x, nil
	case float32:
		return normalize(float64(x), k)
	}
	return nil, fmt.Errorf("sqlstore: cannot compare a %T", v)
}

func (r Common) scanRows(ctx context.Context, q string, args []any, ncols int, fn func(Row) error) error {
	var kinds []kind
	return r.query(ctx, q, args, func(rows *sql.Rows) error {
		if kinds == nil {
			ts, err := rows.ColumnTypes()
			if err != nil {
				return err
			}
			for _, t := range ts {
				kinds = append(kinds, kindOf(t.DatabaseTypeName()))
			}
		}
		vals := make([]any, ncols)
		ptrs := make([]any, ncols)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			n, err := normalize(v, kinds[i])
			if err != nil {
				return err
			}
			vals[i] = n
		}
		return fn(vals)
	})
}

// keyAfter is the condition "(key...) > (vals...)" written out, which
// every dialect's planner turns into a range on the key's index.
func keyAfter(key []string, vals []any) (string, []any) {
	var or []string
	var args []any
	for i := range key {
		var and []string
		for j := 0; j < i; j++ {
			and = append(and, key[j]+" = ?")
			args = append(args, vals[j])
		}
		and = append(and, key[i]+" > ?")
		args = append(args, vals[i])
		or = append(or, "("+strings.Join(and, " AND ")+")")
	}
	return "(" + strings.Join(or, " OR ") + ")", args
}

// TableChunk calls fn with up to limit rows of table (columns cols), in
// the order of key (unique in the table), after the key after (nil: from
// the first) and up to upTo included (nil: to the last).
func (r Common) TableChunk(ctx context.Context, table string, cols, key []string, after, upTo []any, limit int, fn func(Row) error) error {
	cl, err := idents(cols)
	if err != nil {
		return err
	}
	if _, err := idents(append([]string{table}, key...)); err != nil {
		return err
	}
	var where []string
	var args []any
	if after != nil {
		w, a := keyAfter(key, after)
		where, args = append(where, w), append(args, a...)
	}
	if upTo != nil {
		w, a := keyAfter(key, upTo)
		where, args = append(where, "NOT "+w), append(args, a...)
	}
	q := `SELECT ` + cl + ` FROM ` + r.table(table)
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY ` + strings.Join(key, ", ") + ` LIMIT ` + strconv.Itoa(limit)
	return r.scanRows(ctx, q, args, len(cols), fn)
}

// TableRows calls fn with the rows of table (columns cols) whose columns
// by equal one of keys (each a tuple of by's values).
func (r Common) TableRows(ctx context.Context, table string, cols, by []string, keys [][]any, fn func(Row) error) error {
	if len(keys) == 0 {
		return nil
	}
	cl, err := idents(cols)
	if err != nil {
		return err
	}
	if _, err := idents(append([]string{table}, by...)); err != nil {
		return err
	}
	q, args := r.keyIn(by, keys)
	return r.scanRows(ctx, `SELECT `+cl+` FROM `+r.table(table)+` WHERE `+q, args, len(cols), fn)
}

// keyIn is "by IN keys", one column or a tuple of them.
func (r Common) keyIn(by []string, keys [][]any) (string, []any) {
	var args []any
	for _, k := range keys {
		args = append(args, k...)
	}
	if len(by) == 1 {
		return by[0] + ` IN (` + Placeholders(len(keys)) + `)`, args
	}
	tuple := "(" + Placeholders(len(by)) + ")"
	return "(" + strings.Join(by, ", ") + ") IN (" + strings.Repeat(tuple+",", len(keys)-1) + tuple + ")", args
}

// PutTableRows writes rows into table, replacing the rows they collide
// with on any unique key: the row copied is the record's state, and a
// row it displaces (an identity relinked, an order's one per user) is
// one the record no longer has.
func (r Common) PutTableRows(ctx context.Context, table string, cols []string, rows []Row) error {
	if _, err := idents(append([]string{table}, cols...)); err != nil || len(rows) == 0 {
		return err
	}
	tuple := "(" + Placeholders(len(cols)) + ")"
	var args []any
	for _, row := range rows {
		args = append(args, row...)
	}
	return r.exec(ctx, `REPLACE INTO `+r.table(table)+` (`+strings.Join(cols, ", ")+`) VALUES `+
		strings.Repeat(tuple+",", len(rows)-1)+tuple, args...)
}

// DeleteTableRows deletes the rows of table whose columns by equal one of
// keys.
func (r Common) DeleteTableRows(ctx context.Context, table string, by []string, keys [][]any) error {
	if len(keys) == 0 {
		return nil
	}
	if _, err := idents(append([]string{table}, by...)); err != nil {
		return err
	}
	q, args := r.keyIn(by, keys)
	return r.exec(ctx, `DELETE FROM `+r.table(table)+` WHERE `+q, args...)
}

// RecountRemaining sets the remaining stock of vouchers ids from their
// stock and their orders in this store. An online migration copies
// orders (rows that never change once stored) and derives the stock
// from them, rather than copying a counter two nodes may be copying at
// once in the other order.
func (r Common) RecountRemaining(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	v, o := r.table("vouchers"), r.table("orders")
	return r.exec(ctx, `UPDATE `+v+` SET remaining = stock - (SELECT COUNT(*) FROM `+o+` WHERE `+o+`.voucher_id = `+v+`.id)
		WHERE id IN (`+Placeholders(len(ids))+`)`, args...)
}
