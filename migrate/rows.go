package migrate

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/sqlstore"
)

// RowStore is a store whose tables other than likes an online migration
// copies row by row: *sqlite.DB and *mysql.DB, in either direction.
type RowStore interface {
	zan.Store
	zan.Importer
	TableColumns(ctx context.Context, table string) ([]string, error)
	TableChunk(ctx context.Context, table string, cols, key []string, after, upTo []any, limit int, fn func(sqlstore.Row) error) error
	TableRows(ctx context.Context, table string, cols, by []string, keys [][]any, fn func(sqlstore.Row) error) error
	PutTableRows(ctx context.Context, table string, cols []string, rows []sqlstore.Row) error
	DeleteTableRows(ctx context.Context, table string, by []string, keys [][]any) error
	RecountRemaining(ctx context.Context, ids []int64) error
}

// Table is one table the online migration copies by rows: every table
// but likes and their counts (fed by the log). Sessions are copied too:
// a node without Redis keeps them in the store (with Redis they live
// there, and the table stays empty in both stores).
type Table struct {
	Name string
	// Key is unique in the table in every dialect, and the order the
	// sweep walks it in.
	Key []string
}

// Tables are the tables copied by rows, parents before children.
var Tables = []Table{
	{"users", []string{"id"}},
	{"identities", []string{"issuer", "subject"}},
	{"blogs", []string{"id"}},
	{"photos", []string{"id"}},
	{"blog_photos", []string{"blog_id", "pos"}},
	{"shops", []string{"id"}},
	{"vouchers", []string{"id"}},
	{"orders", []string{"id"}},
	{"notifications", []string{"id"}},
	{"notification_actors", []string{"target_type", "target_id", "actor_id"}},
	{"notification_unread", []string{"user_id"}},
	{"webhooks", []string{"id"}},
	{"webhook_dead", []string{"endpoint", "event_id"}},
	{"sessions", []string{"token_hash"}},
}

func tableNamed(name string) Table {
	for _, t := range Tables {
		if t.Name == name {
			return t
		}
	}
	panic("migrate: no table " + name)
}

// rowCopier copies rows of the Tables from one RowStore to another.
type rowCopier struct {
	cols sync.Map // table name -> []string, the columns both stores share
}

// columns are table's columns in from. Both stores run the same
// migrations, so they have the same columns; a store that lacks one
// fails the copy, which the sweep reports.
func (c *rowCopier) columns(ctx context.Context, from RowStore, table string) ([]string, error) {
	if v, ok := c.cols.Load(table); ok {
		return v.([]string), nil
	}
	cols, err := from.TableColumns(ctx, table)
	if err != nil {
		return nil, err
	}
	c.cols.Store(table, cols)
	return cols, nil
}

// keyOf is a row's key in t, as a map key.
func keyOf(t Table, cols []string, row sqlstore.Row) string {
	return keyString(keyVals(t, cols, row))
}

func keyString(vals []any) string {
	var b strings.Builder
	for _, v := range vals {
		fmt.Fprintf(&b, "%v\x00", v)
	}
	return b.String()
}

func keyVals(t Table, cols []string, row sqlstore.Row) []any {
	out := make([]any, len(t.Key))
	for j, k := range t.Key {
		out[j] = row[slices.Index(cols, k)]
	}
	return out
}

func sameRow(a, b sqlstore.Row) bool {
	return slices.EqualFunc(a, b, func(x, y any) bool {
		if bx, ok := x.([]byte); ok {
			by, ok := y.([]byte)
			return ok && bytes.Equal(bx, by)
		}
		return x == y
	})
}

// read returns the rows of t in s whose columns by equal one of keys, by
// their key.
func (c *rowCopier) read(ctx context.Context, s RowStore, t Table, cols, by []string, keys [][]any) (map[string]sqlstore.Row, error) {
	out := map[string]sqlstore.Row{}
	err := s.TableRows(ctx, t.Name, cols, by, keys, func(r sqlstore.Row) error {
		out[keyOf(t, cols, r)] = r
		return nil
	})
	return out, err
}

// sync makes the rows of table whose columns by equal one of keys the
// same in to as in from: rows from has are written, rows only to has
// are deleted. It returns the number of rows it changed in to.
//
// Two copies of one row may run at once (two nodes wrote it one after
// the other), and the one that read the older row may write last. So a
// copy reads the rows again after writing them, and copies again if they
// changed meanwhile: the copy that read the newest row writes after
// every copy that read an older one, or that one copies again.
func (c *rowCopier) sync(ctx context.Context, from, to RowStore, table string, by []string, keys [][]any) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	t := tableNamed(table)
	if t.Name == "shops" {
		return c.syncShops(ctx, from, to, keys)
	}
	cols, err := c.columns(ctx, from, t.Name)
	if err != nil {
		return 0, err
	}
	want, err := c.read(ctx, from, t, cols, by, keys)
	if err != nil {
		return 0, err
	}
	changed := 0
	for range maxCopies {
		n, err := c.write(ctx, to, t, cols, by, keys, want)
		changed += n
		if err != nil {
			return changed, err
		}
		again, err := c.read(ctx, from, t, cols, by, keys)
		if err != nil {
			return changed, err
		}
		if sameRows(want, again) {
			return changed, nil
		}
		want = again
	}
	return changed, fmt.Errorf("migrate: %s rows kept changing while copied", t.Name)
}

// maxCopies bounds the copies of rows that keep changing: the sweep
// takes over then.
const maxCopies = 5

func sameRows(a, b map[string]sqlstore.Row) bool {
	if len(a) != len(b) {
		return false
	}
	for k, r := range a {
		if o, ok := b[k]; !ok || !sameRow(r, o) {
			return false
		}
	}
	return true
}

// write makes to's rows (selected by by and keys) want.
func (c *rowCopier) write(ctx context.Context, to RowStore, t Table, cols, by []string, keys [][]any, want map[string]sqlstore.Row) (int, error) {
	have, err := c.read(ctx, to, t, cols, by, keys)
	if err != nil {
		return 0, err
	}
	var put []sqlstore.Row
	var drop [][]any
	for k, r := range have {
		if _, ok := want[k]; !ok {
			drop = append(drop, keyVals(t, cols, r))
		}
	}
	for k, r := range want {
		if h, ok := have[k]; !ok || !sameRow(h, r) {
			put = append(put, r)
		}
	}
	// Deletes first: a row the record dropped may hold a unique key (a
	// user's identity at an issuer) that a row it wrote takes now.
	if err := to.DeleteTableRows(ctx, t.Name, t.Key, drop); err != nil {
		return 0, err
	}
	if err := to.PutTableRows(ctx, t.Name, cols, put); err != nil {
		return 0, err
	}
	return len(put) + len(drop), nil
}

// syncShops copies shops through the store's import, which keeps each
// dialect's own search index of their words (a table in MySQL, full text
// in SQLite). Shops are never deleted.
func (c *rowCopier) syncShops(ctx context.Context, from, to RowStore, keys [][]any) (int, error) {
	var ss []zan.Shop
	for _, k := range keys {
		id, ok := k[0].(int64)
		if !ok {
			return 0, fmt.Errorf("migrate: shop key %v", k)
		}
		s, err := from.Shop(ctx, id)
		if zan.ErrorCode(err) == zan.ENotFound {
			continue
		}
		if err != nil {
			return 0, err
		}
		ss = append(ss, s)
	}
	return len(ss), to.ImportShops(ctx, ss)
}

func ids(vs ...int64) [][]any {
	out := make([][]any, len(vs))
	for i, v := range vs {
		out[i] = []any{v}
	}
	return out
}
