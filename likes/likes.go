// Package likes is the like service: the write path of DESIGN.md (hot state,
// then the event log, then the answer) and the reads, which come from the hot
// state for hot targets and from the store for cold ones.
package likes

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
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

	types       map[string]bool
	timeOrdered map[string]bool
	loads       singleflight.Group
	barrier     singleflight.Group
	// caughtUp holds the hot state's epoch once the persister applied what
	// the log held when that epoch began; nil: loads must wait.
	caughtUp atomic.Pointer[string]
	now      func() time.Time
	// confirms queues confirmations of published changes for runConfirms.
	confirms chan confirmation
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
		types: map[string]bool{}, timeOrdered: map[string]bool{},
		confirms: make(chan confirmation, 4096),
	}
	for _, t := range cfg.Types {
		s.types[t] = true
	}
	for _, t := range cfg.TimeOrderedTypes {
		s.timeOrdered[t] = true
	}
	return s
}

// CheckTarget returns not_found for a target type that is not registered.
func (s *Service) CheckTarget(t zan.Target) error {
	if !s.types[t.Type] {
		return zan.Errorf(zan.ENotFound, "unknown target type %q", t.Type)
	}
	return nil
}

// Toggle sets whether user likes t. It answers only once the change is in
// the hot state and its event is durable in the log; when the log does not
// acknowledge, the hot state is undone and the error is unavailable.
func (s *Service) Toggle(ctx context.Context, user int64, t zan.Target, like bool) (zan.Change, error) {
	if err := s.CheckTarget(t); err != nil {
		return zan.Change{}, err
	}
	if err := s.allow(ctx, user); err != nil {
		return zan.Change{}, err
	}
	if s.cfg.Check != nil {
		if err := s.cfg.Check(ctx, user, t, like); err != nil {
			return zan.Change{}, err
		}
	}
	// From the hot state's step on, the client's cancellation must not cut
	// the path: a script cancelled in flight may still have run in Redis,
	// and its change would then stay in the hot state without an event
	// (seen under zan bench, whose clients hang up at the end of a run).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PublishTimeout+s.cfg.LoadTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		ch, err := s.hot.Toggle(ctx, t, user, like)
		if errors.Is(err, zan.ErrNotLoaded) && attempt < 3 {
			if err := s.load(ctx, t); err != nil {
				return zan.Change{}, err
			}
			continue // evicted again between load and toggle: rare, retry
		}
		if err != nil {
			return zan.Change{}, zan.Unavailable("hot state", err)
		}
		if !ch.Changed && !ch.Unconfirmed {
			return ch, nil
		}
		if !ch.Changed {
			// The membership is as asked, but by a change whose event was
			// never confirmed in the log: its writer may have died in
			// between. Answering 200 now would acknowledge a like the log
			// may not hold, so its event is published (again: the store
			// applies it once, by its At) first.
			if err := s.republish(ctx, user, t, like, ch); err != nil {
				return zan.Change{}, err
			}
			ch.Unconfirmed, ch.At = false, 0
			return ch, nil
		}
		if err := s.publish(ctx, user, t, like, ch); err != nil {
			return zan.Change{}, err
		}
		s.l1.changed(t, ch.Count)
		if s.cfg.OnChange != nil {
			s.cfg.OnChange(t, ch.Count, ch.At)
		}
		return ch, nil
	}
}

func (s *Service) publish(ctx context.Context, user int64, t zan.Target, like bool, ch zan.Change) error {
	op := zan.OpLike
	if !like {
		op = zan.OpUnlike
	}
	ev := zan.Event{ID: s.ids.Next(), Op: op, Target: t, User: user, At: ch.At}
	// The publish must not follow the client's cancellation: a publish that
	// went through while we undid the hot state would leave them apart.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PublishTimeout)
	defer cancel()
	err := s.log.Publish(pctx, ev)
	if err == nil {
		metrics.LikesPublished.WithLabelValues(op.String()).Inc()
		s.confirm(t, user, ch.At)
		return nil
	}
	metrics.PublishFailures.Inc()
	if uerr := s.hot.Undo(pctx, t, user, like); uerr != nil {
		// The hot state now holds a change the log does not: reconciliation
		// repairs it. Say so loudly.
		s.logger.Error("undo after failed publish failed", "target", t.String(), "user", user, "err", uerr)
	}
	return zan.Unavailable("event log", err)
}

