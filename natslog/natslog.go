// Package natslog is the event log on NATS JetStream: an embedded server
// storing under a directory, or an external server or cluster. Events go to
// a stream with one subject per partition; a durable pull consumer per
// partition feeds the persister, other readers (feeds) have consumers of
// their own, and a second stream keeps the dead letters.
//
// The like stream keeps its messages (limits retention) until zan trims
// them: a message goes once the persister and every feed that holds the
// log have acknowledged it. So "applied" is read from the consumers' own
// acknowledgement floors, never from what the stream still holds: a
// message the stream kept after its acknowledgement was lost in a crash
// (seen after a kill -9 of NATS 2.9) can neither wedge a wait nor stay
// forever, and several readers can follow the log independently.
package natslog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
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
	Name string
	// Replicas is the streams' replication factor on a NATS cluster
	// (default 1; 3 keeps every acknowledged event through the loss of
	// one server).
	Replicas int
	// TrimEvery is how often applied events are trimmed from the like
	// stream (default 5 s).
	TrimEvery time.Duration
	// TrimLag is how long the readers' acknowledgement floor must hold
	// before the events under it are trimmed (default 6 AckWaits, at least
	// 30 s; negative: none). See trimAll.
	TrimLag time.Duration
	// FeedBacklog is how far (events per partition) a feed may fall behind
	// before the log stops keeping events for it (default 1,000,000): a
	// feed that stopped never makes the log grow without bound.
	FeedBacklog uint64
	Logger      *slog.Logger
}

// Log is a zan.EventLog on JetStream.
type Log struct {
	cfg       Config
	srv       *server.Server // nil with an external server
	nc        *nats.Conn
	js        jetstream.JetStream
	likes     jetstream.Stream
	dlq       jetstream.Stream
	persister *reader
	subjects  []string
	dlqSubj   string

	orders    jetstream.Stream
	orderCons jetstream.Consumer
	orderPull partitionPull
	orderSubj string

	feedsMu sync.Mutex
	feeds   map[string]*reader
	floors  floors

	stopTrim func()

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
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.TrimEvery <= 0 {
		cfg.TrimEvery = 5 * time.Second
	}
	if cfg.TrimLag == 0 {
		cfg.TrimLag = max(30*time.Second, 6*cfg.AckWait)
	}
	if cfg.FeedBacklog == 0 {
		cfg.FeedBacklog = 1_000_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if !validName(cfg.Name) {
		return nil, fmt.Errorf("natslog: invalid name %q: want [A-Za-z0-9_]+", cfg.Name)
	}
	l := &Log{cfg: cfg, floors: floors{lag: cfg.TrimLag, now: time.Now, by: map[string][]floorSeen{}}}
	var err error
	if cfg.URL == "" {
		err = l.startEmbedded()
	} else {
		// No reconnect buffer: a publish while disconnected must fail now.
		// Buffered, it would reach the stream after the like service gave
		// up on it, undid the hot state and answered 503: half-applied.
		l.nc, err = nats.Connect(cfg.URL, nats.Name("zan"), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
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
		Name:        upper + "_LIKE_EVENTS",
		Description: "zan like events, one subject per partition; trimmed once every reader has them",
		Subjects:    []string{name + ".like.*"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  2 * time.Minute,
		Replicas:    l.cfg.Replicas,
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
		Replicas:    l.cfg.Replicas,
	})
	if err != nil {
		return zan.Unavailable("event log: dead-letter stream", err)
	}
	l.subjects = make([]string, l.cfg.Partitions)
	for p := range l.subjects {
		l.subjects[p] = name + ".like." + strconv.Itoa(p)
	}
	if l.persister, err = l.openReader(ctx, "persister"); err != nil {
		return err
	}
	l.feeds = map[string]*reader{}
	if err := l.upgrade(ctx); err != nil {
		return err
	}
	if err := l.rehome(ctx); err != nil {
		return err
	}
	if err := l.setupOrders(ctx); err != nil {
		return err
	}
	l.stopTrim = zan.Every(l.cfg.TrimEvery, l.trimAll)
	return nil
}

// consumer creates (or updates) a durable pull consumer on stream, shared
// by every node, filtered to subject ("" for all).
func (l *Log) consumer(ctx context.Context, stream jetstream.Stream, durable, subject string) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
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
	}
	old, err := stream.Consumer(ctx, durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
	case err != nil:
		return nil, zan.Unavailable("event log: consumer", err)
	default:
		info, err := old.Info(ctx)
		if err != nil {
			return nil, zan.Unavailable("event log: consumer", err)
		}
		// Where it starts cannot be updated: keep what it was made with.
		cfg.DeliverPolicy, cfg.OptStartSeq = info.Config.DeliverPolicy, info.Config.OptStartSeq
		if l.srv != nil && info.NumAckPending > 0 {
			// The embedded server belongs to this process alone: whatever
			// its consumers had handed out went to a process that is gone
			// (kill -9). Starting the consumer afresh from its
			// acknowledgement floor redelivers those messages now instead
			// of after AckWait; what was acknowledged out of order above
			// the floor comes again too, which the appliers take as the
			// duplicates they are.
			if err := stream.DeleteConsumer(ctx, durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				return nil, zan.Unavailable("event log: consumer", err)
			}
			// A work queue (the orders) holds only what is unacknowledged
			// and allows nothing but DeliverAll; a stream that keeps what
			// was applied restarts at the floor.
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverAllPolicy, 0
			if f := info.AckFloor.Stream; f > 0 && stream.CachedInfo().Config.Retention != jetstream.WorkQueuePolicy {
				cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, f+1
			}
		}
	}
	c, err := stream.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return nil, zan.Unavailable("event log: consumer", err)
	}
	return c, nil
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
		if l.stopTrim != nil {
			l.stopTrim()
		}
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
