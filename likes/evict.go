package likes

import (
	"context"
	"time"

	"github.com/zanlabs/zan/metrics"
)

// Run evicts cold targets from the hot state every interval until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	interval := s.cfg.EvictIdle / 4
	if interval > time.Minute {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
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
func (s *Service) EvictCold(ctx context.Context) (int, error) {
	now := s.now()
	n := 0
	for _, pass := range []struct {
		idle time.Duration
		old  bool // only old time-ordered targets
	}{{s.cfg.EvictIdle, true}, {s.cfg.IdleTTL, false}} {
		ts, err := s.hot.Idle(ctx, now.Add(-pass.idle), 10000)
		if err != nil {
			return n, err
		}
		for _, t := range ts {
			if pass.old && !s.isCold(t) {
				continue
			}
			if err := s.hot.Evict(ctx, t); err != nil {
				return n, err
			}
			n++
			metrics.HotEvictions.Inc()
		}
	}
	return n, nil
}
