package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/zanlabs/zan"
)

// Vouchers is a zan.VoucherState in Redis. A sale is a HASH {p:v:<id>}
// (remaining, begin and end in µs, and "p<user>" = order per unconfirmed
// take) and a SET {p:v:<id>}:b of its buyers; a load stages its buyers in
// {p:v:<id>}:s:<random>. One hash tag, so every script runs on one cluster
// slot. The hash is the "loaded" marker: a buyer set without it is ignored
// and replaced by the next load. The hash holds the epoch it was loaded
// under ("e", see fence): a sale of another epoch may come from a Redis
// rolled back to an older snapshot, with units sold since back in stock and
// their buyers gone, so every script treats it as absent and the next take
// loads it again from the store (after the order log is applied).
type Vouchers struct{ c *Client }

var _ zan.VoucherState = (*Vouchers)(nil)

// Vouchers returns the flash-sale hot state.
func (c *Client) Vouchers() *Vouchers { return &Vouchers{c: c} }

func (v *Vouchers) keys(id int64) (meta, buyers string) {
	meta = "{" + v.c.prefix + ":v:" + strconv.FormatInt(id, 10) + "}"
	return meta, meta + ":b"
}

// takeLua: KEYS meta, buyers; ARGV user, now (µs), order, epoch. Returns {result,
// unconfirmed order}: result is a zan.TakeResult, or -1 when not loaded. A
// take leaves "p<user>" = order in the hash until ConfirmTake. The order
// goes back as the string it was stored as: a Lua number is a double, which
// would round an order id above 2^53 (every id IDGen makes).
var takeLua = newScript(`
local h = redis.call('HMGET', KEYS[1], 'remaining', 'begin', 'end', 'e')
if not h[1] or h[4] ~= ARGV[4] then return {-1, 0} end
local now = tonumber(ARGV[2])
if now < tonumber(h[2]) then return {4, 0} end
if now >= tonumber(h[3]) then return {5, 0} end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  return {3, redis.call('HGET', KEYS[1], 'p' .. ARGV[1]) or '0'}
end
if tonumber(h[1]) <= 0 then return {2, 0} end
redis.call('HINCRBY', KEYS[1], 'remaining', -1)
redis.call('HSET', KEYS[1], 'p' .. ARGV[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
return {1, 0}
`)

// undoTakeLua: KEYS meta, buyers; ARGV user, epoch.
var undoTakeLua = newScript(`
if redis.call('HGET', KEYS[1], 'e') == ARGV[2] and redis.call('SREM', KEYS[2], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'remaining', 1)
  redis.call('HDEL', KEYS[1], 'p' .. ARGV[1])
end
return 0
`)

// installLua: KEYS meta, buyers, staging; ARGV remaining, begin, end,
// staged (the sum of the staging SADDs' replies), epoch. It installs the
// sale unless one of this epoch is there and always removes the staging set. Returns 1
// installed, 0 present, -1 when the staging set is not what was sent (it
// expired during a slow load and was partly recreated: installing it would
// let loaded buyers buy again). RENAME keeps the staging set's TTL, which
// PERSIST drops: a live buyer set must not expire.
var installLua = newScript(`
if redis.call('HGET', KEYS[1], 'e') == ARGV[5] then
  redis.call('UNLINK', KEYS[3])
  return 0
end
if redis.call('SCARD', KEYS[3]) ~= tonumber(ARGV[4]) then
  redis.call('UNLINK', KEYS[3])
  return -1
end
redis.call('UNLINK', KEYS[1], KEYS[2])
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('RENAME', KEYS[3], KEYS[2])
  redis.call('PERSIST', KEYS[2])
end
redis.call('HSET', KEYS[1], 'remaining', ARGV[1], 'begin', ARGV[2], 'end', ARGV[3], 'e', ARGV[5])
return 1
`)

// voucherChunksPerTrip SADDs of loadChunk buyers go in one round trip:
// enough to hide the latency, small enough to keep the buffers modest.
const voucherChunksPerTrip = 8

// LoadVoucher implements zan.VoucherState. Buyers go to a staging set of
// this load's own first, in chunks (a sale can have millions), and one
// script installs it only if the sale is still absent: a concurrent loader
// or a buyer who got there first is never overwritten, concurrent loaders
// never write into each other's set, and a half-written buyer set is never
// live. The staging key shares the sale's hash tag, so the script runs on
// one cluster slot.
func (v *Vouchers) LoadVoucher(ctx context.Context, s zan.VoucherSale) error {
	return v.c.fence.call(ctx, func(epoch string) error { return v.load(ctx, s, epoch) })
}

