package likes

import (
	"context"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// Item is one target's view for one reader.
type Item struct {
	Target zan.Target
	Count  int64
	Liked  bool
}

// Get returns count and liked (for user; 0 = anonymous) of each target, in
// order. Anonymous reads of hot keys come from the L1 cache; the rest from
// the hot state; missing targets are loaded (or answered 0 when the store
// holds no like of them), or read from the store when they are cold.
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
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HotTimeout)
	states, err := s.hot.State(hctx, ts, user)
	cancel()
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

// loadParallel is how many targets are loaded in the background at once,
// for reads; more wait for a later read.
const loadParallel = 16

// loadMissing answers the targets at idx, which are not in the hot state,
// from the store: it holds every change of a target missing from the hot
// state (waitApplied), so the answer is the one a load would give. Those
// the store holds no like of are remembered as such (reading an id nobody
// liked must not cost the hot state a key); the others are loaded in the
// background (loadLater): a read writes nothing to the hot state on its
// request path, and a feed page of targets nobody read lately answers
// after one or two store queries instead of a load each.
func (s *Service) loadMissing(ctx context.Context, ts []zan.Target, idx []int, user int64, items []Item) error {
	if err := s.waitApplied(ctx); err != nil {
		return err
	}
	var ask []int
	for _, i := range idx {
		if _, ok := s.absent.GetIfPresent(ts[i]); !ok {
			ask = append(ask, i)
		}
	}
	if len(ask) == 0 {
		return nil
	}
	sub := make([]zan.Target, len(ask))
	for j, i := range ask {
		sub[j] = ts[i]
	}
	sctx, cancel := context.WithTimeout(ctx, s.cfg.Wait)
	counts, err := s.store.LikeCounts(sctx, sub)
	cancel()
	if err != nil {
		return zan.Unavailable("store", err)
	}
	var load []int
	for j, i := range ask {
		items[i].Count = counts[j]
		if counts[j] == 0 {
			s.absent.Set(ts[i], struct{}{})
			continue
		}
		load = append(load, i)
	}
	if len(load) == 0 {
		return nil
	}
	sub = sub[:0]
	for _, i := range load {
		sub = append(sub, ts[i])
	}
	if user != 0 {
		sctx, cancel := context.WithTimeout(ctx, s.cfg.Wait)
		liked, err := s.store.Liked(sctx, sub, user)
		cancel()
		if err != nil {
			return zan.Unavailable("store", err)
		}
		for j, i := range load {
			items[i].Liked = liked[j]
		}
	}
	s.loadLater(sub)
	return nil
}

// loadLater loads ts into the hot state off the request path, at most
// loadParallel at once; what finds no slot is loaded by a later read or
// write. Concurrent loads of one target share one flight (load).
func (s *Service) loadLater(ts []zan.Target) {
	for _, t := range ts {
		select {
		case s.loading <- struct{}{}:
			go func() {
				defer func() { <-s.loading }()
				if err := s.load(context.Background(), t); err != nil {
					s.logger.Debug("loading a target read", "target", t.String(), "err", err)
				}
			}()
		default:
			return
		}
	}
}

