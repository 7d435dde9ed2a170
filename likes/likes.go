// Package likes is the like service: the write path of DESIGN.md (hot state,
// then the event log, then the answer) and the reads, which come from the hot
// state for hot targets and from the store for cold ones.
//
// The promise: the event log holds every answer a client was given. A like
// answered 200 has its event in the log, changed or not ("already liked"
// leaves a kept event, since the hot state may be older than it knows); a
// 503 leaves the store where it was, or where the client then sees it, within
// the bound documented in the README (an undo and its event).
package likes

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// Config tunes the service. Zero fields take the defaults below.
type Config struct {
	// Types are the registered target types.
	Types []string
	// TimeOrderedTypes are types whose ids come from zan.IDGen, so their age
	// is known from the id alone (blogs).
	TimeOrderedTypes []string
	// Limit is the per-user bucket for like and unlike.
	Limit zan.Limit
	// ColdAge: a time-ordered target older than this is cold once idle; its
	// reads are answered from the store without loading it.
	ColdAge time.Duration
	// EvictIdle: cold targets idle this long leave the hot state.
	EvictIdle time.Duration
	// IdleTTL: any other target idle this long leaves the hot state.
	IdleTTL time.Duration
	// PublishTimeout bounds the wait for the event log's acknowledgement.
	PublishTimeout time.Duration
	// HotTimeout bounds each call to the hot state (default 1 s): a Redis
	// that is down or hung answers 503 this soon, not after its outage.
	HotTimeout time.Duration
	// Wait bounds how long a request waits for a load from the store (the
	// wait for the persister included) before it answers 503 (default
	// 2 s); the load itself goes on, up to LoadTimeout, for the next one.
	Wait time.Duration
	// LoadTimeout bounds a load from the store (the wait for the persister
	// to catch up included).
	LoadTimeout time.Duration
	// OnChange, when set, is told of every acknowledged change: the live
	// counts hub broadcasts them to every node's streams.
	OnChange func(t zan.Target, count, at int64)
	// Check, when set, may refuse a toggle before it reaches the hot
	// state: not_found for a target that does not exist, rate_limited.
	Check func(ctx context.Context, user int64, t zan.Target, like bool) error
	// L1TTL bounds how long a hot target's count or first liker page is
	// served from this process's L1 cache, so how long a change made on
	// another node can stay unseen here (default 100 ms).
	L1TTL time.Duration
}

