package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/zanlabs/zan"
)

// Load implements zan.LikeState. Readers never see a half-loaded target:
// a small load is one script; a large one fills temporary buckets and a
// script renames them into place and writes the hash, together. The users
// are put in 2^lv buckets here, with the scripts' function, lv chosen so
// that they fit without a split.
func (l *Likes) Load(ctx context.Context, t zan.Target, users []int64, after int64) error {
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
	// Sorted as integers and written as text a chunk at a time: ten million
	// likers are 80 MB as int64, and would be some 350 MB more as strings.
	ms := make([]int64, len(users))
	for i, u := range users {
		ms[pos[bs[i]]] = u
		pos[bs[i]]++
	}
	return l.c.fence.call(ctx, func(epoch string) error {
		return l.load(ctx, t, epoch, ms, lv, off, strconv.FormatInt(after, 10))
	})
}

// appendDecimal appends the users us as decimal strings.
func appendDecimal(dst []string, us []int64) []string {
	for _, u := range us {
		dst = append(dst, strconv.FormatInt(u, 10))
	}
	return dst
}

// load installs the users ms, in buckets by off, under epoch.
func (l *Likes) load(ctx context.Context, t zan.Target, epoch string, ms []int64, lv int, off []int, after string) error {
	meta := l.key(t)
	now := time.Now().UnixMicro()
	used := strconv.FormatInt(now, 10)
	c := l.c.c
	nb := 1 << lv
	result := func(v int64, err error) error {
		switch {
		case err != nil:
			return wrap(err)
		case v == -2:
			return errEpochMoved
		case v == -1:
			return fmt.Errorf("redis: loading %v: a temporary set expired during the load", t)
		}
		return nil
	}
	if len(ms) <= loadChunk {
		args := make([]string, 0, 4+nb+len(ms))
		args = append(args, epoch, used, strconv.Itoa(lv), after)
		for b := range nb {
			args = append(args, strconv.Itoa(off[b+1]-off[b]))
		}
		args = appendDecimal(args, ms)
		return result(loadLua.runWith(ctx, c, []string{meta}, args, l.index(t, now, false)).AsInt64())
	}
	st, err := c.Do(ctx, c.B().Hmget().Key(meta).Field("e", "n").Build()).ToArray()
	if err != nil {
		return wrap(err)
	}
	if e, _ := st[0].ToString(); e == epoch && !st[1].IsNil() {
		return nil // present: spare sending a million members for nothing
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
			chunk := appendDecimal(nil, ms[i:min(i+loadChunk, off[b+1])])
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
	var n int64
	for b0 := 0; b0 < nb; b0 += moveChunk {
		args := make([]string, 0, 4+moveChunk)
		args = append(args, epoch, tmp, strconv.Itoa(b0), bit(b0 == 0))
		for _, a := range added[b0:min(b0+moveChunk, nb)] {
			args = append(args, strconv.FormatInt(a, 10))
			n += a
		}
		v, err := moveLua.run(ctx, c, []string{meta}, args...).AsInt64()
		if err != nil || v != 1 {
			l.drop(tmp, off)
			return result(v, err)
		}
	}
	v, err := commitLua.runWith(ctx, c, []string{meta},
		[]string{epoch, used, strconv.Itoa(lv), after, strconv.FormatInt(n, 10)}, l.index(t, now, false)).AsInt64()
	return result(v, err)
}

// moveChunk is how many buckets one moveLua installs: some 3,000 calls
// inside Redis, a few milliseconds.
var moveChunk = 1000

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
