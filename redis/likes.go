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
// A loaded target is two keys of one hash tag: a HASH {p:l:type:id} with
// "at" (the last change's At, µs, server clock) and "used" (the last read or
// write, µs, app clock: the same clock as the idleSince of Evict and Idle);
// and a SET {p:l:type:id}:u of its likers. The hash is the "loaded" marker:
// a target without likes has no set, and a set without its hash (a crash
// between commands cannot leave one, but a flushed hash could) is ignored.
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
// likers goes as many small SADDs into a temporary key, so Redis never
// blocks long on one command, and is renamed into place at the end.
var loadChunk = 10000

// membersScanAbove is the set size above which Members reads by SSCAN
// rather than one SMEMBERS reply.
var membersScanAbove = 10000

const likesLua = luaHelpers + `
local function touch(k, used)
  local u = redis.call('HGET', k, 'used')
  if not u or tonumber(used) > tonumber(u) then redis.call('HSET', k, 'used', used) end
end
`

// toggleLua: KEYS meta, set; ARGV user, like (1|0), used.
// Returns {changed, count, at, unconfirmed}, or {-1, 0, 0, 0} when not
// loaded. A change leaves a field "p<user>" = at in the hash until Confirm
// removes it: a toggle that finds the membership as asked but that field
// still there reports the change unconfirmed (its writer may have died
// before its event reached the log), with its At. At is taken
// here, from the server clock and after the last At of the target, so it is
// strictly increasing per target whichever app server writes and however
// their clocks drift; a failover keeps it because "at" is replicated.
var toggleLua = newScript(likesLua + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0, 0, 0} end
touch(KEYS[1], ARGV[3])
local changed
if ARGV[2] == '1' then
  changed = redis.call('SADD', KEYS[2], ARGV[1])
else
  changed = redis.call('SREM', KEYS[2], ARGV[1])
end
local n = redis.call('SCARD', KEYS[2])
if changed == 0 then
  local p = redis.call('HGET', KEYS[1], 'p' .. ARGV[1])
  if p then return {0, n, tonumber(p), 1} end
  return {0, n, 0, 0}
end
local at = math.max(now_us(), tonumber(redis.call('HGET', KEYS[1], 'at') or '0') + 1)
redis.call('HSET', KEYS[1], 'at', fmt(at), 'p' .. ARGV[1], fmt(at))
return {1, n, at, 0}
`)

// confirmLua: KEYS meta; ARGV user, at. Removes the pending mark of that
// change, not of a newer one.
var confirmLua = newScript(`
if redis.call('HGET', KEYS[1], 'p' .. ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], 'p' .. ARGV[1]) end
return 0
`)

// undoLua: KEYS meta, set; ARGV user, like (1|0). SREM and SADD change
// nothing when the membership is no longer as the toggle left it.
var undoLua = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n
if ARGV[2] == '1' then n = redis.call('SREM', KEYS[2], ARGV[1]) else n = redis.call('SADD', KEYS[2], ARGV[1]) end
if n == 1 then redis.call('HDEL', KEYS[1], 'p' .. ARGV[1]) end
return n
`)

// loadLua: KEYS meta, set; ARGV used, users... Installs unless present.
// The set is cleared first in case a set outlived its hash.
var loadLua = newScript(luaHelpers + `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('UNLINK', KEYS[2])
for i = 2, #ARGV, 1000 do
  redis.call('SADD', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('HSET', KEYS[1], 'at', fmt(now_us()), 'used', ARGV[1])
return 1
`)

// swapLua: KEYS meta, set, tmp; ARGV used, count. Installs the chunks
// loaded into tmp unless the target is present. count (the sum of the
// SADDs' replies) catches a tmp that expired during a slow load and was
// partly recreated: installing it would lose likes.
var swapLua = newScript(luaHelpers + `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('UNLINK', KEYS[3]) return 0 end
if redis.call('SCARD', KEYS[3]) ~= tonumber(ARGV[2]) then redis.call('UNLINK', KEYS[3]) return -1 end
redis.call('RENAME', KEYS[3], KEYS[2])
redis.call('PERSIST', KEYS[2])
redis.call('HSET', KEYS[1], 'at', fmt(now_us()), 'used', ARGV[1])
return 1
`)

