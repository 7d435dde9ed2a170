// Package hotkey finds the keys (like targets) that are hot on this node
// right now, so that reads of them can be served from a tiny in-process L1
// cache instead of going to the shared hot state.
//
// It is a HeavyKeeper top-K sketch (Yang et al., "HeavyKeeper: An Accurate
// Algorithm for Finding Top-k Elephant Flows", USENIX ATC 2018) written here
// rather than taken from github.com/go-kratos/aegis/topk, the known Go
// implementation, because that package is not maintained (no release since
// 2023), is documented as not safe for concurrent use (every read of a target
// would have to serialize on one mutex around it), and has no aging, so a
// target that went viral an hour ago would stay "hot" until restart. Add is
// on the like read path, so it is lock-free here except in the rare moment a
// key enters the top K, and Age makes "hot" mean hot now.
package hotkey

import (
	"cmp"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
)

// Config sizes a Detector. Zero fields take their defaults.
type Config struct {
	// K is how many keys are tracked as candidates for hot (default 100).
	K int
	// Width is the number of buckets per row (default 4096), rounded up to
	// a power of two so a bucket is picked with a mask instead of a division.
	Width int
	// Depth is the number of rows (default 4).
	Depth int
	// Decay is HeavyKeeper's base b: a bucket held by another key with
	// count c is decremented with probability b^-c (default 1.08; must be
	// > 1, otherwise the default is used).
	Decay float64
	// MinCount is the estimated count, within the current aging window, that
	// a top-K key needs to be Hot (default 16). Without it the top K of an
	// idle node would be "hot" after a handful of reads each. With Sample,
	// it counts sampled arrivals.
	MinCount uint32
	// Sample records one arrival in Sample (rounded up to a power of two;
	// default 1: every arrival) in the sketch. A hot key arrives so often
	// that a sample finds it as surely, and the other arrivals then cost a
	// hash and a map lookup instead of Depth compare-and-swaps on shared
	// cache lines: on a batch read of 50 targets that was a tenth of the
	// request's CPU.
	Sample int
}

// Item is one tracked key and its estimated count in the current window.
type Item[K comparable] struct {
	Key   K
	Count uint32
}

// Detector is a HeavyKeeper sketch plus its top-K set. All methods are safe
// for concurrent use.
//
// The sketch is not sharded and has no locks: each bucket is one uint64
// (fingerprint<<32 | count) updated by compare-and-swap. Sharding by key
// hash with a mutex per shard was the alternative; it would put every
// arrival of a viral key behind the same mutex anyway (a key lives in one
// shard), so it buys nothing for the case that matters, while CAS costs one
// atomic per row with no lock handoff and no scheduler involvement, and
// keeps the full Width per row for every key instead of Width/N.
//
// The top-K set is copy-on-write behind an atomic pointer: members update
// their own counts atomically, and only a change of membership (a new key
// overtaking the smallest member, or Age dropping empty members) takes mu and
// publishes a new set. In a steady stream membership changes rarely, so Add
// and Hot almost never block.
//
// The key type is generic so that a caller's own key (a struct of a string
// and an int, say) is hashed as it is (maphash.Comparable), not first
// formatted into a string on every read.
type Detector[K comparable] struct {
	seed     maphash.Seed
	sample   uint32 // mask: an arrival is recorded when rand & sample == 0
	k        int
	minCount uint32
	depth    int
	width    int
	mask     uint64
	buckets  []atomic.Uint64 // depth rows of width buckets, row-major
	decay    []uint32        // decay[c] = b^-c scaled to 2^32; beyond its end, never decay

	top atomic.Pointer[topSet[K]]
	// minHint is at most the smallest count in a full top set, so an Add
	// whose estimate does not exceed it can skip mu without looking at the
	// members. It can only be stale low (members' counts only grow between
	// Ages, and Age resets it under mu), which costs a wasted lock, never a
	// missed admission.
	minHint atomic.Uint32
	mu      sync.Mutex // serializes membership changes of top
}

type topSet[K comparable] struct {
	// Keyed by the key's hash so a lookup on the hot path does not hash the
	// string a second time; the entry's key is compared to rule out a hash
	// collision.
	byHash  map[uint64]*entry[K]
	entries []*entry[K]
}

type entry[K comparable] struct {
	key   K
	hash  uint64
	count atomic.Uint32
}

