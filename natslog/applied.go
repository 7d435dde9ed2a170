package natslog

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/zanlabs/zan"
)

// WaitApplied implements zan.EventLog. Acked messages leave a work-queue
// stream, so everything published so far is applied once the stream's first
// sequence passes its last sequence at call time. Acks can come out of
// order (interior deletes), which is why the count alone is not checked
// against anything but zero.
func (l *Log) WaitApplied(ctx context.Context) error { return waitApplied(ctx, l.likes) }

func waitApplied(ctx context.Context, stream jetstream.Stream) error {
	info, err := stream.Info(ctx)
	if err != nil {
		return zan.Unavailable("event log", err)
	}
	last := info.State.LastSeq
	delay := 5 * time.Millisecond
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		if info.State.Msgs == 0 || info.State.FirstSeq > last {
			return nil
		}
		t.Reset(delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, 50*time.Millisecond)
		if info, err = stream.Info(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return zan.Unavailable("event log", err)
		}
	}
}
