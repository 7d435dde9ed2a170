package client

import (
	"context"
	"time"
)

// Notification is an inbox item: likes of one of the caller's blogs,
// aggregated while it is unread.
type Notification struct {
	ID     ID     `json:"id"`
	Kind   string `json:"kind"`
	Target struct {
		Type string `json:"type"`
		ID   ID     `json:"id"`
	} `json:"target"`
	Actors     []Author  `json:"actors"` // the latest few, newest first
	ActorCount int64     `json:"actor_count"`
	Read       bool      `json:"read"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Inbox is a page of the caller's inbox and their unread count.
type Inbox struct {
	Page[Notification]
	Unread int64
}

// Notifications lists the caller's inbox, newest first.
func (c *Client) Notifications(ctx context.Context, o ListOptions) (Inbox, error) {
	var p struct {
		pageJSON[Notification]
		Unread int64 `json:"unread"`
	}
	err := c.call(ctx, "GET", "/api/v1/notifications", o.values(), nil, &p, true)
	return Inbox{Page: p.page(), Unread: p.Unread}, err
}

// UnreadNotifications returns the caller's unread count.
func (c *Client) UnreadNotifications(ctx context.Context) (int64, error) {
	var out struct {
		Unread int64 `json:"unread"`
	}
	err := c.call(ctx, "GET", "/api/v1/notifications/unread", nil, nil, &out, true)
	return out.Unread, err
}

// MarkNotificationsRead marks the caller's items ids read, or all of them.
// Retried: marking read again changes nothing.
func (c *Client) MarkNotificationsRead(ctx context.Context, ids []int64, all bool) error {
	body := map[string]any{}
	if all {
		body["all"] = true
	} else {
		s := make([]string, len(ids))
		for i, id := range ids {
			s[i] = idPath(id)
		}
		body["ids"] = s
	}
	return c.call(ctx, "POST", "/api/v1/notifications/read", nil, body, nil, true)
}
