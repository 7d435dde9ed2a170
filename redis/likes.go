package redis

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/zanlabs/zan"
)

// Likes is a zan.LikeState in Redis.
//
// A loaded target is keys of one hash tag: a HASH {p:l:type:id} (the meta
// hash) and its likers spread over SETs {p:l:type:id}:u0, :u1, ... (the
// buckets). The meta hash holds "at" (the last change's At, µs, server
// clock), "used" (the last read or write, µs, app clock: the same clock as
// the idleSince of Evict and Idle), "n" (the number of likers, kept by the
// scripts, so that a count is one field read and not a SCARD per bucket),
// "lv" and "sp" (the bucket layout, below), and the pending marks
// "p<user>" of Toggle. The hash with its "n" is the "loaded" marker: a
// target without likes has no bucket, and buckets without their hash (a
// crash between commands cannot leave them, but a flushed hash could) are
// ignored and overwritten by the next Load.
//
// Why buckets: Redis keeps a set of integers as an intset, 8 bytes a
// member, only while it holds at most set-max-intset-entries (512 by
// default) members; above that it becomes a hashtable of about 84 bytes a
// member, and never goes back. One set per target made a big target cost
// ten times a small one. So no bucket is let grow near 512 members, and
// that without depending on the server's configuration.
//
// The layout is linear hashing over a hash of the user id: with level lv
// and split pointer sp there are 2^lv + sp buckets, and user u is in bucket
// b = h(u) mod 2^lv, or h(u) mod 2^(lv+1) when b < sp. When a like makes n
// exceed splitFill per bucket, the script splits one bucket, bucket sp,
// into sp and sp + 2^lv, and advances sp (and lv, at the end of a round).
// A split reads one bucket and rewrites both halves as fresh sets, so the
// work is bounded (some hundreds of members) and both are intsets again
// even if the old one had turned into a hashtable. Unlikes never merge.
//
// h is a hash and not u itself because user ids come from zan.IDGen, whose
// low 12 bits are a per-millisecond sequence, 0 for nearly every user: u mod
// 2^lv would put most users of a target in one bucket. Nor is |u| mod a
// prime enough: below the prime that is u itself, and ids in steps of a
// power of two (t, t+1000, t+2000, ...: a benchmark's) would use a fraction
// of the buckets. h(u) = (|u| mod P)·A mod P, with P = userHashMod, a prime
// just below 2^32, and A = userHashMul: the multiplication spreads such
// steps over all residues, and h mod 2^lv is then within a few percent of
// uniform for sequential, strided, snowflake and random ids alike. Go
// computes it on the integer (userHash); Lua (uhash) on the decimal string,
// six digits at a time, exactly: Lua numbers are doubles, which an id near
// 2^62 is not exact as, but every intermediate here stays below 2^53 (P·10^6
// and P·A) and math.fmod is exact. Toggle, State and Undo get h from Go as
// an argument; only a split computes it in Lua, for the members it moves.
//
// Scripts name the buckets themselves from KEYS[1] (and the layout in the
// hash), since which buckets exist is only known inside the script. They
// all share KEYS[1]'s hash tag, so they are in its slot, which Redis
// Cluster allows for keys a script does not declare.
//
// Upgrade: a meta hash of the former layout (one set {...}:u, no "n") reads
// as not loaded; Load replaces it and deletes the old set, and Evict deletes
// both.
//
// Idle needs the targets by last use, and one sorted set of them all would
// sit in another slot than the targets, so it is kept outside the scripts:
// idleShards sorted sets {p:idle:n} of "type:id" scored by used, updated in
// the same round trip as the script. The index is advisory: an entry may
// outlive its target (evicted elsewhere, or added by a Toggle that found the
// target missing), which is harmless because Evict of a missing target
// reports false and drops the entry; and a score may lag the hash's "used",
// which Evict corrects. Evict's script decides on the hash alone.
type Likes struct{ c *Client }

var _ zan.LikeState = (*Likes)(nil)

// idleShards spreads the idle index so that no single node (or key) takes
// every like's index update.
const idleShards = 16

// loadChunk is the most members sent in one command: a Load of a million
// likers goes as many small SADDs into temporary keys, so Redis never
// blocks long on one command, and a script moves them into place at the
// end.
var loadChunk = 10000

// membersScanAbove is the count above which Members reads the buckets in
// several round trips rather than one reply.
var membersScanAbove = 10000

