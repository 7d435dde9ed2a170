package redis

import (
	"strconv"
	"time"
)

// The like scripts. Every script that reads or writes a target's likes
// takes the caller's epoch as ARGV[1] and treats a target loaded under
// another one as absent (see fence.go and gone): a hot state found stale
// shows nothing from before.

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
-- gone says why the meta fields e (epoch) and n do not make a target
-- loaded under the caller's epoch E: nil when they do; -1 when it is
-- absent or from an older epoch (a life of the hot state since found lost
-- or stale); -2 when from a newer one (the caller missed an epoch change).
local function gone(e, n, E)
  if n and e == E then return nil end
  if n and e then
    local a, b = tonumber(string.match(e, '^%d+')), tonumber(string.match(E, '^%d+'))
    if a and b and a > b then return -2 end
  end
  return -1
end
`

// unlinkLua defines unlinkAll (after likesLua): it removes a target's
// hash and its buckets of layout lv, sp (when known), and the set of the
// former layout.
const unlinkLua = `
local function unlinkAll(k, lv, sp)
  redis.call('UNLINK', k, k .. ':u')
  if not lv then return end
  local nb = 2 ^ tonumber(lv) + tonumber(sp or '0')
  for a = 0, nb - 1, 1000 do
    local ks = {}
    for b = a, math.min(a + 999, nb - 1) do ks[#ks + 1] = k .. ':u' .. fmt(b) end
    redis.call('UNLINK', unpack(ks))
  end
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

// toggleLua: KEYS meta; ARGV epoch, user, like (1|0), used, userHash, id,
// deadline (µs, server clock; 0: none), and optionally KEYS[2] a rate
// limiter's bucket with ARGV rate, burst: the user's token is taken in the
// same step, once the target is found loaded (a toggle sent back for a
// load takes none), and a refusal returns {-4, wait µs, 0} and changes
// nothing. A toggle that runs after its
// deadline does nothing and returns {-3, 0, 0}: its caller has answered
// 503 by then (a Redis that hung runs what it had read when it resumes).
// Returns {changed, count, at}, or {code, 0, 0} when the target is not
// loaded under the epoch (see gone). Every answer takes a new At, from
// the server clock and after the target's last one, so it is strictly
// increasing per target whichever app server writes and however their
// clocks drift; a failover keeps it because "at" is replicated. The
// answer leaves a field "p<user>" = "<at>:<id>" (-at when nothing
// changed) in the hash until Confirm removes it: an answer whose writer
// died before its event reached the log is found there by reconciliation,
// and one answered 503 is undone by its id.
var toggleLua = newScript(likesLua + `
local now = now_us()
if ARGV[7] ~= '0' and now > tonumber(ARGV[7]) then return {-3, 0, 0} end
local k = KEYS[1]
local st = redis.call('HMGET', k, 'e', 'n', 'lv', 'sp', 'used', 'at')
local g = gone(st[1], st[2], ARGV[1])
if g then return {g, 0, 0} end
if KEYS[2] then
  local rk, rate, burst, lim = KEYS[2], tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[8] .. '/' .. ARGV[9]
  local ok, wait = 0, 0
` + bucketLua + `
  if ok == 0 then return {-4, wait, 0} end
end
local n, lv, sp = tonumber(st[2]), tonumber(st[3]), tonumber(st[4])
local b = bkey(k, tonumber(ARGV[5]), lv, sp)
local changed
if ARGV[3] == '1' then
  changed = redis.call('SADD', b, ARGV[2])
else
  changed = redis.call('SREM', b, ARGV[2])
end
local at = math.max(now, tonumber(st[6] or '0') + 1)
local mark = fmt(at) .. ':' .. ARGV[6]
if changed == 0 then mark = '-' .. mark end
local f = {'at', fmt(at), 'p' .. ARGV[2], mark}
if changed == 1 then
  if ARGV[3] == '1' then n = n + 1 else n = n - 1 end
  f[#f + 1] = 'n'
  f[#f + 1] = fmt(n)
end
if not st[5] or tonumber(ARGV[4]) > tonumber(st[5]) then
  f[#f + 1] = 'used'
  f[#f + 1] = ARGV[4]
end
redis.call('HSET', k, unpack(f))
if changed == 1 and ARGV[3] == '1' then
` + splitLua + `
end
return {changed, n, at}
`)

// confirmLua: KEYS meta; ARGV user, at. Removes user's mark if it is of
// that answer or an older one, not of a newer one.
var confirmLua = newScript(`
local p = redis.call('HGET', KEYS[1], 'p' .. ARGV[1])
if p and math.abs(tonumber(string.match(p, '^(-?%d+)'))) <= tonumber(ARGV[2]) then
  return redis.call('HDEL', KEYS[1], 'p' .. ARGV[1])
end
return 0
`)

// undoLua: KEYS meta; ARGV epoch, user, like (1|0), userHash, id (the
// toggle's), undo id. Reverts the toggle if user's mark is still its own
// (no later toggle of user came) and it changed the membership, as a
// change with a new At and a mark under the undo id. Returns {changed,
// count, at}.
var undoLua = newScript(likesLua + `
local k = KEYS[1]
local st = redis.call('HMGET', k, 'e', 'n', 'lv', 'sp', 'at', 'p' .. ARGV[2])
if gone(st[1], st[2], ARGV[1]) then return {0, 0, 0} end
local n, lv, sp = tonumber(st[2]), tonumber(st[3]), tonumber(st[4])
if not st[6] or string.sub(st[6], 1, 1) == '-' or string.match(st[6], ':(.*)$') ~= ARGV[5] then return {0, n, 0} end
local b = bkey(k, tonumber(ARGV[4]), lv, sp)
local c
if ARGV[3] == '1' then c = redis.call('SREM', b, ARGV[2]) else c = redis.call('SADD', b, ARGV[2]) end
if c == 0 then return {0, n, 0} end
if ARGV[3] == '1' then n = n - 1 else n = n + 1 end
local at = math.max(now_us(), tonumber(st[5]) + 1)
redis.call('HSET', k, 'n', fmt(n), 'at', fmt(at), 'p' .. ARGV[2], fmt(at) .. ':' .. ARGV[6])
if ARGV[3] ~= '1' then
` + splitLua + `
end
return {1, n, at}
`)

// loadLua: KEYS meta; ARGV epoch, used, lv, after, the count of each of
// the 2^lv buckets, then the users bucket by bucket. Installs unless
// present under the epoch; what an older epoch left is removed first.
// Returns 1 installed, 0 present, -2 present under a newer epoch. Each
// bucket is cleared before it is filled in case it outlived its hash.
var loadLua = newScript(likesLua + unlinkLua + growLua + `
local k = KEYS[1]
local st = redis.call('HMGET', k, 'e', 'n', 'lv', 'sp')
local g = gone(st[1], st[2], ARGV[1])
if not g then return 0 end
if g == -2 then return -2 end
unlinkAll(k, st[3], st[4])
local lv = tonumber(ARGV[3])
local nb = 2 ^ lv
local i, n = 5 + nb, 0
for b = 0, nb - 1 do
  local key, c = k .. ':u' .. fmt(b), tonumber(ARGV[5 + b])
  redis.call('UNLINK', key)
  n = n + sadd(key, ARGV, i, i + c - 1)
  i = i + c
end
redis.call('HSET', k, 'e', ARGV[1], 'at', fmt(math.max(now_us(), tonumber(ARGV[4]) + 1)), 'used', ARGV[2],
  'n', fmt(n), 'lv', fmt(lv), 'sp', '0')
return 1
`)

// moveLua: KEYS meta; ARGV epoch, tmp prefix, first bucket b0, whether
// this is the first move (1|0), then the counts of buckets b0, b0+1, ...
// Moves those temporary buckets (prefix .. b) into place unless the target
// is present under the epoch; the first move also removes what an older
// epoch left. Nobody reads the buckets until commitLua writes the hash, so
// a big load is installed in many short scripts, not one that would hold
// Redis (and every other target on it) for the whole of it: 65,536 buckets
// for ten million likers. A concurrent loader of the target moves the same
// members (the store has no change of a target that is not loaded), and
// after a commit every move finds the target present and stops. The counts
// (the sums of the SADDs' replies) catch a temporary bucket that expired
// during a slow load and was partly recreated, or not: installing it would
// lose likes. Returns 1 moved, 0 present, -2 present under a newer epoch,
// -1 for an expired temporary bucket.
var moveLua = newScript(likesLua + unlinkLua + `
local k, tmp, b0 = KEYS[1], ARGV[2], tonumber(ARGV[3])
local st = redis.call('HMGET', k, 'e', 'n', 'lv', 'sp')
local g = gone(st[1], st[2], ARGV[1])
if not g then return 0 end
if g == -2 then return -2 end
for i = 5, #ARGV do
  if redis.call('SCARD', tmp .. fmt(b0 + i - 5)) ~= tonumber(ARGV[i]) then return -1 end
end
if ARGV[4] == '1' then unlinkAll(k, st[3], st[4]) end
for i = 5, #ARGV do
  local b = fmt(b0 + i - 5)
  local key = k .. ':u' .. b
  if ARGV[i] ~= '0' then
    redis.call('RENAME', tmp .. b, key)
    redis.call('PERSIST', key)
  else
    redis.call('UNLINK', key)
  end
end
return 1
`)

// commitLua: KEYS meta; ARGV epoch, used, lv, after, n. Makes the moved
// buckets the target's, unless it is present under the epoch. Returns as
// moveLua.
var commitLua = newScript(likesLua + `
local k = KEYS[1]
local st = redis.call('HMGET', k, 'e', 'n')
local g = gone(st[1], st[2], ARGV[1])
if not g then return 0 end
if g == -2 then return -2 end
redis.call('HSET', k, 'e', ARGV[1], 'at', fmt(math.max(now_us(), tonumber(ARGV[4]) + 1)), 'used', ARGV[2],
  'n', ARGV[5], 'lv', ARGV[3], 'sp', '0')
return 1
`)

// stateLua: KEYS meta, meta, ...; ARGV epoch, user (0: none), now,
// userHash, slack (µs). Returns {loaded, count, liked, stale} for each key,
// one after the other (loaded: 1, or a code of gone; stale: its "used" is
// older than slack). It writes nothing: the caller queues the stale ones
// for the background marker (markLua).
var stateLua = newScript(likesLua + `
local now, slack, user, uh = tonumber(ARGV[3]), tonumber(ARGV[5]), ARGV[2], tonumber(ARGV[4])
local out = {}
for _, k in ipairs(KEYS) do
  local st = redis.call('HMGET', k, 'e', 'n', 'lv', 'sp', 'used')
  local g = gone(st[1], st[2], ARGV[1])
  if g then
    out[#out + 1] = g; out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0
  else
    local liked, stale = 0, 0
    if not st[5] or now > tonumber(st[5]) + slack then stale = 1 end
    if user ~= '0' then
      liked = redis.call('SISMEMBER', bkey(k, uh, tonumber(st[3]), tonumber(st[4])), user)
    end
    out[#out + 1] = 1; out[#out + 1] = tonumber(st[2]); out[#out + 1] = liked; out[#out + 1] = stale
  end
end
return out
`)

// markLua: KEYS meta; ARGV used (µs). Raises the target's "used" mark to
// used if the target is loaded (a mark must not make a hash of an evicted
// target).
var markLua = newScript(`
if redis.call('HEXISTS', KEYS[1], 'n') == 0 then return 0 end
local u = redis.call('HGET', KEYS[1], 'used')
if not u or tonumber(ARGV[1]) > tonumber(u) then redis.call('HSET', KEYS[1], 'used', ARGV[1]) end
return 1
`)

// readSlack is how stale a read may leave a target's "used" mark. Reads
// mark targets used so that eviction keeps what people look at, and the
// eviction thresholds are minutes to days; marking every read cost two
// writes per target (the hash and the idle index): a feed read of 50
// targets sent 100 commands, now 50 and no writes. Changes always mark.
var readSlack = 30 * time.Second

// membersLua: KEYS meta; ARGV epoch, most. Returns {code} when not loaded
// (see gone), {2, nb} when there are too many for one reply (nb: the
// number of buckets), else {1, members}.
var membersLua = newScript(likesLua + `
local k = KEYS[1]
local st = redis.call('HMGET', k, 'e', 'n', 'lv', 'sp')
local g = gone(st[1], st[2], ARGV[1])
if g then return {g} end
local nb = 2 ^ tonumber(st[3]) + tonumber(st[4])
if tonumber(st[2]) > tonumber(ARGV[2]) then return {2, nb} end
local all = {}
for b = 0, nb - 1 do
  for _, u in ipairs(redis.call('SMEMBERS', k .. ':u' .. fmt(b))) do all[#all + 1] = u end
end
return {1, all}
`)

// inspectLua: KEYS meta; ARGV epoch, before (µs). Returns, as strings,
// {code} when not loaded (see gone), else {1, count, at, unconfirmed,
// then user, mark ("<±at>:<id>"), liked for each mark older than before}.
// It writes nothing.
var inspectLua = newScript(likesLua + growLua + `
local k = KEYS[1]
local st = redis.call('HMGET', k, 'e', 'n', 'lv', 'sp', 'at')
local g = gone(st[1], st[2], ARGV[1])
if g then return {tostring(g)} end
local lv, sp, before = tonumber(st[3]), tonumber(st[4]), tonumber(ARGV[2])
local out = {'1', st[2], st[5], '0'}
local un = 0
local kv = redis.call('HGETALL', k)
for i = 1, #kv, 2 do
  if string.byte(kv[i], 1) == 112 then -- 'p': an unconfirmed answer
    un = un + 1
    if math.abs(tonumber(string.match(kv[i + 1], '^(-?%d+)'))) < before then
      local u = string.sub(kv[i], 2)
      out[#out + 1] = u
      out[#out + 1] = kv[i + 1]
      out[#out + 1] = tostring(redis.call('SISMEMBER', bkey(k, uhash(u), lv, sp), u))
    end
  end
end
out[4] = tostring(un)
return out
`)

// dropLua: KEYS meta; ARGV epoch, at. Removes the target if it is loaded
// under the epoch, its last toggle is at and no answer is unconfirmed.
// Returns 1 removed, else 0.
var dropLua = newScript(likesLua + unlinkLua + `
local k = KEYS[1]
local st = redis.call('HMGET', k, 'e', 'n', 'lv', 'sp', 'at')
if gone(st[1], st[2], ARGV[1]) or st[5] ~= ARGV[2] then return 0 end
for _, f in ipairs(redis.call('HKEYS', k)) do
  if string.byte(f, 1) == 112 then return 0 end
end
unlinkAll(k, st[3], st[4])
return 1
`)

// evictLua: KEYS meta; ARGV epoch, idleSince (µs). Returns {1, 0}
// evicted, {0, used} in use, {-1, 0} missing. A target of an older epoch
// (or of the former layout) is removed at once; one of a newer epoch is
// left alone, as in use.
var evictLua = newScript(likesLua + unlinkLua + `
local k = KEYS[1]
local st = redis.call('HMGET', k, 'used', 'n', 'lv', 'sp', 'e')
if not st[1] and not st[2] then return {-1, 0} end
local g = gone(st[5], st[2], ARGV[1])
if g == -2 then return {0, tonumber(st[1] or '0')} end
if not g and tonumber(st[1]) >= tonumber(ARGV[2]) then return {0, tonumber(st[1])} end
unlinkAll(k, st[3], st[4])
if g then return {-1, 0} end
return {1, 0}
`)
