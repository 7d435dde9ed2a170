package natslog

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zanlabs/zan"
)

// WaitApplied implements zan.EventLog: the persister's.
func (l *Log) WaitApplied(ctx context.Context) error { return l.persister.WaitApplied(ctx) }

// appliedThrough reads how far cons has acknowledged subject: every
// message of subject up to stream sequence through is acknowledged. last
// is subject's last sequence (0: it holds nothing), backlog how many of its
// messages cons has not acknowledged yet.
//
// It goes by the consumer's own floor, not by what the stream still holds:
// a message can outlive its acknowledgement (trimming comes later; after a
// NATS crash a work queue kept acknowledged messages for good). last is
// read before the consumer, so a message published in between is never
// counted as acknowledged.
func appliedThrough(ctx context.Context, stream jetstream.Stream, cons jetstream.Consumer, subject string) (through, last, backlog uint64, err error) {
	last, err = lastSeq(ctx, stream, subject)
	if err != nil || last == 0 {
		return 0, last, 0, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, last, 0, err
	}
	return acked(info, last), last, info.NumPending + uint64(info.NumAckPending), nil
}

// acked is the sequence through which info's consumer has acknowledged
// every message of its subject, given last, the subject's last sequence
// read before info.
func acked(info *jetstream.ConsumerInfo, last uint64) uint64 {
	through := info.AckFloor.Stream
	if info.NumAckPending == 0 {
		// Everything delivered is acknowledged: through the last delivery,
		// and through last when nothing more waits to be delivered.
		if info.NumPending == 0 {
			through = max(through, last)
		} else {
			through = max(through, info.Delivered.Stream)
		}
	}
	return through
}

// lastSeq is the sequence of subject's last message, 0 when it has none.
func lastSeq(ctx context.Context, stream jetstream.Stream, subject string) (uint64, error) {
	m, err := stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return m.Sequence, nil
}

// waitApplied returns once cons[i] has acknowledged every message that
// subjects[i] held at the call.
func (l *Log) waitApplied(ctx context.Context, stream jetstream.Stream, subjects []string, cons []jetstream.Consumer) error {
	lasts := make([]uint64, len(subjects))
	for i, s := range subjects {
		n, err := lastSeq(ctx, stream, s)
		if err != nil {
			return l.waitErr(ctx, err)
		}
		lasts[i] = n
	}
	delay := 5 * time.Millisecond
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		done := true
		for i, want := range lasts {
			if want == 0 {
				continue
			}
			info, err := cons[i].Info(ctx)
			if err != nil {
				return l.waitErr(ctx, err)
			}
			if acked(info, want) >= want {
				lasts[i] = 0
			} else {
				done = false
			}
		}
		if done {
			return nil
		}
		t.Reset(delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}

func (l *Log) waitErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return zan.Unavailable("event log", err)
}

// trimAll removes from the like stream what the persister and every
// holding feed have acknowledged, and from the order stream what the
// order writer has: the streams keep what is still to be applied, and
// nothing once applied lingers (nor blocks anything). A feed more than
// FeedBacklog events behind in a partition stops holding it; it then skips
// what is trimmed, which is what a reader that stopped should pay, not the
// log's disk. Every node trims; purges are idempotent.
//
// A floor is trimmed under only once it has held for TrimLag. NATS 2.9
// moves a consumer's acknowledgement floor past messages it had delivered
// to a client that then died, before it redelivers them (seen: a node
// killed under load; 6 to 36 of 3,000 events purged unapplied when the
// floor was trusted at once; none with NATS 2.15, none with the lag). The
// messages come back after AckWait, so a floor that held for several
// AckWaits is one whose messages were really applied.
func (l *Log) trimAll() {
	ctx, cancel := context.WithTimeout(context.Background(), feedWait)
	defer cancel()
	feeds, err := l.feedConsumers(ctx)
	if err != nil {
		l.cfg.Logger.Debug("trimming the event log: listing feeds", "err", err)
		return
	}
	for p, subj := range l.subjects {
		floor, last, _, err := appliedThrough(ctx, l.likes, l.persister.cons[p], subj)
		if err != nil || last == 0 {
			continue
		}
		for _, c := range feeds[p] {
			t, _, backlog, err := appliedThrough(ctx, l.likes, c, subj)
			if err != nil {
				floor = 0 // cannot tell: keep everything this round
				break
			}
			if backlog > l.cfg.FeedBacklog {
				l.cfg.Logger.Warn("a feed fell too far behind; the log no longer keeps events for it",
					"consumer", c.CachedInfo().Name, "backlog", backlog)
				continue
			}
			floor = min(floor, t)
		}
		l.trim(ctx, l.likes, subj, l.floors.held(subj, floor))
	}
	if floor, last, _, err := appliedThrough(ctx, l.orders, l.orderCons, l.orderSubj); err == nil && last > 0 {
		l.trim(ctx, l.orders, l.orderSubj, l.floors.held(l.orderSubj, floor))
	}
}

// floors remembers the floors seen per subject, to trim only under one
// that has held for a while (see trimAll).
type floors struct {
	mu  sync.Mutex
	lag time.Duration
	now func() time.Time
	by  map[string][]floorSeen
}

type floorSeen struct {
	at    time.Time
	floor uint64
}

// held records floor as seen now for subject and returns the greatest
// floor seen at least lag ago (0: none yet).
func (f *floors) held(subject string, floor uint64) uint64 {
	if f.lag <= 0 {
		return floor
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	seen := append(f.by[subject], floorSeen{now, floor})
	var held uint64
	i := 0
	for i < len(seen) && now.Sub(seen[i].at) >= f.lag {
		held = max(held, seen[i].floor)
		i++
	}
	// Keep the newest of the old ones: it is the floor held until a newer
	// one has been seen for long enough.
	if i > 0 {
		i--
	}
	f.by[subject] = seen[i:]
	return held
}

// trim purges subject's messages up to through.
func (l *Log) trim(ctx context.Context, stream jetstream.Stream, subject string, through uint64) {
	if through == 0 {
		return
	}
	first, err := firstSeq(ctx, stream, subject)
	if err != nil || first == 0 || first > through {
		return
	}
	if err := stream.Purge(ctx, jetstream.WithPurgeSubject(subject), jetstream.WithPurgeSequence(through+1)); err != nil {
		l.cfg.Logger.Debug("trimming the event log", "subject", subject, "err", err)
	}
}

// firstSeq is the sequence of subject's first message, 0 when it has none.
func firstSeq(ctx context.Context, stream jetstream.Stream, subject string) (uint64, error) {
	m, err := stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subject))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return m.Sequence, nil
}
