package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"github.com/zanlabs/zan"
)

// CreateWebhook stores w.
func (r Common) CreateWebhook(ctx context.Context, w zan.Webhook) error {
	return r.exec(ctx, `INSERT INTO `+r.table("webhooks")+` (id, url, secret, events, created_at) VALUES (?, ?, ?, ?, ?)`,
		w.ID, w.URL, w.Secret, formatOps(w.Events), Micros(w.CreatedAt))
}

// Webhooks lists the registered webhooks, oldest first.
func (r Common) Webhooks(ctx context.Context) ([]zan.Webhook, error) {
	var out []zan.Webhook
	err := r.query(ctx, `SELECT id, url, secret, events, created_at FROM `+r.table("webhooks")+` ORDER BY id`, nil,
		func(rows *sql.Rows) error {
			var w zan.Webhook
			var events string
			var created int64
			if err := rows.Scan(&w.ID, &w.URL, &w.Secret, &events, &created); err != nil {
				return err
			}
			w.Events, w.CreatedAt = parseOps(events), FromMicros(created)
			out = append(out, w)
			return nil
		})
	return out, err
}

// DeleteWebhook removes webhook id and its dead letters.
func (r Common) DeleteWebhook(ctx context.Context, id int64) error {
	return r.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM `+r.table("webhooks")+` WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return zan.Errorf(zan.ENotFound, "webhook not found")
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM `+r.table("webhook_dead")+` WHERE endpoint = ?`, strconv.FormatInt(id, 10))
		return err
	})
}

// AddWebhookDead keeps dead letters, each (endpoint, event) once.
func (r Common) AddWebhookDead(ctx context.Context, ds []zan.WebhookDead) error {
	if len(ds) == 0 {
		return nil
	}
	args := make([]any, 0, 5*len(ds))
	for _, d := range ds {
		args = append(args, d.Endpoint, d.Event.ID, string(d.Event.AppendJSON(nil)), d.Reason, Micros(d.At))
	}
	return r.exec(ctx, `INSERT INTO `+r.table("webhook_dead")+` (endpoint, event_id, event, reason, at) VALUES `+
		strings.Repeat("(?, ?, ?, ?, ?),", len(ds)-1)+`(?, ?, ?, ?, ?)`+r.dialect.IgnoreDuplicate("at"), args...)
}

// WebhookDeadLetters lists up to limit of endpoint's dead letters, oldest
// first.
func (r Common) WebhookDeadLetters(ctx context.Context, endpoint string, limit int) ([]zan.WebhookDead, error) {
	var out []zan.WebhookDead
	err := r.query(ctx, `SELECT event, reason, at FROM `+r.table("webhook_dead")+` WHERE endpoint = ? ORDER BY at, event_id LIMIT ?`,
		[]any{endpoint, LimitOf(limit)}, func(rows *sql.Rows) error {
			d := zan.WebhookDead{Endpoint: endpoint}
			var ev string
			var at int64
			if err := rows.Scan(&ev, &d.Reason, &at); err != nil {
				return err
			}
			if err := d.Event.UnmarshalJSON([]byte(ev)); err != nil {
				return err
			}
			d.At = FromMicros(at)
			out = append(out, d)
			return nil
		})
	return out, err
}

// DeleteWebhookDead removes endpoint's dead letters of these events.
func (r Common) DeleteWebhookDead(ctx context.Context, endpoint string, eventIDs []string) error {
	if len(eventIDs) == 0 {
		return nil
	}
	args := make([]any, 0, 1+len(eventIDs))
	args = append(args, endpoint)
	for _, id := range eventIDs {
		args = append(args, id)
	}
	return r.exec(ctx, `DELETE FROM `+r.table("webhook_dead")+` WHERE endpoint = ? AND event_id IN (`+Placeholders(len(eventIDs))+`)`, args...)
}

func formatOps(ops []zan.Op) string {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = o.String()
	}
	return strings.Join(s, ",")
}

func parseOps(s string) []zan.Op {
	var out []zan.Op
	for f := range strings.SplitSeq(s, ",") {
		switch f {
		case "like":
			out = append(out, zan.OpLike)
		case "unlike":
			out = append(out, zan.OpUnlike)
		}
	}
	return out
}
