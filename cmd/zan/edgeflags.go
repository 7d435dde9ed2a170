package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/blogs"
	"github.com/zanlabs/zan/httpapi"
	"github.com/zanlabs/zan/shops"
	"github.com/zanlabs/zan/targets"
)

// EdgeConfig is what faces the open internet: the budgets of client
// addresses, the proxies in front, CORS.
type EdgeConfig struct {
	ClientLimits   bool
	CodeLimit      limitFlag
	LoginLimit     limitFlag
	ReadLimit      limitFlag
	StreamLimit    limitFlag
	StreamsPerIP   int
	SubnetFactor   float64
	TrustedProxies string
	CORSOrigins    string
	// ForeignLimit bounds a user's likes of targets of types zan does not
	// hold (comments), which it cannot check, and that no node has seen.
	ForeignLimit limitFlag
}

func (c *EdgeConfig) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.ClientLimits, "ip-limits", true, "apply the per-address budgets below (false: none, e.g. for a load test from one address)")
	c.CodeLimit = limitFlag{20, time.Minute}
	fs.Var(&c.CodeLimit, "ip-code-limit", "login code requests per client address: N/period (off: none)")
	c.LoginLimit = limitFlag{30, time.Minute}
	fs.Var(&c.LoginLimit, "ip-login-limit", "login attempts per client address: N/period (off: none)")
	c.ReadLimit = limitFlag{300, time.Second}
	fs.Var(&c.ReadLimit, "ip-read-limit", "anonymous API reads per client address, per node: N/period (off: none)")
	c.StreamLimit = limitFlag{30, time.Minute}
	fs.Var(&c.StreamLimit, "ip-stream-limit", "live stream opens per client address: N/period (off: none)")
	fs.IntVar(&c.StreamsPerIP, "ip-streams", 20, "live streams one client address holds open on a node at once (0: no cap)")
	fs.Float64Var(&c.SubnetFactor, "subnet-factor", 8, "a client's /24 (IPv4) or /64 (IPv6) gets this many times an address's budgets (0: no subnet budgets)")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "proxies (CIDR or address list) whose X-Forwarded-For names the client; empty: the peer is the client")
	fs.StringVar(&c.CORSOrigins, "cors-origins", "", "origins allowed to call the API from a browser, comma-separated (* for any); empty: no CORS")
	c.ForeignLimit = limitFlag{300, time.Hour}
	fs.Var(&c.ForeignLimit, "foreign-like-limit", "likes per user of targets zan does not hold (comments) that this node has not seen liked: N/period (off: none)")
}

func (c *EdgeConfig) validate() error {
	if c.SubnetFactor < 0 || c.StreamsPerIP < 0 {
		return fmt.Errorf("--subnet-factor and --ip-streams must not be negative")
	}
	if _, err := httpapi.ParsePrefixes(c.TrustedProxies); err != nil {
		return fmt.Errorf("--trusted-proxies: %v", err)
	}
	for _, o := range c.corsOrigins() {
		if o != "*" && (!strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") || strings.Count(o, "/") != 2) {
			return fmt.Errorf("--cors-origins: %q is not an origin (scheme://host[:port], or *)", o)
		}
	}
	return nil
}

func (c *EdgeConfig) corsOrigins() []string {
	var out []string
	for _, o := range strings.Split(c.CORSOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, strings.TrimRight(o, "/"))
		}
	}
	return out
}

// clientLimits builds the API's budgets; limiter is shared by the nodes,
// local is this node's own.
func (c *EdgeConfig) clientLimits(limiter, local zan.RateLimiter) httpapi.ClientLimits {
	proxies, _ := httpapi.ParsePrefixes(c.TrustedProxies) // validated
	l := httpapi.ClientLimits{TrustedProxies: proxies}
	if !c.ClientLimits {
		return l
	}
	l.Limiter, l.ReadLimiter = limiter, local
	l.Code, l.Login, l.Read, l.StreamOpen = c.CodeLimit.limit(), c.LoginLimit.limit(), c.ReadLimit.limit(), c.StreamLimit.limit()
	l.SubnetFactor, l.Streams = c.SubnetFactor, c.StreamsPerIP
	return l
}

// limitFlag is a budget written N/period: N at once, refilled at N per
// period ("20/1m"); "off" or "0" is none.
type limitFlag struct {
	N   int
	Per time.Duration
}

func (f *limitFlag) String() string {
	if f == nil || f.N == 0 {
		return "off"
	}
	per := f.Per.String() // 1m0s -> 1m, 1h0m0s -> 1h
	if strings.HasSuffix(per, "m0s") {
		per = strings.TrimSuffix(per, "0s")
	}
	if strings.HasSuffix(per, "h0m") {
		per = strings.TrimSuffix(per, "0m")
	}
	return strconv.Itoa(f.N) + "/" + per
}

func (f *limitFlag) Set(s string) error {
	if s == "off" || s == "0" {
		*f = limitFlag{}
		return nil
	}
	n, per, ok := strings.Cut(s, "/")
	v, err := strconv.Atoi(n)
	if !ok || err != nil || v < 1 {
		return fmt.Errorf("want N/period, e.g. 20/1m, or off")
	}
	if !strings.ContainsAny(per, "0123456789") {
		per = "1" + per // "30/s" is 30/1s
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return fmt.Errorf("want N/period, e.g. 20/1m, or off")
	}
	*f = limitFlag{v, d}
	return nil
}

func (f limitFlag) limit() zan.Limit {
	if f.N == 0 {
		return zan.Limit{}
	}
	return zan.Limit{Rate: float64(f.N) / f.Per.Seconds(), Burst: f.N}
}

// exposed warns about settings that open what should stay private: the
// dev mode hands out login codes to whoever asks, and pprof shows memory.
func exposed(c *Config) []string {
	var warn []string
	if c.Dev && !loopback(c.Addr) {
		warn = append(warn, "--dev hands every login code to whoever asks for it, and the server listens on "+c.Addr+", beyond this machine")
	}
	if c.DebugAddr != "" && !loopback(c.DebugAddr) {
		warn = append(warn, "--debug-addr "+c.DebugAddr+" serves profiles (memory contents included) beyond this machine")
	}
	return warn
}

// loopback reports whether a listen address is reachable only from this
// machine.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// heldTargets checks likes: blogs and shops must exist (a blog is read
// from the store, a shop through its cache, once per node until evicted),
// and a user's likes of new targets of other types take a token of
// --foreign-like-limit.
func heldTargets(c *Config, db zan.Store, sh *shops.Service, notify zan.Notifier, limiter zan.RateLimiter, logger *slog.Logger) *targets.Checker {
	return targets.New(targets.Config{
		Held: map[string]targets.Lookup{
			blogs.TargetType: func(ctx context.Context, id int64) error { _, err := db.Blog(ctx, id); return err },
			"shop":           func(ctx context.Context, id int64) error { _, err := sh.Get(ctx, id); return err },
		},
		Foreign: c.Edge.ForeignLimit.limit(),
	}, notify, limiter, logger)
}
