package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/accounts"
	"github.com/zanlabs/zan/blobdir"
	"github.com/zanlabs/zan/blogs"
	"github.com/zanlabs/zan/httpapi"
	"github.com/zanlabs/zan/identity"
	"github.com/zanlabs/zan/likes"
	"github.com/zanlabs/zan/live"
	"github.com/zanlabs/zan/memory"
	"github.com/zanlabs/zan/mysql"
	"github.com/zanlabs/zan/natslog"
	"github.com/zanlabs/zan/notify"
	"github.com/zanlabs/zan/persist"
	"github.com/zanlabs/zan/photos"
	"github.com/zanlabs/zan/reconcile"
	"github.com/zanlabs/zan/redis"
	"github.com/zanlabs/zan/s3blob"
	"github.com/zanlabs/zan/shops"
	"github.com/zanlabs/zan/sms"
	"github.com/zanlabs/zan/sqlite"
	"github.com/zanlabs/zan/vouchers"
	"github.com/zanlabs/zan/web"
	"github.com/zanlabs/zan/webhook"
)

// Main is a running server: the adapters chosen by Config, the services over
// them, the HTTP server and the background workers.
type Main struct {
	Config Config
	Stderr io.Writer
	Logger *slog.Logger

	store    zan.Store
	pingHot  func(context.Context) error
	log      *natslog.Log
	closers  []func() error
	http     *http.Server
	listener net.Listener
	cancel   context.CancelFunc
	workers  sync.WaitGroup
	persist  *persist.Persister
	notify   *notify.Service
	unlock   func() // releases the data directory
	closed   sync.Once
	closeErr error
}

// NewMain returns a Main with the default configuration.
func NewMain() *Main {
	m := &Main{Stderr: os.Stderr}
	m.Config.flags(newFlagSet()) // fills the defaults
	return m
}

// Addr is the address the HTTP server listens on (after Start).
func (m *Main) Addr() string { return m.listener.Addr().String() }

