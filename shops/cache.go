package shops

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// The read path, cheapest first:
//
//	L1 (otter, this process, ≤ L1TTL)  →  Bloom filter (is the id possible?)
//	→ L2 (zan.Cache: memory or Redis, shared)  →  one rebuild from the store
//
// Penetration: ids the Bloom filter rules out never reach L2's misses or the
// store, and ids it lets through by mistake leave a short "absent" entry.
// Breakdown: a missing entry is rebuilt once per key at a time: singleflight
// among this node's readers, a lock in the shared cache among nodes; the
// others wait for the entry the winner writes. Prewarmed (hot) shops use
// logical expiry: past it they are served stale while one caller rebuilds.
// Avalanche: TTLs carry jitter, and Start prewarms the newest shops.

// entry is an L2 value.
type entry struct {
	Shop   *zan.Shop `json:"shop,omitempty"`
	Absent bool      `json:"absent,omitempty"`
	// Exp is the logical expiry in Unix ms (0: none; the key's TTL rules).
	Exp int64 `json:"exp,omitempty"`
}

func key(id int64) string     { return "shop:" + strconv.FormatInt(id, 10) }
func lockKey(id int64) string { return "shop-lock:" + strconv.FormatInt(id, 10) }

// Get returns the shop through the cache; ENotFound when it does not exist.
func (s *Service) Get(ctx context.Context, id int64) (zan.Shop, error) {
	if sh, ok := s.l1.GetIfPresent(id); ok {
		metrics.ShopCache.WithLabelValues("l1").Inc()
		return sh, nil
	}
	if !s.cfg.NoBloom && !s.mayExist(id) {
		// Created on another node a moment ago, before its notification
		// reached this filter? Its write-through entry would be in L2.
		if e, ok, err := s.l2(ctx, id); err == nil && ok && e.Shop != nil {
			return s.hit(id, e), nil
		}
		metrics.ShopCache.WithLabelValues("absent").Inc()
		return zan.Shop{}, notFound(id)
	}
	e, ok, err := s.l2(ctx, id)
	if err != nil {
		// The cache is down: the store still answers, one read per key at
		// a time.
		s.log.Debug("shop cache: L2 read", "shop", id, "err", err)
	}
	if ok {
		switch {
		case e.Absent:
			metrics.ShopCache.WithLabelValues("absent").Inc()
			return zan.Shop{}, notFound(id)
		case e.Shop == nil:
			// Unreadable entry: rebuild below.
		case e.Exp != 0 && s.now().UnixMilli() >= e.Exp:
			metrics.ShopCache.WithLabelValues("stale").Inc()
			s.refreshAsync(id)
			return *e.Shop, nil
		default:
			return s.hit(id, e), nil
		}
	}
	metrics.ShopCache.WithLabelValues("miss").Inc()
	v, err, _ := s.sf.Do(key(id), func() (any, error) {
		// Detached: the shared rebuild must not fail because the first
		// caller gave up.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return s.rebuild(ctx, id, false)
	})
	if err != nil {
		return zan.Shop{}, zan.Unavailable("store", err)
	}
	e = v.(entry)
	if e.Shop == nil {
		return zan.Shop{}, notFound(id)
	}
	s.l1.Set(id, *e.Shop)
	return *e.Shop, nil
}

func (s *Service) hit(id int64, e entry) zan.Shop {
	metrics.ShopCache.WithLabelValues("l2").Inc()
	s.l1.Set(id, *e.Shop)
	return *e.Shop
}

func notFound(id int64) error { return zan.Errorf(zan.ENotFound, "shop %d not found", id) }

func (s *Service) l2(ctx context.Context, id int64) (entry, bool, error) {
	b, ok, err := s.cache.Get(ctx, key(id))
	if err != nil || !ok {
		return entry{}, false, err
	}
	var e entry
	if json.Unmarshal(b, &e) != nil {
		return entry{}, true, nil // Shop nil: rebuilt
	}
	return e, true, nil
}

