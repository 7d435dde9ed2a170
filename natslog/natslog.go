// Package natslog is the event log on NATS JetStream: an embedded server
// storing under a directory, or an external server or cluster. Events go to
// a work-queue stream with one subject per partition; a durable pull
// consumer per partition feeds the persister, and a second stream keeps the
// dead letters.
package natslog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zanlabs/zan"
)

// Config configures the log; zero fields take the defaults.
type Config struct {
	// URL is the external NATS server (comma-separated URLs allowed). Empty
	// starts an embedded server storing under Dir.
	URL string
	// Dir is the embedded server's JetStream store directory.
	Dir string
	// Listen is a host:port where the embedded server also takes TCP
	// clients, so that other programs can subscribe to like events. Empty
	// keeps it in-process only.
	Listen string
	// SyncAlways fsyncs every message before the embedded server acks it.
	SyncAlways bool
	// Partitions is the number of partitions (default 8).
	Partitions int
	// PublishTimeout bounds a publish whose context has no deadline
	// (default 5 s).
	PublishTimeout time.Duration
	// AckWait is how long a fetched batch may stay unacknowledged before
	// the server hands it to another consumer (default 5 s): what a
	// crashed node had fetched waits this long on the nodes that remain.
	// The persister reports progress on a batch it is still applying
	// (Batch.Progress), so a slow store does not make it pass.
	AckWait time.Duration
	// Name prefixes the subjects, streams and consumers (default "zan"), so
	// several logs can share one server.
	Name   string
	Logger *slog.Logger
}

// Log is a zan.EventLog on JetStream.
type Log struct {
	cfg      Config
	srv      *server.Server // nil with an external server
	nc       *nats.Conn
	js       jetstream.JetStream
	likes    jetstream.Stream
	dlq      jetstream.Stream
	cons     []jetstream.Consumer
	pulls    []partitionPull
	subjects []string
	dlqSubj  string

	orders    jetstream.Stream
	orderCons jetstream.Consumer
	orderPull partitionPull
	orderSubj string

	closeOnce sync.Once
	closeErr  error
}

var _ zan.EventLog = (*Log)(nil)

// Open starts or connects to the server and creates or updates the streams
// and the persister's consumers.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if cfg.Partitions <= 0 {
		cfg.Partitions = 8
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 5 * time.Second
	}
	if cfg.Name == "" {
		cfg.Name = "zan"
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if !validName(cfg.Name) {
		return nil, fmt.Errorf("natslog: invalid name %q: want [A-Za-z0-9_]+", cfg.Name)
	}
	l := &Log{cfg: cfg}
	var err error
	if cfg.URL == "" {
		err = l.startEmbedded()
	} else {
		// No reconnect buffer: a publish while disconnected must fail now.
		// Buffered, it would reach the stream after the like service gave
		// up on it, undid the hot state and answered 503: half-applied.
		l.nc, err = nats.Connect(cfg.URL, nats.Name("zan"), nats.MaxReconnects(-1),
			nats.ReconnectBufSize(-1),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				if err != nil {
					cfg.Logger.Warn("nats disconnected", "err", err)
				}
			}),
			nats.ReconnectHandler(func(nc *nats.Conn) {
				cfg.Logger.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
			}))
		if err != nil {
			err = zan.Unavailable("event log", err)
		}
	}
	if err != nil {
		l.Close()
		return nil, err
	}
	if err := l.setup(ctx); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func (l *Log) startEmbedded() error {
	opts := &server.Options{
		ServerName: "zan",
		JetStream:  true,
		StoreDir:   l.cfg.Dir,
		SyncAlways: l.cfg.SyncAlways,
		DontListen: l.cfg.Listen == "",
		NoSigs:     true,
		// Leaves the HTTP monitor and cluster ports off.
		HTTPPort: 0,
	}
	if l.cfg.Listen != "" {
		host, port, err := net.SplitHostPort(l.cfg.Listen)
		if err != nil {
			return fmt.Errorf("natslog: listen address %q: %w", l.cfg.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return fmt.Errorf("natslog: listen address %q: bad port", l.cfg.Listen)
		}
		if p == 0 {
			p = server.RANDOM_PORT // 0 would mean the default 4222 to the server
		}
		opts.Host, opts.Port = host, p
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("natslog: embedded server: %w", err)
	}
	s.SetLogger(&srvLogger{l.cfg.Logger}, false, false)
	l.srv = s
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		return errors.New("natslog: embedded server did not start within 10s")
	}
	l.nc, err = nats.Connect("", nats.InProcessServer(s), nats.Name("zan"))
	if err != nil {
		return fmt.Errorf("natslog: connecting to the embedded server: %w", err)
	}
	return nil
}