// republish publishes the event of an unconfirmed change with its own At,
// so that the store resolves it like the original, and confirms it. A
// failure leaves it unconfirmed (the next toggle tries again) and answers
// unavailable: the hot state keeps the change, the caller was never told
// it was made.
func (s *Service) republish(ctx context.Context, user int64, t zan.Target, like bool, ch zan.Change) error {
	op := zan.OpLike
	if !like {
		op = zan.OpUnlike
	}
	ev := zan.Event{ID: s.ids.Next(), Op: op, Target: t, User: user, At: ch.At}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PublishTimeout)
	defer cancel()
	if err := s.log.Publish(pctx, ev); err != nil {
		metrics.PublishFailures.Inc()
		return zan.Unavailable("event log", err)
	}
	metrics.LikesRepublished.Inc()
	s.confirm(t, user, ch.At)
	return nil
}

// ResolvePending publishes the events of t's changes left unconfirmed for
// longer than age: their writers died between the hot state and the log
// (or lost the confirmation), and no toggle of the same user came to
// publish them since. Without this, such a change shows in the hot count
// and nowhere else until the target leaves the hot state. The event says
// what the membership is now, at the change's own At, so a newer change of
// the same user (which has a later At) still wins in the store; a change
// that was published after all is applied twice, which the store ignores.
// age must exceed the publish timeout, so that a live writer has published
// or undone its change by then. It returns how many it published.
func (s *Service) ResolvePending(ctx context.Context, t zan.Target, age time.Duration) (int, error) {
	ps, err := s.hot.Pending(ctx, t, s.now().Add(-age).UnixMicro())
	if err != nil || len(ps) == 0 {
		return 0, err
	}
	n := 0
	for _, p := range ps {
		st, err := s.hot.State(ctx, []zan.Target{t}, p.User)
		if err != nil {
			return n, zan.Unavailable("hot state", err)
		}
		if !st[0].Loaded {
			return n, nil // evicted meanwhile: its pending changes went with it
		}
		if err := s.republish(ctx, p.User, t, st[0].Liked, zan.Change{At: p.At}); err != nil {
			return n, err
		}
		n++
	}
	s.logger.Warn("published changes a writer left unconfirmed", "target", t.String(), "n", n)
	return n, nil
}

// confirm tells the hot state that a change's event is in the log, in the
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
			cctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
			if err := s.hot.Confirm(cctx, c.t, c.user, c.at); err != nil {
				s.logger.Debug("confirming a published change", "target", c.t.String(), "err", err)
			}
			cancel()
		}
	}
}

func (s *Service) allow(ctx context.Context, user int64) error {
	if s.limiter == nil {
		return nil
	}
	ok, retry, err := s.limiter.Allow(ctx, "like:"+itoa(user), s.cfg.Limit)
	if err != nil {
		return zan.Unavailable("rate limiter", err)
	}
	if !ok {
		metrics.RateLimited.WithLabelValues("like").Inc()
		return zan.RateLimited(retry, "too many likes; slow down")
	}
	return nil
}

// Item is one target's view for one reader.
type Item struct {
	Target zan.Target
	Count  int64
	Liked  bool
}

// Get returns count and liked (for user; 0 = anonymous) of each target, in
// order. Anonymous reads of hot keys come from the L1 cache; the rest from
// the hot state; missing targets are loaded, or read from the store when
// they are cold.
func (s *Service) Get(ctx context.Context, ts []zan.Target, user int64) ([]Item, error) {
	for _, t := range ts {
		if err := s.CheckTarget(t); err != nil {
			return nil, err
		}
	}
	hot := make([]bool, len(ts))
	for i, t := range ts {
		hot[i] = s.l1.seen(t)
	}
	if user != 0 { // liked is per reader: not cached
		return s.get(ctx, ts, user)
	}
	items := make([]Item, len(ts))
	var rest []int
	for i, t := range ts {
		if hot[i] {
			if n, ok := s.l1.count(t); ok {
				items[i] = Item{Target: t, Count: n}
				continue
			}
		}
		rest = append(rest, i)
	}
	if len(rest) == 0 {
		return items, nil
	}
	sub := make([]zan.Target, len(rest))
	for j, i := range rest {
		sub[j] = ts[i]
	}
	got, err := s.get(ctx, sub, 0)
	if err != nil {
		return nil, err
	}
	for j, i := range rest {
		items[i] = got[j]
		if hot[i] {
			s.l1.counts.Set(ts[i], got[j].Count)
		}
	}
	return items, nil
}

