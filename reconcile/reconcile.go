// Package reconcile finds and repairs drift between the hot state and the
// store: a stored count that is not the number of liking rows, a hot count
// or like set that is not the stored one, and answers a writer left
// unconfirmed in the hot state.
//
// The store is the record: every answer a client was given has its event
// in the log (changed or kept, see package likes), so once the persister
// has applied the log (WaitApplied) the store is where clients were told.
// A hot target that still differs is dropped from the hot state, to be
// loaded again on its next access; Drop refuses when anything was toggled
// since the comparison began, and such a target is checked again next time.
// Rewriting the store instead (compensation events timed "now") would race
// live likes: an event could override a user's newer change.
//
// One kind of drift is repaired by publishing instead: an answer whose
// writer died between the hot state and the log (or lost its
// confirmation), found unconfirmed once older than PendingAge. Its event
// is published as the membership is now, at its own At, so newer changes
// still win; dropping the target would repair it too, but only once nobody
// touched it, which a popular target may never allow.
//
// Cost: targets go in chunks of 500, each one Inspect round trip to the
// hot state (one per server) and one count query to the store; like sets
// are read only for targets whose counts differ, or in a deep pass. The
// periodic pass takes only the targets used since the last one, so its
// cost follows the write rate, not the number of hot targets.
package reconcile

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
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
	// Timeout bounds the wait for the persister before a comparison
	// (default 10 s). A persister further behind makes the round skip its
	// comparisons (counted in Skipped) rather than wait: reconciliation is
	// never held up by the log.
	Timeout time.Duration
	// Resolve publishes an answer left unconfirmed
	// (likes.Service.Resolve); nil leaves such answers alone.
	Resolve func(ctx context.Context, t zan.Target, p zan.PendingChange) error
	// PendingAge is the age past which an unconfirmed answer has no live
	// writer (likes.Service.PendingAge; default 5 s).
	PendingAge time.Duration
	// Stall is how long a look at the hot state may take before it counts
	// as a hot state that hung (likes' --hot-timeout; default 1 s).
	Stall time.Duration

	since time.Time // the periodic pass's position
	// trouble is when the hot state last failed or hung (Unix ns).
	trouble atomic.Int64
}

// settled reports whether unconfirmed answers may be published: not until
// the hot state has answered promptly for PendingAge. A writer that
// answered 503 because the hot state hung takes its change back as soon
// as the hot state answers again (likes.Service.undo keeps trying until
// then), and a change published first would outlive that undo: the undo
// finds the mark confirmed and does nothing, and the client's 503 would be
// a lie. Marks are aged by the hot state's clock, which a hang does not
// stop, so after a hang of more than PendingAge they are all "old" at once.
func (rc *Reconciler) settled(now time.Time) bool {
	return now.UnixNano()-rc.trouble.Load() >= int64(rc.pendingAge())
}

// chunk is how many targets go in one round trip.
const chunk = 500

// Result is what one reconciliation found and did.
type Result struct {
	Checked    int `json:"checked"`
	CountDrift int `json:"count_drift"` // stored counts that were not their rows' count (repaired)
	SetDrift   int `json:"set_drift"`   // hot like sets that differed from the store
	Repaired   int `json:"repaired"`    // of those, dropped from the hot state
	Busy       int `json:"busy"`        // of those, toggled meanwhile: checked again next time
	Resolved   int `json:"resolved"`    // answers left unconfirmed by a writer that died, published
	Skipped    int `json:"skipped"`     // not compared: the persister was too far behind
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
	r.Skipped += o.Skipped
	for _, d := range o.Differences {
		r.note(d)
	}
}

func (r *Result) note(d string) {
	if len(r.Differences) < 100 {
		r.Differences = append(r.Differences, d)
	}
}

func (rc *Reconciler) pendingAge() time.Duration {
	if rc.PendingAge <= 0 {
		return 5 * time.Second
	}
	return rc.PendingAge
}

