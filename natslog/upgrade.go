package natslog

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/zanlabs/zan"
)

// rehome moves the events waiting in partitions beyond the current count
// into the current ones. Such events exist when --partitions was lowered
// over a log that still held events: no consumer would ever take them
// again, so those likes would never reach the store. Each is published to
// its new partition before it is acked, so a crash midway repeats a move
// (deduplicated by the moved id, and harmless to the persister anyway)
// rather than losing one. All nodes should run with the same count; a node
// with more partitions would keep publishing where this one moves from.
func (l *Log) rehome(ctx context.Context) error {
	info, err := l.likes.Info(ctx, jetstream.WithSubjectFilter(l.cfg.Name+".likes.*"))
	if err != nil {
		return zan.Unavailable("event log: likes stream", err)
	}
	for subj, n := range info.State.Subjects {
		if n == 0 || slices.Contains(l.subjects, subj) {
			continue
		}
		p := strings.TrimPrefix(subj, l.cfg.Name+".likes.")
		// The durable that served the partition: a work-queue stream
		// refuses a second consumer over the same subject.
		c, err := l.consumer(ctx, l.likes, l.cfg.Name+"-persister-"+p, subj)
		if err != nil {
			return err
		}
		moved := 0
		for {
			batch, err := c.FetchNoWait(500)
			if err != nil {
				return zan.Unavailable("event log: moving partition "+p, err)
			}
			got := 0
			for m := range batch.Messages() {
				got++
				to, id := l.subjects[0], ""
				var ev zan.Event
				if ev.UnmarshalJSON(m.Data()) == nil {
					to, id = l.subjects[Partition(ev.Target, l.cfg.Partitions)], ev.ID+"/moved"
				} // else: the persister of partition 0 dead-letters it
				if err := l.publish(ctx, to, m.Data(), id); err != nil {
					return err
				}
				if err := m.DoubleAck(ctx); err != nil {
					return zan.Unavailable("event log: moving partition "+p, err)
				}
				moved++
			}
			if err := batch.Error(); err != nil {
				return zan.Unavailable("event log: moving partition "+p, err)
			}
			if got == 0 {
				break
			}
		}
		l.cfg.Logger.Warn("moved the events of a partition beyond --partitions", "partition", p, "events", moved)
		// Events still handed out to a node that died come back only after
		// AckWait; the consumer stays for them, and the next start moves them.
		left, err := l.likes.Info(ctx, jetstream.WithSubjectFilter(subj))
		if err != nil {
			return zan.Unavailable("event log: likes stream", err)
		}
		if n := left.State.Subjects[subj]; n > 0 {
			l.cfg.Logger.Warn("events of a partition beyond --partitions wait for redelivery; the next start moves them", "partition", p, "events", n)
			continue
		}
		if err := l.likes.DeleteConsumer(ctx, l.cfg.Name+"-persister-"+p); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return zan.Unavailable("event log: moving partition "+p, err)
		}
	}
	return nil
}