func (s *Service) readCold(ctx context.Context, ts []zan.Target, idx []int, user int64, items []Item) error {
	if err := s.waitApplied(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Wait)
	defer cancel()
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

// loadPerLiker is the time a load's install may take per liker beyond
// LoadTimeout: about ten times what Redis takes (BenchmarkBigTarget).
const loadPerLiker = 10 * time.Microsecond

// load brings t from the store into the hot state. Concurrent loads of one
// target share one flight, detached from any one caller's cancellation;
// a caller waits for it at most Wait.
func (s *Service) load(ctx context.Context, t zan.Target) error {
	ch := s.loads.DoChan(t.String(), func() (any, error) {
		// LoadTimeout bounds each step, not the whole: a target of ten
		// million likers takes many seconds to read and to install, and a
		// bound on the whole would fail its every load. The scan must make
		// progress (a chunk) within the bound; the install gets the bound
		// plus time in proportion to its size.
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		stall := time.AfterFunc(s.cfg.LoadTimeout, cancel)
		defer stall.Stop()
		if err := s.waitApplied(lctx); err != nil {
			return nil, zan.Unavailable("loading "+t.String(), err)
		}
		after, rows, err := s.summary(lctx, t, stall)
		if err != nil {
			return nil, zan.Unavailable("store", err)
		}
		stall.Reset(s.cfg.LoadTimeout)
		var users []int64
		if rows {
			err = s.store.ScanLikers(lctx, t, func(u []int64) error {
				users = append(users, u...)
				stall.Reset(s.cfg.LoadTimeout)
				return nil
			})
			if err != nil {
				return nil, zan.Unavailable("store", err)
			}
		}
		stall.Reset(s.cfg.LoadTimeout + time.Duration(len(users))*loadPerLiker)
		if err := s.hot.Load(lctx, t, users, after); err != nil {
			return nil, zan.Unavailable("hot state", err)
		}
		s.absent.Invalidate(t)
		metrics.HotLoads.Inc()
		return nil, nil
	})
	wait := time.NewTimer(s.cfg.Wait)
	defer wait.Stop()
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return zan.Unavailable("loading "+t.String(), ctx.Err())
	case <-wait.C:
		return zan.Unavailable("loading "+t.String(), context.DeadlineExceeded)
	}
}

// summary returns what a load reads before the likers: t's LastLikeChange,
// and whether t has rows at all (a target without any has no likers to
// scan). LastLikeChange reads every row of t (the greatest changed_at has
// no index of its own, which would cost every like a write), so its stall
// bound grows with the count, as the install's does.
func (s *Service) summary(ctx context.Context, t zan.Target, stall *time.Timer) (after int64, rows bool, err error) {
	var count int64
	if s.summaries != nil {
		sum, err := s.summaries.get(ctx, t)
		if err != nil || !sum.Rows {
			return 0, false, err
		}
		count = sum.Count
	} else {
		counts, err := s.store.LikeCounts(ctx, []zan.Target{t})
		if err != nil {
			return 0, false, err
		}
		count = counts[0]
	}
	stall.Reset(s.cfg.LoadTimeout + time.Duration(count)*loadPerLiker)
	after, err = s.store.LastLikeChange(ctx, t)
	return after, true, err
}

// waitApplied waits until the store holds every event that a target
// missing from the hot state can have. That is everything in the log when
// the hot state's epoch began (a restart after a crash, or a shared hot
// state found lost or older than it was, leaves events the store has not
// seen); once the persister has applied those, it stays true: targets
// take changes only while loaded, and leave the hot state only when the
// store holds all their events (EvictCold, and reconciliation's Drop). So
// only the first loads of an epoch wait; concurrent waits share one
// flight. A new epoch also forgets the targets remembered as absent.
func (s *Service) waitApplied(ctx context.Context) error {
	epoch, err := s.hot.Epoch(ctx)
	if err != nil {
		return zan.Unavailable("hot state", err)
	}
	if e := s.caughtUp.Load(); e != nil && *e == epoch {
		return nil
	}
	ch := s.barrier.DoChan(epoch, func() (any, error) {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.LoadTimeout)
		defer cancel()
		if err := s.log.WaitApplied(wctx); err != nil {
			return nil, zan.Unavailable("persister catching up", err)
		}
		s.absent.InvalidateAll()
		s.caughtUp.Store(&epoch)
		return nil, nil
	})
	wait := time.NewTimer(s.cfg.Wait)
	defer wait.Stop()
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return zan.Unavailable("persister catching up", ctx.Err())
	case <-wait.C:
		return zan.Unavailable("persister catching up", context.DeadlineExceeded)
	}
}
