package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/zanlabs/zan"
)

// The reads of the like hot state: they write nothing on the request path.

// State implements zan.LikeState. It writes nothing: targets whose "used"
// mark is older than readSlack are queued for the background marker.
// Against one server all targets go to one script call; in a cluster,
// whose scripts must keep to one slot, one call per target, all in one
// round trip per node, in parallel.
func (l *Likes) State(ctx context.Context, ts []zan.Target, user int64) ([]zan.TargetState, error) {
	out := make([]zan.TargetState, len(ts))
	if len(ts) == 0 {
		return out, nil
	}
	h := "0"
	if user != 0 {
		h = strconv.FormatUint(userHash(user), 10)
	}
	err := l.c.fence.call(ctx, func(epoch string) error {
		now := time.Now().UnixMicro()
		args := []string{epoch, strconv.FormatInt(user, 10), strconv.FormatInt(now, 10), h,
			strconv.FormatInt(readSlack.Microseconds(), 10)}
		var v []int64
		if l.c.cluster {
			v = make([]int64, 0, 4*len(ts))
			for _, r := range l.each(ctx, stateLua, ts, args...) {
				w, err := ints(r)
				if err != nil {
					return err
				}
				if len(w) != 4 {
					return fmt.Errorf("redis: state replied %v", w)
				}
				v = append(v, w...)
			}
		} else {
			keys := make([]string, len(ts))
			for i, t := range ts {
				keys[i] = l.key(t)
			}
			var err error
			if v, err = ints(stateLua.run(ctx, l.c.c, keys, args...)); err != nil {
				return err
			}
			if len(v) != 4*len(ts) {
				return fmt.Errorf("redis: state of %d targets replied %d values", len(ts), len(v))
			}
		}
		moved := false
		for i := range ts {
			w := v[4*i : 4*i+4]
			moved = moved || w[0] == -2
			out[i] = zan.TargetState{Loaded: w[0] == 1, Count: w[1], Liked: w[2] == 1}
			if w[3] == 1 {
				l.c.marks.add(ts[i], now)
			}
		}
		if moved {
			return errEpochMoved
		}
		return nil
	})
	return out, err
}

// marks are the targets reads found with a stale "used" mark, written in
// bulk in the background (markEvery): a read of a popular feed used to
// write to Redis on its request path (the hash, then the idle index), and
// eviction, which the mark is for, thinks in minutes.
type marks struct {
	mu sync.Mutex
	m  map[zan.Target]int64 // target → used (µs)
}

// maxMarks bounds the queue: marks are advisory (a target missed is
// marked by its next read), memory is not.
const maxMarks = 100_000

// markEvery is how often the marks are written.
var markEvery = time.Second

func (m *marks) add(t zan.Target, used int64) {
	m.mu.Lock()
	if m.m == nil {
		m.m = map[zan.Target]int64{}
	}
	if len(m.m) < maxMarks || m.m[t] != 0 {
		m.m[t] = max(m.m[t], used)
	}
	m.mu.Unlock()
}

func (m *marks) take() map[zan.Target]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	got := m.m
	m.m = nil
	return got
}

// runMarker writes the queued marks every markEvery, and once more when
// stopped.
func (l *Likes) runMarker(logger *slog.Logger) (stop func()) {
	flush := func(d time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		if err := l.flushMarks(ctx); err != nil {
			logger.Debug("writing the reads' used marks", "err", err)
		}
	}
	stopEvery := zan.Every(markEvery, func() { flush(5 * time.Second) })
	// At close, briefly: a Redis that is down must not hold the shutdown.
	return func() { stopEvery(); flush(time.Second) }
}

// markChunk is the most targets one flush sends in a round trip.
const markChunk = 500