func (c *Config) defaults() {
	if c.Types == nil {
		c.Types = zan.DefaultTargetTypes
	}
	if c.TimeOrderedTypes == nil {
		c.TimeOrderedTypes = []string{"blog"}
	}
	if c.Limit.Rate == 0 {
		c.Limit = zan.Limit{Rate: 20, Burst: 40}
	}
	setDefault(&c.ColdAge, 30*24*time.Hour)
	setDefault(&c.EvictIdle, 10*time.Minute)
	setDefault(&c.IdleTTL, 24*time.Hour)
	setDefault(&c.PublishTimeout, 2*time.Second)
	setDefault(&c.HotTimeout, time.Second)
	setDefault(&c.Wait, 2*time.Second)
	setDefault(&c.LoadTimeout, 5*time.Second)
	setDefault(&c.L1TTL, 100*time.Millisecond)
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Service is the like service.
type Service struct {
	cfg     Config
	hot     zan.LikeState
	log     zan.EventLog
	store   zan.LikeStore
	limiter zan.RateLimiter
	ids     *zan.EventIDs
	logger  *slog.Logger
	l1      *l1
	// absent remembers targets the store holds no like of, read while
	// they were not in the hot state: reads of ids nobody liked cost the
	// hot state nothing (no key per id read), only this bounded cache.
	absent *otter.Cache[zan.Target, struct{}]

	types       map[string]bool
	timeOrdered map[string]bool
	loads       singleflight.Group
	barrier     singleflight.Group
	// caughtUp holds the hot state's epoch once the persister applied what
	// the log held when that epoch began; nil: loads must wait.
	caughtUp atomic.Pointer[string]
	now      func() time.Time
	// confirms queues confirmations of published answers for runConfirms.
	confirms chan confirmation
	// compensating bounds the undo events published in the background.
	compensating chan struct{}
	// loading bounds the loads reads start in the background.
	loading chan struct{}
	// folded is the hot state when it takes the limiter's tokens in its
	// toggle (nil otherwise), and refusals the users it refused, with
	// until when (kept only then).
	folded   zan.LimitingLikeState
	refusals *otter.Cache[int64, time.Time]
	// localHot and localLimiter say the hot state and the limiter answer
	// from this process's memory (inProcess): their calls get no deadline
	// of their own, which costs a timer and a context each.
	localHot, localLimiter bool
	// summaries batches the first read of loads, when the store can.
	summaries *summaries
}

// inProcess is implemented by adapters that answer from this process's
// memory, without I/O, and so ignore their context.
type inProcess interface{ InProcess() bool }

func isInProcess(v any) bool {
	p, ok := v.(inProcess)
	return ok && p.InProcess()
}

// bounded returns ctx bounded by d, unless local: a call to an adapter in
// process needs no deadline.
func bounded(ctx context.Context, d time.Duration, local bool) (context.Context, context.CancelFunc) {
	if local {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// New returns a like service over the given adapters.
func New(cfg Config, hot zan.LikeState, log zan.EventLog, store zan.LikeStore, limiter zan.RateLimiter, logger *slog.Logger) *Service {
	cfg.defaults()
	if logger == nil {
		logger = slog.Default()
	}
	s := &Service{
		cfg: cfg, hot: hot, log: log, store: store, limiter: limiter,
		ids: zan.NewEventIDs(), logger: logger, now: time.Now, l1: newL1(cfg.L1TTL),
		absent: otter.Must(&otter.Options[zan.Target, struct{}]{
			MaximumSize:      100_000,
			ExpiryCalculator: otter.ExpiryWriting[zan.Target, struct{}](absentTTL),
		}),
		types: map[string]bool{}, timeOrdered: map[string]bool{},
		confirms:     make(chan confirmation, 4096),
		compensating: make(chan struct{}, 1024),
		loading:      make(chan struct{}, loadParallel),
		localHot:     isInProcess(hot),
		localLimiter: isInProcess(limiter),
	}
	if f, ok := hot.(zan.LimitingLikeState); ok && limiter != nil && f.Limits(limiter) {
		s.folded = f
		s.refusals = otter.Must(&otter.Options[int64, time.Time]{
			MaximumSize:      100_000,
			ExpiryCalculator: otter.ExpiryWriting[int64, time.Time](refusalTTL),
		})
	}
	if ss, ok := store.(zan.LikeSummaryStore); ok {
		s.summaries = &summaries{store: ss, timeout: cfg.LoadTimeout}
	}
	for _, t := range cfg.Types {
		s.types[t] = true
	}
	for _, t := range cfg.TimeOrderedTypes {
		s.timeOrdered[t] = true
	}
	return s
}

// absentTTL bounds how long a target read as having no likes is answered
// 0 without asking the store again: far below the eviction thresholds, so
// a target liked elsewhere meanwhile is in the hot state (and read there)
// for longer than this entry lives.
const absentTTL = 10 * time.Second

// refusalTTL bounds how long a refusal is remembered: a longer wait is
// asked of the limiter again after it.
const refusalTTL = 2 * time.Second

// CheckTarget returns not_found for a target type that is not registered.
func (s *Service) CheckTarget(t zan.Target) error {
	if !s.types[t.Type] {
		return zan.Errorf(zan.ENotFound, "unknown target type %q", t.Type)
	}
	return nil
}

// Toggle sets whether user likes t. It answers only once the answer is in
// the hot state and its event is durable in the log; when the log does not
// acknowledge, a change is undone and the error is unavailable.
func (s *Service) Toggle(ctx context.Context, user int64, t zan.Target, like bool) (zan.Change, error) {
	if err := s.CheckTarget(t); err != nil {
		return zan.Change{}, err
	}
	if s.folded == nil {
		if err := s.allow(ctx, user); err != nil {
			return zan.Change{}, err
		}
	} else if err := s.refusedHere(user); err != nil {
		return zan.Change{}, err
	}
	if s.cfg.Check != nil {
		if err := s.cfg.Check(ctx, user, t, like); err != nil {
			if s.folded != nil && zan.IsNotFound(err) {
				// The toggle that would have taken the token does not run:
				// take it here, so that likes of ids that do not exist
				// (each a store lookup) stay within the limit too.
				if lerr := s.allow(ctx, user); lerr != nil {
					return zan.Change{}, lerr
				}
			}
			return zan.Change{}, err
		}
	}
	// From the hot state's step on, the client's cancellation must not cut
	// the path: a script cancelled in flight may still have run in Redis,
	// and its change would then stay in the hot state without an event
	// (seen under zan bench, whose clients hang up at the end of a run).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Wait+s.cfg.HotTimeout+s.cfg.PublishTimeout)
	defer cancel()
	id := s.ids.Next()
	for attempt := 0; ; attempt++ {
		hctx, hcancel := bounded(ctx, s.cfg.HotTimeout, s.localHot)
		ch, err := s.toggle(hctx, t, user, like, id)
		hcancel()
		if zan.ErrorCode(err) == zan.ERateLimited {
			return zan.Change{}, s.refused(user, err)
		}
		if errors.Is(err, zan.ErrNotLoaded) && attempt < 3 {
			if err := s.load(ctx, t); err != nil {
				return zan.Change{}, err
			}
			continue // evicted again between load and toggle: rare, retry
		}
		if err != nil {
			if !neverSent(err) {
				// The script may have run all the same (a Redis that hung
				// and came back runs what it had read): take it back, so
				// that the 503 holds.
				s.later(func() { s.undo(t, user, like, id, true) })
			}
			return zan.Change{}, zan.Unavailable("hot state", err)
		}
		if err := s.publish(ctx, user, t, like, id, ch); err != nil {
			return zan.Change{}, err
		}
		if ch.Changed {
			s.l1.changed(t, ch.Count)
			if s.cfg.OnChange != nil {
				s.cfg.OnChange(t, ch.Count, ch.At)
			}
		}
		return ch, nil
	}
}

// event returns the event id of user's answer at at: a change, or kept.
func event(id string, user int64, t zan.Target, like bool, at int64, kept bool) zan.Event {
	op := zan.OpLike
	if !like {
		op = zan.OpUnlike
	}
	return zan.Event{ID: id, Op: op, Target: t, User: user, At: at, Kept: kept}
}

// neverSent reports whether err says the request never reached the hot
// state (nothing to take back): no connection could be made.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// later runs fn in the background, with a bound on how many run at once;
// beyond it, fn is left to reconciliation.
func (s *Service) later(fn func()) {
	select {
	case s.compensating <- struct{}{}:
		go func() {
			defer func() { <-s.compensating }()
			fn()
		}()
	default:
	}
}

// published counts acknowledged events by op and kind; the counters are
// resolved once, not per like.
var published = [2][2]prometheus.Counter{
	{metrics.LikesPublished.WithLabelValues("unlike"), metrics.LikesPublished.WithLabelValues("unlike_kept")},
	{metrics.LikesPublished.WithLabelValues("like"), metrics.LikesPublished.WithLabelValues("like_kept")},
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// publish puts the answer's event in the log. An answer that changed
// nothing is published too: the hot state may be older than it knows (a
// Redis restored from a snapshot), and the store must end where the
// client was told. When the log does not acknowledge, a change is undone.
func (s *Service) publish(ctx context.Context, user int64, t zan.Target, like bool, id string, ch zan.Change) error {
	ev := event(id, user, t, like, ch.At, !ch.Changed)
	// The publish must not follow the client's cancellation: a publish that
	// went through while we undid the hot state would leave them apart.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PublishTimeout)
	defer cancel()
	err := s.log.Publish(pctx, ev)
	if err == nil {
		published[b2i(like)][b2i(!ch.Changed)].Inc()
		s.confirm(t, user, ch.At)
		return nil
	}
	metrics.PublishFailures.Inc()
	if ch.Changed {
		s.undo(t, user, like, id, false)
	}
	return zan.Unavailable("event log", err)
}

// undo takes back the change of request id, answered 503: its event was
// not acknowledged by the log (it may have reached it all the same, its
// acknowledgement lost), or the hot state did not answer in time (and may
// have taken it all the same). So the undo is a change of its own, at a
// later At, whose event is published in the background until the log
// takes it: the store ends where the client was told, even if it applies
// the first event meanwhile. If this node dies first, the undo is
// unconfirmed in the hot state and reconciliation publishes it. retry
// keeps trying while the hot state does not answer, and once more a moment
// after it does: a Redis that hung runs what it had read when it resumes.
func (s *Service) undo(t zan.Target, user int64, like bool, id string, retry bool) {
	delay := 100 * time.Millisecond
	var u zan.Change
	for deadline := time.Now().Add(undoPatience); ; {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HotTimeout)
		var err error
		u, err = s.hot.Undo(ctx, t, user, like, id)
		cancel()
		if err == nil && (u.Changed || !retry) {
			break
		}
		if err == nil {
			retry = false // answered: one more look after a moment
		} else if !retry || time.Now().After(deadline) {
			// The change stays in the hot state, unconfirmed: reconciliation
			// publishes it, so the client sees it on its next read although it
			// was told 503. Both dependencies failing at once, or this one for
			// longer than undoPatience, is what it takes.
			s.logger.Error("undo of a request answered 503 failed; the change stands", "target", t.String(), "user", user, "err", err)
			return
		}
		time.Sleep(delay)
		delay = min(2*delay, time.Second)
	}
	if !u.Changed {
		return // nothing was changed, or a later toggle of the user answers for itself
	}
	s.l1.changed(t, u.Count)
	s.later(func() { s.compensate(t, user, !like, zan.UndoID(id), u.At) })
}

// undoPatience is how long an undo keeps trying a hot state that does not
// answer. Reconciliation publishes no unconfirmed answer until the hot
// state has answered promptly for the pending age (reconcile's settled),
// so an undo that outlasts a hang of Redis still comes first.
const undoPatience = 10 * time.Minute

// compensate publishes the event of an undo, retrying with back-off for as
// long as reconciliation would leave it to this node.
func (s *Service) compensate(t zan.Target, user int64, like bool, id string, at int64) {
	ev := event(id, user, t, like, at, false)
	delay := 100 * time.Millisecond
	for deadline := time.Now().Add(s.PendingAge()); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.PublishTimeout)
		err := s.log.Publish(ctx, ev)
		cancel()
		if err == nil {
			metrics.Compensations.WithLabelValues("undo").Inc()
			s.confirm(t, user, at)
			return
		}
		time.Sleep(delay)
		delay = min(2*delay, 2*time.Second)
	}
}

// PendingAge is the age past which an unconfirmed answer has no live
// writer: its publish has timed out, and an undo's background publish has
// given up, by then.
func (s *Service) PendingAge() time.Duration { return 2*s.cfg.PublishTimeout + time.Second }

// Resolve publishes the event of an answer left unconfirmed in the hot
// state, p, found by reconciliation once older than PendingAge: its writer
// died between the hot state and the log, or lost the confirmation. The
// event says what the membership is now, at the answer's own At, so a
// newer answer of the same user (a later At) still wins in the store; an
// answer that was published after all is applied twice, which the store
// ignores.
func (s *Service) Resolve(ctx context.Context, t zan.Target, p zan.PendingChange) error {
	ev := event(p.ID, p.User, t, p.Liked, p.At, p.Kept)
	pctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()
	if err := s.log.Publish(pctx, ev); err != nil {
		return zan.Unavailable("event log", err)
	}
	metrics.Compensations.WithLabelValues("resolved").Inc()
	s.confirm(t, p.User, p.At)
	return nil
}

// confirm tells the hot state that an answer's event is in the log, in the
// background: the answer need not wait for it, and a confirmation lost (a
// crash, a full queue) only costs a harmless republish later.
func (s *Service) confirm(t zan.Target, user, at int64) {
	select {
	case s.confirms <- confirmation{t, user, at}:
	default:
	}
}

type confirmation struct {
	t        zan.Target
	user, at int64
}

// runConfirms sends the confirmations until ctx ends.
func (s *Service) runConfirms(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-s.confirms:
			cctx, cancel := bounded(ctx, s.cfg.HotTimeout, s.localHot)
			if err := s.hot.Confirm(cctx, c.t, c.user, c.at); err != nil {
				s.logger.Debug("confirming a published answer", "target", c.t.String(), "err", err)
			}
			cancel()
		}
	}
}