const (
	// splitFill is the most likers per bucket on average before a like
	// splits one. Linear hashing splits buckets in turn, not the fullest
	// one, so a bucket not yet split in the current round holds up to twice
	// the average (2·200 = 400 expected, at the end of a round); 200 keeps
	// that more than five standard deviations below the 512 of the intset
	// limit, while buckets of ~100-200 members spread the per-key overhead
	// (~150 bytes) to 1-2 bytes a like.
	splitFill = 200
	// loadFill is the most likers per bucket on average that Load sets up:
	// below splitFill, so that a target grows a while before its first
	// split.
	loadFill = 160
	// maxLevel bounds lv so that 2^(lv+1) stays far within exact doubles.
	// It is never reached: 2^30 buckets is 200 billion likes.
	maxLevel = 30
	// userHashMod is the largest prime below 2^32 and userHashMul < 2^21,
	// so that Lua's products of a residue by 10^6 or by userHashMul stay
	// below 2^53.
	userHashMod = 4294967291
	userHashMul = 1664525
)

// userHash is the hash of a user id that places it in a bucket:
// (|u| mod userHashMod)·userHashMul mod userHashMod. uhash in Lua computes
// the same.
func userHash(u int64) uint64 {
	a := uint64(u)
	if u < 0 {
		a = -a // |u|, also for math.MinInt64
	}
	return a % userHashMod * userHashMul % userHashMod
}

// bucketOf is the bucket of hash h in layout lv, sp.
func bucketOf(h uint64, lv, sp int) int {
	b := int(h % (1 << lv))
	if b < sp {
		b = int(h % (2 << lv))
	}
	return b
}

// loadLevel is the level Load sets up for n likers (sp = 0): the fewest
// buckets that hold n at loadFill each.
func loadLevel(n int) int {
	lv := 0
	for n > loadFill<<lv && lv < maxLevel {
		lv++
	}
	return lv
}

// likesLua are helpers of the like scripts (after luaHelpers). The
// constants are the Go ones, so that both sides agree. Every script call
// runs its prelude, and a Lua function definition makes a closure each
// time: the hot scripts get only bkey and bucket here, and the split's
// helpers (growLua) are defined in the branch that splits.
var likesLua = luaHelpers + `
local FILL, MAXLV = ` + strconv.Itoa(splitFill) + `, ` + strconv.Itoa(maxLevel) + `
local HMOD, HMUL = ` + strconv.Itoa(userHashMod) + `, ` + strconv.Itoa(userHashMul) + `
-- bkey is the key of the bucket of hash h
-- in layout lv, sp.
local function bkey(k, h, lv, sp)
  local b = math.fmod(h, 2 ^ lv)
  if b < sp then b = math.fmod(h, 2 ^ (lv + 1)) end
  return k .. ':u' .. fmt(b)
end
`

// growLua defines uhash, sadd and grow (after likesLua).
const growLua = `
-- uhash is userHash of a decimal u: |u| mod HMOD six digits at a time (the
-- first chunk takes what is left over, so that the others have six), then
-- times HMUL mod HMOD.
local function uhash(s)
  local i, h = 1, 0
  if string.byte(s, 1) == 45 then i = 2 end -- '-'
  local j = i + (#s - i) % 6
  while i <= #s do
    h = math.fmod(h * 1000000 + tonumber(string.sub(s, i, j)), HMOD)
    i, j = j + 1, j + 6
  end
  return math.fmod(h * HMUL, HMOD)
end
-- sadd adds ms[i..j] to key in commands of at most 1000 members (unpack
-- has a limit); returns how many were new.
local function sadd(key, ms, i, j)
  local n = 0
  for a = i, j, 1000 do n = n + redis.call('SADD', key, unpack(ms, a, math.min(a + 999, j))) end
  return n
end
-- grow splits bucket sp: its members go to sp or sp + 2^lv, both written
-- as fresh sets (intsets again). The new bucket is cleared first: a bucket
-- that outlived its hash may be there.
local function grow(k, lv, sp)
  local m = 2 ^ lv
  local src, dst = k .. ':u' .. fmt(sp), k .. ':u' .. fmt(sp + m)
  local ms = redis.call('SMEMBERS', src)
  redis.call('DEL', src, dst)
  local keep, move = {}, {}
  for _, u in ipairs(ms) do
    if math.fmod(uhash(u), 2 * m) == sp then keep[#keep + 1] = u else move[#move + 1] = u end
  end
  sadd(src, keep, 1, #keep)
  sadd(dst, move, 1, #move)
  sp = sp + 1
  if sp == m then lv, sp = lv + 1, 0 end
  redis.call('HSET', k, 'lv', fmt(lv), 'sp', fmt(sp))
end
`

