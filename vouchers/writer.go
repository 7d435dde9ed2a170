package vouchers

import (
	"context"
	"log/slog"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// Writer stores the orders of the order log, in batches, on every node
// (they share the log's consumer, so each order is stored by one).
type Writer struct {
	// BatchSize is the most orders per store transaction (500).
	BatchSize int
	// MaxWait is how long a batch waits to fill (20 ms).
	MaxWait time.Duration
	// DrainTimeout bounds the drain after ctx ends (10 s).
	DrainTimeout time.Duration

	Log     zan.OrderLog
	Store   zan.VoucherStore
	Pending zan.Cache
	Logger  *slog.Logger
}

// Run stores orders until ctx ends, then drains the log (bounded by
// DrainTimeout), so a clean stop leaves no order pending.
func (w *Writer) Run(ctx context.Context) error {
	if w.BatchSize <= 0 {
		w.BatchSize = 500
	}
	if w.MaxWait <= 0 {
		w.MaxWait = 20 * time.Millisecond
	}
	if w.DrainTimeout <= 0 {
		w.DrainTimeout = 10 * time.Second
	}
	if w.Logger == nil {
		w.Logger = slog.Default()
	}
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(w.DrainTimeout, cancel) })
	defer stop()

	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		if _, err := w.Step(ctx, hard, w.MaxWait); err != nil {
			if ctx.Err() != nil {
				break
			}
			w.Logger.Warn("order writer", "err", err)
			zan.Sleep(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
	}
	for hard.Err() == nil {
		n, err := w.Step(hard, hard, 10*time.Millisecond)
		if err != nil {
			return err
		}
		if n == 0 {
			wctx, c := context.WithTimeout(hard, 50*time.Millisecond)
			done := w.Log.WaitOrdersApplied(wctx) == nil
			c()
			if done {
				return nil
			}
		}
	}
	return hard.Err()
}

// Step fetches one batch (while ctx lasts), stores it and acknowledges it
// (while hard lasts). It returns how many orders the batch had.
func (w *Writer) Step(ctx, hard context.Context, wait time.Duration) (int, error) {
	b, err := w.Log.FetchOrders(ctx, w.BatchSize, wait)
	if err != nil {
		return 0, err
	}
	if len(b.Orders) > 0 {
		oldest := b.Orders[0].CreatedAt
		for _, o := range b.Orders {
			if o.CreatedAt.Before(oldest) {
				oldest = o.CreatedAt
			}
		}
		stop := zan.KeepInProgress(b.Progress)
		out, err := w.Store.ApplyOrders(hard, b.Orders)
		stop()
		if err != nil {
			if b.Nak != nil {
				b.Nak()
			}
			return 0, zan.Unavailable("store", err)
		}
		metrics.OrderLag.Set(time.Since(oldest).Seconds())
		keys := make([]string, 0, len(out))
		for i, oc := range out {
			metrics.OrdersWritten.WithLabelValues(outcomeLabel(oc)).Inc()
			if oc == zan.OrderRejectedDuplicate || oc == zan.OrderRejectedSoldOut {
				// Only after a lost hot state: the buyer's 202 led to no
				// order, and the order reads as not found from now on.
				w.Logger.Warn("order rejected by the store", "order", b.Orders[i].ID,
					"voucher", b.Orders[i].VoucherID, "user", b.Orders[i].UserID, "outcome", outcomeLabel(oc))
			}
			keys = append(keys, pendingKey(b.Orders[i].ID))
		}
		// The store answers for these orders now. A failed delete leaves a
		// pending record that the store's answer hides (GetOrder reads the
		// store first) until it expires.
		if err := w.Pending.Delete(hard, keys...); err != nil {
			w.Logger.Debug("order writer: pending records", "err", err)
		}
	}
	if b.Ack != nil {
		if err := b.Ack(context.WithoutCancel(hard)); err != nil {
			return 0, err
		}
	}
	return len(b.Orders), nil
}

func outcomeLabel(o zan.OrderOutcome) string {
	switch o {
	case zan.OrderStored:
		return "stored"
	case zan.OrderExists:
		return "exists"
	case zan.OrderRejectedDuplicate:
		return "rejected_duplicate"
	case zan.OrderRejectedSoldOut:
		return "rejected_sold_out"
	}
	return "unknown"
}