// toggle is the hot state's toggle, with the user's token taken in the
// same call when the hot state holds the limiter's buckets.
func (s *Service) toggle(ctx context.Context, t zan.Target, user int64, like bool, id string) (zan.Change, error) {
	if s.folded == nil {
		return s.hot.Toggle(ctx, t, user, like, id)
	}
	return s.folded.ToggleLimited(ctx, t, user, like, id, limitKey(user), s.cfg.Limit)
}

func limitKey(user int64) string {
	var b [32]byte
	return string(strconv.AppendInt(append(b[:0], "like:"...), user, 10))
}

func (s *Service) allow(ctx context.Context, user int64) error {
	if s.limiter == nil {
		return nil
	}
	ctx, cancel := bounded(ctx, s.cfg.HotTimeout, s.localLimiter)
	defer cancel()
	ok, retry, err := s.limiter.Allow(ctx, limitKey(user), s.cfg.Limit)
	if err != nil {
		return zan.Unavailable("rate limiter", err)
	}
	if !ok {
		return s.refused(user, zan.RateLimited(retry, "too many likes; slow down"))
	}
	return nil
}

// refused counts a refusal of the limiter and, where the limiter is
// shared, remembers until when: no token can be there before, so the
// user's next requests until then are refused here, without a round trip
// and without looking up their targets.
func (s *Service) refused(user int64, err error) error {
	metrics.RateLimited.WithLabelValues("like").Inc()
	var e *zan.Error
	if s.refusals != nil && errors.As(err, &e) && e.RetryAfter > 0 {
		s.refusals.Set(user, s.now().Add(e.RetryAfter))
	}
	return err
}

// refusedHere refuses a user the limiter refused until a time still ahead.
func (s *Service) refusedHere(user int64) error {
	until, ok := s.refusals.GetIfPresent(user)
	if !ok {
		return nil
	}
	if d := until.Sub(s.now()); d > 0 {
		metrics.RateLimited.WithLabelValues("like").Inc()
		return zan.RateLimited(d, "too many likes; slow down")
	}
	return nil
}