// raise sets the count to c unless it is already higher: concurrent Adds of
// one key finish in any order, and the sketch's estimate only grows.
func (e *entry[K]) raise(c uint32) {
	for {
		cur := e.count.Load()
		if cur >= c || e.count.CompareAndSwap(cur, c) {
			return
		}
	}
}

// New returns a Detector sized by cfg.
func New[K comparable](cfg Config) *Detector[K] {
	if cfg.K <= 0 {
		cfg.K = 100
	}
	if cfg.Width <= 0 {
		cfg.Width = 4096
	}
	if cfg.Depth <= 0 {
		cfg.Depth = 4
	}
	if !(cfg.Decay > 1) {
		cfg.Decay = 1.08
	}
	if cfg.MinCount == 0 {
		cfg.MinCount = 16
	}
	width := 1
	for width < cfg.Width {
		width <<= 1
	}
	sample := 1
	for sample < cfg.Sample {
		sample <<= 1
	}
	d := &Detector[K]{
		seed:     maphash.MakeSeed(),
		sample:   uint32(sample - 1),
		k:        cfg.K,
		minCount: cfg.MinCount,
		depth:    cfg.Depth,
		width:    width,
		mask:     uint64(width - 1),
		buckets:  make([]atomic.Uint64, cfg.Depth*width),
		decay:    decayTable(cfg.Decay),
	}
	d.top.Store(&topSet[K]{byHash: map[uint64]*entry[K]{}})
	return d
}

// decayTable precomputes b^-c as a uint32 threshold so the decay test on the
// hot path is one random uint32 and a compare, not a math.Pow. The table ends
// where the probability drops below 2^-32 (c ≈ 289 for b = 1.08): a bucket
// that large is never decayed, which is what the paper's probability amounts
// to anyway.
func decayTable(b float64) []uint32 {
	t := []uint32{math.MaxUint32} // c = 0 is an empty bucket, never decayed
	for c := 1; ; c++ {
		p := math.Pow(b, -float64(c)) * (1 << 32)
		if p < 1 {
			return t
		}
		t = append(t, uint32(min(p, math.MaxUint32)))
	}
}

func pack(fp, c uint32) uint64 { return uint64(fp)<<32 | uint64(c) }

// index picks the key's bucket in row by remixing its hash with a per-row
// constant (splitmix64), so rows are independent: with plain double hashing
// two keys that share a bucket in two rows share it in all of them.
func (d *Detector[K]) index(h uint64, row int) int {
	x := h + uint64(row+1)*0x9e3779b97f4a7c15
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return row*d.width + int(x&d.mask)
}

// bump applies one arrival of fingerprint fp to bucket b and returns the
// key's count in b afterwards (0 if b belongs to another key).
func (d *Detector[K]) bump(b *atomic.Uint64, fp uint32) uint32 {
	var r uint32
	drawn := false
	for {
		v := b.Load()
		c, f := uint32(v), uint32(v>>32)
		var nv uint64
		switch {
		case c == 0:
			nv = pack(fp, 1)
		case f == fp:
			if c == math.MaxUint32 {
				return c
			}
			nv = v + 1
		default:
			if int(c) >= len(d.decay) {
				return 0
			}
			// Draw once per arrival, not per CAS retry, so contention
			// does not give the arrival extra chances to decay.
			if !drawn {
				r, drawn = rand.Uint32(), true
			}
			if r >= d.decay[c] {
				return 0
			}
			if c == 1 {
				nv = pack(fp, 1) // decayed to zero: the arrival takes the bucket
			} else {
				nv = v - 1
			}
		}
		if b.CompareAndSwap(v, nv) {
			if uint32(nv>>32) == fp {
				return uint32(nv)
			}
			return 0
		}
	}
}

// Add records one arrival (read) of key.
func (d *Detector[K]) Add(key K) {
	d.add(key, maphash.Comparable(d.seed, key))
}

// Touch records one arrival of key and reports whether it is Hot, hashing
// key once for both.
func (d *Detector[K]) Touch(key K) bool {
	h := maphash.Comparable(d.seed, key)
	if d.sample == 0 || rand.Uint32()&d.sample == 0 {
		d.add(key, h)
	}
	return d.hot(key, h)
}

func (d *Detector[K]) add(key K, h uint64) {
	fp := uint32(h >> 32)
	if fp == 0 {
		fp = 1 // a zero word is an empty bucket; keep fingerprints distinguishable from it
	}
	var est uint32
	for row := range d.depth {
		if c := d.bump(&d.buckets[d.index(h, row)], fp); c > est {
			est = c
		}
	}
	if est == 0 {
		return
	}
	ts := d.top.Load()
	if e := ts.byHash[h]; e != nil {
		if e.key == key {
			e.raise(est)
		}
		return
	}
	if len(ts.entries) < d.k || est > d.minHint.Load() {
		d.admit(key, h, est)
	}
}