// Targets reconciles each of ts deeply: stored counts are recounted from
// their rows and like sets compared member by member (zan reconcile).
func (rc *Reconciler) Targets(ctx context.Context, ts []zan.Target) (Result, error) {
	return rc.run(ctx, ts, true)
}

func (rc *Reconciler) run(ctx context.Context, ts []zan.Target, deep bool) (Result, error) {
	var res Result
	for c := range slices.Chunk(ts, chunk) {
		r, err := rc.chunk(ctx, c, deep)
		res.add(r)
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// chunk reconciles up to chunk targets.
func (rc *Reconciler) chunk(ctx context.Context, ts []zan.Target, deep bool) (Result, error) {
	res := Result{Checked: len(ts)}
	start := time.Now()
	ins, err := rc.Hot.Inspect(ctx, ts, start.Add(-rc.pendingAge()).UnixMicro())
	now := time.Now()
	stall := rc.Stall
	if stall <= 0 {
		stall = time.Second
	}
	if err != nil || now.Sub(start) > stall {
		rc.trouble.Store(now.UnixNano())
	}
	if err != nil {
		return res, zan.Unavailable("hot state", err)
	}
	// Answers left unconfirmed long enough have no live writer: publish
	// them. A target whose every unconfirmed answer is published now is
	// quiet: the store will hold all it answered once the log is applied.
	resolve := rc.Resolve != nil && rc.settled(now)
	var quiet []int
	for i, in := range ins {
		if resolve {
			for _, p := range in.Pending {
				if err := rc.Resolve(ctx, ts[i], p); err != nil {
					return res, err
				}
				res.Resolved++
			}
		}
		if deep || in.Loaded && in.Unconfirmed == len(in.Pending) && (resolve || in.Unconfirmed == 0) {
			quiet = append(quiet, i)
		}
	}
	if res.Resolved > 0 && rc.Logger != nil {
		rc.Logger.Warn("published answers a writer left unconfirmed", "n", res.Resolved)
	}
	if len(quiet) == 0 {
		return res, nil
	}
	timeout := rc.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	err = rc.Log.WaitApplied(wctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		res.Skipped += len(quiet)
		if rc.Logger != nil {
			rc.Logger.Warn("reconciliation skipped its comparisons: the persister is behind", "targets", len(quiet), "err", err)
		}
		return res, nil
	}
	sub := make([]zan.Target, len(quiet))
	for j, i := range quiet {
		sub[j] = ts[i]
	}
	counts, err := rc.Store.LikeCounts(ctx, sub)
	if err != nil {
		return res, zan.Unavailable("store", err)
	}
	for j, i := range quiet {
		t, in, stored := ts[i], ins[i], counts[j]
		if deep {
			before, after, err := rc.Store.RecountLikes(ctx, t)
			if err != nil {
				return res, zan.Unavailable("store", err)
			}
			if before != after {
				res.CountDrift++
				metrics.ReconcileDrift.WithLabelValues("count").Inc()
				res.note(t.String() + ": stored count " + itoa(before) + ", rows " + itoa(after))
			}
			stored = after
		}
		if !in.Loaded {
			continue
		}
		differs := in.Count != stored
		if !differs && deep {
			if differs, err = rc.setsDiffer(ctx, t, &res); err != nil {
				return res, err
			}
		}
		if differs {
			if err := rc.repair(ctx, t, in, stored, &res); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// setsDiffer compares t's hot and stored like sets.
func (rc *Reconciler) setsDiffer(ctx context.Context, t zan.Target, res *Result) (bool, error) {
	hot, ok, err := rc.Hot.Members(ctx, t)
	if err != nil || !ok {
		return false, zan.Unavailable("hot state", err)
	}
	var stored []int64
	if err := rc.Store.ScanLikers(ctx, t, func(u []int64) error { stored = append(stored, u...); return nil }); err != nil {
		return false, zan.Unavailable("store", err)
	}
	onlyHot, onlyStore := diff(hot, stored)
	if len(onlyHot)+len(onlyStore) == 0 {
		return false, nil
	}
	res.note(t.String() + ": " + itoa(int64(len(onlyHot))) + " likers only in the hot state, " + itoa(int64(len(onlyStore))) + " only in the store")
	return true, nil
}

// repair drops t, whose hot state differs from the store, unless it was
// toggled since it was inspected: then the difference may be that toggle
// on its way to the store, and t is checked again next time.
func (rc *Reconciler) repair(ctx context.Context, t zan.Target, in zan.Inspection, stored int64, res *Result) error {
	dropped, err := rc.Hot.Drop(ctx, t, in.At)
	if err != nil {
		return zan.Unavailable("hot state", err)
	}
	if !dropped {
		res.Busy++
		return nil
	}
	res.SetDrift++
	res.Repaired++
	metrics.ReconcileDrift.WithLabelValues("set").Inc()
	metrics.ReconcileRepaired.Inc()
	res.note(t.String() + ": hot count " + itoa(in.Count) + ", stored " + itoa(stored))
	if rc.Logger != nil {
		rc.Logger.Warn("like set drift repaired: the target is loaded again from the store",
			"target", t.String(), "hot", in.Count, "stored", stored)
	}
	return nil
}

// All reconciles every target in the hot state deeply, chunk by chunk.
// Targets only in the store have their counts checked when they are next
// loaded or named with Targets.
func (rc *Reconciler) All(ctx context.Context, progress func(Result)) (Result, error) {
	// Idle with a future bound lists every loaded target.
	ts, err := rc.Hot.Idle(ctx, time.Now().Add(24*time.Hour), 10_000_000)
	if err != nil {
		return Result{}, zan.Unavailable("hot state", err)
	}
	var res Result
	for c := range slices.Chunk(ts, chunk) {
		r, err := rc.chunk(ctx, c, true)
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

// Pass reconciles the targets used since the previous pass (changes mark
// their target used at once; the first pass takes everything used in the
// last PendingAge). Counts are compared; sets only where counts differ.
func (rc *Reconciler) Pass(ctx context.Context) (Result, error) {
	start := time.Now()
	since := rc.since
	if since.IsZero() {
		since = start.Add(-2 * rc.pendingAge())
	}
	// An answer left unconfirmed is resolved once older than PendingAge,
	// so the window reaches back that far: a target touched once, by a
	// writer that then died, is still in the window when its answer is
	// old enough to resolve.
	since = since.Add(-rc.pendingAge())
	const most = 200_000
	uses, err := rc.Hot.Used(ctx, since, most)
	if err != nil {
		return Result{}, zan.Unavailable("hot state", err)
	}
	ts := make([]zan.Target, len(uses))
	for i, u := range uses {
		ts[i] = u.Target
	}
	res, err := rc.run(ctx, ts, false)
	if err != nil {
		return res, err
	}
	if len(uses) == most {
		rc.since = uses[len(uses)-1].Used // the rest next time
	} else {
		rc.since = start
	}
	return res, nil
}

// Run reconciles every interval until ctx ends: a Pass each time, and a
// deep pass over every hot target every deepEvery (0: never).
func (rc *Reconciler) Run(ctx context.Context, every, deepEvery time.Duration) error {
	if every <= 0 {
		return nil
	}
	t := time.NewTicker(every)
	defer t.Stop()
	lastDeep := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		pass, res, err := "incremental", Result{}, error(nil)
		if deepEvery > 0 && time.Since(lastDeep) >= deepEvery {
			lastDeep = time.Now()
			pass = "deep"
			res, err = rc.All(ctx, nil)
		} else {
			res, err = rc.Pass(ctx)
		}
		if err != nil && ctx.Err() == nil {
			rc.Logger.Warn("reconciliation", "pass", pass, "err", err)
		} else if res.CountDrift+res.SetDrift > 0 {
			rc.Logger.Warn("reconciliation repaired drift", "pass", pass, "checked", res.Checked,
				"count_drift", res.CountDrift, "set_drift", res.SetDrift, "repaired", res.Repaired, "busy", res.Busy, "resolved", res.Resolved)
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
