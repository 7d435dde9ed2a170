package natslog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zanlabs/zan"
)

// Fetch implements zan.EventLog: the persister's batches.
func (l *Log) Fetch(ctx context.Context, partition, max int, wait time.Duration) (zan.Batch, error) {
	return l.persister.Fetch(ctx, partition, max, wait)
}

// Fetch implements zan.EventFeed.
func (r *reader) Fetch(ctx context.Context, partition, max int, wait time.Duration) (zan.Batch, error) {
	l := r.l
	if partition < 0 || partition >= len(r.cons) {
		return zan.Batch{}, fmt.Errorf("natslog: partition %d out of range [0,%d)", partition, len(r.cons))
	}
	if max <= 0 {
		max = 1
	}
	if err := ctx.Err(); err != nil {
		return zan.Batch{}, err
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
		wait = time.Until(d)
	}
	pl := &r.pulls[partition]
	pl.mu.Lock()
	defer pl.mu.Unlock()
	got, err := l.pull(pl, r.cons[partition], max, wait)
	if err != nil {
		return zan.Batch{}, zan.Unavailable("event log", err)
	}
	var (
		msgs   []jetstream.Msg
		events []zan.Event
		oldest time.Time
	)
	for _, m := range got {
		msgs = append(msgs, m)
		if md, err := m.Metadata(); err == nil && (oldest.IsZero() || md.Timestamp.Before(oldest)) {
			oldest = md.Timestamp
		}
		var ev zan.Event
		if err := ev.UnmarshalJSON(m.Data()); err != nil {
			// Acked with the batch once it sits in the dead-letter stream;
			// if that fails the batch errs and the message comes back.
			if err := l.deadLetterRaw(ctx, m.Data(), "malformed: "+zan.ErrorMessage(err)); err != nil {
				l.nakAll(msgs)
				return zan.Batch{}, err
			}
			continue
		}
		events = append(events, ev)
	}
	if len(msgs) == 0 {
		return zan.Batch{}, nil
	}
	b := zan.Batch{Events: events, Lag: time.Since(oldest)}
	b.Ack, b.Nak, b.Progress = l.settle(msgs)
	return b, nil
}

// partitionPull is one partition's continuous pull. Short fetches (one pull
// request per batch, expiring after the batch wait) lose messages that the
// server sends as a request expires on the client: they come back only
// after AckWait, and the same can happen again on every redelivery (seen
// under load with a node killed). A continuous pull keeps long-lived
// requests open with heartbeats, buffers what arrives, and Fetch takes
// batches from that buffer.
type partitionPull struct {
	mu sync.Mutex
	it jetstream.MessagesContext
	// last is when the pull last delivered a message (or started); checked
	// is when a silence was last looked into.
	last, checked time.Time
}

// stallAfter is how long a pull may deliver nothing while its consumer has
// messages waiting before it is started afresh. A continuous pull once
// stopped asking for messages with no error at all (NATS 2.9, a scale-out
// like storm: the consumer had 12,031 messages pending and no pull request
// waiting, and nothing came back until the process restarted). A healthy
// pull has a request waiting at all times, so it never looks like that.
var stallAfter = 3 * time.Second

// pull takes up to n messages from the partition's pull, waiting up to
// wait for the batch to fill.
func (l *Log) pull(pl *partitionPull, cons jetstream.Consumer, n int, wait time.Duration) ([]jetstream.Msg, error) {
	if pl.it == nil {
		// Short-lived pull requests: the server keeps a dead node's waiting
		// requests until they expire and may hand a redelivered message to
		// one of them, losing it for another AckWait (seen on NATS 2.9).
		it, err := cons.Messages(jetstream.PullMaxMessages(max(2*n, 500)),
			jetstream.PullExpiry(5*time.Second))
		if err != nil {
			return nil, err
		}
		pl.it = it
		pl.last = time.Now()
	}
	var msgs []jetstream.Msg
	deadline := time.Now().Add(wait)
	for len(msgs) < n {
		left := max(time.Until(deadline), time.Millisecond)
		if len(msgs) > 0 && time.Now().After(deadline) {
			break
		}
		m, err := pl.it.Next(jetstream.NextMaxWait(left))
		if errors.Is(err, nats.ErrTimeout) {
			break
		}
		if err != nil {
			// A broken pull is started afresh on the next call; what it
			// had buffered comes back after AckWait.
			pl.it.Stop()
			pl.it = nil
			if len(msgs) > 0 {
				return msgs, nil
			}
			return nil, err
		}
		msgs = append(msgs, m)
	}
	now := time.Now()
	if len(msgs) > 0 {
		pl.last = now
	} else if now.Sub(pl.last) > stallAfter && now.Sub(pl.checked) > stallAfter {
		pl.checked = now
		if n := l.waiting(cons); n > 0 {
			l.cfg.Logger.Warn("restarting a pull that stopped delivering", "consumer", cons.CachedInfo().Name, "pending", n)
			pl.it.Stop()
			pl.it = nil
		}
	}
	return msgs, nil
}

// waiting returns how many messages cons has not yet delivered (0 when it
// cannot tell).
func (l *Log) waiting(cons jetstream.Consumer) uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.PublishTimeout)
	defer cancel()
	info, err := cons.Info(ctx)
	if err != nil {
		return 0
	}
	return info.NumPending
}

// stopPulls ends the continuous pulls, handing back at once what they had
// buffered but nobody fetched.
func (l *Log) stopPulls() {
	pulls := []*partitionPull{&l.orderPull}
	l.feedsMu.Lock()
	for _, r := range append([]*reader{l.persister}, slices.Collect(maps.Values(l.feeds))...) {
		if r == nil {
			continue
		}
		for i := range r.pulls {
			pulls = append(pulls, &r.pulls[i])
		}
	}
	l.feedsMu.Unlock()
	for _, pl := range pulls {
		pl.mu.Lock()
		if pl.it != nil {
			pl.it.Drain()
			for {
				m, err := pl.it.Next(jetstream.NextMaxWait(10 * time.Millisecond))
				if err != nil {
					break
				}
				_ = m.Nak()
			}
			pl.it = nil
		}
		pl.mu.Unlock()
	}
}

// ack acknowledges msgs and flushes, so that once it returns the server has
// the acks and WaitApplied sees them.
func (l *Log) ack(ctx context.Context, msgs []jetstream.Msg) error {
	for _, m := range msgs {
		if err := m.Ack(); err != nil {
			return zan.Unavailable("event log: ack", err)
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.cfg.PublishTimeout)
		defer cancel()
	}
	if err := l.nc.FlushWithContext(ctx); err != nil {
		return zan.Unavailable("event log: ack", err)
	}
	return nil
}

// settle returns a batch's Ack, Nak and Progress over its messages: the
// first of Ack and Nak settles the batch, the other then does nothing.
func (l *Log) settle(msgs []jetstream.Msg) (ack func(context.Context) error, nak, progress func()) {
	var once sync.Once
	var ackErr error
	ack = func(ctx context.Context) error {
		once.Do(func() { ackErr = l.ack(ctx, msgs) })
		return ackErr
	}
	nak = func() { once.Do(func() { l.nakAll(msgs) }) }
	return ack, nak, func() { inProgress(msgs) }
}

// inProgress resets the AckWait of msgs: the batch is still being applied.
func inProgress(msgs []jetstream.Msg) {
	for _, m := range msgs {
		_ = m.InProgress()
	}
}

// nakAll hands a batch back at once rather than after AckWait.
func (l *Log) nakAll(msgs []jetstream.Msg) {
	for _, m := range msgs {
		_ = m.Nak()
	}
}
