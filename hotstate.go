package zan

import (
	"context"
	"time"
)

// Change is the outcome of a toggle in the hot state.
type Change struct {
	// Changed is false when the user's membership already was as asked.
	Changed bool
	// Count is the target's like count after the call.
	Count int64
	// At is the change's time in Unix microseconds, strictly greater than
	// that of every earlier change of the same target; 0 when !Changed and
	// the membership is confirmed.
	At int64
	// Unconfirmed (with !Changed) says the membership as asked comes from a
	// change whose event was never confirmed published: its writer may have
	// died between the hot state and the log. At is that change's time; the
	// caller publishes its event (again) before answering, then confirms.
	Unconfirmed bool
}

// PendingChange is one unconfirmed change: user's change of a target at At.
// Whether it was a like is the membership now (a newer change of the same
// user would have replaced it).
type PendingChange struct {
	User int64
	At   int64
}

// TargetState is what the hot state knows of one target for one reader.
type TargetState struct {
	Loaded bool // false: the target is not in the hot state; Count and Liked are zero
	Count  int64
	Liked  bool
}

// LikeState is the hot state of likes: per target, the complete set of its
// likers, and so its count. A target is either absent (ErrNotLoaded, or
// Loaded=false) or present with every like it has; the like service loads it
// from the store on a miss. Implementations: memory (one process) and redis.
type LikeState interface {
	// Toggle sets whether user likes t, atomically with the count.
	// It returns ErrNotLoaded when t is not in the hot state.
	Toggle(ctx context.Context, t Target, user int64, like bool) (Change, error)
	// Undo reverts a Toggle whose event could not be published: it sets the
	// membership back to !like if it is still like. A missing target is no
	// error.
	Undo(ctx context.Context, t Target, user int64, like bool) error
	// Confirm records that the event of user's change at at is in the log.
	// Until then a Toggle that finds the membership already as asked
	// reports it Unconfirmed. A newer change is left unconfirmed; a missing
	// target is no error.
	Confirm(ctx context.Context, t Target, user int64, at int64) error
	// Load installs t with exactly these likers, unless t is present already
	// (a concurrent loader or writer won; its state is kept).
	Load(ctx context.Context, t Target, users []int64) error
	// State returns, for each target in order, its state; Liked is for user
	// (0: no user, Liked is false). Reading marks the targets used, to a
	// grain an implementation may coarsen to 30 s (eviction thresholds are
	// minutes); changes mark them exactly.
	State(ctx context.Context, ts []Target, user int64) ([]TargetState, error)
	// Members returns t's likers; ok is false when t is not loaded.
	Members(ctx context.Context, t Target) (users []int64, ok bool, err error)
	// Evict removes t from the hot state if it has not been read or
	// written since idleSince (a like racing the evictor keeps its target),
	// and reports whether it did.
	Evict(ctx context.Context, t Target, idleSince time.Time) (bool, error)
	// Idle returns up to limit targets not read or written since since.
	Idle(ctx context.Context, since time.Time, limit int) ([]Target, error)
	// Pending returns t's unconfirmed changes made before before (Unix µs,
	// the clock of the changes' At): their writers toggled and then, most
	// likely, died before the log took the event. None for a missing target.
	Pending(ctx context.Context, t Target, before int64) ([]PendingChange, error)
	// Epoch names the hot state's current life: it changes when the state
	// was lost while the service ran (Redis restarted empty), so that the
	// service knows loads must wait for the persister again.
	Epoch(ctx context.Context) (string, error)
}

// CodeStore keeps SMS login codes.
type CodeStore interface {
	// IssueCode stores code for phone, valid for ttl, replacing an earlier
	// one, unless a code was issued for phone less than gap ago: then it
	// returns an ERateLimited *Error whose RetryAfter says when.
	IssueCode(ctx context.Context, phone, code string, ttl, gap time.Duration) error
	// VerifyCode reports whether code is phone's current code and, when it
	// is, consumes it. Each wrong try counts; after maxTries wrong tries the
	// code is burned and even the right code fails until a new one is issued.
	VerifyCode(ctx context.Context, phone, code string, maxTries int) (bool, error)
}

// Limit is a token bucket: Rate tokens a second, at most Burst saved.
type Limit struct {
	Rate  float64
	Burst int
}

// RateLimiter takes one token from the bucket named key.
type RateLimiter interface {
	// Allow takes a token if one is there; else it returns false and how
	// long until one will be.
	Allow(ctx context.Context, key string, l Limit) (ok bool, retryAfter time.Duration, err error)
}