func (l *Log) setup(ctx context.Context) error {
	// The async timeout frees the pending slot of an ack that never comes
	// (a lost connection); callers wait on their own context anyway.
	js, err := jetstream.New(l.nc,
		jetstream.WithPublishAsyncMaxPending(16384),
		jetstream.WithPublishAsyncTimeout(l.cfg.PublishTimeout))
	if err != nil {
		return err
	}
	l.js = js
	name := l.cfg.Name
	upper := strings.ToUpper(name)
	l.likes, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        upper + "_LIKES",
		Description: "zan like events, one subject per partition",
		Subjects:    []string{name + ".likes.*"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  2 * time.Minute,
		Replicas:    1,
	})
	if err != nil {
		return zan.Unavailable("event log: likes stream", err)
	}
	l.dlqSubj = name + ".dlq"
	l.dlq, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        upper + "_DLQ",
		Description: "zan like events that could not be applied",
		Subjects:    []string{l.dlqSubj},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    1,
	})
	if err != nil {
		return zan.Unavailable("event log: dead-letter stream", err)
	}
	l.subjects = make([]string, l.cfg.Partitions)
	l.cons = make([]jetstream.Consumer, l.cfg.Partitions)
	l.pulls = make([]partitionPull, l.cfg.Partitions)
	for p := range l.cons {
		l.subjects[p] = name + ".likes." + strconv.Itoa(p)
		c, err := l.consumer(ctx, l.likes, name+"-persister-"+strconv.Itoa(p), l.subjects[p])
		if err != nil {
			return err
		}
		l.cons[p] = c
	}
	if err := l.rehome(ctx); err != nil {
		return err
	}
	return l.setupOrders(ctx)
}

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

// consumer creates (or updates) a durable work consumer on stream, shared
// by every node, filtered to subject ("" for all).
func (l *Log) consumer(ctx context.Context, stream jetstream.Stream, durable, subject string) (jetstream.Consumer, error) {
	if l.srv != nil {
		// The embedded server belongs to this process alone: whatever its
		// consumers had handed out went to a process that is gone (kill
		// -9). Starting the consumers afresh redelivers those messages now
		// instead of after AckWait; the work queue keeps every unacked
		// message, so nothing is skipped.
		if err := stream.DeleteConsumer(ctx, durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, zan.Unavailable("event log: consumer", err)
		}
	}
	c, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       durable,
		FilterSubject: subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		// A batch handed to a node that died comes back after AckWait; the
		// appliers nak what they fail to apply and report progress on what
		// takes long, so only crashes wait this long.
		AckWait: l.cfg.AckWait,
		// The appliers dead-letter what they cannot apply; the log never
		// drops a message on its own.
		MaxDeliver:    -1,
		MaxAckPending: 20000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, zan.Unavailable("event log: consumer", err)
	}
	return c, nil
}

