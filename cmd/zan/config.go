package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/identity"
	"github.com/zanlabs/zan/webhook"
)

// Config is every setting of `zan serve`. Each is a flag, and each flag can
// also come from the environment as ZAN_<NAME> (dashes to underscores,
// upper case); a flag on the command line wins over the environment.
type Config struct {
	Addr       string
	Data       string
	Dev        bool
	DemoPosts  bool
	AdminToken string
	LogLevel   string
	AccessLog  bool
	DebugAddr  string

	Name         string
	NATSURL      string
	RedisURL     string
	RedisCluster string
	DBURL        string
	Blob         string
	// MirrorDB is the destination of an online migration (migrate.Router).
	MirrorDB    string
	VerifyEvery time.Duration
	NATSListen  string
	Fsync       bool
	Partitions  int
	NodeID      int

	SMSWebhook string

	Types          string
	BatchSize      int
	BatchWait      time.Duration
	Retries        int
	PublishTimeout time.Duration
	LikeRate       float64
	LikeBurst      int
	BlogRate       float64
	BlogBurst      int
	ColdAge        time.Duration
	EvictIdle      time.Duration
	IdleTTL        time.Duration
	SessionTTL     time.Duration
	CodeGap        time.Duration
	ReconcileEvery time.Duration
	ReconcileDeep  time.Duration

	OrderRate    float64
	OrderBurst   int
	VoucherRate  float64
	VoucherBurst int
	ShopCacheTTL time.Duration
	Prewarm      int
	AckWait      time.Duration
	StreamMax    int
	NATSReplicas int
	// Notify runs the notifier (package notify) on this node.
	Notify bool

	// Edge: client budgets, proxies, CORS (edgeflags.go).
	Edge EdgeConfig

	// Third-party sign-in and host-platform tokens (package identity).
	PublicURL     string
	OIDCProviders providerList
	JWTJWKSURL    string
	JWTIssuer     string
	JWTAudience   string

	// Webhooks receive every like event, signed (package webhook).
	Webhooks webhookList
	// WebhookDeadAfter is how long an endpoint may fail before its events
	// are dead-lettered; WebhookRefresh how often registrations are re-read.
	WebhookDeadAfter  time.Duration
	WebhookRefresh    time.Duration
	WebhookMaxBackoff time.Duration
}

// webhookList is --webhook: repeated, or URL#secret entries separated by
// commas. Entries given on the command line replace those of the
// environment, as other flags do.
type webhookList struct {
	list    []webhook.Endpoint
	fromEnv bool
}

func (w *webhookList) String() string {
	if w == nil {
		return ""
	}
	urls := make([]string, len(w.list))
	for i, e := range w.list {
		urls[i] = e.URL // never the secret
	}
	return strings.Join(urls, ",")
}

func (w *webhookList) Set(s string) error {
	es, err := webhook.ParseEndpoints(s)
	if err != nil {
		return err
	}
	if w.fromEnv {
		w.list, w.fromEnv = nil, false
	}
	for _, e := range es {
		for _, o := range w.list {
			if o.ID == e.ID {
				return fmt.Errorf("webhook %s given twice", e.URL)
			}
		}
		w.list = append(w.list, e)
	}
	return nil
}

// providerList is --oidc-provider: repeated, or several providers separated
// by ";" (one ZAN_OIDC_PROVIDER can hold them all). Providers given on the
// command line replace those of the environment, as other flags do.
type providerList struct {
	list    []identity.ProviderConfig
	fromEnv bool
}

func (p *providerList) String() string {
	if p == nil {
		return ""
	}
	ids := make([]string, len(p.list))
	for i, pc := range p.list {
		ids[i] = pc.ID
	}
	return strings.Join(ids, ",")
}

func (p *providerList) Set(s string) error {
	ps, err := identity.ParseProviders(s)
	if err != nil {
		return err
	}
	if p.fromEnv {
		p.list, p.fromEnv = nil, false
	}
	p.list = append(p.list, ps...)
	return nil
}