// flushMarks writes the queued marks: "used" in the hash of each target
// still loaded (never lowered), and its score in the idle index (XX: only
// targets the index holds; GT: never lowered).
func (l *Likes) flushMarks(ctx context.Context) error {
	got := l.c.marks.take()
	if len(got) == 0 {
		return nil
	}
	c := l.c.c
	type mark struct {
		meta string
		used int64
	}
	batch := make([]mark, 0, min(len(got), markChunk))
	var first error
	send := func() {
		cmds := make(rueidis.Commands, 0, 2*len(batch))
		for _, m := range batch {
			cmds = append(cmds, markLua.evalsha(c, []string{m.meta}, strconv.FormatInt(m.used, 10)))
		}
		res := c.DoMulti(ctx, cmds...)
		var retry rueidis.Commands
		for i, r := range res {
			if noScript(r) {
				retry = append(retry, markLua.eval(c, []string{batch[i].meta}, strconv.FormatInt(batch[i].used, 10)))
			} else if err := r.Error(); err != nil && first == nil {
				first = wrap(err)
			}
		}
		if len(retry) > 0 {
			for _, r := range c.DoMulti(ctx, retry...) {
				if err := r.Error(); err != nil && first == nil {
					first = wrap(err)
				}
			}
		}
		batch = batch[:0]
	}
	var index rueidis.Commands
	for t, used := range got {
		batch = append(batch, mark{l.key(t), used})
		index = append(index, l.index(t, used, true))
		if len(batch) == markChunk {
			send()
		}
	}
	if len(batch) > 0 {
		send()
	}
	for _, r := range c.DoMulti(ctx, index...) {
		if err := r.Error(); err != nil && first == nil {
			first = wrap(err)
		}
	}
	return first
}

// Inspect implements zan.LikeState.
func (l *Likes) Inspect(ctx context.Context, ts []zan.Target, before int64) ([]zan.Inspection, error) {
	out := make([]zan.Inspection, len(ts))
	if len(ts) == 0 {
		return out, nil
	}
	err := l.c.fence.call(ctx, func(epoch string) error {
		res := l.each(ctx, inspectLua, ts, epoch, strconv.FormatInt(before, 10))
		for i, t := range ts {
			a, err := res[i].AsStrSlice()
			if err != nil {
				return wrap(err)
			}
			in, err := parseInspection(a)
			if err != nil {
				return fmt.Errorf("redis: inspecting %v: %w", t, err)
			}
			if in == nil {
				return errEpochMoved
			}
			out[i] = *in
		}
		return nil
	})
	return out, err
}

// parseInspection reads inspectLua's reply; nil for a target of a newer
// epoch.
func parseInspection(a []string) (*zan.Inspection, error) {
	if len(a) == 0 {
		return nil, errors.New("empty reply")
	}
	switch a[0] {
	case "-1":
		return &zan.Inspection{}, nil
	case "-2":
		return nil, nil
	}
	if len(a) < 4 || (len(a)-4)%3 != 0 {
		return nil, fmt.Errorf("reply %q", a)
	}
	n, err1 := strconv.ParseInt(a[1], 10, 64)
	at, err2 := strconv.ParseInt(a[2], 10, 64)
	un, err3 := strconv.Atoi(a[3])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	in := &zan.Inspection{Loaded: true, Count: n, At: at, Unconfirmed: un}
	for i := 4; i < len(a); i += 3 {
		u, err1 := strconv.ParseInt(a[i], 10, 64)
		at, id, _ := strings.Cut(a[i+1], ":")
		m, err2 := strconv.ParseInt(at, 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		in.Pending = append(in.Pending, zan.PendingChange{User: u, At: max(m, -m), ID: id, Kept: m < 0, Liked: a[i+2] == "1"})
	}
	slices.SortFunc(in.Pending, func(a, b zan.PendingChange) int { return cmp.Compare(a.At, b.At) })
	return in, nil
}

// Members implements zan.LikeState.
func (l *Likes) Members(ctx context.Context, t zan.Target) ([]int64, bool, error) {
	var (
		users []int64
		ok    bool
	)
	err := l.c.fence.call(ctx, func(epoch string) (err error) {
		users, ok, err = l.members(ctx, t, epoch)
		return err
	})
	return users, ok, err
}

func (l *Likes) members(ctx context.Context, t zan.Target, epoch string) ([]int64, bool, error) {
	meta := l.key(t)
	a, err := membersLua.run(ctx, l.c.c, []string{meta}, epoch, strconv.Itoa(membersScanAbove)).ToArray()
	if err != nil {
		return nil, false, wrap(err)
	}
	if len(a) == 0 {
		return nil, false, errors.New("redis: members replied nothing")
	}
	if len(a) != 2 {
		code, _ := a[0].AsInt64()
		if err := goneErr(code); err != nil && err != zan.ErrNotLoaded {
			return nil, false, err
		} else if err != nil {
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
