package redis

import (
	"cmp"
	"context"
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
// buckets). The meta hash holds "e" (the epoch it was loaded under, see
// fence.go), "at" (the last toggle's At, µs, server clock), "used" (the
// last read or write, µs, app clock: the same clock as the idleSince of
// Evict and Idle), "n" (the number of likers, kept by the scripts, so that
// a count is one field read and not a SCARD per bucket), "lv" and "sp"
// (the bucket layout, below), and the marks "p<user>" of answers not yet
// confirmed in the log (their At; negative for an answer that changed
// nothing). The hash with its "n" and the caller's epoch is the "loaded"
// marker: a target without likes has no bucket, and buckets without their
// hash (a crash between commands cannot leave them, but a flushed hash
// could) are ignored and overwritten by the next Load.
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
func (l *Likes) Toggle(ctx context.Context, t zan.Target, user int64, like bool, id string) (zan.Change, error) {
	return l.toggle(ctx, t, user, like, id, "", zan.Limit{})
}

// ToggleLimited implements zan.LimitingLikeState: the user's token is
// taken by the toggle script itself, in its round trip. Not in a cluster,
// which puts the bucket in another slot than the target (see Limits).
func (l *Likes) ToggleLimited(ctx context.Context, t zan.Target, user int64, like bool, id, key string, lim zan.Limit) (zan.Change, error) {
	if l.c.cluster {
		return zan.Change{}, errors.New("redis: a cluster cannot take a token in the toggle's slot")
	}
	if lim.Burst < 1 { // nothing ever passes, as with the Limiter
		return zan.Change{}, limited(time.Hour)
	}
	return l.toggle(ctx, t, user, like, id, key, lim)
}

// Limits implements zan.LimitingLikeState: the buckets are those of this
// client's Limiter, against one Redis. In a cluster the service calls the
// Limiter, then Toggle: two round trips, to different nodes.
func (l *Likes) Limits(r zan.RateLimiter) bool {
	o, ok := r.(*Limiter)
	return ok && o.c == l.c && !l.c.cluster
}

func limited(retry time.Duration) error { return zan.RateLimited(retry, "too many likes; slow down") }

// toggle runs the toggle script, taking a token of the limiter's bucket
// key in it when key is set.
func (l *Likes) toggle(ctx context.Context, t zan.Target, user int64, like bool, id, key string, lim zan.Limit) (zan.Change, error) {
	meta := l.key(t)
	u, h := strconv.FormatInt(user, 10), strconv.FormatUint(userHash(user), 10)
	keys := []string{meta}
	var rate, burst string
	if key != "" {
		keys = append(keys, l.c.limitKey(key))
		rate, burst = limitArgs(lim)
	}
	var ch zan.Change
	err := l.c.fence.call(ctx, func(epoch string) error {
		now := time.Now().UnixMicro()
		args := []string{epoch, u, bit(like), strconv.FormatInt(now, 10), h, id, l.c.fence.deadline(ctx)}
		if key != "" {
			args = append(args, rate, burst)
		}
		// The index update is plain ZADD GT, not XX: it heals an entry
		// lost to a race of Evict with Load. A Toggle that finds the target
		// missing adds a stale entry, which the evictor drops.
		v, err := ints(toggleLua.runWith(ctx, l.c.c, keys, args, l.index(t, now, false)))
		if err != nil {
			return err
		}
		if len(v) != 3 {
			return fmt.Errorf("redis: toggle replied %v", v)
		}
		switch v[0] {
		case -3:
			return zan.Unavailable("redis", errExpired)
		case -4:
			return limited(time.Duration(v[1]) * time.Microsecond)
		}
		if err := goneErr(v[0]); err != nil {
			return err
		}
		ch = zan.Change{Changed: v[0] == 1, Count: v[1], At: v[2]}
		return nil
	})
	return ch, err
}

// goneErr turns a script's code for a target it does not hold under the
// caller's epoch into the error to return (see gone in the scripts).
func goneErr(code int64) error {
	switch code {
	case -1:
		return zan.ErrNotLoaded
	case -2:
		return errEpochMoved
	}
	return nil
}

// Confirm implements zan.LikeState.
func (l *Likes) Confirm(ctx context.Context, t zan.Target, user int64, at int64) error {
	r := confirmLua.run(ctx, l.c.c, []string{l.key(t)}, strconv.FormatInt(user, 10), strconv.FormatInt(at, 10))
	return wrap(r.Error())
}

// Undo implements zan.LikeState.
func (l *Likes) Undo(ctx context.Context, t zan.Target, user int64, like bool, id string) (zan.Change, error) {
	var ch zan.Change
	err := l.c.fence.call(ctx, func(epoch string) error {
		v, err := ints(undoLua.run(ctx, l.c.c, []string{l.key(t)}, epoch, strconv.FormatInt(user, 10), bit(like),
			strconv.FormatUint(userHash(user), 10), id, zan.UndoID(id)))
		if err != nil {
			return err
		}
		if len(v) != 3 {
			return fmt.Errorf("redis: undo replied %v", v)
		}
		ch = zan.Change{Changed: v[0] == 1, Count: v[1], At: v[2]}
		return nil
	})
	return ch, err
}

// each runs s once per target, all in one round trip (in a cluster, one
// per node, in parallel), falling back to EVAL for a script the server
// does not have yet.
func (l *Likes) each(ctx context.Context, s *script, ts []zan.Target, args ...string) []rueidis.RedisResult {
	c := l.c.c
	cmds := make(rueidis.Commands, 0, len(ts))
	for _, t := range ts {
		cmds = append(cmds, s.evalsha(c, []string{l.key(t)}, args...))
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
			cmds = append(cmds, s.eval(c, []string{l.key(ts[i])}, args...))
		}
		for j, r := range c.DoMulti(ctx, cmds...) {
			res[retry[j]] = r
		}
	}
	return res
}

