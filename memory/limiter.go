package memory

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/zanlabs/zan"
)

// Limiter is a zan.RateLimiter of token buckets in process memory
// (golang.org/x/time/rate), one per key, sharded like the hot state.
type Limiter struct {
	seed   maphash.Seed
	shards [64]limiterShard
	now    func() time.Time
	stop   func()
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	l    zan.Limit
	used time.Time
}

var _ zan.RateLimiter = (*Limiter)(nil)

// NewLimiter returns a limiter that forgets idle buckets every minute until
// Close.
func NewLimiter() *Limiter {
	l := &Limiter{seed: maphash.MakeSeed(), now: time.Now}
	for i := range l.shards {
		l.shards[i].buckets = map[string]*bucket{}
	}
	l.stop = every(time.Minute, l.sweep)
	return l
}

// Allow implements zan.RateLimiter.
func (l *Limiter) Allow(_ context.Context, key string, lim zan.Limit) (bool, time.Duration, error) {
	now := l.now()
	sh := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.buckets[key]
	if b == nil || b.l != lim {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(lim.Rate), lim.Burst), l: lim}
		sh.buckets[key] = b
	}
	b.used = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() { // burst 0: nothing ever passes
		return false, time.Hour, nil
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d, nil
	}
	return true, 0, nil
}

// sweep drops buckets that have been full for a while: a fresh bucket is
// the same as a full one, so forgetting them loses nothing.
func (l *Limiter) sweep() {
	now := l.now()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for k, b := range sh.buckets {
			full := time.Duration(float64(b.l.Burst)/max(b.l.Rate, 1e-9)*float64(time.Second)) + time.Minute
			if now.Sub(b.used) > full {
				delete(sh.buckets, k)
			}
		}
		sh.mu.Unlock()
	}
}

// Close stops the sweeper.
func (l *Limiter) Close() error {
	l.stop()
	return nil
}

// InProcess says the limiter answers from this process's memory and ignores
// its context: callers need not bound its calls.
func (l *Limiter) InProcess() bool { return true }