// Start opens the adapters and starts serving.
func (m *Main) Start(ctx context.Context) (err error) {
	c := &m.Config
	if m.Logger == nil {
		var level slog.Level
		if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
			return fmt.Errorf("--log-level: %w", err)
		}
		m.Logger = slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: level}))
	}
	defer func() {
		if err != nil {
			m.closeAdapters()
			m.unlockData()
		}
	}()
	if err := os.MkdirAll(c.Data, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if c.DBURL == "" || c.NATSURL == "" { // SQLite or the embedded JetStream live there
		if m.unlock, err = lockData(c.Data); err != nil {
			return err
		}
	}

	// Adapters: embedded unless a flag names a shared service.
	if err := m.openStore(ctx); err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	m.log, err = natslog.Open(ctx, natslog.Config{
		Name: c.Name, URL: c.NATSURL, Dir: filepath.Join(c.Data, "jetstream"), Listen: c.NATSListen,
		SyncAlways: c.Fsync, Partitions: c.Partitions, PublishTimeout: c.PublishTimeout,
		AckWait: c.AckWait, Replicas: c.NATSReplicas, Logger: m.Logger,
	})
	if err != nil {
		return fmt.Errorf("opening the event log: %w", err)
	}
	m.closers = append([]func() error{m.log.Close}, m.closers...) // log closes before the store
	hs, err := m.openHot(ctx)
	if err != nil {
		return fmt.Errorf("opening the hot state: %w", err)
	}
	db, hot, limiter := m.store, hs.likes, hs.limiter
	var likeLog zan.EventLog = m.log // what the likes and reconciliation wait on
	var mr *mirror
	if c.MirrorDB != "" {
		var cache zan.Cache // a single node's migration state is its own
		if c.RedisURL != "" || c.RedisCluster != "" {
			cache = hs.cache
		}
		if mr, err = m.openMirror(ctx, cache); err != nil {
			return err
		}
		db, likeLog = mr.router, mr.log
		if cache == nil {
			// Sessions live in the store without Redis: they follow the
			// rows, so a restart onto the destination keeps the logins.
			hs.sessions = mr.router
		}
	}
	// Anonymous reads are budgeted per node: no shared round trip on reads.
	readLimiter := memory.NewLimiter()
	m.closers = append([]func() error{readLimiter.Close}, m.closers...)
	for _, w := range exposed(c) {
		m.Logger.Warn("exposed: " + w)
	}
	shared := c.RedisURL != "" || c.RedisCluster != ""

	// Services.
	ids := zan.NewIDGen(c.NodeID)
	var sender accounts.Sender = sms.LogSender{Logger: m.Logger}
	if c.SMSWebhook != "" {
		sender = sms.NewWebhook(c.SMSWebhook)
	} else {
		m.Logger.Warn("SMS codes are written to this log, not sent: set --sms-webhook to send them")
	}
	acc := accounts.New(accounts.Config{
		// Without Redis the hot state is this process's own, so this is the
		// only node and every session change passes through it: the cache
		// can hold sessions until their next touch, which also keeps
		// logged-in users liking while the SQL store is down. With Redis,
		// sessions live there and a logout on another node must end the
		// token here at once: no cache.
		SessionTTL: c.SessionTTL, CodeGap: c.CodeGap, Dev: c.Dev, LocalCache: !shared, CacheTTL: time.Minute,
	}, db, hs.sessions, hs.codes, sender, ids, m.Logger)
	hub := live.NewHub(m.log, m.Logger)
	hub.MaxSubscribers = c.StreamMax
	types := strings.Split(c.Types, ",")
	prewarm := c.Prewarm
	if prewarm == 0 {
		prewarm = -1 // the service's own "none"
	}
	sh := shops.New(shops.Config{TTL: c.ShopCacheTTL, Prewarm: prewarm}, db, hs.cache, m.log, ids, m.Logger)
	known := heldTargets(c, db, sh, m.log, limiter, m.Logger)
	lk := likes.New(likes.Config{
		Types: types, Limit: zan.Limit{Rate: c.LikeRate, Burst: c.LikeBurst},
		ColdAge: c.ColdAge, EvictIdle: c.EvictIdle, IdleTTL: c.IdleTTL,
		PublishTimeout: c.PublishTimeout, OnChange: hub.Changed, Check: known.Check,
	}, hot, likeLog, db, limiter, m.Logger)
	bl := blogs.New(blogs.Config{Limit: zan.Limit{Rate: c.BlogRate, Burst: c.BlogBurst},
		Deleted: func(ctx context.Context, id int64) { known.Deleted(ctx, zan.Target{Type: blogs.TargetType, ID: id}) },
		Photos:  db,
	}, db, db, lk, limiter, ids)
	blobs, err := m.openBlobs()
	if err != nil {
		return fmt.Errorf("opening the blob store: %w", err)
	}
	ph := photos.New(photos.Config{}, db, blobs, limiter, ids)
	vs := vouchers.New(vouchers.Config{
		UserLimit:      zan.Limit{Rate: c.OrderRate, Burst: c.OrderBurst},
		VoucherLimit:   zan.Limit{Rate: c.VoucherRate, Burst: c.VoucherBurst},
		PublishTimeout: c.PublishTimeout,
	}, db, db, hs.vouchers, m.log, hs.cache, limiter, ids, m.Logger)
	orders := &vouchers.Writer{Log: m.log, Store: db, Pending: hs.cache, Logger: m.Logger}
	notifier := notify.New(notify.Config{}, m.log, db, m.log, ids, m.Logger)
	m.notify = notifier
	inboxHub := notify.NewHub(m.log)
	inboxHub.MaxSubscribers = c.StreamMax
	var primary zan.LikeStore = m.store
	if mr != nil {
		primary = mr.router.PrimaryLikes() // the destination once retired
	}
	m.persist = persist.New(persist.Config{BatchSize: c.BatchSize, MaxWait: c.BatchWait, Retries: c.Retries}, m.log, primary, m.Logger)

	var record zan.LikeStore = db
	if mr != nil {
		record = mr.router.RecordView()
	}
	rc := &reconcile.Reconciler{Hot: hot, Log: likeLog, Store: record, Logger: m.Logger,
		Resolve: lk.Resolve, PendingAge: lk.PendingAge()}
	var ident *identity.Service
	if len(c.OIDCProviders.list) > 0 || c.JWTJWKSURL != "" {
		// Sign-in flows and one-time codes live in the hot state's cache:
		// Redis with --redis, so a callback may land on any node.
		ident, err = identity.New(identity.Config{
			Providers: c.OIDCProviders.list, PublicURL: c.PublicURL,
			Host: identity.HostConfig{JWKSURL: c.JWTJWKSURL, Issuer: c.JWTIssuer, Audience: c.JWTAudience},
		}, db, hs.cache, acc, ids, m.Logger)
		if err != nil {
			return err
		}
	}
	hooks := webhook.New(webhook.Config{DeadAfter: c.WebhookDeadAfter, Refresh: c.WebhookRefresh, MaxBackoff: c.WebhookMaxBackoff},
		m.log, db, ids, c.Webhooks.list, m.Logger)
	api := &httpapi.Server{
		Webhooks: hooks, Accounts: acc, Identity: ident, Likes: lk, Blogs: bl, Photos: ph, Shops: sh, Vouchers: vs, Live: hub, Notify: notifier, Inbox: inboxHub, Log: m.log, Reconciler: rc, AdminToken: c.AdminToken,
		Logger: m.Logger, AccessLog: c.AccessLog, Web: web.Handler(),
		Clients: c.Edge.clientLimits(limiter, readLimiter), CORSOrigins: c.Edge.corsOrigins(),
		Migration: mr.admin(),
		Ready: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			return errors.Join(db.Ping(ctx), m.log.Ping(ctx), m.pingHot(ctx))
		},
	}

	// Background workers run until Close.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	// The shop cache needs its Bloom filter before the first read: a
	// missing filter would be no protection, an empty one a 404 for all.
	if err := sh.Start(wctx); err != nil {
		cancel()
		return fmt.Errorf("starting the shop cache: %w", err)
	}
	m.closers = append([]func() error{func() error { sh.Close(); return nil }}, m.closers...)
	if c.Dev {
		if err := seedDev(ctx, sh, vs, db); err != nil {
			m.Logger.Warn("seeding the demo shops", "err", err)
		}
		if c.DemoPosts {
			if err := seedDevPosts(ctx, db, bl, ph, db, ids); err != nil {
				m.Logger.Warn("seeding the demo posts", "err", err)
			}
		}
	}
	workers := map[string]func(context.Context) error{
		"persister": m.persist.Run, "orders": orders.Run, "targets": known.Run, "live": hub.Run, "evictor": lk.Run, "sessions": acc.Run,
		"reconciler": func(ctx context.Context) error { return rc.Run(ctx, c.ReconcileEvery, c.ReconcileDeep) },
		"inbox":      inboxHub.Run,
	}
	if c.Notify {
		workers["notifier"] = notifier.Run
	}
	// Always on: endpoints may be registered through the admin API at any time.
	workers["webhooks"] = hooks.Run
	if mr != nil {
		workers["mirror"] = mr.persist.Run
		workers["migration switch"] = mr.switcher.Run
		workers["verifier"] = func(ctx context.Context) error { return mr.verifier.Run(ctx, c.VerifyEvery) }
		workers["sweep"] = func(ctx context.Context) error { return mr.sweeper.Run(ctx, c.VerifyEvery) }
	}
	for name, run := range workers {
		m.workers.Add(1)
		go func() {
			defer m.workers.Done()
			if err := run(wctx); err != nil {
				m.Logger.Error("worker stopped", "worker", name, "err", err)
			}
		}()
	}

	m.listener, err = net.Listen("tcp", c.Addr)
	if err != nil {
		cancel()
		m.workers.Wait()
		return err
	}
	m.http = &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	m.http.RegisterOnShutdown(api.CloseStreams)
	if c.DebugAddr != "" {
		if err := m.serveDebug(c.DebugAddr); err != nil {
			cancel()
			m.workers.Wait()
			return fmt.Errorf("--debug-addr: %w", err)
		}
	}
	go func() {
		if err := m.http.Serve(m.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("http server", "err", err)
		}
	}()
	m.Logger.Info("zan serving", "addr", "http://"+m.Addr(), "data", c.Data, "dev", c.Dev,
		"event_log", or(c.NATSURL, "embedded NATS JetStream"),
		"hot_state", or(c.RedisURL, c.RedisCluster, "in process"),
		"store", or(redactDB(c.DBURL), "SQLite"))
	return nil
}

