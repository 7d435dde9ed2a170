package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/redis/rueidis"

	"github.com/zanlabs/zan"
)

// Cache is a zan.Cache in Redis: string keys {p:c:<key>} with PX expiry,
// shared by every node. The lock is SET NX PX with a random token, released
// by a compare-and-delete script: a holder whose lock expired cannot free
// the next holder's. (rueidislock is made for long-held locks kept alive by
// client-side-caching invalidations; a cache rebuild lock lives for one
// store read, and this is all it needs.)
type Cache struct{ c *Client }

var _ zan.Cache = (*Cache)(nil)

// Cache returns the shared cache.
func (c *Client) Cache() *Cache { return &Cache{c: c} }

func (c *Cache) key(k string) string { return "{" + c.c.prefix + ":c:" + k + "}" }

// Get implements zan.Cache.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := c.c.c.Do(ctx, c.c.c.B().Get().Key(c.key(key)).Build()).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, wrap(err)
	}
	return b, true, nil
}

// Set implements zan.Cache.
func (c *Cache) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	cmd := c.c.c.B().Set().Key(c.key(key)).Value(rueidis.BinaryString(val)).Px(max(ttl, time.Millisecond)).Build()
	return wrap(c.c.c.Do(ctx, cmd).Error())
}

// Delete implements zan.Cache. Keys may live in different cluster slots, so
// each is its own command, sent together in one pipeline.
func (c *Cache) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = c.c.c.B().Del().Key(c.key(k)).Build()
	}
	for _, r := range c.c.c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return wrap(err)
		}
	}
	return nil
}

// unlockLua: KEYS lock; ARGV token.
var unlockLua = newScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// TryLock implements zan.Cache.
func (c *Cache) TryLock(ctx context.Context, key string, ttl time.Duration) (func(context.Context) error, bool, error) {
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	k := c.key(key)
	err := c.c.c.Do(ctx, c.c.c.B().Set().Key(k).Value(token).Nx().Px(max(ttl, time.Millisecond)).Build()).Error()
	if rueidis.IsRedisNil(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, wrap(err)
	}
	return func(ctx context.Context) error {
		return wrap(unlockLua.run(ctx, c.c.c, []string{k}, token).Error())
	}, true, nil
}