// rebuild reads id from the store into L2, unless this node cannot take the
// key's lock: then it waits for the holder's entry. With fresh set (a
// logical-expiry refresh), an entry that is there but expired does not
// count.
func (s *Service) rebuild(ctx context.Context, id int64, fresh bool) (entry, error) {
	usable := func(e entry, ok bool) bool {
		return ok && (e.Shop != nil || e.Absent) && (!fresh || e.Exp == 0 || s.now().UnixMilli() < e.Exp)
	}
	unlock, locked, err := s.cache.TryLock(ctx, lockKey(id), s.cfg.LockTTL)
	if err != nil {
		return s.fromStore(ctx, id, false)
	}
	if !locked {
		deadline := time.Now().Add(s.cfg.LockTTL)
		for delay := 5 * time.Millisecond; time.Now().Before(deadline); delay = min(2*delay, 50*time.Millisecond) {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return entry{}, ctx.Err()
			case <-t.C:
			}
			if e, ok, err := s.l2(ctx, id); err == nil && usable(e, ok) {
				return e, nil
			}
		}
		// The holder is slow or died with the lock: answer from the store
		// without writing, the lock's next holder will.
		return s.fromStore(ctx, id, false)
	}
	defer func() {
		if err := unlock(context.WithoutCancel(ctx)); err != nil {
			s.log.Debug("shop cache: unlock", "shop", id, "err", err)
		}
	}()
	// Another node may have filled it while this one waited for the lock.
	if e, ok, err := s.l2(ctx, id); err == nil && usable(e, ok) {
		return e, nil
	}
	return s.fromStore(ctx, id, true)
}

// fromStore reads the store and, when write is set, caches what it found.
func (s *Service) fromStore(ctx context.Context, id int64, write bool) (entry, error) {
	metrics.ShopRebuilds.Inc()
	sh, err := s.store.Shop(ctx, id)
	if zan.IsNotFound(err) {
		if write && !s.cfg.NoAbsent {
			b, _ := json.Marshal(entry{Absent: true})
			if err := s.cache.Set(ctx, key(id), b, s.ttl(s.cfg.AbsentTTL)); err != nil {
				s.log.Debug("shop cache: absent entry", "shop", id, "err", err)
			}
		}
		return entry{Absent: true}, nil
	}
	if err != nil {
		return entry{}, err
	}
	e := entry{Shop: &sh}
	if write {
		if err := s.put(ctx, sh); err != nil {
			s.log.Debug("shop cache: write", "shop", id, "err", err)
		}
	}
	return e, nil
}

// put writes sh to L2: with logical expiry for the keys marked so (they
// never vanish; a reader past Exp refreshes them), else with a jittered TTL.
func (s *Service) put(ctx context.Context, sh zan.Shop) error {
	e := entry{Shop: &sh}
	ttl := s.ttl(s.cfg.TTL)
	if _, ok := s.logical.Load(sh.ID); ok {
		e.Exp = s.now().Add(ttl).UnixMilli()
		// Kept well past the logical expiry so a reader always finds a
		// value; a shop that stopped being read leaves eventually.
		ttl = 8 * ttl
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return s.cache.Set(ctx, key(sh.ID), b, ttl)
}

// ttl stretches d by a random part of Jitter, so entries written together
// expire apart.
func (s *Service) ttl(d time.Duration) time.Duration {
	return d + time.Duration(rand.Float64()*s.cfg.Jitter*float64(d))
}

// refreshAsync rebuilds a logically expired entry in the background, once
// per key on this node (and once across nodes, by the lock).
func (s *Service) refreshAsync(id int64) {
	go func() {
		_, _, _ = s.sf.Do("refresh:"+key(id), func() (any, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			e, err := s.rebuild(ctx, id, true)
			if err != nil {
				s.log.Debug("shop cache: refresh", "shop", id, "err", err)
			}
			return e, err
		})
	}()
}

// prewarm writes the newest Prewarm shops to L2 with logical expiry, so the
// first wave of readers after a start finds them.
func (s *Service) prewarm(ctx context.Context) error {
	if s.cfg.Prewarm < 0 {
		return nil
	}
	var after *zan.Cursor
	for n := 0; n < s.cfg.Prewarm; {
		p, err := s.store.Shops(ctx, zan.ShopFilter{Limit: min(100, s.cfg.Prewarm-n), After: after})
		if err != nil {
			return err
		}
		for _, sh := range p.Shops {
			s.logical.Store(sh.ID, struct{}{})
			if err := s.put(ctx, sh); err != nil {
				return err
			}
		}
		n += len(p.Shops)
		if p.Next == nil {
			break
		}
		after = p.Next
	}
	return nil
}

// SetLogical makes id's cache entry use logical expiry (or not) from its
// next write on.
func (s *Service) SetLogical(id int64, on bool) {
	if on {
		s.logical.Store(id, struct{}{})
	} else {
		s.logical.Delete(id)
	}
}

func metricsInvalidation() { metrics.ShopInvalidations.Inc() }
