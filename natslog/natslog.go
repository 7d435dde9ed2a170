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
