package natslog

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zanlabs/zan"
)

// reader is one durable reader of the like stream: a pull consumer per
// partition, named <name>-<reader>-<partition>, shared by every node.
type reader struct {
	l     *Log
	name  string
	cons  []jetstream.Consumer
	pulls []partitionPull
}

var _ zan.EventFeed = (*reader)(nil)

// feedPrefix starts the reader name of every feed: the trimmer finds the
// feeds that other nodes opened by it.
const feedPrefix = "feed_"

func (l *Log) durable(reader string, p int) string {
	return l.cfg.Name + "-" + reader + "-" + strconv.Itoa(p)
}

func (l *Log) openReader(ctx context.Context, name string) (*reader, error) {
	r := &reader{l: l, name: name,
		cons:  make([]jetstream.Consumer, l.cfg.Partitions),
		pulls: make([]partitionPull, l.cfg.Partitions)}
	for p := range r.cons {
		c, err := l.consumer(ctx, l.likes, l.durable(name, p), l.subjects[p])
		if err != nil {
			return nil, err
		}
		r.cons[p] = c
	}
	return r, nil
}

// Partitions implements zan.EventFeed.
func (r *reader) Partitions() int { return len(r.cons) }

// WaitApplied implements zan.EventFeed.
func (r *reader) WaitApplied(ctx context.Context) error {
	return r.l.waitApplied(ctx, r.l.likes, r.l.subjects, r.cons)
}

// Feed implements zan.EventLog. A feed's consumers start at the oldest
// event the log still keeps, which includes every event the persister has
// not applied yet.
func (l *Log) Feed(ctx context.Context, name string) (zan.EventFeed, error) {
	if !validName(name) {
		return nil, zan.Errorf(zan.EBadRequest, "feed name %q: want [A-Za-z0-9_]+", name)
	}
	l.feedsMu.Lock()
	defer l.feedsMu.Unlock()
	if r, ok := l.feeds[name]; ok {
		return r, nil
	}
	r, err := l.openReader(ctx, feedPrefix+name)
	if err != nil {
		return nil, err
	}
	l.feeds[name] = r
	return r, nil
}

// DropFeed implements zan.EventLog.
func (l *Log) DropFeed(ctx context.Context, name string) error {
	if !validName(name) {
		return zan.Errorf(zan.EBadRequest, "feed name %q: want [A-Za-z0-9_]+", name)
	}
	l.feedsMu.Lock()
	r := l.feeds[name]
	delete(l.feeds, name)
	l.feedsMu.Unlock()
	if r != nil {
		for i := range r.pulls {
			pl := &r.pulls[i]
			pl.mu.Lock()
			if pl.it != nil {
				pl.it.Stop()
				pl.it = nil
			}
			pl.mu.Unlock()
		}
	}
	for p := range l.cfg.Partitions {
		if err := l.likes.DeleteConsumer(ctx, l.durable(feedPrefix+name, p)); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return zan.Unavailable("event log: dropping feed "+name, err)
		}
	}
	return nil
}

// feedConsumers returns, per partition, the consumers of every feed open
// on the log, whichever node opened them.
func (l *Log) feedConsumers(ctx context.Context) ([][]jetstream.Consumer, error) {
	out := make([][]jetstream.Consumer, l.cfg.Partitions)
	names := l.likes.ConsumerNames(ctx)
	for n := range names.Name() {
		rest, ok := strings.CutPrefix(n, l.cfg.Name+"-"+feedPrefix)
		if !ok {
			continue
		}
		i := strings.LastIndexByte(rest, '-')
		p, err := strconv.Atoi(rest[i+1:])
		if i < 0 || err != nil || p < 0 || p >= l.cfg.Partitions {
			continue
		}
		c, err := l.likes.Consumer(ctx, n)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			continue // dropped meanwhile
		}
		if err != nil {
			return nil, err
		}
		out[p] = append(out[p], c)
	}
	if err := names.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// feedWait bounds one trim's look at the consumers.
const feedWait = 5 * time.Second