// Close stops serving in order: no new requests, in-flight ones finished,
// the persister drained into the store, then the log and the store closed.
// Closing again returns the first Close's error.
func (m *Main) Close() error {
	m.closed.Do(func() { m.closeErr = m.close() })
	return m.closeErr
}

func (m *Main) close() error {
	var errs []error
	if m.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		errs = append(errs, m.http.Shutdown(ctx))
		cancel()
	}
	if m.cancel != nil {
		m.cancel()
		m.workers.Wait()
	}
	errs = append(errs, m.closeAdapters())
	m.unlockData()
	m.Logger.Info("zan stopped")
	return errors.Join(errs...)
}

// openStore opens SQLite under --data, or MySQL/MariaDB/TiDB with --db.
func (m *Main) openStore(ctx context.Context) error {
	c := &m.Config
	var (
		db  zan.Store
		err error
	)
	if c.DBURL != "" {
		db, err = mysql.Open(ctx, c.DBURL)
	} else {
		db, err = sqlite.Open(ctx, filepath.Join(c.Data, "zan.db"), sqlite.Options{Fsync: c.Fsync})
	}
	if err != nil {
		return err
	}
	m.store = db
	m.closers = append(m.closers, db.Close)
	return nil
}

// openBlobs opens the photo store: a directory under --data, or the
// bucket of --blob that every node shares.
func (m *Main) openBlobs() (zan.BlobStore, error) {
	c := &m.Config
	if c.Blob == "" {
		if c.DBURL != "" {
			m.Logger.Warn("photos are kept on this node only (under --data): nodes sharing --db need a shared --blob bucket")
		}
		d, err := blobdir.Open(filepath.Join(c.Data, "blobs"))
		if err != nil {
			return nil, err
		}
		m.closers = append(m.closers, d.Close)
		return d, nil
	}
	cfg, err := s3blob.ParseURL(c.Blob)
	if err != nil {
		return nil, fmt.Errorf("--blob: %w", err)
	}
	return s3blob.New(cfg), nil
}

