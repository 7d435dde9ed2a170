package redis

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"golang.org/x/sync/singleflight"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// fence proves that the like state in Redis is the one zan wrote, and not
// an older copy: a Redis restarted from an RDB or AOF snapshot, a replica
// promoted after asynchronous replication, or an operator's restore all
// bring back a state that misses acknowledged changes, and answers from it
// ("already liked") would be wrong.
//
// The hot state has an epoch, "<ms>-<random>", kept in the key
// {prefix:epoch} together with the run ids of the masters it was proven
// on. Every target's hash records the epoch it was loaded under ("e"), and
// every script treats a target of another epoch as absent. A node uses an
// epoch only once it has verified it: the masters' run ids (INFO) are the
// recorded ones and the key is not older than what the node has seen. A
// restart of a master (from a snapshot or empty), a failover and a FLUSHALL
// fail that check; the node then starts a new epoch (compare-and-set, so
// nodes agree on one) and every target from before reads as absent, to be
// loaded again from the store once the persister has caught up.
//
// When to verify: a restart or failover breaks every connection, so the
// client counts its dials (DialCtxFn), and a call made on a connection
// dialled since the last verification verifies first; a call during which
// a dial happened is checked again after, and its reply thrown away if the
// epoch moved. Changes without a reconnection (FLUSHALL, DEBUG RELOAD, a
// RESTORE by hand) are caught by the verification every VerifyEvery. Run
// ids are the signal, not the proof of currency: what proves it is that
// nothing of an epoch's life was lost while the same master process held
// it, which is the one thing a Redis master cannot do without restarting.
type fence struct {
	c      *Client
	key    string
	logger *slog.Logger

	epoch   atomic.Pointer[string]
	dials   atomic.Uint64 // connections dialled
	checked atomic.Uint64 // dials when the epoch was last verified
	flight  singleflight.Group
	// offset is the server clock minus this process's, in µs, measured at
	// every verification (to within half a round trip): scripts get their
	// deadlines in the server's clock.
	offset atomic.Int64
}

// deadlineMargin is how long before its context's deadline a script gives
// up: its reply then still reaches a caller that waits until the deadline,
// so a script that ran is never answered 503.
const deadlineMargin = 100 * time.Millisecond

// deadline is ctx's deadline less deadlineMargin, in µs of the server's
// clock, as a script argument ("0": none).
func (f *fence) deadline(ctx context.Context) string {
	d, ok := ctx.Deadline()
	if !ok {
		return "0"
	}
	return strconv.FormatInt(d.Add(-deadlineMargin).UnixMicro()+f.offset.Load(), 10)
}

// errExpired says a script ran after its deadline and did nothing.
var errExpired = errors.New("redis: the call ran after its deadline and did nothing")

// VerifyEvery is how often the epoch is verified without a reason.
const VerifyEvery = time.Second

// verifyTimeout bounds one verification.
const verifyTimeout = 2 * time.Second

// errEpochMoved says a reply may come from a state the fence has since
// found stale.
var errEpochMoved = errors.New("redis: the hot state's epoch moved during the call")

func newFence(c *Client, logger *slog.Logger) *fence {
	return &fence{c: c, key: "{" + c.prefix + ":epoch}", logger: logger}
}

// dial counts the connections rueidis makes.
func (f *fence) dial(ctx context.Context, dst string, d *net.Dialer, cfg *tls.Config) (net.Conn, error) {
	f.dials.Add(1)
	if cfg != nil {
		td := tls.Dialer{NetDialer: d, Config: cfg}
		return td.DialContext(ctx, "tcp", dst)
	}
	return d.DialContext(ctx, "tcp", dst)
}

// current returns the epoch to use: the last verified one, unless a
// connection was dialled since.
func (f *fence) current(ctx context.Context) (string, error) {
	if e := f.epoch.Load(); e != nil && f.checked.Load() == f.dials.Load() {
		return *e, nil
	}
	return f.verify(ctx)
}

// call runs fn under the current epoch and retries it once under a new one
// when a connection was dialled during it and the epoch moved (its reply
// may come from the state found stale), or when fn reports errEpochMoved
// itself (it met a target of a newer epoch).
func (f *fence) call(ctx context.Context, fn func(epoch string) error) error {
	for try := 0; ; try++ {
		d := f.dials.Load()
		e, err := f.current(ctx)
		if err != nil {
			return err
		}
		err = fn(e)
		if errors.Is(err, errEpochMoved) || f.dials.Load() != d {
			e2, verr := f.verify(ctx)
			if verr != nil {
				return verr
			}
			if e2 != e || errors.Is(err, errEpochMoved) {
				if try == 0 {
					continue
				}
				return zan.Unavailable("redis", errEpochMoved)
			}
		}
		return err
	}
}

// verify checks the epoch against Redis and starts a new one when it does
// not hold; concurrent callers share one check.
func (f *fence) verify(ctx context.Context) (string, error) {
	ch := f.flight.DoChan("", func() (any, error) {
		vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), verifyTimeout)
		defer cancel()
		return f.check(vctx)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", zan.Unavailable("redis: verifying the hot state", ctx.Err())
	}
}