// splitLua splits a bucket when n likers overfill the buckets of layout
// lv, sp of k: one split per like keeps n <= FILL per bucket on average,
// since each adds FILL to the bound.
const splitLua = `
if n > FILL * (2 ^ lv + sp) and lv < MAXLV then
` + growLua + `
  grow(k, lv, sp)
end
`

// toggleLua: KEYS meta; ARGV user, like (1|0), used, userHash.
// Returns {changed, count, at, unconfirmed}, or {-1, 0, 0, 0} when not
// loaded. A change leaves a field "p<user>" = at in the hash until Confirm
// removes it: a toggle that finds the membership as asked but that field
// still there reports the change unconfirmed (its writer may have died
// before its event reached the log), with its At. At is taken
// here, from the server clock and after the last At of the target, so it is
// strictly increasing per target whichever app server writes and however
// their clocks drift; a failover keeps it because "at" is replicated.
var toggleLua = newScript(likesLua + `
local k = KEYS[1]
local st = redis.call('HMGET', k, 'n', 'lv', 'sp', 'used', 'at')
if not st[1] then return {-1, 0, 0, 0} end
local n, lv, sp = tonumber(st[1]), tonumber(st[2]), tonumber(st[3])
local touch = not st[4] or tonumber(ARGV[3]) > tonumber(st[4])
local b = bkey(k, tonumber(ARGV[4]), lv, sp)
local changed
if ARGV[2] == '1' then
  changed = redis.call('SADD', b, ARGV[1])
else
  changed = redis.call('SREM', b, ARGV[1])
end
if changed == 0 then
  if touch then redis.call('HSET', k, 'used', ARGV[3]) end
  local p = redis.call('HGET', k, 'p' .. ARGV[1])
  if p then return {0, n, tonumber(p), 1} end
  return {0, n, 0, 0}
end
if ARGV[2] == '1' then n = n + 1 else n = n - 1 end
local at = fmt(math.max(now_us(), tonumber(st[5] or '0') + 1))
if touch then
  redis.call('HSET', k, 'n', fmt(n), 'at', at, 'p' .. ARGV[1], at, 'used', ARGV[3])
else
  redis.call('HSET', k, 'n', fmt(n), 'at', at, 'p' .. ARGV[1], at)
end
if ARGV[2] == '1' then
` + splitLua + `
end
return {1, n, tonumber(at), 0}
`)

// confirmLua: KEYS meta; ARGV user, at. Removes the pending mark of that
// change, not of a newer one.
var confirmLua = newScript(`
if redis.call('HGET', KEYS[1], 'p' .. ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], 'p' .. ARGV[1]) end
return 0
`)

// pendingLua: KEYS meta; ARGV before (µs). Returns {user, at, ...} of
// the pending marks older than before, as strings (an id near 2^62 is
// not exact as a Lua number); nothing when not loaded.
var pendingLua = newScript(`
if redis.call('HEXISTS', KEYS[1], 'n') == 0 then return {} end
local out, before = {}, tonumber(ARGV[1])
local kv = redis.call('HGETALL', KEYS[1])
for i = 1, #kv, 2 do
  if string.sub(kv[i], 1, 1) == 'p' and tonumber(kv[i + 1]) < before then
    out[#out + 1] = string.sub(kv[i], 2)
    out[#out + 1] = kv[i + 1]
  end
end
return out
`)

// undoLua: KEYS meta; ARGV user, like (1|0), userHash. SREM and SADD
// change nothing when the membership is no longer as the toggle left it.
var undoLua = newScript(likesLua + `
local k = KEYS[1]
local st = redis.call('HMGET', k, 'n', 'lv', 'sp')
if not st[1] then return 0 end
local n, lv, sp = tonumber(st[1]), tonumber(st[2]), tonumber(st[3])
local b = bkey(k, tonumber(ARGV[3]), lv, sp)
local c
if ARGV[2] == '1' then c = redis.call('SREM', b, ARGV[1]) else c = redis.call('SADD', b, ARGV[1]) end
if c == 1 then
  if ARGV[2] == '1' then n = n - 1 else n = n + 1 end
  redis.call('HSET', k, 'n', fmt(n))
  redis.call('HDEL', k, 'p' .. ARGV[1])
  if ARGV[2] ~= '1' then
` + splitLua + `
  end
end
return c
`)

