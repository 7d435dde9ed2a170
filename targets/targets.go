// Package targets decides whether a like target may be liked: for the
// types zan holds (blogs, shops) whether it exists, for the types whose
// content lives elsewhere (comments) how many a user may bring in.
//
// The like path is hot, so the answer comes from memory for every target
// this node has seen liked lately: a cache of known targets, each looked up
// once (a store read for a blog, the shop cache for a shop). A deletion
// puts a tombstone on every node (a notification to all of them) and takes
// the target out of the cache; a node that missed the notification keeps
// liking a deleted target for at most the cache's TTL. A target of a type
// zan does not hold cannot be checked, so a user's likes of such targets
// that no one on this node liked lately take a token from a per-user
// bucket: one user cannot make rows and hot-state keys for a million
// made-up comment ids.
package targets

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// Lookup reports whether a target of its type exists: nil if it does, an
// error with ENotFound if not.
type Lookup func(ctx context.Context, id int64) error

// Config tunes a Checker. Zero fields take the defaults.
type Config struct {
	// Held are the types zan holds, each with its lookup.
	Held map[string]Lookup
	// Foreign is the per-user bucket for likes of targets of other types
	// that this node has not seen liked lately; Burst 0: no bound.
	Foreign zan.Limit
	// Size is how many known targets are remembered (100,000: about
	// 10 MB).
	Size int
	// TTL is how long a known target is remembered after it was looked
	// up (10 minutes): the bound on a deletion notice missed.
	TTL time.Duration
}

// Checker is one node's knowledge of which targets may be liked.
type Checker struct {
	cfg     Config
	notify  zan.Notifier
	limiter zan.RateLimiter
	logger  *slog.Logger

	known   *otter.Cache[zan.Target, struct{}]
	deleted *otter.Cache[zan.Target, struct{}]
	lookups singleflight.Group
	types   sync.Map // type name -> the same string, not a slice of a request's path
}

// New returns a checker; notify carries deletions to every node (nil: this
// node only), limiter holds the foreign-like buckets.
func New(cfg Config, notify zan.Notifier, limiter zan.RateLimiter, logger *slog.Logger) *Checker {
	if cfg.Size <= 0 {
		cfg.Size = 100_000
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 10 * time.Minute
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Checker{cfg: cfg, notify: notify, limiter: limiter, logger: logger,
		known: otter.Must(&otter.Options[zan.Target, struct{}]{
			MaximumSize:      cfg.Size,
			ExpiryCalculator: otter.ExpiryWriting[zan.Target, struct{}](cfg.TTL),
		}),
		// A tombstone only has to outlive the lookups in flight when it
		// came, and the TTL of entries written before it.
		deleted: otter.Must(&otter.Options[zan.Target, struct{}]{
			MaximumSize:      cfg.Size,
			ExpiryCalculator: otter.ExpiryWriting[zan.Target, struct{}](cfg.TTL),
		}),
	}
}

// Check answers whether user may like (or unlike) t: nil, not_found for a
// target zan holds that does not exist or was deleted, rate_limited when
// the user brought in too many foreign targets. Unlikes always pass: they
// never add a row.
func (c *Checker) Check(ctx context.Context, user int64, t zan.Target, like bool) error {
	if !like {
		return nil
	}
	t.Type = c.intern(t.Type)
	if _, ok := c.known.GetIfPresent(t); ok {
		return nil
	}
	lookup, held := c.cfg.Held[t.Type]
	if !held {
		return c.foreign(ctx, user, t)
	}
	if _, gone := c.deleted.GetIfPresent(t); gone {
		return notFound(t)
	}
	_, err, _ := c.lookups.Do(t.String(), func() (any, error) {
		return nil, lookup(ctx, t.ID)
	})
	switch {
	case zan.IsNotFound(err):
		metrics.LikeTargetChecks.WithLabelValues("not_found").Inc()
		return notFound(t)
	case err != nil:
		return zan.Unavailable("target lookup", err)
	}
	metrics.LikeTargetChecks.WithLabelValues("looked_up").Inc()
	c.remember(t)
	return nil
}

func (c *Checker) foreign(ctx context.Context, user int64, t zan.Target) error {
	if c.cfg.Foreign.Burst < 1 || c.limiter == nil {
		return nil
	}
	// Bounded as the hot state's calls are: a Redis that hangs fails the
	// like fast rather than holding it.
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	ok, retry, err := c.limiter.Allow(ctx, "foreign:"+strconv.FormatInt(user, 10), c.cfg.Foreign)
	if err != nil {
		return zan.Unavailable("rate limiter", err)
	}
	if !ok {
		metrics.RateLimited.WithLabelValues("foreign_like").Inc()
		return zan.RateLimited(retry, "too many likes of new %s targets; slow down", t.Type)
	}
	metrics.LikeTargetChecks.WithLabelValues("foreign_new").Inc()
	c.known.Set(t, struct{}{})
	return nil
}

// remember adds t to the known targets, unless a deletion came while it
// was looked up.
func (c *Checker) remember(t zan.Target) {
	c.known.Set(t, struct{}{})
	if _, gone := c.deleted.GetIfPresent(t); gone {
		c.known.Invalidate(t)
	}
}

// Deleted tells every node that t is gone: likes of it answer not_found
// from now on.
func (c *Checker) Deleted(ctx context.Context, t zan.Target) {
	c.forget(t)
	if c.notify == nil {
		return
	}
	if err := c.notify.Notify(ctx, topic, []byte(t.Type+" "+strconv.FormatInt(t.ID, 10))); err != nil {
		// The other nodes forget it when its entry expires.
		c.logger.Warn("telling the nodes of a deleted target", "target", t.String(), "err", err)
	}
}

func (c *Checker) forget(t zan.Target) {
	t.Type = c.intern(t.Type)
	c.deleted.Set(t, struct{}{})
	c.known.Invalidate(t)
}

const topic = "targets_deleted"

// Run listens for the deletions of every node until ctx ends.
func (c *Checker) Run(ctx context.Context) error {
	if c.notify == nil {
		<-ctx.Done()
		return nil
	}
	stop, err := c.notify.Subscribe(topic, func(b []byte) {
		typ, id, ok := strings.Cut(string(b), " ")
		if t, err := zan.ParseTarget(typ, id); ok && err == nil {
			c.forget(t)
		}
	})
	if err != nil {
		return err
	}
	defer stop()
	<-ctx.Done()
	return nil
}

func (c *Checker) intern(typ string) string {
	if v, ok := c.types.Load(typ); ok {
		return v.(string)
	}
	typ = strings.Clone(typ)
	v, _ := c.types.LoadOrStore(typ, typ)
	return v.(string)
}

func notFound(t zan.Target) error {
	return zan.Errorf(zan.ENotFound, "%s %d does not exist", t.Type, t.ID)
}