func (c *Config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&c.Data, "data", "./zan-data", "data directory (SQLite file, embedded JetStream store)")
	fs.BoolVar(&c.Dev, "dev", false, "development mode: the code call returns dev_code")
	fs.BoolVar(&c.DemoPosts, "demo-posts", true, "with --dev: an empty store gets demo posts with photos")
	fs.StringVar(&c.AdminToken, "admin-token", "", "bearer token for admin calls (none: admin calls answer 403)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&c.AccessLog, "access-log", true, "log every request at info level (else at debug)")
	fs.StringVar(&c.DebugAddr, "debug-addr", "", "serve Go's pprof profiles on this host:port (keep it private)")

	fs.StringVar(&c.Name, "name", "zan", "deployment name: prefixes NATS streams and subjects and Redis keys, so deployments can share servers")
	fs.StringVar(&c.NATSURL, "nats", "", "external NATS JetStream URL(s); empty runs an embedded server")
	fs.StringVar(&c.RedisURL, "redis", "", "hot state in Redis: redis://[user:pass@]host:port; empty keeps it in process")
	fs.StringVar(&c.RedisCluster, "redis-cluster", "", "hot state in a Redis Cluster: host:port,host:port,...")
	fs.StringVar(&c.DBURL, "db", "", `store in MySQL/MariaDB/TiDB: "mysql://user:pass@tcp(host:3306)/db"; empty uses SQLite under --data`)
	fs.StringVar(&c.Blob, "blob", "", "photos in an S3-compatible bucket: s3://bucket[/prefix]?endpoint=URL&region=REGION&path_style=true, credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; empty keeps them under --data/blobs")
	fs.StringVar(&c.MirrorDB, "mirror-db", "", `online migration: a second persister applies the like log to this "mysql://..." store too; the migration's phases are switched by POST /api/v1/admin/migration (zan migrate switch)`)
	fs.DurationVar(&c.VerifyEvery, "verify-every", 10*time.Second, "online migration: compare the two stores this often")
	fs.IntVar(&c.NATSReplicas, "nats-replicas", 1, "external NATS cluster: replicas of each stream (3 keeps every acknowledged like through the loss of one server)")
	fs.StringVar(&c.NATSListen, "nats-listen", "", "embedded NATS: also listen for clients on host:port")
	fs.BoolVar(&c.Fsync, "fsync", false, "fsync every acknowledged like (JetStream and SQLite) to survive power loss")
	fs.IntVar(&c.Partitions, "partitions", 0, "event log partitions (persister workers); 0: 1 with SQLite (one writer), 4 with MySQL")
	fs.IntVar(&c.NodeID, "node-id", 0, "this node's number 0-1023, unique among nodes (id generation)")

	fs.StringVar(&c.SMSWebhook, "sms-webhook", "", "POST login codes as JSON to this URL (default: write them to the log)")

	fs.StringVar(&c.Types, "target-types", "blog,comment,shop", "registered like target types, comma-separated")
	fs.IntVar(&c.BatchSize, "batch-size", 0, "persister: events per batch at most; 0: 5000 with SQLite, 1000 with MySQL")
	fs.DurationVar(&c.BatchWait, "batch-wait", 100*time.Millisecond, "persister: longest wait for a batch to fill")
	fs.IntVar(&c.Retries, "retries", 3, "persister: retries of a failing batch before dead-lettering")
	fs.DurationVar(&c.PublishTimeout, "publish-timeout", 2*time.Second, "longest wait for the event log to acknowledge a like")
	fs.Float64Var(&c.LikeRate, "like-rate", 20, "likes and unlikes per second per user")
	fs.IntVar(&c.LikeBurst, "like-burst", 40, "like burst per user")
	fs.Float64Var(&c.BlogRate, "blog-rate", 1, "blogs per second per user")
	fs.IntVar(&c.BlogBurst, "blog-burst", 10, "blog burst per user")
	fs.DurationVar(&c.ColdAge, "cold-age", 30*24*time.Hour, "blogs older than this leave the hot state when idle")
	fs.DurationVar(&c.EvictIdle, "evict-idle", 10*time.Minute, "idle time before an old blog leaves the hot state")
	fs.DurationVar(&c.IdleTTL, "idle-ttl", 24*time.Hour, "idle time before any target leaves the hot state")
	fs.DurationVar(&c.SessionTTL, "session-ttl", 30*time.Minute, "sessions expire after this long without use")
	fs.DurationVar(&c.CodeGap, "code-gap", time.Minute, "least time between two login codes for one phone")
	fs.DurationVar(&c.ReconcileEvery, "reconcile-every", 5*time.Second, "reconcile the targets used since the last pass this often: publish answers a dead writer left unconfirmed, compare counts (0: only on demand)")
	fs.DurationVar(&c.ReconcileDeep, "reconcile-deep-every", time.Hour, "recount and compare every hot target's like set with the store this often (0: only on demand)")
	fs.DurationVar(&c.AckWait, "ack-wait", 5*time.Second, "event log: how long a batch fetched by a node that died waits before another node gets it")

	fs.Float64Var(&c.OrderRate, "order-rate", 1, "voucher order attempts per second per user")
	fs.IntVar(&c.OrderBurst, "order-burst", 5, "order attempt burst per user")
	fs.Float64Var(&c.VoucherRate, "voucher-rate", 2000, "order attempts per second per voucher, all users together; beyond it attempts are shed with 429")
	fs.IntVar(&c.VoucherBurst, "voucher-burst", 2000, "order attempt burst per voucher")
	fs.DurationVar(&c.ShopCacheTTL, "shop-cache-ttl", 30*time.Minute, "life of a cached shop (plus up to 20% jitter)")
	fs.IntVar(&c.StreamMax, "stream-max", 10000, "live count streams (SSE) this node serves at once; beyond it 503")
	fs.BoolVar(&c.Notify, "notify", true, "run the notifier: likes of blogs reach their authors' inboxes (nodes share its reader; off on every node: inboxes get nothing new)")
	fs.IntVar(&c.Prewarm, "prewarm", 1000, "newest shops loaded into the cache at start, with logical expiry (0: none)")
	c.Edge.flags(fs)

	fs.StringVar(&c.PublicURL, "public-url", "", "the site's address as browsers reach it, e.g. https://zan.example.com (OpenID callback URLs start with it); empty: from each request's Host")
	fs.Var(&c.OIDCProviders, "oidc-provider", "an OpenID Connect provider: id=ID,issuer=URL,client-id=ID,client-secret=SECRET,name=NAME; repeat the flag (or separate with ;) for several")
	fs.StringVar(&c.JWTJWKSURL, "jwt-jwks-url", "", "accept a host platform's JWTs as bearer tokens, signed by a key of this JWKS URL (with --jwt-issuer and --jwt-audience)")
	fs.StringVar(&c.JWTIssuer, "jwt-issuer", "", "host platform tokens: the iss they must carry")
	fs.StringVar(&c.JWTAudience, "jwt-audience", "", "host platform tokens: the aud they must carry")
	fs.Var(&c.Webhooks, "webhook", "POST every like event, signed with the secret, to URL#secret; repeat the flag (or separate with commas) for several")
	fs.DurationVar(&c.WebhookDeadAfter, "webhook-dead-after", 10*time.Minute, "a webhook endpoint failing this long has its events dead-lettered (listed and replayed through the admin API)")
	fs.DurationVar(&c.WebhookMaxBackoff, "webhook-max-backoff", 30*time.Second, "the longest wait between two tries of a webhook delivery (the back-off starts at 100 ms and doubles)")
	fs.DurationVar(&c.WebhookRefresh, "webhook-refresh", 5*time.Second, "how often a node re-reads the webhooks registered through the admin API")
}

