// Package redis holds the hot state of the distributed mode in Redis (one
// server or a Redis Cluster): like sets and counts, SMS codes and rate-limit
// buckets. It is the shared twin of the memory package and passes the same
// conformance suite.
//
// Every Lua script touches only keys of one hash tag, so each runs on one
// cluster slot: keys passed in KEYS, and a target's like buckets, whose
// names the scripts derive from KEYS[1] (see Likes). Times that order
// changes (a like's At, a code's issue time, a bucket's refill) come from
// the Redis server's clock (TIME inside the script), so app servers with
// skewed clocks agree.
package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/zanlabs/zan"
)

// Config says where Redis is.
type Config struct {
	// Addrs are host:port of the server, or of some cluster nodes.
	Addrs []string
	// Cluster says Addrs are Redis Cluster nodes; false talks to one server
	// without probing for a cluster.
	Cluster bool
	// Prefix starts every key, so that several deployments (or test runs)
	// can share one Redis. Default "zan". It must not hold '{' or '}', which
	// would break the hash tags.
	Prefix string

	Username, Password string

	// DisableAutoPipelining gives each call its own pooled connection
	// instead of pipelining concurrent calls on shared ones; it exists to
	// measure what pipelining buys.
	DisableAutoPipelining bool

	Logger *slog.Logger
}

// Client is one connection set to Redis; Likes, Codes and Limiter share it.
type Client struct {
	c        rueidis.Client
	prefix   string
	sessions *Sessions // one per client: it remembers what this process wrote
	fence    *fence
	stop     func()
	cluster  bool
	marks    marks // the reads' "used" marks, written by the marker
}

// Open connects to Redis.
func Open(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "zan"
	}
	if strings.ContainsAny(cfg.Prefix, "{}") {
		return nil, fmt.Errorf("redis: prefix %q holds a brace", cfg.Prefix)
	}
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("redis: no address")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cl := &Client{prefix: cfg.Prefix, cluster: cfg.Cluster}
	cl.fence = newFence(cl, cfg.Logger)
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: cfg.Addrs,
		DialCtxFn:   cl.fence.dial,
		// Fail fast: a Redis that is down or hung answers 503 within a
		// second or two rather than holding requests for its outage.
		Dialer:            net.Dialer{Timeout: time.Second, KeepAlive: 15 * time.Second},
		ConnWriteTimeout:  2 * time.Second,
		Username:          cfg.Username,
		Password:          cfg.Password,
		ForceSingleClient: !cfg.Cluster,
		// Client-side caching (Redis tracks what each connection read and
		// pushes an invalidation when it changes) serves sessions only, the
		// one read of every authenticated request; like sets and counts are
		// read with Do, uncached, and see the latest write.
		CacheSizeEachConn:     16 << 20,
		DisableAutoPipelining: cfg.DisableAutoPipelining,
	})
	if err != nil {
		return nil, wrap(err)
	}
	cl.c = c
	cl.sessions = newSessions(cl)
	if err := cl.Ping(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := cl.fence.verify(ctx); err != nil {
		c.Close()
		return nil, err
	}
	stopFence, stopMarks := cl.fence.run(), cl.Likes().runMarker(cfg.Logger)
	cl.stop = func() { stopMarks(); stopFence() }
	return cl, nil
}

// Ping checks that Redis answers (every node, in a cluster).
func (c *Client) Ping(ctx context.Context) error {
	for _, n := range c.c.Nodes() {
		if err := n.Do(ctx, n.B().Ping().Build()).Error(); err != nil {
			return wrap(err)
		}
	}
	return nil
}

// Close closes the connections.
func (c *Client) Close() error {
	if c.stop != nil {
		c.stop()
	}
	c.c.Close()
	return nil
}

// Likes returns the like hot state.
func (c *Client) Likes() *Likes { return &Likes{c: c} }

// Codes returns the SMS code store.
func (c *Client) Codes() *Codes { return &Codes{c: c} }

// Limiter returns the rate limiter.
func (c *Client) Limiter() *Limiter { return &Limiter{c: c} }

// wrap turns a failure to reach Redis into zan.ErrUnavailable, so callers
// answer 503; other Redis errors are bugs of this package (a wrong type, a
// script error) and stay internal.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	if re, ok := rueidis.IsRedisErr(err); ok {
		if re.IsClusterDown() || re.IsLoading() || re.IsTryAgain() {
			return zan.Unavailable("redis", err)
		}
		for _, p := range []string{"MASTERDOWN", "READONLY", "BUSY", "NOREPLICAS", "OOM"} {
			if strings.HasPrefix(re.Error(), p) {
				return zan.Unavailable("redis", err)
			}
		}
		return fmt.Errorf("redis: %w", err)
	}
	return zan.Unavailable("redis", err)
}

// script is a Lua script run by EVALSHA with a fallback to EVAL. It is not
// rueidis.Lua because Lua.Exec sends its command alone, and the hot paths
// send the script in one DoMulti with the idle-index update (and State with
// one script per target).
type script struct{ src, sha string }

func newScript(src string) *script {
	sum := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(sum[:])}
}

func (s *script) evalsha(c rueidis.Client, keys []string, args ...string) rueidis.Completed {
	return c.B().Evalsha().Sha1(s.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
}

func (s *script) eval(c rueidis.Client, keys []string, args ...string) rueidis.Completed {
	return c.B().Eval().Script(s.src).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
}

// run runs s alone.
func (s *script) run(ctx context.Context, c rueidis.Client, keys []string, args ...string) rueidis.RedisResult {
	r := c.Do(ctx, s.evalsha(c, keys, args...))
	if noScript(r) {
		r = c.Do(ctx, s.eval(c, keys, args...))
	}
	return r
}

// runWith runs s in one round trip with other commands whose results are
// of no interest (best effort); it returns the script's result.
func (s *script) runWith(ctx context.Context, c rueidis.Client, keys []string, args []string, other ...rueidis.Completed) rueidis.RedisResult {
	cmds := append(make(rueidis.Commands, 0, 1+len(other)), s.evalsha(c, keys, args...))
	cmds = append(cmds, other...)
	r := c.DoMulti(ctx, cmds...)[0]
	if noScript(r) {
		r = c.Do(ctx, s.eval(c, keys, args...))
	}
	return r
}

func noScript(r rueidis.RedisResult) bool {
	e, ok := rueidis.IsRedisErr(r.Error())
	return ok && e.IsNoScript()
}

// ints reads an array reply of integers.
func ints(r rueidis.RedisResult) ([]int64, error) {
	a, err := r.ToArray()
	if err != nil {
		return nil, wrap(err)
	}
	out := make([]int64, len(a))
	for i := range a {
		if out[i], err = a[i].AsInt64(); err != nil {
			return nil, fmt.Errorf("redis: unexpected reply: %w", err)
		}
	}
	return out, nil
}

// luaHelpers prefix every script. fmt writes a number as an integer: Redis
// converts Lua numbers to strings with 14 significant digits, which would
// round a time in microseconds.
const luaHelpers = `
local function fmt(n) return string.format('%.0f', n) end
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
`
