package zan

import (
	"context"
	"time"
)

// NotificationActors is how many of an item's actors it shows, latest
// first ("A, B and C and 23 others liked your post").
const NotificationActors = 3

// Pruning policy for read items: an item read more than NotificationsReadTTL
// ago is deleted, and a user keeps at most NotificationsKeepRead read items
// (the newest). Unread items are never pruned.
const (
	NotificationsReadTTL  = 30 * 24 * time.Hour
	NotificationsKeepRead = 1000
)

// Notification is one item of a user's inbox: the likes of one target of
// theirs, aggregated while the item is unread.
type Notification struct {
	ID     int64
	User   int64 // the recipient
	Kind   string
	Target Target
	// Actors are the latest NotificationActors actors, newest first.
	Actors     []int64
	ActorCount int64
	Read       bool
	// UpdatedAt is the time of the latest like the item took in.
	UpdatedAt time.Time
}

// NotificationPage is a page of an inbox, newest first; Next is nil on the
// last page. Its cursor is (At: updated_at µs, ID: item id).
type NotificationPage struct {
	Items []Notification
	Next  *Cursor
}

// LikeNotice is a like event of a target as its owner's inbox takes it.
type LikeNotice struct {
	Event
	// Recipient is the target's owner (a blog's author).
	Recipient int64
	// NewID is the id the item takes if the notice opens a new one.
	NewID int64
}

// NotificationStore keeps the inboxes.
type NotificationStore interface {
	// ApplyLikeNotices applies notices in one transaction. Per recipient and
	// target there is at most one unread item, which a like joins and an
	// unlike leaves (an item left by all its actors is deleted). Each
	// (target, actor) keeps the At of its last notice, so a redelivered or
	// reordered notice is stale and changes nothing. An actor who already
	// counted in an item the recipient has read opens no new one: toggling
	// a like never notifies twice. Kept events and likes of one's own
	// target do nothing. It returns the recipients whose inbox changed,
	// with their unread counts now.
	ApplyLikeNotices(ctx context.Context, notices []LikeNotice) (map[int64]int64, error)
	// Notifications lists user's items, newest first.
	Notifications(ctx context.Context, user int64, limit int, after *Cursor) (NotificationPage, error)
	// UnreadNotifications is user's number of unread items; one row read.
	UnreadNotifications(ctx context.Context, user int64) (int64, error)
	// MarkNotificationsRead marks user's items ids (all of them when all)
	// read at now, prunes the user's read items past NotificationsKeepRead,
	// and returns the unread count now. Ids that are not user's unread
	// items are ignored.
	MarkNotificationsRead(ctx context.Context, user int64, ids []int64, all bool, now time.Time) (int64, error)
	// PruneNotifications deletes the items read before readBefore and the
	// memory of actors older than it that no unread item holds; it returns
	// how many items it deleted. A store may go in steps, each committed on
	// its own (a prune that fails leaves the steps it took done; the next
	// one does the rest).
	PruneNotifications(ctx context.Context, readBefore time.Time) (int, error)
}
