package notify

import (
	"context"
	"time"

	"github.com/zanlabs/zan"
)

// MaxLimit is the largest inbox page.
const MaxLimit = 100

// MaxReadIDs is the most ids one mark-read call takes.
const MaxReadIDs = 200

// Item is an inbox item with its latest actors' accounts (in the order of
// Actors; an account that is gone is left out).
type Item struct {
	zan.Notification
	ActorUsers []zan.User
}

// Page is a page of an inbox and the unread count.
type Page struct {
	Items  []Item
	Next   *zan.Cursor
	Unread int64
}

// Inbox lists user's items, newest first.
func (s *Service) Inbox(ctx context.Context, user int64, limit int, after *zan.Cursor) (Page, error) {
	if limit == 0 {
		limit = 20
	}
	if limit < 1 || limit > MaxLimit {
		return Page{}, zan.Errorf(zan.EBadRequest, "limit must be 1-%d", MaxLimit)
	}
	p, err := s.store.Notifications(ctx, user, limit, after)
	if err != nil {
		return Page{}, err
	}
	unread, err := s.store.UnreadNotifications(ctx, user)
	if err != nil {
		return Page{}, err
	}
	var ids []int64
	for _, n := range p.Items {
		ids = append(ids, n.Actors...)
	}
	users := map[int64]zan.User{}
	if len(ids) > 0 {
		if users, err = s.store.Users(ctx, ids); err != nil {
			return Page{}, err
		}
	}
	out := Page{Items: make([]Item, len(p.Items)), Next: p.Next, Unread: unread}
	for i, n := range p.Items {
		out.Items[i].Notification = n
		for _, a := range n.Actors {
			if u, ok := users[a]; ok {
				out.Items[i].ActorUsers = append(out.Items[i].ActorUsers, u)
			}
		}
	}
	return out, nil
}

// Unread is user's unread count.
func (s *Service) Unread(ctx context.Context, user int64) (int64, error) {
	return s.store.UnreadNotifications(ctx, user)
}

// MarkRead marks user's items ids, or all of them, read.
func (s *Service) MarkRead(ctx context.Context, user int64, ids []int64, all bool) error {
	if !all && len(ids) == 0 {
		return zan.Errorf(zan.EBadRequest, "give ids or all")
	}
	if len(ids) > MaxReadIDs {
		return zan.Errorf(zan.EBadRequest, "at most %d ids", MaxReadIDs)
	}
	if _, err := s.store.MarkNotificationsRead(ctx, user, ids, all, time.Now()); err != nil {
		return err
	}
	s.changed(ctx, []int64{user})
	return nil
}