func (v *Vouchers) load(ctx context.Context, s zan.VoucherSale, epoch string) error {
	c := v.c.c
	meta, buyers := v.keys(s.ID)
	if len(s.Buyers) > loadChunk {
		e, err := c.Do(ctx, c.B().Hget().Key(meta).Field("e").Build()).ToString()
		if err != nil && !rueidis.IsRedisNil(err) {
			return wrap(err)
		}
		if err == nil && e == epoch {
			return nil // present: spare sending the buyers for nothing
		}
	}
	var b [8]byte
	rand.Read(b[:])
	staging := meta + ":s:" + hex.EncodeToString(b[:])
	var staged int64
	for start := 0; start < len(s.Buyers); start += voucherChunksPerTrip * loadChunk {
		cmds := make(rueidis.Commands, 0, voucherChunksPerTrip+1)
		for i := start; i < len(s.Buyers) && i < start+voucherChunksPerTrip*loadChunk; i += loadChunk {
			chunk := s.Buyers[i:min(i+loadChunk, len(s.Buyers))]
			members := make([]string, len(chunk))
			for j, u := range chunk {
				members[j] = strconv.FormatInt(u, 10)
			}
			cmds = append(cmds, c.B().Sadd().Key(staging).Member(members...).Build())
		}
		// A loader that dies half way leaves nothing for long.
		cmds = append(cmds, c.B().Expire().Key(staging).Seconds(300).Build())
		for i, r := range c.DoMulti(ctx, cmds...) {
			n, err := r.AsInt64()
			if err != nil {
				v.drop(staging)
				return wrap(err)
			}
			if i < len(cmds)-1 {
				staged += n
			}
		}
	}
	n, err := installLua.run(ctx, c, []string{meta, buyers, staging},
		strconv.FormatInt(s.Remaining, 10), strconv.FormatInt(s.BeginAt.UnixMicro(), 10),
		strconv.FormatInt(s.EndAt.UnixMicro(), 10), strconv.FormatInt(staged, 10), epoch).AsInt64()
	if err != nil {
		v.drop(staging)
		return wrap(err)
	}
	if n < 0 {
		return fmt.Errorf("redis: loading voucher %d: the staging set expired during the load", s.ID)
	}
	return nil
}

// drop removes a staging set on a failed load, best effort: its TTL
// removes it anyway.
func (v *Vouchers) drop(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	v.c.c.Do(ctx, v.c.c.B().Unlink().Key(key).Build())
}

// TakeVoucher implements zan.VoucherState.
func (v *Vouchers) TakeVoucher(ctx context.Context, id, user, order int64, now time.Time) (zan.TakeResult, int64, error) {
	meta, buyers := v.keys(id)
	var r []int64
	err := v.c.fence.call(ctx, func(epoch string) (err error) {
		r, err = ints(takeLua.run(ctx, v.c.c, []string{meta, buyers},
			strconv.FormatInt(user, 10), strconv.FormatInt(now.UnixMicro(), 10), strconv.FormatInt(order, 10), epoch))
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	switch {
	case len(r) != 2:
	case r[0] == -1:
		return 0, 0, zan.ErrNotLoaded
	case r[0] >= int64(zan.Taken) && r[0] <= int64(zan.TakeEnded):
		return zan.TakeResult(r[0]), r[1], nil
	}
	return 0, 0, fmt.Errorf("redis: take replied %v", r)
}

// confirmTakeLua: KEYS meta; ARGV user.
var confirmTakeLua = newScript(`return redis.call('HDEL', KEYS[1], 'p' .. ARGV[1])`)

// ConfirmTake implements zan.VoucherState.
func (v *Vouchers) ConfirmTake(ctx context.Context, id, user int64) error {
	meta, _ := v.keys(id)
	return wrap(confirmTakeLua.run(ctx, v.c.c, []string{meta}, strconv.FormatInt(user, 10)).Error())
}

// UndoTake implements zan.VoucherState.
func (v *Vouchers) UndoTake(ctx context.Context, id, user int64) error {
	meta, buyers := v.keys(id)
	return v.c.fence.call(ctx, func(epoch string) error {
		return wrap(undoTakeLua.run(ctx, v.c.c, []string{meta, buyers}, strconv.FormatInt(user, 10), epoch).Error())
	})
}

// VoucherRemaining implements zan.VoucherState.
func (v *Vouchers) VoucherRemaining(ctx context.Context, id int64) (int64, bool, error) {
	meta, _ := v.keys(id)
	var h []string
	err := v.c.fence.call(ctx, func(epoch string) error {
		vs, err := v.c.c.Do(ctx, v.c.c.B().Hmget().Key(meta).Field("remaining", "e").Build()).ToArray()
		if err != nil {
			return wrap(err)
		}
		h = h[:0]
		for _, x := range vs {
			s, err := x.ToString()
			if err != nil && !rueidis.IsRedisNil(err) {
				return wrap(err)
			}
			h = append(h, s)
		}
		if len(h) != 2 || h[1] != epoch {
			h = nil // absent, or of another epoch
		}
		return nil
	})
	if err != nil || h == nil || h[0] == "" {
		return 0, false, err
	}
	s := h[0]
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("redis: remaining %q: %w", s, err)
	}
	return n, true, nil
}