func (f *fence) check(ctx context.Context) (string, error) {
	d := f.dials.Load()
	masters, err := f.masters(ctx)
	if err != nil {
		return "", err
	}
	c := f.c.c
	t0 := time.Now()
	ts, err := c.Do(ctx, c.B().Time().Build()).AsStrSlice()
	if err != nil {
		return "", wrap(err)
	}
	if len(ts) == 2 {
		sec, err1 := strconv.ParseInt(ts[0], 10, 64)
		us, err2 := strconv.ParseInt(ts[1], 10, 64)
		if err1 == nil && err2 == nil {
			mid := t0.Add(time.Since(t0) / 2)
			f.offset.Store(sec*1_000_000 + us - mid.UnixMicro())
		}
	}
	for range 5 {
		cur, err := c.Do(ctx, c.B().Get().Key(f.key).Build()).ToString()
		if err != nil && !rueidis.IsRedisNil(err) {
			return "", wrap(err)
		}
		epoch, proven, _ := strings.Cut(cur, "|")
		mine := f.epoch.Load()
		if cur != "" && proven == masters && (mine == nil || epochTime(epoch) >= epochTime(*mine)) {
			f.adopt(epoch, d, mine)
			return epoch, nil
		}
		// A new life: after both the key's epoch and ours, so that targets
		// of either read as older.
		n := time.Now().UnixMilli()
		n = max(n, epochTime(epoch)+1)
		if mine != nil {
			n = max(n, epochTime(*mine)+1)
		}
		b := make([]byte, 4)
		rand.Read(b)
		next := strconv.FormatInt(n, 10) + "-" + hex.EncodeToString(b)
		won, err := casLua.run(ctx, c, []string{f.key}, cur, next+"|"+masters).AsInt64()
		if err != nil {
			return "", wrap(err)
		}
		if won == 1 {
			reason := "the recorded masters differ (restart or failover)"
			switch {
			case cur == "":
				reason = "no epoch (first start, or Redis lost its data)"
			case proven == masters:
				reason = "the epoch went back in time (restored from a snapshot)"
			}
			was, level := epoch, slog.LevelWarn
			if mine != nil {
				was = *mine
			} else if cur == "" {
				level = slog.LevelInfo // a first start on an empty Redis
			}
			f.logger.Log(ctx, level, "the hot state in Redis starts a new epoch: every target is loaded again from the store",
				"epoch", next, "was", was, "reason", reason, "masters", masters)
			metrics.HotEpochs.Inc()
			f.adopt(next, d, mine)
			return next, nil
		}
		// Another node changed the key meanwhile: judge its value.
	}
	return "", zan.Unavailable("redis", errors.New("the hot state's epoch keeps changing"))
}

func (f *fence) adopt(epoch string, dials uint64, was *string) {
	if was == nil || *was != epoch {
		f.epoch.Store(&epoch)
	}
	f.checked.Store(dials)
}

// epochTime is the time part of an epoch, 0 for none.
func epochTime(e string) int64 {
	head, _, _ := strings.Cut(e, "-")
	n, _ := strconv.ParseInt(head, 10, 64)
	return n
}

// masters returns "addr=run_id,..." of the masters, sorted.
func (f *fence) masters(ctx context.Context) (string, error) {
	var ms []string
	for addr, n := range f.c.c.Nodes() {
		info, err := n.Do(ctx, n.B().Info().Section("server", "replication").Build()).ToString()
		if err != nil {
			return "", wrap(err)
		}
		var runID, role string
		for _, line := range strings.Split(info, "\n") {
			line = strings.TrimSpace(line)
			if v, ok := strings.CutPrefix(line, "run_id:"); ok {
				runID = v
			} else if v, ok := strings.CutPrefix(line, "role:"); ok {
				role = v
			}
		}
		if runID == "" {
			return "", fmt.Errorf("redis: INFO of %s has no run_id", addr)
		}
		if role == "master" {
			ms = append(ms, addr+"="+runID)
		}
	}
	if len(ms) == 0 {
		return "", zan.Unavailable("redis", errors.New("no master"))
	}
	slices.Sort(ms)
	return strings.Join(ms, ","), nil
}

// casLua: KEYS key; ARGV expected ("" for none), new. Sets the key to new
// if it holds expected; returns 1 if it did.
var casLua = newScript(`
local v = redis.call('GET', KEYS[1])
if (v or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`)

// run verifies every VerifyEvery until stop is called.
func (f *fence) run() (stop func()) {
	return zan.Every(VerifyEvery, func() {
		ctx, cancel := context.WithTimeout(context.Background(), verifyTimeout)
		defer cancel()
		if _, err := f.verify(ctx); err != nil {
			f.logger.Debug("verifying the hot state's epoch", "err", err)
		}
	})
}
