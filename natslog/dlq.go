package natslog

import (
	"context"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zanlabs/zan"
)

// DeadLetter implements zan.EventLog.
func (l *Log) DeadLetter(ctx context.Context, events []zan.Event, reason string) error {
	var errs []error
	buf := make([]byte, 0, 128)
	for _, ev := range events {
		buf = ev.AppendJSON(buf[:0])
		if err := l.deadLetterRaw(ctx, buf, reason); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deadLetterRaw stores body without a message id: the same event may be
// dead-lettered again after a replay, within the de-duplication window.
func (l *Log) deadLetterRaw(ctx context.Context, body []byte, reason string) error {
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	m := nats.NewMsg(l.dlqSubj)
	m.Header.Set("Zan-Reason", reason)
	m.Data = body
	if _, err := l.js.PublishMsg(ctx, m); err != nil {
		return zan.Unavailable("event log: dead letter", err)
	}
	return nil
}

func toDeadLetter(m *jetstream.RawStreamMsg) zan.DeadLetter {
	d := zan.DeadLetter{Seq: m.Sequence, Raw: m.Data, Reason: m.Header.Get("Zan-Reason"), At: m.Time}
	var ev zan.Event
	if ev.UnmarshalJSON(m.Data) == nil {
		d.Event = &ev
	}
	return d
}

// DeadLetters implements zan.EventLog. It reads the stream directly, so
// listing leaves no consumer state behind.
func (l *Log) DeadLetters(ctx context.Context, limit int) ([]zan.DeadLetter, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []zan.DeadLetter
	for seq := uint64(1); len(out) < limit; {
		m, err := l.dlq.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(l.dlqSubj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, zan.Unavailable("event log: dead letters", err)
		}
		out = append(out, toDeadLetter(m))
		seq = m.Sequence + 1
	}
	return out, nil
}

// Replay implements zan.EventLog. A replayed event keeps its id and time in
// the body, so the store resolves it like the original; only the message id
// is new, because the original may still be in the de-duplication window.
func (l *Log) Replay(ctx context.Context, seqs []uint64) (int, error) {
	var letters []zan.DeadLetter
	if len(seqs) == 0 {
		for seq := uint64(1); ; {
			m, err := l.dlq.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(l.dlqSubj))
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				break
			}
			if err != nil {
				return 0, zan.Unavailable("event log: replay", err)
			}
			letters = append(letters, toDeadLetter(m))
			seq = m.Sequence + 1
		}
	} else {
		for _, seq := range seqs {
			m, err := l.dlq.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return 0, zan.Unavailable("event log: replay", err)
			}
			letters = append(letters, toDeadLetter(m))
		}
	}
	n := 0
	for _, d := range letters {
		if d.Event == nil {
			continue // malformed: stays for an operator to look at
		}
		ev := *d.Event
		pctx, cancel := l.withTimeout(ctx)
		subj := l.subjects[Partition(ev.Target, l.cfg.Partitions)]
		_, err := l.js.Publish(pctx, subj, d.Raw,
			jetstream.WithMsgID(ev.ID+"-r"+strconv.FormatUint(d.Seq, 10)))
		cancel()
		if err != nil {
			return n, zan.Unavailable("event log: replay", err)
		}
		// A failure here leaves a copy in the DLQ; replaying it again is
		// harmless, the store applies by At.
		if err := l.dlq.DeleteMsg(ctx, d.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, zan.Unavailable("event log: replay", err)
		}
		n++
	}
	return n, nil
}

// Ping implements zan.EventLog.
