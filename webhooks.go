package zan

import (
	"context"
	"time"
)

// Webhook is an endpoint registered through the admin API. The secret is
// kept (deliveries are signed with it) but never shown again.
type Webhook struct {
	ID     int64
	URL    string
	Secret string
	// Events are the ops the endpoint receives (like, unlike).
	Events    []Op
	CreatedAt time.Time
}

// WebhookDead is an event an endpoint did not accept in time, kept for an
// operator to list and replay.
type WebhookDead struct {
	// Endpoint is the id of the endpoint (a registered webhook's id in
	// decimal, or the id of a --webhook endpoint).
	Endpoint string
	Event    Event
	Reason   string
	At       time.Time
}

// WebhookStore keeps the registered webhooks and their dead letters.
type WebhookStore interface {
	// CreateWebhook stores w.
	CreateWebhook(ctx context.Context, w Webhook) error
	// Webhooks lists the registered webhooks, oldest first.
	Webhooks(ctx context.Context) ([]Webhook, error)
	// DeleteWebhook removes webhook id and its dead letters; ENotFound
	// when there is none.
	DeleteWebhook(ctx context.Context, id int64) error
	// AddWebhookDead keeps dead letters. One (endpoint, event) is kept
	// once: adding it again (a redelivered batch) changes nothing.
	AddWebhookDead(ctx context.Context, ds []WebhookDead) error
	// WebhookDeadLetters lists up to limit of endpoint's dead letters,
	// oldest first.
	WebhookDeadLetters(ctx context.Context, endpoint string, limit int) ([]WebhookDead, error)
	// DeleteWebhookDead removes endpoint's dead letters of these events
	// (ids that are not there are ignored).
	DeleteWebhookDead(ctx context.Context, endpoint string, eventIDs []string) error
}
