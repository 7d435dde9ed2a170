package likes

import (
	"strconv"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/hotkey"
	"github.com/zanlabs/zan/metrics"
)

// l1 is the in-process cache for hot targets only: a HeavyKeeper sketch
// watches every read, and the targets it reports hot get their count and
// their first liker pages cached here. Coherence across nodes is by time:
// an entry lives at most TTL (100 ms by default), so a like on another node
// shows here within that bound; a like on this node updates the entry at
// once (read-your-writes). Everything else reads through, as without L1.
type l1 struct {
	keys   *hotkey.Detector[zan.Target]
	counts *otter.Cache[zan.Target, int64]
	pages  *otter.Cache[string, zan.LikerPage]
}

func newL1(ttl time.Duration) *l1 {
	return &l1{
		// 1 in 8 reads sampled, 4 of them in a 10 s window: a target is hot
		// from about 3 reads a second on this node.
		keys: hotkey.New[zan.Target](hotkey.Config{Sample: 8, MinCount: 4}),
		counts: otter.Must(&otter.Options[zan.Target, int64]{
			MaximumSize:      10_000,
			ExpiryCalculator: otter.ExpiryWriting[zan.Target, int64](ttl),
		}),
		pages: otter.Must(&otter.Options[string, zan.LikerPage]{
			MaximumSize:      10_000,
			ExpiryCalculator: otter.ExpiryWriting[string, zan.LikerPage](ttl),
		}),
	}
}

// seen records a read of t and reports whether t is hot now.
func (c *l1) seen(t zan.Target) bool {
	return c.keys.Touch(t)
}

func (c *l1) count(t zan.Target) (int64, bool) {
	n, ok := c.counts.GetIfPresent(t)
	metrics.L1Requests.WithLabelValues(hitOrMiss(ok)).Inc()
	return n, ok
}

// changed keeps a cached count in step with a change made on this node.
// Only hot targets have entries, so a like of any other target costs one
// lookup here, not the page keys built below. (A page cached without its
// count expires within the TTL; listings trail the store by more anyway.)
func (c *l1) changed(t zan.Target, count int64) {
	if _, ok := c.counts.GetIfPresent(t); !ok {
		return
	}
	c.counts.Set(t, count)
	c.forgetPages(t)
}

// pageKey names a first page of likers; later pages (with a cursor) and
// time-bounded queries are not cached.
func pageKey(t zan.Target, q zan.LikeQuery) (string, bool) {
	if q.After != nil || !q.Since.IsZero() || !q.Until.IsZero() {
		return "", false
	}
	return t.String() + "|" + strconv.Itoa(int(q.Order)) + "|" + strconv.Itoa(q.Limit), true
}

func (c *l1) page(key string) (zan.LikerPage, bool) {
	p, ok := c.pages.GetIfPresent(key)
	metrics.L1Requests.WithLabelValues(hitOrMiss(ok)).Inc()
	return p, ok
}

// forgetPages drops t's cached pages: the orders and limits in use are few,
// so they are named rather than scanned for.
func (c *l1) forgetPages(t zan.Target) {
	for _, o := range []zan.Order{zan.Latest, zan.Earliest} {
		for _, limit := range []int{5, 10, 20, 50, 100} {
			key, _ := pageKey(t, zan.LikeQuery{Order: o, Limit: limit})
			c.pages.Invalidate(key)
		}
	}
}

// age makes "hot" mean hot now, and publishes how many keys are.
func (c *l1) age() {
	c.keys.Age()
	n := 0
	for _, it := range c.keys.Top() {
		if c.keys.Hot(it.Key) {
			n++
		}
	}
	metrics.HotKeys.Set(float64(n))
}

func hitOrMiss(ok bool) string {
	if ok {
		return "hit"
	}
	return "miss"
}