// hotParts is what lives in the hot state: like sets, and the short-lived
// account data every node must share.
type hotParts struct {
	likes    zan.LikeState
	vouchers zan.VoucherState
	cache    zan.Cache
	sessions zan.SessionStore
	codes    zan.CodeStore
	limiter  zan.RateLimiter
}

// openHot opens the hot state, codes and rate limits: in process (sessions
// then live in the store), or in Redis with --redis / --redis-cluster so
// that every node shares them, sessions included.
func (m *Main) openHot(ctx context.Context) (hotParts, error) {
	c := &m.Config
	m.pingHot = func(context.Context) error { return nil }
	if c.RedisURL == "" && c.RedisCluster == "" {
		codes, limiter, cache := memory.NewCodes(), memory.NewLimiter(), memory.NewCache()
		m.closers = append([]func() error{codes.Close, limiter.Close, cache.Close}, m.closers...)
		return hotParts{memory.NewLikes(), memory.NewVouchers(), cache, m.store, codes, limiter}, nil
	}
	cfg := redis.Config{Cluster: c.RedisCluster != "", Prefix: c.Name, Logger: m.Logger}
	if cfg.Cluster {
		cfg.Addrs = strings.Split(c.RedisCluster, ",")
	} else {
		u, err := url.Parse(c.RedisURL)
		if err != nil || u.Scheme != "redis" || u.Host == "" {
			return hotParts{}, fmt.Errorf("--redis must be redis://[user:pass@]host:port")
		}
		cfg.Addrs = []string{u.Host}
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	rc, err := redis.Open(ctx, cfg)
	if err != nil {
		return hotParts{}, err
	}
	m.closers = append([]func() error{rc.Close}, m.closers...)
	m.pingHot = rc.Ping
	return hotParts{rc.Likes(), rc.Vouchers(), rc.Cache(), rc.Sessions(), rc.Codes(), rc.Limiter()}, nil
}

// serveDebug serves pprof on its own listener, away from the public API.
func (m *Main) serveDebug(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	m.closers = append(m.closers, srv.Close)
	go srv.Serve(l)
	m.Logger.Info("pprof serving", "addr", "http://"+l.Addr().String()+"/debug/pprof/")
	return nil
}

func (m *Main) unlockData() {
	if m.unlock != nil {
		m.unlock()
		m.unlock = nil
	}
}

func (m *Main) closeAdapters() error {
	var errs []error
	for _, c := range m.closers {
		errs = append(errs, c())
	}
	m.closers = nil
	return errors.Join(errs...)
}

func or(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// redactDB hides the password of a mysql:// URL in logs.
func redactDB(dsn string) string {
	rest, ok := strings.CutPrefix(dsn, "mysql://")
	at := strings.LastIndex(rest, "@")
	if !ok || at < 0 {
		return dsn
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return dsn
	}
	return "mysql://" + user + ":***" + rest[at:]
}
