package likes

import (
	"context"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// confirmSenders is how many confirmations are in flight at once.
const confirmSenders = 16

// Run evicts cold targets from the hot state every interval, ages the
// hot-key sketch and sends the confirmations of published changes, until
// ctx ends.
func (s *Service) Run(ctx context.Context) error {
	// Several senders: each confirmation is a round trip to a shared hot
	// state, and one sender fell behind a like storm (measured in scale-out
	// mode: 6,900 of 26,000 changes met again unconfirmed and republished,
	// 17,000 marks still pending after the run).
	for range confirmSenders {
		go s.runConfirms(ctx)
	}
	interval := s.cfg.EvictIdle / 4
	if interval > time.Minute {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	aging := time.NewTicker(10 * time.Second) // "hot" is hot in the last few of these
	defer aging.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-aging.C:
			s.l1.age()
		case <-t.C:
			if n, err := s.EvictCold(ctx); err != nil {
				s.logger.Warn("evicting cold targets", "err", err)
			} else if n > 0 {
				s.logger.Debug("evicted cold targets", "n", n)
			}
		}
	}
}

// EvictCold removes from the hot state the targets that are old and idle
// (time-ordered types, by age) or idle for IdleTTL (any type).
//
// Loads skip the wait for the persister once it has caught up (see
// waitApplied), so a target may leave the hot state only when the store
// holds all its events: the evictor first waits for the log to be applied,
// and Evict keeps a target that was used after it was found idle.
func (s *Service) EvictCold(ctx context.Context) (int, error) {
	now := s.now()
	type pass struct {
		since time.Time
		old   bool // only old time-ordered targets
		ts    []zan.Target
	}
	passes := []pass{{since: now.Add(-s.cfg.EvictIdle), old: true}, {since: now.Add(-s.cfg.IdleTTL)}}
	found := 0
	for i := range passes {
		ts, err := s.hot.Idle(ctx, passes[i].since, 10000)
		if err != nil {
			return 0, err
		}
		for _, t := range ts {
			if !passes[i].old || s.isCold(t) {
				passes[i].ts = append(passes[i].ts, t)
			}
		}
		found += len(passes[i].ts)
	}
	if found == 0 {
		return 0, nil
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.LoadTimeout)
	defer cancel()
	if err := s.log.WaitApplied(wctx); err != nil {
		return 0, zan.Unavailable("persister behind; eviction skipped", err)
	}
	n := 0
	for _, p := range passes {
		for _, t := range p.ts {
			ok, err := s.hot.Evict(ctx, t, p.since)
			if err != nil {
				return n, err
			}
			if ok {
				n++
				metrics.HotEvictions.Inc()
			}
		}
	}
	return n, nil
}