// publish stores body on subj durably under msgID and returns once the
// stream acknowledged it. Async with a wait on the future: the same
// guarantee as a synchronous publish, but concurrent publishers share one
// reply subscription and pipeline better (about 40% more events/s in
// BenchmarkPublish).
func (l *Log) publish(ctx context.Context, subj string, body []byte, msgID string) error {
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	stall := l.cfg.PublishTimeout
	if d, ok := ctx.Deadline(); ok {
		stall = max(time.Until(d), time.Millisecond)
	}
	f, err := l.js.PublishAsync(subj, body, jetstream.WithMsgID(msgID), jetstream.WithStallWait(stall))
	if err != nil {
		return zan.Unavailable("event log", err)
	}
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return zan.Unavailable("event log", err)
	case <-ctx.Done():
		return zan.Unavailable("event log", ctx.Err())
	}
}

// ClientURL is the address where the embedded server takes TCP clients, or
// "" when it does not listen or the server is external.
func (l *Log) ClientURL() string {
	if l.srv == nil || l.cfg.Listen == "" {
		return ""
	}
	return l.srv.ClientURL()
}

// Partition returns the partition of target t among n: FNV-1a 64 of
// "type/id".
func Partition(t zan.Target, n int) int {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(t.Type); i++ {
		h ^= uint64(t.Type[i])
		h *= prime
	}
	h ^= '/'
	h *= prime
	var buf [20]byte
	for _, c := range strconv.AppendInt(buf[:0], t.ID, 10) {
		h ^= uint64(c)
		h *= prime
	}
	return int(h % uint64(n))
}

// Partitions implements zan.EventLog.
func (l *Log) Partitions() int { return l.cfg.Partitions }

func (l *Log) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, l.cfg.PublishTimeout)
}

// Publish implements zan.EventLog.
func (l *Log) Publish(ctx context.Context, ev zan.Event) error {
	return l.publish(ctx, l.subjects[Partition(ev.Target, l.cfg.Partitions)], ev.AppendJSON(make([]byte, 0, 128)), ev.ID)
}

// Fetch implements zan.EventLog.
func (l *Log) Fetch(ctx context.Context, partition, max int, wait time.Duration) (zan.Batch, error) {
	if partition < 0 || partition >= len(l.cons) {
		return zan.Batch{}, fmt.Errorf("natslog: partition %d out of range [0,%d)", partition, len(l.cons))
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
	pl := &l.pulls[partition]
	pl.mu.Lock()
	defer pl.mu.Unlock()
	got, err := l.pull(pl, l.cons[partition], max, wait)
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
	for i := range l.pulls {
		pulls = append(pulls, &l.pulls[i])
	}
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
func (l *Log) Ping(ctx context.Context) error {
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	if _, err := l.js.AccountInfo(ctx); err != nil {
		return zan.Unavailable("event log", err)
	}
	return nil
}

// Close implements zan.EventLog; it is safe to call more than once.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.stopPulls()
		if l.nc != nil {
			// Pending acks reach the server before the connection goes.
			if err := l.nc.FlushTimeout(2 * time.Second); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				l.closeErr = err
			}
			l.nc.Close()
		}
		if l.srv != nil {
			l.srv.Shutdown()
			l.srv.WaitForShutdown()
		}
	})
	return l.closeErr
}

// srvLogger sends the embedded server's log to slog: notices at debug level
// (the server is chatty at start), warnings and errors as such.
type srvLogger struct{ l *slog.Logger }

func (s *srvLogger) Noticef(format string, v ...any) {
	s.l.Debug("nats: " + fmt.Sprintf(format, v...))
}
func (s *srvLogger) Warnf(format string, v ...any) { s.l.Warn("nats: " + fmt.Sprintf(format, v...)) }
func (s *srvLogger) Fatalf(format string, v ...any) {
	s.l.Error("nats: " + fmt.Sprintf(format, v...))
}
func (s *srvLogger) Errorf(format string, v ...any) {
	s.l.Error("nats: " + fmt.Sprintf(format, v...))
}
func (s *srvLogger) Debugf(format string, v ...any) {}
func (s *srvLogger) Tracef(format string, v ...any) {}
