package migrate

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// Recent wraps the store a persister applies to and remembers the last
// events it applied: the verifier's sample of changed targets and rows.
type Recent struct {
	zan.LikeStore
	mu   sync.Mutex
	ring []zan.Event
	next int
	full bool
}

// recentSize is how many applied events Recent keeps.
const recentSize = 4096

// NewRecent wraps s.
func NewRecent(s zan.LikeStore) *Recent {
	return &Recent{LikeStore: s, ring: make([]zan.Event, recentSize)}
}

// ApplyLikes implements zan.LikeStore.
func (r *Recent) ApplyLikes(ctx context.Context, events []zan.Event) (zan.ApplyResult, error) {
	res, err := r.LikeStore.ApplyLikes(ctx, events)
	if err == nil {
		r.mu.Lock()
		for _, e := range events {
			r.ring[r.next] = e
			if r.next++; r.next == len(r.ring) {
				r.next, r.full = 0, true
			}
		}
		r.mu.Unlock()
	}
	return res, err
}

// Events returns the events remembered, oldest first.
func (r *Recent) Events() []zan.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]zan.Event(nil), r.ring[:r.next]...)
	}
	return append(append([]zan.Event(nil), r.ring[r.next:]...), r.ring[:r.next]...)
}

// VerifyStore is what the verifier reads of each store.
type VerifyStore interface {
	zan.LikeStore
	CountTotals(ctx context.Context) (users, blogs, likedRows int64, err error)
}

// Verifier compares the two stores of an online migration while both
// follow the log: the liked rows in total, the counts of the targets
// changed lately, and a sample of their (user, target) rows. Under live
// likes a store behind the other differs for a moment; so the stores are
// compared only after both persisters applied everything published
// before (Wait), and a difference counts as drift only when it is still
// there after a second wait: a row the log had changed in between is
// found equal then.
type Verifier struct {
	// Switch, when set, stops the rounds once the migration is retired.
	Switch       *Switch
	Source, Dest VerifyStore
	// Wait returns once both persisters applied what was published
	// before the call (BothApplied's WaitApplied).
	Wait func(ctx context.Context) error
	// Recent is the mirror's applied events (nil: totals only).
	Recent *Recent
	// Targets and Rows bound the sample of a round (default 500, 200).
	Targets, Rows int
	Logger        *slog.Logger

	mu   sync.Mutex
	last *VerifyReport
}

// VerifyReport is one round of verification.
type VerifyReport struct {
	At          time.Time `json:"at"`
	Took        string    `json:"took"`
	SourceLiked int64     `json:"source_liked_rows"`
	DestLiked   int64     `json:"destination_liked_rows"`
	TotalsDrift int64     `json:"totals_drift"`
	Targets     int       `json:"targets_compared"`
	CountDrift  int       `json:"count_drift"`
	Rows        int       `json:"rows_compared"`
	RowDrift    int       `json:"row_drift"`
	InFlight    int       `json:"in_flight"` // differing targets a persister was applying between the reads: not drift
	Differences []string  `json:"differences,omitempty"`
	Error       string    `json:"error,omitempty"`
}

// Drift is every difference the round found.
func (v *VerifyReport) Drift() int64 {
	return v.TotalsDrift + int64(v.CountDrift) + int64(v.RowDrift)
}

// Last is the last round's report (nil before the first).
func (v *Verifier) Last() *VerifyReport {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.last
}

// Run verifies every every until ctx ends.
func (v *Verifier) Run(ctx context.Context, every time.Duration) error {
	for {
		if zan.Sleep(ctx, every); ctx.Err() != nil {
			return nil
		}
		if v.Switch != nil && v.Switch.State().Phase == PhaseRetired {
			continue // the source is no longer written: nothing to compare
		}
		v.Round(ctx)
	}
}

// verifyWait bounds the wait for the persisters in one round.
const verifyWait = 30 * time.Second

// Round verifies once, records and exports the report, and returns it.
func (v *Verifier) Round(ctx context.Context) *VerifyReport {
	start := time.Now()
	rep := &VerifyReport{At: start.UTC()}
	if err := v.round(ctx, rep); err != nil {
		rep.Error = err.Error()
		metrics.MigrationVerified.WithLabelValues("error").Inc()
	} else {
		metrics.MigrationDrift.WithLabelValues("totals").Set(float64(rep.TotalsDrift))
		metrics.MigrationDrift.WithLabelValues("counts").Set(float64(rep.CountDrift))
		metrics.MigrationDrift.WithLabelValues("rows").Set(float64(rep.RowDrift))
		result := "equal"
		if rep.Drift() > 0 {
			result = "drift"
			if v.Logger != nil {
				v.Logger.Warn("migration drift", "totals", rep.TotalsDrift, "counts", rep.CountDrift, "rows", rep.RowDrift, "first", rep.Differences[0])
			}
		}
		metrics.MigrationVerified.WithLabelValues(result).Inc()
	}
	rep.Took = time.Since(start).Round(time.Millisecond).String()
	v.mu.Lock()
	v.last = rep
	v.mu.Unlock()
	return rep
}

