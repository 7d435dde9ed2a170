package zan

import (
	"context"
	"time"
)

// Change is the outcome of a toggle, or of an undo, in the hot state.
type Change struct {
	// Changed is false when the user's membership already was as asked
	// (for an undo: when there was nothing left to undo).
	Changed bool
	// Count is the target's like count after the call.
	Count int64
	// At is the answer's time in Unix microseconds, strictly greater than
	// that of every earlier toggle of the same target, changed or not: the
	// answer's event carries it (0 only when nothing was done).
	At int64
}

// PendingChange is one unconfirmed answer: user's toggle of a target at
// At, with the request id ID, whose event the log may not hold (its writer
// died, or its confirmation was lost). Liked is the user's membership now
// (a newer toggle of the same user would have replaced the mark); Kept
// says the toggle changed nothing.
type PendingChange struct {
	User  int64
	At    int64
	ID    string
	Liked bool
	Kept  bool
}

// UndoID is the request id of the undo of request id: its event must not
// share the id of the event it undoes, which the log would drop as a
// duplicate.
func UndoID(id string) string { return id + "~undo" }

// TargetState is what the hot state knows of one target for one reader.
type TargetState struct {
	Loaded bool // false: the target is not in the hot state; Count and Liked are zero
	Count  int64
	Liked  bool
}

// Inspection is what reconciliation reads of one hot target, without
// marking it used.
type Inspection struct {
	Loaded bool
	Count  int64
	// At is the target's last toggle's At: a later Drop with this At
	// succeeds only if nothing happened since.
	At int64
	// Unconfirmed is the number of toggles whose events are not confirmed
	// in the log; Pending lists those older than Inspect's before.
	Unconfirmed int
	Pending     []PendingChange
}

// TargetUse is a target and when it was last used.
type TargetUse struct {
	Target Target
	Used   time.Time
}

// LikeState is the hot state of likes: per target, the complete set of its
// likers, and so its count. A target is either absent (ErrNotLoaded, or
// Loaded=false) or present with every like it has; the like service loads it
// from the store on a miss. Implementations: memory (one process) and redis.
//
// A shared hot state can come back older than it was (a Redis restarted
// from a snapshot, a replica promoted after asynchronous replication): it
// must notice, and then show every target from before as absent, so that
// the service loads it again from the store once the persister has caught
// up (see Epoch). Until it notices, its answers may be stale, which is why
// every answer, changed or not, leaves its event in the log.
type LikeState interface {
	// Toggle sets whether user likes t, atomically with the count, and
	// stamps the answer with a new At whether or not it changed anything;
	// user's answer stays unconfirmed (see Inspect), under the request id
	// id (the id of its event), until Confirm. It returns ErrNotLoaded
	// when t is not in the hot state.
	Toggle(ctx context.Context, t Target, user int64, like bool, id string) (Change, error)
	// Undo reverts the toggle of request id, if it changed the membership
	// and no later toggle of user came since: the membership goes back to
	// !like as a change of its own (a new At, unconfirmed until its event
	// is published, under UndoID(id)). It is how a request answered 503
	// leaves nothing behind: its event could not be published, or the hot
	// state did not answer in time and may have taken it all the same.
	// Changed is false when there was nothing to undo.
	Undo(ctx context.Context, t Target, user int64, like bool, id string) (Change, error)
	// Confirm records that the event of user's toggle at at (or a later
	// one) is in the log. A missing target is no error.
	Confirm(ctx context.Context, t Target, user int64, at int64) error
	// Load installs t with exactly these likers, unless present already (a
	// concurrent loader or writer won; its state is kept). after is the
	// last change the store holds for t: t's next At is greater, whatever
	// the clocks say (a failover to a server whose clock is behind).
	Load(ctx context.Context, t Target, users []int64, after int64) error
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
	// Used returns up to limit targets read or written at or after since,
	// least recently used first (reads to the grain of State).
	Used(ctx context.Context, since time.Time, limit int) ([]TargetUse, error)
	// Inspect returns, for each target in order, its inspection, with the
	// unconfirmed answers older than before (Unix µs, the clock of At).
	// It marks nothing used. All targets in one round trip per server.
	Inspect(ctx context.Context, ts []Target, before int64) ([]Inspection, error)
	// Drop removes t from the hot state if its last toggle is still at and
	// it has no unconfirmed answer, so that the next access loads it from
	// the store; it reports whether it did.
	Drop(ctx context.Context, t Target, at int64) (bool, error)
	// Epoch names the hot state's current life: it changes when the state
	// was found lost or older than it was (a Redis restarted, empty or
	// from a snapshot, or failed over), and from then on every target from
	// before reads as absent. The service then knows that loads must wait
	// for the persister again. It is cheap: no round trip on the common
	// path.
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

// LimitingLikeState is a LikeState that can take a rate limiter's token in
// the same step as a toggle: one round trip to a shared hot state per like
// instead of two (the limiter's script, then the toggle's).
type LimitingLikeState interface {
	LikeState
	// Limits reports whether ToggleLimited takes its tokens from the
	// buckets of r, so that the two can be used for one limit.
	Limits(r RateLimiter) bool
	// ToggleLimited is Toggle after taking a token of the bucket key for
	// limit l; a refusal is a RateLimited error and changes nothing. A
	// toggle that returns ErrNotLoaded took no token.
	ToggleLimited(ctx context.Context, t Target, user int64, like bool, id, key string, l Limit) (Change, error)
}