// loadLua: KEYS meta; ARGV used, lv, the count of each of the 2^lv
// buckets, then the users bucket by bucket. Installs unless present. Each
// bucket is cleared first in case it outlived its hash; a hash and set of
// the former layout are removed.
var loadLua = newScript(likesLua + growLua + `
local k = KEYS[1]
if redis.call('HEXISTS', k, 'n') == 1 then return 0 end
redis.call('UNLINK', k, k .. ':u')
local lv = tonumber(ARGV[2])
local nb = 2 ^ lv
local i, n = 3 + nb, 0
for b = 0, nb - 1 do
  local key, c = k .. ':u' .. fmt(b), tonumber(ARGV[3 + b])
  redis.call('UNLINK', key)
  n = n + sadd(key, ARGV, i, i + c - 1)
  i = i + c
end
redis.call('HSET', k, 'at', fmt(now_us()), 'used', ARGV[1], 'n', fmt(n), 'lv', fmt(lv), 'sp', '0')
return 1
`)

// swapLua: KEYS meta; ARGV used, lv, tmp prefix, the count of each of the
// 2^lv buckets. Installs the chunks loaded into the temporary buckets
// (prefix .. b) unless the target is present, all at once. The counts (the
// sums of the SADDs' replies) catch a temporary bucket that expired during
// a slow load and was partly recreated, or not: installing it would lose
// likes. Every temporary bucket is gone when it returns.
var swapLua = newScript(likesLua + `
local k, lv, tmp = KEYS[1], tonumber(ARGV[2]), ARGV[3]
local nb = 2 ^ lv
local function drop()
  for b = 0, nb - 1 do
    if ARGV[4 + b] ~= '0' then redis.call('UNLINK', tmp .. fmt(b)) end
  end
end
if redis.call('HEXISTS', k, 'n') == 1 then drop() return 0 end
for b = 0, nb - 1 do
  if redis.call('SCARD', tmp .. fmt(b)) ~= tonumber(ARGV[4 + b]) then drop() return -1 end
end
redis.call('UNLINK', k, k .. ':u')
local n = 0
for b = 0, nb - 1 do
  local key, c = k .. ':u' .. fmt(b), tonumber(ARGV[4 + b])
  if c > 0 then
    redis.call('RENAME', tmp .. fmt(b), key)
    redis.call('PERSIST', key)
    n = n + c
  else
    redis.call('UNLINK', key)
  end
end
redis.call('HSET', k, 'at', fmt(now_us()), 'used', ARGV[1], 'n', fmt(n), 'lv', fmt(lv), 'sp', '0')
return 1
`)

// stateLua: KEYS meta; ARGV user (0: none), used, userHash, slack (µs).
// Returns {loaded, count, liked, marked}: "used" is rewritten (marked 1)
// only when it is older than slack, so that reads of a popular target do
// not each write to Redis (and to the idle index after it).
var stateLua = newScript(likesLua + `
local k = KEYS[1]
local st = redis.call('HMGET', k, 'n', 'lv', 'sp', 'used')
if not st[1] then return {0, 0, 0, 0} end
local marked = 0
if not st[4] or tonumber(ARGV[2]) > tonumber(st[4]) + tonumber(ARGV[4]) then
  redis.call('HSET', k, 'used', ARGV[2])
  marked = 1
end
local liked = 0
if ARGV[1] ~= '0' then
  liked = redis.call('SISMEMBER', bkey(k, tonumber(ARGV[3]), tonumber(st[2]), tonumber(st[3])), ARGV[1])
end
return {1, tonumber(st[1]), liked, marked}
`)

// readSlack is how stale a read may leave a target's "used" mark. Reads
// mark targets used so that eviction keeps what people look at, and the
// eviction thresholds are minutes to days; marking every read cost two
// writes per target (the hash and the idle index): a feed read of 50
// targets sent 100 commands, now 50 and no writes. Changes always mark.
const readSlack = 30 * time.Second

// membersLua: KEYS meta; ARGV most. Returns {0} when not loaded, {2, nb}
// when there are too many for one reply (nb: the number of buckets), else
// {1, members}.
var membersLua = newScript(likesLua + `
local k = KEYS[1]
local st = redis.call('HMGET', k, 'n', 'lv', 'sp')
if not st[1] then return {0} end
local nb = 2 ^ tonumber(st[2]) + tonumber(st[3])
if tonumber(st[1]) > tonumber(ARGV[1]) then return {2, nb} end
local all = {}
for b = 0, nb - 1 do
  for _, u in ipairs(redis.call('SMEMBERS', k .. ':u' .. fmt(b))) do all[#all + 1] = u end
end
return {1, all}
`)