func (v *Verifier) wait(ctx context.Context) error {
	if v.Wait == nil {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, verifyWait)
	defer cancel()
	if err := v.Wait(wctx); err != nil {
		return fmt.Errorf("waiting for the persisters: %w", err)
	}
	return nil
}

func (v *Verifier) round(ctx context.Context, rep *VerifyReport) error {
	targets, rows := v.sample()
	// First look: what differs after both caught up once.
	if err := v.wait(ctx); err != nil {
		return err
	}
	diffT, err := v.counts(ctx, targets)
	if err != nil {
		return err
	}
	diffR, err := v.rows(ctx, rows)
	if err != nil {
		return err
	}
	if err := v.totals(ctx, rep); err != nil {
		return err
	}
	firstTotals := rep.SourceLiked - rep.DestLiked
	rep.Targets, rep.Rows = len(targets), countRows(rows)
	if len(diffT) == 0 && len(diffR) == 0 && firstTotals == 0 {
		return nil
	}
	// Each further look waits for both persisters again and keeps only
	// what still differs and is not in flight (see settled). Two more
	// looks: with several nodes, two batches of one partition can commit
	// out of order, so a store may hold a target's newest change before
	// an older one for a moment, which no single look can tell from a
	// lost event; the next wait ends that.
	firstDiff := map[zan.Target]bool{}
	for _, t := range diffT {
		firstDiff[t] = true
	}
	for t := range diffR {
		firstDiff[t] = true
	}
	lead, err := v.leads(ctx, firstDiff)
	if err != nil {
		return err
	}
	moving := map[zan.Target]bool{}
	totalsStable := true
	for look := 2; look <= 3; look++ {
		if err := v.wait(ctx); err != nil {
			return err
		}
		for t := range lead {
			differs, inFlight, err := v.settled(ctx, t, slices.Contains(diffT, t), diffR[t], lead[t])
			if err != nil {
				return err
			}
			if !differs || inFlight {
				moving[t] = inFlight
				delete(lead, t)
			}
		}
		diffT = slices.DeleteFunc(diffT, func(t zan.Target) bool { _, ok := lead[t]; return !ok })
		maps.DeleteFunc(diffR, func(t zan.Target, _ []int64) bool { _, ok := lead[t]; return !ok })
		if firstTotals != 0 && totalsStable {
			// Totals move with every like: a difference is drift only when
			// it stayed the same in every look and neither store changed
			// while they were read.
			var before VerifyReport
			if err := v.totals(ctx, &before); err != nil {
				return err
			}
			if err := v.totals(ctx, rep); err != nil {
				return err
			}
			d := rep.SourceLiked - rep.DestLiked
			totalsStable = d == firstTotals && before.SourceLiked == rep.SourceLiked && before.DestLiked == rep.DestLiked
		}
		if len(lead) == 0 && (firstTotals == 0 || !totalsStable) {
			break
		}
		if lead, err = v.leads(ctx, keys(lead)); err != nil {
			return err
		}
	}
	for _, m := range moving {
		if m {
			rep.InFlight++
		}
	}
	if firstTotals != 0 && totalsStable {
		rep.TotalsDrift = max(firstTotals, -firstTotals)
		rep.Differences = append(rep.Differences, fmt.Sprintf("liked rows: source %d, destination %d", rep.SourceLiked, rep.DestLiked))
	}
	rep.CountDrift = len(diffT)
	for _, t := range diffT {
		if len(rep.Differences) < 100 {
			rep.Differences = append(rep.Differences, "count of "+t.String())
		}
	}
	for t, us := range diffR {
		rep.RowDrift += len(us)
		for _, u := range us {
			if len(rep.Differences) < 100 {
				rep.Differences = append(rep.Differences, fmt.Sprintf("like of %s by user %d", t, u))
			}
		}
	}
	return nil
}

func countRows(rows map[zan.Target][]int64) int {
	n := 0
	for _, us := range rows {
		n += len(us)
	}
	return n
}

// sample picks the distinct targets of the recent events and a random
// sample of their (user, target) rows.
func (v *Verifier) sample() ([]zan.Target, map[zan.Target][]int64) {
	maxT, maxR := v.Targets, v.Rows
	if maxT <= 0 {
		maxT = 500
	}
	if maxR <= 0 {
		maxR = 200
	}
	var evs []zan.Event
	if v.Recent != nil {
		evs = v.Recent.Events()
	}
	seen := map[zan.Target]bool{}
	var ts []zan.Target
	for i := len(evs) - 1; i >= 0 && len(ts) < maxT; i-- {
		if t := evs[i].Target; !seen[t] {
			seen[t] = true
			ts = append(ts, t)
		}
	}
	rows := map[zan.Target][]int64{}
	picked := map[[2]any]bool{}
	for n := 0; n < maxR && len(evs) > 0; n++ {
		e := evs[rand.IntN(len(evs))]
		if k := [2]any{e.Target, e.User}; !picked[k] {
			picked[k] = true
			rows[e.Target] = append(rows[e.Target], e.User)
		}
	}
	return ts, rows
}

