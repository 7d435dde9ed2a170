package sqlite

import (
	"context"
	"database/sql"
	"strings"
)

// indexText replaces a shop's row in the FTS5 index.
func indexText(ctx context.Context, tx *sql.Tx, id int64, words []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM shops_fts WHERE rowid = ?`, id); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO shops_fts (rowid, words) VALUES (?, ?)`, id, strings.Join(words, " "))
	return err
}

// matchText is an FTS5 query of prefix terms, all required. Words hold only
// letters and digits, and each is quoted, so nothing in them is FTS syntax.
func matchText(words []string) (string, []any) {
	terms := make([]string, len(words))
	for i, w := range words {
		terms[i] = `"` + w + `"*`
	}
	return `s.id IN (SELECT rowid FROM shops_fts WHERE shops_fts MATCH ?)`, []any{strings.Join(terms, " AND ")}
}
