package natslog

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/zanlabs/zan"
)

var _ zan.Notifier = (*Log)(nil)

// Notifications ride core NATS, not JetStream: an invalidation is worth
// nothing once its moment has passed, and every node must get it, not one
// consumer of a group.
func (l *Log) notifySubject(topic string) (string, error) {
	if !validName(topic) {
		return "", fmt.Errorf("natslog: invalid topic %q: want [A-Za-z0-9_]+", topic)
	}
	return l.cfg.Name + ".notify." + topic, nil
}

// Notify implements zan.Notifier.
func (l *Log) Notify(ctx context.Context, topic string, data []byte) error {
	subj, err := l.notifySubject(topic)
	if err != nil {
		return err
	}
	if err := l.nc.Publish(subj, data); err != nil {
		return zan.Unavailable("notify", err)
	}
	return nil
}

// Subscribe implements zan.Notifier.
func (l *Log) Subscribe(topic string, fn func(data []byte)) (func(), error) {
	subj, err := l.notifySubject(topic)
	if err != nil {
		return nil, err
	}
	sub, err := l.nc.Subscribe(subj, func(m *nats.Msg) { fn(m.Data) })
	if err != nil {
		return nil, zan.Unavailable("notify", err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}
