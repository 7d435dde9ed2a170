package zan

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// FeedReader reads one reader (EventLog.Feed) of the like log, one worker
// per partition, for the consumers beside the persister (the notifier, each
// webhook endpoint): each batch is handed to Apply, acknowledged when Apply
// returns nil and handed back (Nak) when it fails, so a batch is applied at
// least once whatever stops on the way. Errors are logged and retried with
// back-off.
type FeedReader struct {
	Log     EventLog
	Name    string        // the reader's name (Feed)
	Batch   int           // events per batch at most
	Wait    time.Duration // how long a batch waits to fill
	Backoff time.Duration // first wait after an error, doubled up to MaxBackoff
	// MaxBackoff bounds the back-off.
	MaxBackoff time.Duration
	// Pace, when set, spaces batches under load: after a batch of more than
	// one event the next fetch starts no sooner than Pace after this one
	// did. A busy reader then takes few large batches instead of many small
	// ones, and leaves the store to others in between; a lone event still
	// goes at once. It adds up to Pace to the reader's lag.
	Pace   time.Duration
	Logger *slog.Logger
	// Apply takes one batch. It is called with the batch kept in progress,
	// so it may take as long as it must (a store that is down, a receiver
	// that is away).
	Apply func(ctx context.Context, part int, events []Event) error
}

// Run reads until ctx ends.
func (r FeedReader) Run(ctx context.Context) {
	var feed EventFeed
	for backoff := r.Backoff; ; backoff = min(backoff*2, r.MaxBackoff) {
		var err error
		if feed, err = r.Log.Feed(ctx, r.Name); err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		r.Logger.Warn("opening a reader of the like log", "reader", r.Name, "err", err)
		Sleep(ctx, backoff)
	}
	var wg sync.WaitGroup
	for part := range feed.Partitions() {
		wg.Go(func() {
			backoff := r.Backoff
			for ctx.Err() == nil {
				if err := r.step(ctx, feed, part); err != nil {
					if ctx.Err() != nil {
						return
					}
					r.Logger.Warn("reading the like log", "reader", r.Name, "partition", part, "err", err)
					Sleep(ctx, backoff)
					backoff = min(backoff*2, r.MaxBackoff)
					continue
				}
				backoff = r.Backoff
			}
		})
	}
	wg.Wait()
}

// step applies one batch and acknowledges it.
func (r FeedReader) step(ctx context.Context, feed EventFeed, part int) error {
	start := time.Now()
	b, err := feed.Fetch(ctx, part, r.Batch, r.Wait)
	if err != nil {
		return err
	}
	if len(b.Events) > 0 {
		stop := KeepInProgress(b.Progress)
		err := r.Apply(ctx, part, b.Events)
		stop()
		if err != nil {
			if b.Nak != nil {
				b.Nak() // another node, or the next try, applies it
			}
			return err
		}
	}
	if b.Ack != nil {
		// A lost ack is a redelivery, which every reader's Apply absorbs.
		if err := b.Ack(context.WithoutCancel(ctx)); err != nil {
			return err
		}
	}
	if d := r.Pace - time.Since(start); r.Pace > 0 && len(b.Events) > 1 && d > 0 {
		Sleep(ctx, d)
	}
	return nil
}

// Sleep waits d, or less when ctx ends first.
func Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
