package natslog

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zanlabs/zan"
)

// upgrade moves the events left in the like stream of earlier versions (a
// work queue, <NAME>_LIKES on <name>.likes.*, which allowed one reader per
// partition) into the current one, then deletes it. Every message still in
// it is moved, applied or not: the persister takes a duplicate as such. A
// crash midway moves the rest, and again what was moved (deduplicated
// within the window, harmless after it). Stop every node of the older
// version first: its publishes fail (503) once the old stream is gone.
func (l *Log) upgrade(ctx context.Context) error {
	old, err := l.js.Stream(ctx, strings.ToUpper(l.cfg.Name)+"_LIKES")
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return zan.Unavailable("event log: earlier like stream", err)
	}
	n, err := l.moveEvents(ctx, old, l.cfg.Name+".likes.*", 1)
	if err != nil {
		return err
	}
	if err := l.js.DeleteStream(ctx, old.CachedInfo().Config.Name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return zan.Unavailable("event log: earlier like stream", err)
	}
	l.cfg.Logger.Warn("moved the events of the earlier like stream into the current one", "events", n)
	return nil
}

// rehome moves the events waiting in partitions beyond the current count
// into the current ones. Such events exist when --partitions was lowered
// over a log that still held events: no consumer would ever take them
// again, so those likes would never reach the store. Each is published to
// its new partition before the old partition is purged, so a crash midway
// repeats a move (deduplicated by the moved id, and harmless to the
// persister anyway) rather than losing one. All nodes should run with the
// same count; a node with more partitions would keep publishing where this
// one moves from.
func (l *Log) rehome(ctx context.Context) error {
	info, err := l.likes.Info(ctx, jetstream.WithSubjectFilter(l.cfg.Name+".like.*"))
	if err != nil {
		return zan.Unavailable("event log: likes stream", err)
	}
	for subj, n := range info.State.Subjects {
		p, err := strconv.Atoi(strings.TrimPrefix(subj, l.cfg.Name+".like."))
		if n == 0 || err != nil || p < l.cfg.Partitions {
			continue
		}
		// What the persister applied stays behind; the rest moves.
		var from uint64 = 1
		if c, err := l.likes.Consumer(ctx, l.durable("persister", p)); err == nil {
			if through, _, _, err := appliedThrough(ctx, l.likes, c, subj); err == nil {
				from = through + 1
			}
		}
		moved, err := l.moveEvents(ctx, l.likes, subj, from)
		if err != nil {
			return err
		}
		if err := l.likes.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
			return zan.Unavailable("event log: moving partition "+strconv.Itoa(p), err)
		}
		names := l.likes.ConsumerNames(ctx)
		for name := range names.Name() {
			if strings.HasSuffix(name, "-"+strconv.Itoa(p)) && strings.HasPrefix(name, l.cfg.Name+"-") {
				if err := l.likes.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
					return zan.Unavailable("event log: moving partition "+strconv.Itoa(p), err)
				}
			}
		}
		l.cfg.Logger.Warn("moved the events of a partition beyond --partitions", "partition", p, "events", moved)
	}
	return nil
}

// moveEvents publishes every message of stream on subject (wildcards
// allowed) from sequence from on to its partition of the like stream, and
// returns how many. A message that is not an event goes to partition 0,
// whose persister dead-letters it.
func (l *Log) moveEvents(ctx context.Context, stream jetstream.Stream, subject string, from uint64) (int, error) {
	moved := 0
	for seq := from; ; {
		m, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return moved, nil
		}
		if err != nil {
			return moved, zan.Unavailable("event log: moving events", err)
		}
		to, id := l.subjects[0], ""
		var ev zan.Event
		if ev.UnmarshalJSON(m.Data) == nil {
			to, id = l.subjects[Partition(ev.Target, l.cfg.Partitions)], ev.ID+"/moved"
		}
		if err := l.publish(ctx, to, m.Data, id); err != nil {
			return moved, err
		}
		moved++
		seq = m.Sequence + 1
	}
}
