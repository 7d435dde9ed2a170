// Package reconcile finds and repairs drift between the hot state and the
// store: a stored count that is not the number of liking rows, and a hot
// like set that is not the stored one.
//
// The store is the record: once the persister has applied the log
// (WaitApplied), it holds every change ever acknowledged. A hot set that
// still differs then holds a change that was never acknowledged (an undo
// that failed after a refused publish) or misses one (a publish whose
// acknowledgement was lost after the client was told 503). Either way the
// repair is to drop the target from the hot state so that the next access
// loads it from the store. Rewriting the store through compensation events
// instead would race live likes: an event timed "now" could override a
// user's newer change. Eviction cannot, because Evict refuses a target used
// since the comparison began, and such a target is checked again next round.
//
// One drift is repaired before the comparison, because eviction would wait
// for a quiet moment a popular target may never have: a change a writer made
// in the hot state and died before publishing (Resolve publishes it, at its
// own time, so that newer changes still win).
package reconcile

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// Reconciler compares and repairs.
type Reconciler struct {
	Hot    zan.LikeState
	Log    zan.EventLog
	Store  zan.LikeStore
	Logger *slog.Logger
	// Timeout bounds the wait for the persister before a comparison.
	Timeout time.Duration
	// Resolve, when set, publishes the changes a writer left unconfirmed
	// in t (likes.Service.ResolvePending) before t is compared. Such a
	// change is in the hot state only; dropping the hot set would repair
	// it too, but only once nobody reads the target, which a popular
	// target may never allow.
	Resolve func(ctx context.Context, t zan.Target) (int, error)
}

// Result is what one reconciliation found and did.
type Result struct {
	Checked    int `json:"checked"`
	CountDrift int `json:"count_drift"` // stored counts that were not their rows' count (repaired)
	SetDrift   int `json:"set_drift"`   // hot like sets that differed from the store
	Repaired   int `json:"repaired"`    // of those, dropped from the hot state
	Busy       int `json:"busy"`        // of those, in use meanwhile: checked again next time
	Resolved   int `json:"resolved"`    // changes left unconfirmed by a writer that died, published
	// Differences describes the first 100 drifts found.
	Differences []string `json:"differences,omitempty"`
}

func (r *Result) add(o Result) {
	r.Checked += o.Checked
	r.CountDrift += o.CountDrift
	r.SetDrift += o.SetDrift
	r.Repaired += o.Repaired
	r.Busy += o.Busy
	r.Resolved += o.Resolved
	for _, d := range o.Differences {
		if len(r.Differences) < 100 {
			r.Differences = append(r.Differences, d)
		}
	}
}

// Targets reconciles each of ts.
func (rc *Reconciler) Targets(ctx context.Context, ts []zan.Target) (Result, error) {
	var res Result
	if len(ts) == 0 {
		return res, nil
	}
	start := time.Now()
	// The hot sets first, then the barrier, then the store: every change
	// the hot state took before start is in the store after the barrier,
	// and a change after start marks its target used, so Evict spares it.
	if rc.Resolve != nil {
		for _, t := range ts {
			n, err := rc.Resolve(ctx, t)
			res.Resolved += n
			if err != nil {
				return res, err
			}
		}
	}
	hot := make([][]int64, len(ts))
	loaded := make([]bool, len(ts))
	for i, t := range ts {
		users, ok, err := rc.Hot.Members(ctx, t)
		if err != nil {
			return res, zan.Unavailable("hot state", err)
		}
		hot[i], loaded[i] = users, ok
	}
	timeout := rc.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	err := rc.Log.WaitApplied(wctx)
	cancel()
	if err != nil {
		return res, zan.Unavailable("persister catching up", err)
	}
	for i, t := range ts {
		r, err := rc.target(ctx, t, hot[i], loaded[i], start)
		if err != nil {
			return res, err
		}
		res.add(r)
	}
	return res, nil
}

func (rc *Reconciler) target(ctx context.Context, t zan.Target, hot []int64, loaded bool, start time.Time) (Result, error) {
	res := Result{Checked: 1}
	before, after, err := rc.Store.RecountLikes(ctx, t)
	if err != nil {
		return res, zan.Unavailable("store", err)
	}
	if before != after {
		res.CountDrift++
		metrics.ReconcileDrift.WithLabelValues("count").Inc()
		res.Differences = append(res.Differences, t.String()+": stored count "+itoa(before)+", rows "+itoa(after))
	}
	if !loaded {
		return res, nil
	}
	var stored []int64
	if err := rc.Store.ScanLikers(ctx, t, func(u []int64) error { stored = append(stored, u...); return nil }); err != nil {
		return res, zan.Unavailable("store", err)
	}
	onlyHot, onlyStore := diff(hot, stored)
	if len(onlyHot) == 0 && len(onlyStore) == 0 {
		return res, nil
	}
	res.SetDrift++
	metrics.ReconcileDrift.WithLabelValues("set").Inc()
	res.Differences = append(res.Differences,
		t.String()+": "+itoa(int64(len(onlyHot)))+" likers only in the hot state, "+itoa(int64(len(onlyStore)))+" only in the store")
	evicted, err := rc.Hot.Evict(ctx, t, start)
	if err != nil {
		return res, zan.Unavailable("hot state", err)
	}
	if evicted {
		res.Repaired++
		metrics.ReconcileRepaired.Inc()
	} else {
		res.Busy++
	}
	if rc.Logger != nil {
		rc.Logger.Warn("like set drift", "target", t.String(), "only_hot", len(onlyHot), "only_store", len(onlyStore), "repaired", evicted)
	}
	return res, nil
}

// All reconciles every target in the hot state, batch by batch. Targets
// only in the store have their counts checked when they are next loaded
// or named with Targets.
func (rc *Reconciler) All(ctx context.Context, progress func(Result)) (Result, error) {
	// Idle with a future bound lists every loaded target.
	ts, err := rc.Hot.Idle(ctx, time.Now().Add(24*time.Hour), 1_000_000)
	if err != nil {
		return Result{}, zan.Unavailable("hot state", err)
	}
	var res Result
	for chunk := range slices.Chunk(ts, 500) {
		r, err := rc.Targets(ctx, chunk)
		res.add(r)
		if err != nil {
			return res, err
		}
		if progress != nil {
			progress(res)
		}
	}
	return res, nil
}

// Run reconciles every interval until ctx ends.
func (rc *Reconciler) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return nil
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			res, err := rc.All(ctx, nil)
			if err != nil && ctx.Err() == nil {
				rc.Logger.Warn("reconciliation", "err", err)
			} else if res.CountDrift+res.SetDrift > 0 {
				rc.Logger.Warn("reconciliation repaired drift", "checked", res.Checked,
					"count_drift", res.CountDrift, "set_drift", res.SetDrift, "repaired", res.Repaired, "busy", res.Busy, "resolved", res.Resolved)
			}
		}
	}
}

// diff returns the members only in a and only in b.
func diff(a, b []int64) (onlyA, onlyB []int64) {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i] < b[j]:
			onlyA = append(onlyA, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			onlyB = append(onlyB, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return onlyA, onlyB
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
