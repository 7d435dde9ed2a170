// Package persist is the write-behind worker: it applies like events from
// the event log to the store in batches, one worker per partition.
package persist

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// Config tunes the persister; zero fields take the defaults.
type Config struct {
	BatchSize int           // events per batch at most (default 1000)
	MaxWait   time.Duration // how long a batch waits to fill (default 100 ms)
	Retries   int           // retries of a failing batch before dead-lettering (default 3)
	Backoff   time.Duration // first retry delay, doubled each time (default 100 ms)
	// DrainTimeout bounds the final flush when the persister stops.
	DrainTimeout time.Duration
	// Mirror marks the second persister of an online migration, which
	// applies the same log to the destination store: its lag and applied
	// events are counted apart from the primary's.
	Mirror bool
}

func (c *Config) defaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 100 * time.Millisecond
	}
	if c.Retries < 0 {
		c.Retries = 0
	} else if c.Retries == 0 {
		c.Retries = 3
	}
	if c.Backoff <= 0 {
		c.Backoff = 100 * time.Millisecond
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 10 * time.Second
	}
}

// Source is what the persister reads: the log's own reader, or a feed of
// its own (a migration's mirror), and where events at fault go.
type Source interface {
	zan.EventFeed
	DeadLetter(ctx context.Context, events []zan.Event, reason string) error
}

// Persister applies the event log to the store.
type Persister struct {
	cfg    Config
	log    Source
	store  zan.LikeStore
	logger *slog.Logger
}

// New returns a persister.
func New(cfg Config, log Source, store zan.LikeStore, logger *slog.Logger) *Persister {
	cfg.defaults()
	if logger == nil {
		logger = slog.Default()
	}
	return &Persister{cfg: cfg, log: log, store: store, logger: logger}
}

// Run applies events until ctx ends, then drains what is left in the log
// (bounded by DrainTimeout) so a clean stop leaves the store complete.
// A batch fetched before ctx ended is still applied and acknowledged.
func (p *Persister) Run(ctx context.Context) error {
	// hard outlives ctx by DrainTimeout: it bounds the work of a stop.
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(p.cfg.DrainTimeout, cancel) })
	defer stop()
	var wg sync.WaitGroup
	for part := 0; part < p.log.Partitions(); part++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.work(ctx, hard, part)
		}()
	}
	wg.Wait()
	return p.Drain(hard)
}

// Drain applies batches until every partition is empty.
func (p *Persister) Drain(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, p.log.Partitions())
	for part := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n, err := p.step(ctx, ctx, part, 10*time.Millisecond)
				if err != nil {
					errs[part] = err
					return
				}
				if n == 0 && p.drained(ctx) {
					return
				}
			}
			errs[part] = ctx.Err()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// drained reports whether the log holds nothing unapplied. An empty fetch
// alone does not say so: a pull can expire before a busy server delivers.
func (p *Persister) drained(ctx context.Context) bool {
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	return p.log.WaitApplied(wctx) == nil
}

func (p *Persister) work(ctx, hard context.Context, part int) {
	backoff := p.cfg.Backoff
	for ctx.Err() == nil {
		if _, err := p.step(ctx, hard, part, p.cfg.MaxWait); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.logger.Warn("persister", "partition", part, "err", err)
			zan.Sleep(ctx, backoff)
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = p.cfg.Backoff
	}
}

// step fetches one batch (while ctx lasts), applies it and acknowledges it
// (while hard lasts). It returns how many events the batch had.
func (p *Persister) step(ctx, hard context.Context, part int, wait time.Duration) (int, error) {
	b, err := p.log.Fetch(ctx, part, p.cfg.BatchSize, wait)
	if err != nil {
		return 0, err
	}
	ctx = hard
	if len(b.Events) > 0 {
		if p.cfg.Mirror {
			metrics.MirrorLag.Set(b.Lag.Seconds())
		} else {
			metrics.PersisterBatch.Observe(float64(len(b.Events)))
			metrics.PersisterLag.Set(b.Lag.Seconds())
		}
		stop := zan.KeepInProgress(b.Progress)
		err := p.apply(ctx, b.Events)
		stop()
		if err != nil {
			if b.Nak != nil {
				b.Nak() // redelivered now, to this node or another
			}
			return 0, err
		}
		if p.cfg.Mirror {
			metrics.MirrorApplied.Add(float64(len(b.Events)))
		} else {
			metrics.PersisterApplied.Add(float64(len(b.Events)))
		}
	} else if p.cfg.Mirror {
		metrics.MirrorLag.Set(0)
	}
	if b.Ack != nil {
		// The store holds the batch now; a lost ack only means a harmless
		// redelivery, so the ack must not be cancelled half way.
		if err := b.Ack(context.WithoutCancel(ctx)); err != nil {
			return 0, err
		}
	}
	return len(b.Events), nil
}

// apply writes events to the store. A store that is down is waited for
// without limit: its events are not at fault and must not be dead-lettered.
// Any other error is retried Retries times; then the batch is split in
// halves to find the events at fault, and only those go to the dead-letter
// stream.
func (p *Persister) apply(ctx context.Context, events []zan.Event) error {
	delay := p.cfg.Backoff
	var err error
	for try := 0; ; {
		if _, err = p.store.ApplyLikes(ctx, events); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		metrics.PersisterRetries.Inc()
		if errors.Is(err, zan.ErrUnavailable) {
			p.logger.Warn("store unavailable; batch waits", "events", len(events), "err", err)
		} else if try++; try > p.cfg.Retries {
			break
		}
		zan.Sleep(ctx, delay)
		delay = min(delay*2, 5*time.Second)
	}
	if len(events) > 1 {
		half := len(events) / 2
		if err := p.apply(ctx, events[:half]); err != nil {
			return err
		}
		return p.apply(ctx, events[half:])
	}
	p.logger.Error("dead-lettering event", "event", events[0].ID, "target", events[0].Target.String(), "err", err)
	if derr := p.log.DeadLetter(ctx, events, err.Error()); derr != nil {
		return derr
	}
	metrics.DeadLettered.Add(float64(len(events)))
	return nil
}