func (v *Verifier) totals(ctx context.Context, rep *VerifyReport) (err error) {
	if _, _, rep.SourceLiked, err = v.Source.CountTotals(ctx); err != nil {
		return fmt.Errorf("counting the source: %w", err)
	}
	if _, _, rep.DestLiked, err = v.Dest.CountTotals(ctx); err != nil {
		return fmt.Errorf("counting the destination: %w", err)
	}
	return nil
}

func keys(m map[zan.Target]int64) map[zan.Target]bool {
	out := make(map[zan.Target]bool, len(m))
	for t := range m {
		out[t] = true
	}
	return out
}

// leads returns, for each target, the newest change either store holds:
// after the next wait, both must hold at least that.
func (v *Verifier) leads(ctx context.Context, ts map[zan.Target]bool) (map[zan.Target]int64, error) {
	lead := make(map[zan.Target]int64, len(ts))
	for t := range ts {
		a, b, err := v.lastChanges(ctx, t)
		if err != nil {
			return nil, err
		}
		lead[t] = max(a, b)
	}
	return lead, nil
}

// settled reads t's count (when count) and the rows of users again,
// between two reads of each store's newest change of t. It differs when
// the stores still disagree; it is in flight when a store changed t while
// it was read, or when both moved past lead and one is ahead: a like one
// persister applied between the reads. A difference with the same newest
// change in both (an event lost under it), or with a store that never
// reached lead (lost at the head), is neither.
func (v *Verifier) settled(ctx context.Context, t zan.Target, count bool, users []int64, lead int64) (differs, inFlight bool, err error) {
	a, b, err := v.lastChanges(ctx, t)
	if err != nil {
		return false, false, err
	}
	var ts []zan.Target
	if count {
		ts = []zan.Target{t}
	}
	dT, dR, err := v.recheck(ctx, ts, users, t)
	if err != nil {
		return false, false, err
	}
	a2, b2, err := v.lastChanges(ctx, t)
	if err != nil {
		return false, false, err
	}
	if !dT && !dR {
		return false, false, nil
	}
	return true, a != a2 || b != b2 || a != b && min(a, b) >= lead, nil
}

// recheck reads t's count (when ts is t) and the rows of users again,
// between two reads of t's newest change (the caller's).
func (v *Verifier) recheck(ctx context.Context, ts []zan.Target, users []int64, t zan.Target) (countDiffers, rowDiffers bool, err error) {
	d, err := v.counts(ctx, ts)
	if err != nil {
		return false, false, err
	}
	r, err := v.rows(ctx, map[zan.Target][]int64{t: users})
	if err != nil {
		return false, false, err
	}
	return len(d) > 0, len(r) > 0, nil
}

func (v *Verifier) lastChanges(ctx context.Context, t zan.Target) (src, dst int64, err error) {
	if src, err = v.Source.LastLikeChange(ctx, t); err != nil {
		return 0, 0, fmt.Errorf("source: %w", err)
	}
	if dst, err = v.Dest.LastLikeChange(ctx, t); err != nil {
		return 0, 0, fmt.Errorf("destination: %w", err)
	}
	return src, dst, nil
}

// counts returns the targets whose stored counts differ.
func (v *Verifier) counts(ctx context.Context, ts []zan.Target) ([]zan.Target, error) {
	var diff []zan.Target
	for i := 0; i < len(ts); i += chunkSize {
		sub := ts[i:min(i+chunkSize, len(ts))]
		a, err := v.Source.LikeCounts(ctx, sub)
		if err != nil {
			return nil, fmt.Errorf("source counts: %w", err)
		}
		b, err := v.Dest.LikeCounts(ctx, sub)
		if err != nil {
			return nil, fmt.Errorf("destination counts: %w", err)
		}
		for j := range sub {
			if a[j] != b[j] {
				diff = append(diff, sub[j])
			}
		}
	}
	return diff, nil
}

const chunkSize = 500

// rows returns the (user, target) rows whose liked state differs, in one
// query per user and store.
func (v *Verifier) rows(ctx context.Context, rows map[zan.Target][]int64) (map[zan.Target][]int64, error) {
	byUser := map[int64][]zan.Target{}
	for t, us := range rows {
		for _, u := range us {
			byUser[u] = append(byUser[u], t)
		}
	}
	diff := map[zan.Target][]int64{}
	for u, ts := range byUser {
		a, err := v.Source.Liked(ctx, ts, u)
		if err != nil {
			return nil, fmt.Errorf("source rows: %w", err)
		}
		b, err := v.Dest.Liked(ctx, ts, u)
		if err != nil {
			return nil, fmt.Errorf("destination rows: %w", err)
		}
		for i, t := range ts {
			if a[i] != b[i] {
				diff[t] = append(diff[t], u)
			}
		}
	}
	return diff, nil
}