// Drop implements zan.LikeState.
func (l *Likes) Drop(ctx context.Context, t zan.Target, at int64) (bool, error) {
	var dropped bool
	err := l.c.fence.call(ctx, func(epoch string) error {
		v, err := dropLua.run(ctx, l.c.c, []string{l.key(t)}, epoch, strconv.FormatInt(at, 10)).AsInt64()
		dropped = v == 1
		return wrap(err)
	})
	if dropped {
		c, m := l.c.c, member(t)
		c.Do(ctx, c.B().Zrem().Key(l.idleKey(m)).Member(m).Build()) // best effort, as in Evict
	}
	return dropped, err
}

// Epoch implements zan.LikeState.
func (l *Likes) Epoch(ctx context.Context) (string, error) { return l.c.fence.current(ctx) }

// Evict implements zan.LikeState.
func (l *Likes) Evict(ctx context.Context, t zan.Target, idleSince time.Time) (bool, error) {
	epoch, err := l.c.fence.current(ctx)
	if err != nil {
		return false, err
	}
	v, err := ints(evictLua.run(ctx, l.c.c, []string{l.key(t)}, epoch, strconv.FormatInt(idleSince.UnixMicro(), 10)))
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
	uses, err := l.byUse(ctx, "-inf", "("+strconv.FormatInt(since.UnixMicro(), 10), limit)
	out := make([]zan.Target, len(uses))
	for i, u := range uses {
		out[i] = u.Target
	}
	return out, err
}

// Used implements zan.LikeState. It reads the index, which may name
// targets that are gone; Inspect shows them absent.
func (l *Likes) Used(ctx context.Context, since time.Time, limit int) ([]zan.TargetUse, error) {
	return l.byUse(ctx, strconv.FormatInt(since.UnixMicro(), 10), "+inf", limit)
}

// byUse returns up to limit targets of the idle index scored within
// [lo, hi], least recently used first.
func (l *Likes) byUse(ctx context.Context, lo, hi string, limit int) ([]zan.TargetUse, error) {
	if limit <= 0 {
		return nil, nil
	}
	c := l.c.c
	cmds := make(rueidis.Commands, idleShards)
	for i := range cmds {
		key := "{" + l.c.prefix + ":idle:" + strconv.Itoa(i) + "}"
		cmds[i] = c.B().Zrangebyscore().Key(key).Min(lo).Max(hi).Withscores().Limit(0, int64(limit)).Build()
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
	out := make([]zan.TargetUse, 0, min(limit, len(all)))
	for _, z := range all {
		if len(out) == limit {
			break
		}
		typ, id, ok := strings.Cut(z.Member, ":")
		n, err := strconv.ParseInt(id, 10, 64)
		if !ok || err != nil {
			continue // not ours: ignore rather than fail the evictor
		}
		out = append(out, zan.TargetUse{Target: zan.Target{Type: typ, ID: n}, Used: time.UnixMicro(int64(z.Score))})
	}
	return out, nil
}
