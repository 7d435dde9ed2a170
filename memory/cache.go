package memory

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"hash/maphash"
	"sync"
	"time"

	"github.com/zanlabs/zan"
)

// Cache is a zan.Cache in process memory. It is a plain sharded map with
// expiry rather than otter: the L2 must hold every entry until its TTL (an
// evicting cache would turn the "absent" entries and pending orders into
// guesses), and locks need compare-and-delete, which a cache library does
// not offer.
type Cache struct {
	seed   maphash.Seed
	shards [64]cacheShard
	now    func() time.Time
	stop   chan struct{}
	once   sync.Once
}

type cacheShard struct {
	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	val []byte
	exp time.Time
}

var _ zan.Cache = (*Cache)(nil)

// NewCache returns an empty cache that sweeps expired entries every 10 s
// until Close.
func NewCache() *Cache {
	c := &Cache{seed: maphash.MakeSeed(), now: time.Now, stop: make(chan struct{})}
	for i := range c.shards {
		c.shards[i].entries = make(map[string]cacheEntry)
	}
	go c.sweep(10 * time.Second)
	return c
}

// Close stops the sweeper.
func (c *Cache) Close() error {
	c.once.Do(func() { close(c.stop) })
	return nil
}

func (c *Cache) sweep(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		now := c.now()
		for i := range c.shards {
			sh := &c.shards[i]
			sh.mu.Lock()
			for k, e := range sh.entries {
				if !now.Before(e.exp) {
					delete(sh.entries, k)
				}
			}
			sh.mu.Unlock()
		}
	}
}

func (c *Cache) shard(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)%uint64(len(c.shards))]
}

// Get implements zan.Cache.
func (c *Cache) Get(_ context.Context, key string) ([]byte, bool, error) {
	sh := c.shard(key)
	sh.mu.Lock()
	e, ok := sh.entries[key]
	sh.mu.Unlock()
	if !ok || !c.now().Before(e.exp) {
		return nil, false, nil
	}
	// A copy, as from Redis: a caller editing what it got must not edit
	// what every other reader gets. The stored slice is never written, so
	// copying it needs no lock.
	return bytes.Clone(e.val), true, nil
}

// Set implements zan.Cache.
func (c *Cache) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	sh := c.shard(key)
	v := append([]byte(nil), val...) // the caller may reuse val
	sh.mu.Lock()
	sh.entries[key] = cacheEntry{val: v, exp: c.now().Add(ttl)}
	sh.mu.Unlock()
	return nil
}

// Delete implements zan.Cache.
func (c *Cache) Delete(_ context.Context, keys ...string) error {
	for _, k := range keys {
		sh := c.shard(k)
		sh.mu.Lock()
		delete(sh.entries, k)
		sh.mu.Unlock()
	}
	return nil
}

// TryLock implements zan.Cache: the lock is an entry holding a random
// token, taken only when absent or expired, released only by its token.
func (c *Cache) TryLock(_ context.Context, key string, ttl time.Duration) (func(context.Context) error, bool, error) {
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := c.now()
	if e, ok := sh.entries[key]; ok && now.Before(e.exp) {
		return nil, false, nil
	}
	sh.entries[key] = cacheEntry{val: []byte(token), exp: now.Add(ttl)}
	return func(context.Context) error {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		if e, ok := sh.entries[key]; ok && string(e.val) == token {
			delete(sh.entries, key)
		}
		return nil
	}, true, nil
}