// stateLua: KEYS meta, set; ARGV user (0: none), used.
// Returns {loaded, count, liked}.
var stateLua = newScript(likesLua + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0, 0} end
touch(KEYS[1], ARGV[2])
local liked = 0
if ARGV[1] ~= '0' then liked = redis.call('SISMEMBER', KEYS[2], ARGV[1]) end
return {1, redis.call('SCARD', KEYS[2]), liked}
`)

// membersLua: KEYS meta, set; ARGV most. Returns {0} when not loaded, {2}
// when the set is too big for one reply, else {1, members}.
var membersLua = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
if redis.call('SCARD', KEYS[2]) > tonumber(ARGV[1]) then return {2} end
return {1, redis.call('SMEMBERS', KEYS[2])}
`)

// evictLua: KEYS meta, set; ARGV idleSince (µs).
// Returns {1, 0} evicted, {0, used} in use, {-1, 0} missing.
var evictLua = newScript(`
local u = redis.call('HGET', KEYS[1], 'used')
if not u then return {-1, 0} end
if tonumber(u) >= tonumber(ARGV[1]) then return {0, tonumber(u)} end
redis.call('UNLINK', KEYS[1], KEYS[2])
return {1, 0}
`)

func (l *Likes) keys(t zan.Target) (meta, set string) {
	meta = "{" + l.c.prefix + ":l:" + t.Type + ":" + strconv.FormatInt(t.ID, 10) + "}"
	return meta, meta + ":u"
}

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
	meta, set := l.keys(t)
	now := time.Now().UnixMicro()
	// The index update is plain ZADD GT, not XX: it heals an entry lost to
	// a race of Evict with Load. A Toggle that finds the target missing
	// adds a stale entry, which the evictor drops.
	r := toggleLua.runWith(ctx, l.c.c, []string{meta, set},
		[]string{strconv.FormatInt(user, 10), bit(like), strconv.FormatInt(now, 10)},
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
	meta, _ := l.keys(t)
	r := confirmLua.run(ctx, l.c.c, []string{meta}, strconv.FormatInt(user, 10), strconv.FormatInt(at, 10))
	return wrap(r.Error())
}

// Undo implements zan.LikeState.
func (l *Likes) Undo(ctx context.Context, t zan.Target, user int64, like bool) error {
	meta, set := l.keys(t)
	r := undoLua.run(ctx, l.c.c, []string{meta, set}, strconv.FormatInt(user, 10), bit(like))
	return wrap(r.Error())
}

// Load implements zan.LikeState. Readers never see a half-loaded target:
// a small load is one script; a large one fills a temporary key and a
// script renames it into place and writes the hash, together.
func (l *Likes) Load(ctx context.Context, t zan.Target, users []int64) error {
	meta, set := l.keys(t)
	now := time.Now().UnixMicro()
	used := strconv.FormatInt(now, 10)
	if len(users) <= loadChunk {
		args := make([]string, 0, 1+len(users))
		args = append(args, used)
		for _, u := range users {
			args = append(args, strconv.FormatInt(u, 10))
		}
		return wrap(loadLua.runWith(ctx, l.c.c, []string{meta, set}, args, l.index(t, now, false)).Error())
	}

	c := l.c.c
	if n, err := c.Do(ctx, c.B().Exists().Key(meta).Build()).AsInt64(); err != nil {
		return wrap(err)
	} else if n == 1 {
		return nil // present: spare sending a million members for nothing
	}
	b := make([]byte, 8)
	rand.Read(b)
	tmp := set + ":load:" + hex.EncodeToString(b)
	// 8 chunks a round trip: enough to hide latency, small enough to keep
	// the client's buffers modest.
	var added int64
	const perTrip = 8
	for start := 0; start < len(users); start += perTrip * loadChunk {
		cmds := make(rueidis.Commands, 0, perTrip+1)
		for i := start; i < len(users) && i < start+perTrip*loadChunk; i += loadChunk {
			chunk := users[i:min(i+loadChunk, len(users))]
			ms := make([]string, len(chunk))
			for j, u := range chunk {
				ms[j] = strconv.FormatInt(u, 10)
			}
			cmds = append(cmds, c.B().Sadd().Key(tmp).Member(ms...).Build())
		}
		// An abandoned load (a crashed loader) cleans itself up.
		cmds = append(cmds, c.B().Pexpire().Key(tmp).Milliseconds(10*time.Minute.Milliseconds()).Build())
		for i, r := range c.DoMulti(ctx, cmds...) {
			if i == len(cmds)-1 {
				if err := r.Error(); err != nil {
					l.drop(tmp)
					return wrap(err)
				}
				continue
			}
			n, err := r.AsInt64()
			if err != nil {
				l.drop(tmp)
				return wrap(err)
			}
			added += n
		}
	}
	r := swapLua.runWith(ctx, c, []string{meta, set, tmp},
		[]string{used, strconv.FormatInt(added, 10)}, l.index(t, now, false))
	v, err := r.AsInt64()
	if err != nil {
		l.drop(tmp)
		return wrap(err)
	}
	if v < 0 {
		return fmt.Errorf("redis: loading %v: the temporary set expired during the load", t)
	}
	return nil
}

