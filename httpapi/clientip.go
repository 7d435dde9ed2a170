package httpapi

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// ClientLimits are the budgets of one client address, for the calls an
// abuser would repeat without an account (or to get one). A Limit with
// Burst 0 is off.
type ClientLimits struct {
	// Limiter holds the budgets of code requests, logins and stream opens:
	// shared by every node (Redis in scale-out), so that a client gets one
	// budget however a balancer spreads its requests.
	Limiter zan.RateLimiter
	// ReadLimiter holds the budgets of anonymous reads: this node's own,
	// because a read must not pay a round trip to a shared limiter. Behind
	// a balancer over N nodes a client gets up to N times Read.
	ReadLimiter zan.RateLimiter

	Code, Login, Read, StreamOpen zan.Limit
	// SubnetFactor: the client's subnet (/24 for IPv4, /64 for IPv6) gets
	// this many times each budget of one address, so that an abuser
	// holding many neighbouring addresses is bounded too; 0: no subnet
	// budgets.
	SubnetFactor float64
	// Streams caps the live streams one address holds open on this node; 0:
	// no cap.
	Streams int
	// TrustedProxies are the proxies (nginx) whose X-Forwarded-For is
	// believed: a request from one of them is the client's named by the
	// rightmost address of the header that is not itself a trusted proxy.
	// From any other peer the header is ignored: a client could write
	// anything there.
	TrustedProxies []netip.Prefix
}

// ParsePrefixes reads a comma-separated list of CIDR prefixes or single
// addresses.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (l *ClientLimits) trusted(a netip.Addr) bool {
	for _, p := range l.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address of the client that made r: its peer, or, when
// the peer is a trusted proxy, the rightmost untrusted address of
// X-Forwarded-For (the one the nearest trusted proxy saw; addresses to its
// left were written by whoever sent the request and prove nothing).
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a := ap.Addr().Unmap()
	if len(s.Clients.TrustedProxies) == 0 || !s.Clients.trusted(a) {
		return a
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			h, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return a // a hop we cannot read: the last one we can trust
			}
			h = h.Unmap()
			if !s.Clients.trusted(h) {
				return h
			}
			a = h
		}
	}
	return a
}

// subnet is the block an address is counted in with its neighbours.
func subnet(a netip.Addr) netip.Prefix {
	bits := 24
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// budget takes one token of kind from the client's address and subnet
// budgets; rate_limited (429 with Retry-After) when either is spent.
func (s *Server) budget(r *http.Request, kind string, l zan.Limit, lim zan.RateLimiter) error {
	if l.Burst < 1 || lim == nil {
		return nil
	}
	a := s.clientAddr(r)
	if !a.IsValid() {
		return nil
	}
	// Keys built in one buffer: on anonymous reads this runs every time.
	var buf [80]byte
	k := append(append(append(buf[:0], "ip:"...), kind...), ':')
	ctx := r.Context()
	if err := take(ctx, lim, string(a.AppendTo(k)), l, kind); err != nil {
		return err
	}
	if f := s.Clients.SubnetFactor; f > 0 {
		sl := zan.Limit{Rate: l.Rate * f, Burst: int(float64(l.Burst) * f)}
		k = append(append(append(buf[:0], "net:"...), kind...), ':')
		return take(ctx, lim, string(subnet(a).AppendTo(k)), sl, kind)
	}
	return nil
}

func take(ctx context.Context, lim zan.RateLimiter, key string, l zan.Limit, kind string) error {
	ok, retry, err := lim.Allow(ctx, key, l)
	if err != nil {
		return zan.Unavailable("rate limiter", err)
	}
	if !ok {
		metrics.RateLimited.WithLabelValues("ip_" + kind).Inc()
		return zan.RateLimited(retry, "too many requests from your network; slow down")
	}
	return nil
}

// streamSlots counts the live streams each client address holds open on
// this node.
type streamSlots struct {
	mu sync.Mutex
	n  map[netip.Addr]int
}

// acquire takes a stream slot for a, or answers rate_limited when a holds
// max already; release gives it back.
func (ss *streamSlots) acquire(a netip.Addr, max int) (release func(), err error) {
	if max < 1 || !a.IsValid() {
		return func() {}, nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.n == nil {
		ss.n = map[netip.Addr]int{}
	}
	if ss.n[a] >= max {
		metrics.RateLimited.WithLabelValues("ip_streams").Inc()
		return nil, zan.RateLimited(5*time.Second, "too many live streams open from your address")
	}
	ss.n[a]++
	var once sync.Once
	return func() {
		once.Do(func() {
			ss.mu.Lock()
			defer ss.mu.Unlock()
			if ss.n[a]--; ss.n[a] <= 0 {
				delete(ss.n, a)
			}
		})
	}, nil
}