// admit puts key into the top set if it still qualifies once mu is held.
func (d *Detector[K]) admit(key K, h uint64, est uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ts := d.top.Load()
	if e := ts.byHash[h]; e != nil {
		// Admitted by a concurrent Add; or a different key with the same
		// 64-bit hash, which cannot share the map slot and is left out.
		if e.key == key {
			e.raise(est)
		}
		return
	}
	victim := -1
	if len(ts.entries) >= d.k {
		mc := uint32(math.MaxUint32)
		for i, e := range ts.entries {
			if c := e.count.Load(); c < mc {
				victim, mc = i, c
			}
		}
		if est <= mc {
			d.minHint.Store(mc)
			return
		}
	}
	ne := &entry[K]{key: key, hash: h}
	ne.count.Store(est)
	entries := make([]*entry[K], 0, max(len(ts.entries)+1, d.k))
	for i, e := range ts.entries {
		if i != victim {
			entries = append(entries, e)
		}
	}
	d.publish(append(entries, ne))
}

// publish installs entries as the top set; mu must be held.
func (d *Detector[K]) publish(entries []*entry[K]) {
	m := make(map[uint64]*entry[K], len(entries))
	mc := uint32(math.MaxUint32)
	for _, e := range entries {
		m[e.hash] = e
		mc = min(mc, e.count.Load())
	}
	if len(entries) < d.k {
		mc = 0
	}
	d.top.Store(&topSet[K]{byHash: m, entries: entries})
	d.minHint.Store(mc)
}

// Hot reports whether key is among the top K with an estimated count of at
// least MinCount in the current window.
func (d *Detector[K]) Hot(key K) bool {
	return d.hot(key, maphash.Comparable(d.seed, key))
}

func (d *Detector[K]) hot(key K, h uint64) bool {
	e := d.top.Load().byHash[h]
	return e != nil && e.key == key && e.count.Load() >= d.minCount
}

// Top returns the tracked keys, at most K, by estimated count descending.
// Keys below MinCount are included: Top is for inspection and metrics, Hot
// is the decision. Equal counts come in an order that is stable for one
// Detector (by hash).
func (d *Detector[K]) Top() []Item[K] {
	ts := d.top.Load()
	type ranked struct {
		Item[K]
		hash uint64
	}
	rs := make([]ranked, 0, len(ts.entries))
	for _, e := range ts.entries {
		if c := e.count.Load(); c > 0 {
			rs = append(rs, ranked{Item[K]{Key: e.key, Count: c}, e.hash})
		}
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.hash, b.hash))
	})
	items := make([]Item[K], len(rs))
	for i, r := range rs {
		items[i] = r.Item
	}
	return items
}

// Age halves every count, in the sketch and in the top set, so that keys
// which stopped arriving fall below MinCount and out of the top K within a
// few calls and newly hot keys can overtake them. Call it on a ticker (e.g.
// every 10 s); the interval times log2(count/MinCount) is how long a key
// stays hot after its traffic stops.
//
// Age runs concurrently with Add: an arrival racing with it may be counted
// before or after the halving, and a top-set count may briefly keep a
// pre-halving estimate until the key's next Add or the next Age. Both are
// off by at most the arrivals during one pass, which is what approximate
// counting tolerates.
func (d *Detector[K]) Age() {
	for i := range d.buckets {
		b := &d.buckets[i]
		for {
			v := b.Load()
			if v == 0 {
				break
			}
			c := uint32(v) >> 1
			nv := uint64(0) // an emptied bucket is free for the next arrival
			if c > 0 {
				nv = v&^math.MaxUint32 | uint64(c)
			}
			if b.CompareAndSwap(v, nv) {
				break
			}
		}
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	ts := d.top.Load()
	keep := make([]*entry[K], 0, d.k)
	for _, e := range ts.entries {
		for {
			c := e.count.Load()
			if e.count.CompareAndSwap(c, c>>1) {
				if c>>1 > 0 {
					keep = append(keep, e)
				}
				break
			}
		}
	}
	// Republish even when membership is unchanged: minHint must come down
	// with the halved counts or keys could not be admitted until it did.
	d.publish(keep)
}
