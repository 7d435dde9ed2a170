package mysql

import (
	"context"
	"database/sql"
	"strings"
)

// indexText replaces a shop's words in zan_shop_words.
func indexText(ctx context.Context, tx *sql.Tx, id int64, words []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM zan_shop_words WHERE shop_id = ?`, id); err != nil {
		return err
	}
	if len(words) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(words))
	for _, w := range words {
		args = append(args, w, id)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO zan_shop_words (word, shop_id) VALUES `+
		strings.TrimSuffix(strings.Repeat("(?,?),", len(words)), ","), args...)
	return err
}

// matchText requires each word as a prefix: LIKE 'w%' is a range on the
// word table's primary key. Words hold only letters and digits, so none
// carries a LIKE wildcard.
func matchText(words []string) (string, []any) {
	conds := make([]string, len(words))
	args := make([]any, len(words))
	for i, w := range words {
		conds[i] = `s.id IN (SELECT shop_id FROM zan_shop_words WHERE word LIKE ?)`
		args[i] = w + "%"
	}
	return strings.Join(conds, " AND "), args
}