// parse reads the environment, then args.
func (c *Config) parse(name string, args []string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c.flags(fs)
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		env := "ZAN_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s: %w", env, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	c.OIDCProviders.fromEnv = len(c.OIDCProviders.list) > 0
	c.Webhooks.fromEnv = len(c.Webhooks.list) > 0
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if err := c.validate(); err != nil {
		return err
	}
	if c.Partitions == 0 {
		// SQLite has one writer: partitions would only cut the persister's
		// batches smaller (measured: 15,200 likes/s over HTTP with 1 and
		// batches of 5,000, 9,100 with 4 and 1,000). MySQL applies
		// partitions in parallel.
		c.Partitions = 1
		if c.DBURL != "" {
			c.Partitions = 4
		}
	}
	if c.BatchSize == 0 {
		// Bigger batches share more B-tree pages per commit in SQLite. In
		// MySQL, 5,000-event transactions made the slowest first loads of
		// targets wait behind them (like p99.9 165 ms, against 55-75 ms
		// with 1,000), for 5% more throughput.
		c.BatchSize = 5000
		if c.DBURL != "" {
			c.BatchSize = 1000
		}
	}
	return nil
}

func (c *Config) validate() error {
	switch {
	case new(slog.Level).UnmarshalText([]byte(c.LogLevel)) != nil:
		return fmt.Errorf("--log-level must be debug, info, warn or error")
	case !validName(c.Name):
		return fmt.Errorf("--name must be 1-32 letters, digits or underscores")
	case c.RedisURL != "" && c.RedisCluster != "":
		return fmt.Errorf("--redis and --redis-cluster exclude each other")
	case c.WebhookDeadAfter <= 0 || c.WebhookRefresh <= 0 || c.WebhookMaxBackoff <= 0:
		return fmt.Errorf("--webhook-dead-after, --webhook-refresh and --webhook-max-backoff must be positive")
	case c.DBURL != "" && !strings.HasPrefix(c.DBURL, "mysql://"):
		return fmt.Errorf("--db must be a mysql:// URL")
	case c.Blob != "" && !strings.HasPrefix(c.Blob, "s3://"):
		return fmt.Errorf("--blob must be an s3:// URL")
	case c.MirrorDB != "" && !strings.HasPrefix(c.MirrorDB, "mysql://"):
		return fmt.Errorf("--mirror-db must be a mysql:// URL")
	case c.MirrorDB != "" && c.MirrorDB == c.DBURL:
		return fmt.Errorf("--mirror-db and --db are the same database")
	case c.MirrorDB != "" && c.VerifyEvery <= 0:
		return fmt.Errorf("--verify-every must be positive")
	case c.NodeID < 0 || c.NodeID > 1023:
		return fmt.Errorf("--node-id must be 0-1023")
	case c.NATSReplicas < 1 || c.NATSReplicas > 5:
		return fmt.Errorf("--nats-replicas must be 1-5")
	case c.NATSReplicas > 1 && c.NATSURL == "":
		return fmt.Errorf("--nats-replicas needs an external NATS cluster (--nats)")
	case c.Partitions < 0 || c.Partitions > 256:
		return fmt.Errorf("--partitions must be 0-256")
	case c.BatchSize < 0:
		return fmt.Errorf("--batch-size must be positive (or 0 for the default)")
	case c.BatchWait <= 0:
		return fmt.Errorf("--batch-wait must be positive")
	case c.AckWait < 2*zan.ProgressEvery:
		return fmt.Errorf("--ack-wait must be at least %v", 2*zan.ProgressEvery)
	case c.CodeGap < time.Second:
		return fmt.Errorf("--code-gap must be at least 1s")
	case c.ShopCacheTTL < time.Second:
		return fmt.Errorf("--shop-cache-ttl must be at least 1s")
	case c.StreamMax < 1:
		return fmt.Errorf("--stream-max must be positive")
	case c.Prewarm < 0:
		return fmt.Errorf("--prewarm must not be negative")
	case (c.JWTJWKSURL != "" || c.JWTIssuer != "" || c.JWTAudience != "") &&
		(c.JWTJWKSURL == "" || c.JWTIssuer == "" || c.JWTAudience == ""):
		return fmt.Errorf("--jwt-jwks-url, --jwt-issuer and --jwt-audience go together")
	case c.LikeRate <= 0 || c.LikeBurst < 1 || c.BlogRate <= 0 || c.BlogBurst < 1 ||
		c.OrderRate <= 0 || c.OrderBurst < 1 || c.VoucherRate <= 0 || c.VoucherBurst < 1:
		return fmt.Errorf("rate limits must be positive")
	}
	return c.Edge.validate()
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}