// evictLua: KEYS meta; ARGV idleSince (µs).
// Returns {1, 0} evicted, {0, used} in use, {-1, 0} missing (or of the
// former layout, which it deletes).
var evictLua = newScript(likesLua + `
local k = KEYS[1]
local st = redis.call('HMGET', k, 'used', 'n', 'lv', 'sp')
if not st[1] then return {-1, 0} end
if not st[2] then redis.call('UNLINK', k, k .. ':u') return {-1, 0} end
if tonumber(st[1]) >= tonumber(ARGV[1]) then return {0, tonumber(st[1])} end
redis.call('UNLINK', k)
local nb = 2 ^ tonumber(st[3]) + tonumber(st[4])
for a = 0, nb - 1, 1000 do
  local ks = {}
  for b = a, math.min(a + 999, nb - 1) do ks[#ks + 1] = k .. ':u' .. fmt(b) end
  redis.call('UNLINK', unpack(ks))
end
return {1, 0}
`)

func (l *Likes) key(t zan.Target) string {
	return "{" + l.c.prefix + ":l:" + t.Type + ":" + strconv.FormatInt(t.ID, 10) + "}"
}

func bucketKey(meta string, b int) string { return meta + ":u" + strconv.Itoa(b) }

func member(t zan.Target) string { return t.Type + ":" + strconv.FormatInt(t.ID, 10) }

func (l *Likes) idleKey(m string) string {
	h := fnv.New32a()
	h.Write([]byte(m))
	return "{" + l.c.prefix + ":idle:" + strconv.Itoa(int(h.Sum32()%idleShards)) + "}"
}

// index updates t's idle score to used unless it is higher already; xx
// leaves targets out of the index that are not in it.
func (l *Likes) index(t zan.Target, used int64, xx bool) rueidis.Completed {
	m := member(t)
	z := l.c.c.B().Zadd().Key(l.idleKey(m))
	if xx {
		return z.Xx().Gt().ScoreMember().ScoreMember(float64(used), m).Build()
	}
	return z.Gt().ScoreMember().ScoreMember(float64(used), m).Build()
}

func bit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Toggle implements zan.LikeState.
func (l *Likes) Toggle(ctx context.Context, t zan.Target, user int64, like bool) (zan.Change, error) {
	meta := l.key(t)
	now := time.Now().UnixMicro()
	// The index update is plain ZADD GT, not XX: it heals an entry lost to
	// a race of Evict with Load. A Toggle that finds the target missing
	// adds a stale entry, which the evictor drops.
	r := toggleLua.runWith(ctx, l.c.c, []string{meta},
		[]string{strconv.FormatInt(user, 10), bit(like), strconv.FormatInt(now, 10), strconv.FormatUint(userHash(user), 10)},
		l.index(t, now, false))
	v, err := ints(r)
	if err != nil {
		return zan.Change{}, err
	}
	if len(v) != 4 {
		return zan.Change{}, fmt.Errorf("redis: toggle replied %v", v)
	}
	if v[0] < 0 {
		return zan.Change{}, zan.ErrNotLoaded
	}
	return zan.Change{Changed: v[0] == 1, Count: v[1], At: v[2], Unconfirmed: v[3] == 1}, nil
}

// Confirm implements zan.LikeState.
func (l *Likes) Confirm(ctx context.Context, t zan.Target, user int64, at int64) error {
	r := confirmLua.run(ctx, l.c.c, []string{l.key(t)}, strconv.FormatInt(user, 10), strconv.FormatInt(at, 10))
	return wrap(r.Error())
}

