package likes

import (
	"context"
	"sync"
	"time"

	"github.com/zanlabs/zan"
)

// summaries reads the summaries loads need (zan.LikeSummaryStore) for many
// targets in one store call: a write storm over many targets starts a load
// per target, and one query per load paid the store's fixed cost per query
// (SQLite's read transaction, the driver's and database/sql's work) for two
// index lookups. Calls made while a query runs are gathered into the next
// one, as a group commit does, so an idle node adds no wait and a busy one
// sends fewer, larger queries.
type summaries struct {
	store   zan.LikeSummaryStore
	timeout time.Duration

	mu      sync.Mutex
	pending []*summaryCall
	running int // workers running, at most summaryWorkers
}

type summaryCall struct {
	t    zan.Target
	done chan struct{}
	res  zan.LikeSummary
	err  error
}

const (
	// summaryWorkers bounds the store calls in flight at once.
	summaryWorkers = 2
	// summaryBatch bounds the targets of one store call.
	summaryBatch = 256
)

// get returns t's summary, waiting at most as long as ctx allows.
func (b *summaries) get(ctx context.Context, t zan.Target) (zan.LikeSummary, error) {
	c := &summaryCall{t: t, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	start := b.running < summaryWorkers
	if start {
		b.running++
	}
	b.mu.Unlock()
	if start {
		go b.work()
	}
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
		return zan.LikeSummary{}, ctx.Err()
	}
}

// work answers pending calls, a batch per store call, until none is left.
func (b *summaries) work() {
	for {
		b.mu.Lock()
		n := min(len(b.pending), summaryBatch)
		if n == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		batch := b.pending[:n:n]
		b.pending = append([]*summaryCall(nil), b.pending[n:]...)
		b.mu.Unlock()

		ts := make([]zan.Target, n)
		for i, c := range batch {
			ts[i] = c.t
		}
		// Detached from every caller: each waits for its own answer only
		// as long as its context allows, and the others still want theirs.
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		res, err := b.store.LikeSummaries(ctx, ts)
		cancel()
		for i, c := range batch {
			if err != nil {
				c.err = err
			} else {
				c.res = res[i]
			}
			close(c.done)
		}
	}
}