// drop removes a temporary key on a failed load, best effort: its TTL
// removes it anyway.
func (l *Likes) drop(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.c.c.Do(ctx, l.c.c.B().Unlink().Key(key).Build())
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
	args := []string{strconv.FormatInt(user, 10), strconv.FormatInt(now, 10)}
	cmds := make(rueidis.Commands, 0, 2*len(ts))
	for _, t := range ts {
		meta, set := l.keys(t)
		// XX: a read of a target that is not loaded adds no index entry.
		cmds = append(cmds, stateLua.evalsha(c, []string{meta, set}, args...), l.index(t, now, true))
	}
	res := c.DoMulti(ctx, cmds...)
	var retry []int
	for i := range ts {
		if noScript(res[2*i]) {
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 {
		cmds = cmds[:0]
		for _, i := range retry {
			meta, set := l.keys(ts[i])
			cmds = append(cmds, stateLua.eval(c, []string{meta, set}, args...))
		}
		for j, r := range c.DoMulti(ctx, cmds...) {
			res[2*retry[j]] = r
		}
	}
	for i := range ts {
		v, err := ints(res[2*i])
		if err != nil {
			return nil, err
		}
		if len(v) != 3 {
			return nil, fmt.Errorf("redis: state replied %v", v)
		}
		out[i] = zan.TargetState{Loaded: v[0] == 1, Count: v[1], Liked: v[2] == 1}
	}
	return out, nil
}

// Members implements zan.LikeState.
func (l *Likes) Members(ctx context.Context, t zan.Target) ([]int64, bool, error) {
	meta, set := l.keys(t)
	a, err := membersLua.run(ctx, l.c.c, []string{meta, set}, strconv.Itoa(membersScanAbove)).ToArray()
	if err != nil {
		return nil, false, wrap(err)
	}
	if len(a) == 0 {
		return nil, false, errors.New("redis: members replied nothing")
	}
	switch code, _ := a[0].AsInt64(); code {
	case 0:
		return nil, false, nil
	case 1:
		if len(a) != 2 {
			return nil, false, errors.New("redis: members replied no set")
		}
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
	}
	return l.scanMembers(ctx, set)
}

// scanMembers reads a big set in pieces so that no reply holds a million
// members. SSCAN may repeat a member; it returns each one once.
func (l *Likes) scanMembers(ctx context.Context, set string) ([]int64, bool, error) {
	c := l.c.c
	seen := make(map[int64]struct{})
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Sscan().Key(set).Cursor(cursor).Count(int64(membersScanAbove)).Build()).AsScanEntry()
		if err != nil {
			return nil, false, wrap(err)
		}
		for _, s := range e.Elements {
			u, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, false, fmt.Errorf("redis: member %q: %w", s, err)
			}
			seen[u] = struct{}{}
		}
		if cursor = e.Cursor; cursor == 0 {
			break
		}
	}
	users := make([]int64, 0, len(seen))
	for u := range seen {
		users = append(users, u)
	}
	return users, true, nil
}

// Evict implements zan.LikeState.
func (l *Likes) Evict(ctx context.Context, t zan.Target, idleSince time.Time) (bool, error) {
	meta, set := l.keys(t)
	v, err := ints(evictLua.run(ctx, l.c.c, []string{meta, set}, strconv.FormatInt(idleSince.UnixMicro(), 10)))
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