func (s *Service) get(ctx context.Context, ts []zan.Target, user int64) ([]Item, error) {
	states, err := s.hot.State(ctx, ts, user)
	if err != nil {
		return nil, zan.Unavailable("hot state", err)
	}
	items := make([]Item, len(ts))
	var cold, missing []int
	for i, st := range states {
		items[i] = Item{Target: ts[i], Count: st.Count, Liked: st.Liked}
		switch {
		case st.Loaded:
		case s.isCold(ts[i]):
			cold = append(cold, i)
		default:
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		if err := s.loadMissing(ctx, ts, missing, user, items); err != nil {
			return nil, err
		}
	}
	if len(cold) > 0 {
		if err := s.readCold(ctx, ts, cold, user, items); err != nil {
			return nil, err
		}
	}
	return items, nil
}

// loadParallel is how many targets one batch read loads at once.
const loadParallel = 16

func (s *Service) loadMissing(ctx context.Context, ts []zan.Target, idx []int, user int64, items []Item) error {
	// The loads run side by side: a feed page of targets nobody read
	// lately would otherwise wait for its loads one after another (measured
	// in scale-out mode: batch reads of 50 spent most of their 43 ms median
	// in them).
	sub := make([]zan.Target, len(idx))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(loadParallel)
	for j, i := range idx {
		sub[j] = ts[i]
		g.Go(func() error { return s.load(gctx, ts[i]) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	states, err := s.hot.State(ctx, sub, user)
	if err != nil {
		return zan.Unavailable("hot state", err)
	}
	var again []int
	for j, i := range idx {
		if !states[j].Loaded { // evicted at once: answer from the store
			again = append(again, i)
			continue
		}
		items[i].Count, items[i].Liked = states[j].Count, states[j].Liked
	}
	if len(again) > 0 {
		return s.readCold(ctx, ts, again, user, items)
	}
	return nil
}

func (s *Service) readCold(ctx context.Context, ts []zan.Target, idx []int, user int64, items []Item) error {
	if err := s.waitApplied(ctx); err != nil {
		return err
	}
	sub := make([]zan.Target, len(idx))
	for j, i := range idx {
		sub[j] = ts[i]
	}
	counts, err := s.store.LikeCounts(ctx, sub)
	if err != nil {
		return zan.Unavailable("store", err)
	}
	var liked []bool
	if user != 0 {
		if liked, err = s.store.Liked(ctx, sub, user); err != nil {
			return zan.Unavailable("store", err)
		}
	}
	for j, i := range idx {
		items[i].Count = counts[j]
		if liked != nil {
			items[i].Liked = liked[j]
		}
	}
	metrics.ColdReads.Add(float64(len(idx)))
	return nil
}

// isCold reports whether t is old enough to be read from the store rather
// than loaded.
func (s *Service) isCold(t zan.Target) bool {
	return s.timeOrdered[t.Type] && s.now().Sub(zan.IDTime(t.ID)) > s.cfg.ColdAge
}

// load brings t from the store into the hot state. Concurrent loads of one
// target share one flight, detached from any one caller's cancellation.
func (s *Service) load(ctx context.Context, t zan.Target) error {
	ch := s.loads.DoChan(t.String(), func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.LoadTimeout)
		defer cancel()
		if err := s.waitApplied(lctx); err != nil {
			return nil, zan.Unavailable("loading "+t.String(), err)
		}
		var users []int64
		err := s.store.ScanLikers(lctx, t, func(u []int64) error {
			users = append(users, u...)
			return nil
		})
		if err != nil {
			return nil, zan.Unavailable("store", err)
		}
		if err := s.hot.Load(lctx, t, users); err != nil {
			return nil, zan.Unavailable("hot state", err)
		}
		metrics.HotLoads.Inc()
		return nil, nil
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return zan.Unavailable("loading "+t.String(), ctx.Err())
	}
}

// waitApplied waits until the store holds every event that a target
// missing from the hot state can have. That is everything in the log when
// the service started (a restart after a crash leaves events the store has
// not seen); once the persister has applied those, it stays true: targets
// take changes only while loaded, and leave the hot state only when the
// store holds all their events (EvictCold). So only the first loads after a
// start wait; concurrent waits share one flight.
//
// A shared hot state (Redis) can lose its data while this service runs; its
// epoch then changes, and loads wait again. A loss between the epoch check
// and the load it guards is left to reconciliation.
func (s *Service) waitApplied(ctx context.Context) error {
	epoch, err := s.hot.Epoch(ctx)
	if err != nil {
		return zan.Unavailable("hot state", err)
	}
	if e := s.caughtUp.Load(); e != nil && *e == epoch {
		return nil
	}
	ch := s.barrier.DoChan("", func() (any, error) {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.LoadTimeout)
		defer cancel()
		if err := s.log.WaitApplied(wctx); err != nil {
			return nil, zan.Unavailable("persister catching up", err)
		}
		s.caughtUp.Store(&epoch)
		return nil, nil
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return zan.Unavailable("persister catching up", ctx.Err())
	}
}
