package sqlstore

import (
	"cmp"
	"database/sql"
	"slices"

	"github.com/zanlabs/zan"
)

// The two stores apply a batch of like events the same way and differ in
// how they talk to the database: these are the shared parts.

// LikeKey names one user's like of one target: a like row's primary key.
type LikeKey struct {
	Type string
	ID   int64
	User int64
}

// KeyOf returns ev's row key.
func KeyOf(ev zan.Event) LikeKey {
	return LikeKey{Type: ev.Target.Type, ID: ev.Target.ID, User: ev.User}
}

// StoredLike is a like row's state.
type StoredLike struct {
	Liked              bool
	LikedAt, ChangedAt int64
}

// CollapseLikes keeps the last event of each (target, user), since the
// others are stale before they reach the database, and sorts what it keeps
// by key: B-tree writes become appends and neighbours, and every
// transaction takes its row locks in the same order (no deadlocks between
// appliers). It returns the events kept and how many it dropped.
func CollapseLikes(events []zan.Event) ([]zan.Event, int) {
	dropped := 0
	idx := make(map[LikeKey]int, len(events))
	batch := make([]zan.Event, 0, len(events))
	for _, ev := range events {
		k := KeyOf(ev)
		i, ok := idx[k]
		if !ok {
			idx[k] = len(batch)
			batch = append(batch, ev)
			continue
		}
		dropped++
		if cur := batch[i]; ev.At > cur.At || ev.At == cur.At && ev.ID > cur.ID {
			batch[i] = ev
		}
	}
	slices.SortFunc(batch, func(a, b zan.Event) int {
		return cmp.Or(
			cmp.Compare(a.Target.Type, b.Target.Type),
			cmp.Compare(a.Target.ID, b.Target.ID),
			cmp.Compare(a.User, b.User))
	})
	return batch, dropped
}

// ScanStoredLikes adds rows of (target_type, target_id, user_id, liked,
// liked_at, changed_at) to out, and closes rows.
func ScanStoredLikes(rows *sql.Rows, out map[LikeKey]StoredLike) error {
	defer rows.Close()
	for rows.Next() {
		var (
			k LikeKey
			s StoredLike
		)
		if err := rows.Scan(&k.Type, &k.ID, &k.User, &s.Liked, &s.LikedAt, &s.ChangedAt); err != nil {
			return err
		}
		out[k] = s
	}
	if err := rows.Close(); err != nil {
		return err
	}
	return rows.Err()
}

// Decision is what one event does to its row.
type Decision struct {
	Stale   bool  // the row holds a newer change: nothing to write
	Liked   bool  // the row's liked afterwards
	LikedAt int64 // the row's liked_at afterwards
	Delta   int64 // the change of the target's count: -1, 0 or 1
}

// Decide applies ev to the row cur (exists false: no row yet).
func Decide(ev zan.Event, cur StoredLike, exists bool) Decision {
	if exists && ev.At <= cur.ChangedAt {
		return Decision{Stale: true}
	}
	d := Decision{Liked: ev.Liked(), LikedAt: cur.LikedAt}
	// A like written here is either a flip or a like that follows an
	// unlike the batch (or the log) collapsed away: either way the user
	// liked at ev.At. A kept like confirms the like the row holds and
	// keeps its time. An unlike keeps the time of the like it ends; a
	// first-seen unlike is a tombstone whose liked_at is unused.
	if d.Liked && !(ev.Kept && exists && cur.Liked) || !exists {
		d.LikedAt = ev.At
	}
	switch {
	case d.Liked && !cur.Liked:
		d.Delta = 1
	case !d.Liked && cur.Liked:
		d.Delta = -1
	}
	return d
}