// Pending implements zan.LikeState.
func (l *Likes) Pending(ctx context.Context, t zan.Target, before int64) ([]zan.PendingChange, error) {
	a, err := pendingLua.run(ctx, l.c.c, []string{l.key(t)}, strconv.FormatInt(before, 10)).AsStrSlice()
	if err != nil {
		return nil, wrap(err)
	}
	var out []zan.PendingChange
	for i := 0; i+1 < len(a); i += 2 {
		u, err1 := strconv.ParseInt(a[i], 10, 64)
		at, err2 := strconv.ParseInt(a[i+1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("redis: pending of %v replied %q %q", t, a[i], a[i+1])
		}
		out = append(out, zan.PendingChange{User: u, At: at})
	}
	return out, nil
}

// Undo implements zan.LikeState.
func (l *Likes) Undo(ctx context.Context, t zan.Target, user int64, like bool) error {
	r := undoLua.run(ctx, l.c.c, []string{l.key(t)}, strconv.FormatInt(user, 10), bit(like), strconv.FormatUint(userHash(user), 10))
	return wrap(r.Error())
}

// Load implements zan.LikeState. Readers never see a half-loaded target:
// a small load is one script; a large one fills temporary buckets and a
// script renames them into place and writes the hash, together. The users
// are put in 2^lv buckets here, with the scripts' function, lv chosen so
// that they fit without a split.
func (l *Likes) Load(ctx context.Context, t zan.Target, users []int64) error {
	meta := l.key(t)
	now := time.Now().UnixMicro()
	used := strconv.FormatInt(now, 10)
	c := l.c.c
	if len(users) > loadChunk {
		if n, err := c.Do(ctx, c.B().Hexists().Key(meta).Field("n").Build()).AsInt64(); err != nil {
			return wrap(err)
		} else if n == 1 {
			return nil // present: spare sending a million members for nothing
		}
	}

	// Sort the users by bucket: ms[off[b]:off[b+1]] are bucket b's.
	lv := loadLevel(len(users))
	nb := 1 << lv
	bs := make([]int32, len(users))
	off := make([]int, nb+1)
	for i, u := range users {
		b := bucketOf(userHash(u), lv, 0)
		bs[i] = int32(b)
		off[b+1]++
	}
	for b := range nb {
		off[b+1] += off[b]
	}
	pos := slices.Clone(off[:nb])
	ms := make([]string, len(users))
	for i, u := range users {
		ms[pos[bs[i]]] = strconv.FormatInt(u, 10)
		pos[bs[i]]++
	}

	if len(users) <= loadChunk {
		args := make([]string, 0, 2+nb+len(users))
		args = append(args, used, strconv.Itoa(lv))
		for b := range nb {
			args = append(args, strconv.Itoa(off[b+1]-off[b]))
		}
		args = append(args, ms...)
		return wrap(loadLua.runWith(ctx, c, []string{meta}, args, l.index(t, now, false)).Error())
	}

	rb := make([]byte, 8)
	rand.Read(rb)
	tmp := meta + ":load:" + hex.EncodeToString(rb) + ":"
	added := make([]int64, nb) // the sum of the SADDs' replies per bucket
	// About 8 chunks' worth of members a round trip: enough to hide
	// latency, small enough to keep the client's buffers modest.
	const perTrip = 8
	var cmds rueidis.Commands
	var bucket []int // the bucket of each SADD in cmds, -1 for a PEXPIRE
	inTrip := 0
	flush := func() error {
		for i, r := range c.DoMulti(ctx, cmds...) {
			if bucket[i] < 0 {
				if err := r.Error(); err != nil {
					return err
				}
				continue
			}
			n, err := r.AsInt64()
			if err != nil {
				return err
			}
			added[bucket[i]] += n
		}
		cmds, bucket, inTrip = cmds[:0], bucket[:0], 0
		return nil
	}
	for b := range nb {
		for i := off[b]; i < off[b+1]; i += loadChunk {
			chunk := ms[i:min(i+loadChunk, off[b+1])]
			key := tmp + strconv.Itoa(b)
			// An abandoned load (a crashed loader) cleans itself up.
			cmds = append(cmds, c.B().Sadd().Key(key).Member(chunk...).Build(),
				c.B().Pexpire().Key(key).Milliseconds(10*time.Minute.Milliseconds()).Build())
			bucket = append(bucket, b, -1)
			if inTrip += len(chunk); inTrip >= perTrip*loadChunk {
				if err := flush(); err != nil {
					l.drop(tmp, off)
					return wrap(err)
				}
			}
		}
	}
	if len(cmds) > 0 {
		if err := flush(); err != nil {
			l.drop(tmp, off)
			return wrap(err)
		}
	}
	args := make([]string, 0, 3+nb)
	args = append(args, used, strconv.Itoa(lv), tmp)
	for _, n := range added {
		args = append(args, strconv.FormatInt(n, 10))
	}
	v, err := swapLua.runWith(ctx, c, []string{meta}, args, l.index(t, now, false)).AsInt64()
	if err != nil {
		l.drop(tmp, off)
		return wrap(err)
	}
	if v < 0 {
		return fmt.Errorf("redis: loading %v: a temporary set expired during the load", t)
	}
	return nil
}

// drop removes the temporary buckets of a failed load (those with users,
// by off), best effort: their TTL removes them anyway. They share the
// target's slot, so one UNLINK takes many.
func (l *Likes) drop(tmp string, off []int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c := l.c.c
	var keys []string
	for b := range len(off) - 1 {
		if off[b+1] > off[b] {
			keys = append(keys, tmp+strconv.Itoa(b))
		}
	}
	var cmds rueidis.Commands
	for i := 0; i < len(keys); i += 1000 {
		cmds = append(cmds, c.B().Unlink().Key(keys[i:min(i+1000, len(keys))]...).Build())
	}
	c.DoMulti(ctx, cmds...)
}

// State implements zan.LikeState. All targets go in one round trip (in a
// cluster, one per node, in parallel).
func (l *Likes) State(ctx context.Context, ts []zan.Target, user int64) ([]zan.TargetState, error) {
	out := make([]zan.TargetState, len(ts))
	if len(ts) == 0 {
		return out, nil
	}
	c := l.c.c
	now := time.Now().UnixMicro()
	h := "0"
	if user != 0 {
		h = strconv.FormatUint(userHash(user), 10)
	}
	args := []string{strconv.FormatInt(user, 10), strconv.FormatInt(now, 10), h, strconv.FormatInt(readSlack.Microseconds(), 10)}
	cmds := make(rueidis.Commands, 0, len(ts))
	for _, t := range ts {
		cmds = append(cmds, stateLua.evalsha(c, []string{l.key(t)}, args...))
	}
	res := c.DoMulti(ctx, cmds...)
	var retry []int
	for i := range ts {
		if noScript(res[i]) {
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 {
		cmds = cmds[:0]
		for _, i := range retry {
			cmds = append(cmds, stateLua.eval(c, []string{l.key(ts[i])}, args...))
		}
		for j, r := range c.DoMulti(ctx, cmds...) {
			res[retry[j]] = r
		}
	}
	var index rueidis.Commands
	for i := range ts {
		v, err := ints(res[i])
		if err != nil {
			return nil, err
		}
		if len(v) != 4 {
			return nil, fmt.Errorf("redis: state replied %v", v)
		}
		out[i] = zan.TargetState{Loaded: v[0] == 1, Count: v[1], Liked: v[2] == 1}
		if v[3] == 1 {
			// XX: only targets the index holds; it may lag the hash, which
			// Evict corrects.
			index = append(index, l.index(ts[i], now, true))
		}
	}
	if len(index) > 0 {
		for _, r := range c.DoMulti(ctx, index...) {
			if err := r.Error(); err != nil {
				return nil, wrap(err)
			}
		}
	}
	return out, nil
}

// Members implements zan.LikeState.
func (l *Likes) Members(ctx context.Context, t zan.Target) ([]int64, bool, error) {
	meta := l.key(t)
	a, err := membersLua.run(ctx, l.c.c, []string{meta}, strconv.Itoa(membersScanAbove)).ToArray()
	if err != nil {
		return nil, false, wrap(err)
	}
	if len(a) == 0 {
		return nil, false, errors.New("redis: members replied nothing")
	}
	if len(a) != 2 {
		if code, _ := a[0].AsInt64(); code == 0 {
			return nil, false, nil
		}
		return nil, false, errors.New("redis: members replied no set")
	}
	switch code, _ := a[0].AsInt64(); code {
	case 1:
		ms, err := a[1].ToArray()
		if err != nil {
			return nil, false, wrap(err)
		}
		users := make([]int64, len(ms))
		for i := range ms {
			if users[i], err = ms[i].AsInt64(); err != nil {
				return nil, false, fmt.Errorf("redis: member of %v: %w", t, err)
			}
		}
		return users, true, nil
	case 2:
		nb, err := a[1].AsInt64()
		if err != nil {
			return nil, false, fmt.Errorf("redis: members of %v: %w", t, err)
		}
		return l.scanMembers(ctx, meta, int(nb))
	}
	return nil, false, fmt.Errorf("redis: members replied %v", a)
}

// scanMembers reads a big target's buckets, some at a time, so that no
// reply holds a million members. Like SSCAN, it returns every member
// present throughout, maybe others, and each once. A split during the read
// moves members of a bucket to the new bucket 2^lv + sp, past those known
// at its start: so once the known ones are read, it reads the layout again
// and the buckets added meanwhile, until there are none.
func (l *Likes) scanMembers(ctx context.Context, meta string, nb int) ([]int64, bool, error) {
	c := l.c.c
	per := max(1, membersScanAbove/splitFill) // buckets a round trip
	seen := make(map[int64]struct{})
	for from := 0; from < nb; {
		for start := from; start < nb; start += per {
			cmds := make(rueidis.Commands, 0, per)
			for b := start; b < min(start+per, nb); b++ {
				cmds = append(cmds, c.B().Smembers().Key(bucketKey(meta, b)).Build())
			}
			for _, r := range c.DoMulti(ctx, cmds...) {
				ms, err := r.AsStrSlice()
				if err != nil {
					return nil, false, wrap(err)
				}
				for _, s := range ms {
					u, err := strconv.ParseInt(s, 10, 64)
					if err != nil {
						return nil, false, fmt.Errorf("redis: member %q: %w", s, err)
					}
					seen[u] = struct{}{}
				}
			}
		}
		from = nb
		st, err := c.Do(ctx, c.B().Hmget().Key(meta).Field("lv", "sp").Build()).ToArray()
		if err != nil {
			return nil, false, wrap(err)
		}
		if len(st) != 2 {
			break
		}
		lv, err1 := st[0].AsInt64()
		sp, err2 := st[1].AsInt64()
		if err1 != nil || err2 != nil {
			break // evicted meanwhile: what was read is all there is
		}
		nb = max(nb, 1<<lv+int(sp))
	}
	users := make([]int64, 0, len(seen))
	for u := range seen {
		users = append(users, u)
	}
	return users, true, nil
}

// Evict implements zan.LikeState.
func (l *Likes) Evict(ctx context.Context, t zan.Target, idleSince time.Time) (bool, error) {
	v, err := ints(evictLua.run(ctx, l.c.c, []string{l.key(t)}, strconv.FormatInt(idleSince.UnixMicro(), 10)))
	if err != nil {
		return false, err
	}
	if len(v) != 2 {
		return false, fmt.Errorf("redis: evict replied %v", v)
	}
	// The index follows, best effort: an entry left behind is retried and
	// dropped by the next Evict. A target in use gets its true score, so
	// that Idle stops offering it.
	c, m := l.c.c, member(t)
	if v[0] == 0 {
		c.Do(ctx, l.index(t, v[1], true))
	} else {
		c.Do(ctx, c.B().Zrem().Key(l.idleKey(m)).Member(m).Build())
	}
	return v[0] == 1, nil
}

// Idle implements zan.LikeState. It reads the index, oldest first, and may
// name targets that are gone or were used after all; Evict sorts them out.
func (l *Likes) Idle(ctx context.Context, since time.Time, limit int) ([]zan.Target, error) {
	if limit <= 0 {
		return nil, nil
	}
	c := l.c.c
	max := "(" + strconv.FormatInt(since.UnixMicro(), 10)
	cmds := make(rueidis.Commands, idleShards)
	for i := range cmds {
		key := "{" + l.c.prefix + ":idle:" + strconv.Itoa(i) + "}"
		cmds[i] = c.B().Zrangebyscore().Key(key).Min("-inf").Max(max).Withscores().Limit(0, int64(limit)).Build()
	}
	var all []rueidis.ZScore
	for _, r := range c.DoMulti(ctx, cmds...) {
		zs, err := r.AsZScores()
		if err != nil {
			return nil, wrap(err)
		}
		all = append(all, zs...)
	}
	slices.SortFunc(all, func(a, b rueidis.ZScore) int { return cmp.Compare(a.Score, b.Score) })
	out := make([]zan.Target, 0, min(limit, len(all)))
	for _, z := range all {
		if len(out) == limit {
			break
		}
		typ, id, ok := strings.Cut(z.Member, ":")
		n, err := strconv.ParseInt(id, 10, 64)
		if !ok || err != nil {
			continue // not ours: ignore rather than fail the evictor
		}
		out = append(out, zan.Target{Type: typ, ID: n})
	}
	return out, nil
}

// epochScript returns the epoch key's value, setting a new random one when
// the key is missing: a Redis that restarted empty gets a new epoch.
var epochScript = newScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`)

// Epoch implements zan.LikeState.
func (l *Likes) Epoch(ctx context.Context) (string, error) {
	b := make([]byte, 8)
	rand.Read(b)
	key := "{" + l.c.prefix + ":epoch}"
	v, err := epochScript.run(ctx, l.c.c, []string{key}, hex.EncodeToString(b)).ToString()
	if err != nil {
		return "", wrap(err)
	}
	return v, nil
}
