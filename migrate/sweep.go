package migrate

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/sqlstore"
	"github.com/zanlabs/zan/metrics"
)

// Sweeper walks every table the Router copies by rows, in key order and
// in chunks, compares the record with the other store and repairs the
// other store: rows written before the Router began copying (the initial
// copy of these tables is the first sweep), and rows whose copy failed or
// never ran (a node that died between its write and its copy) converge
// with no operator action.
//
// A row differing under live writes may be a copy in flight. In PhaseCopy
// every difference is copied at once (that is the copy); after it, a
// difference is looked at again after Settle, and again after another
// Settle, and only one still there at the third look is drift: counted,
// then repaired from the record.
type Sweeper struct {
	Router *Router
	// Batch is the rows per chunk (default 500).
	Batch int
	// Settle is the wait between two looks at a difference (default
	// 250 ms: a row copy takes milliseconds).
	Settle time.Duration
	Logger *slog.Logger

	last atomic.Pointer[SweepReport]
}

// SweepReport is what one sweep found.
type SweepReport struct {
	At     time.Time `json:"at"`
	Phase  Phase     `json:"phase"`
	Rows   int64     `json:"rows"`   // rows of the record compared
	Differ int64     `json:"differ"` // different at the first look
	// Drift is what was still different at the third look (after the
	// copy phase): a row copy lost. It is repaired, like the copied rows.
	Drift    int64    `json:"drift"`
	Repaired int64    `json:"repaired"` // rows written or deleted in the other store
	Details  []string `json:"details,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// Last is the report of the last sweep (nil before the first).
func (s *Sweeper) Last() *SweepReport { return s.last.Load() }

// Run sweeps every interval until ctx ends.
func (s *Sweeper) Run(ctx context.Context, every time.Duration) error {
	for {
		if zan.Sleep(ctx, every); ctx.Err() != nil {
			return nil
		}
		unlock, ok := s.elect(ctx)
		if !ok {
			s.follow(ctx)
			continue
		}
		rep := s.Sweep(ctx)
		unlock()
		s.share(ctx, rep)
		if rep.Error != "" && ctx.Err() == nil {
			s.logger().Warn("migration sweep", "err", rep.Error)
		} else if rep.Drift > 0 {
			s.logger().Warn("migration sweep: rows differed and were repaired", "drift", rep.Drift, "first", rep.Details)
		}
	}
}

// sweepLease bounds a pass of one node: a node that dies sweeping gives
// the sweep to another after it.
const sweepLease = 10 * time.Minute

// elect lets one node at a time sweep when the nodes share a cache: the
// others would walk the same tables for nothing.
func (s *Sweeper) elect(ctx context.Context) (unlock func(), ok bool) {
	sw := s.Router.Switch
	if sw.cache == nil {
		return func() {}, true
	}
	release, ok, err := sw.cache.TryLock(ctx, sw.key+":sweep", sweepLease)
	if err != nil {
		s.logger().Debug("electing the sweeper", "err", err)
		return nil, false
	}
	if !ok {
		return nil, false
	}
	return func() { release(context.WithoutCancel(ctx)) }, true
}

// share publishes the report of this node's sweep to the other nodes,
// which show it (and go by it: see Online.SwitchMigration) as theirs.
func (s *Sweeper) share(ctx context.Context, rep *SweepReport) {
	sw := s.Router.Switch
	if sw.cache == nil {
		return
	}
	b, _ := json.Marshal(rep)
	if err := sw.cache.Set(ctx, sw.key+":sweep:last", b, stateTTL); err != nil {
		s.logger().Debug("sharing the sweep's report", "err", err)
	}
}

// follow takes the report another node shared, if newer than this one's.
func (s *Sweeper) follow(ctx context.Context) {
	sw := s.Router.Switch
	b, ok, err := sw.cache.Get(ctx, sw.key+":sweep:last")
	if err != nil || !ok {
		return
	}
	var rep SweepReport
	if json.Unmarshal(b, &rep) != nil {
		return
	}
	if last := s.last.Load(); last == nil || rep.At.After(last.At) {
		s.last.Store(&rep)
	}
}

func (s *Sweeper) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// Sweep compares and repairs every table once.
func (s *Sweeper) Sweep(ctx context.Context) *SweepReport {
	rep := s.run(ctx, true)
	if rep.Error == "" && rep.Phase != PhaseCopy {
		metrics.MigrationDrift.WithLabelValues("tables").Set(float64(rep.Drift))
	}
	s.last.Store(rep)
	return rep
}

// Check compares every table once and repairs nothing: a difference is
// drift if it is still there at the third look, in any phase.
func (s *Sweeper) Check(ctx context.Context) *SweepReport { return s.run(ctx, false) }

func (s *Sweeper) run(ctx context.Context, repair bool) *SweepReport {
	st := s.Router.Switch.State()
	rep := &SweepReport{At: time.Now().UTC(), Phase: st.Phase}
	_, other, rec := s.Router.rowStores(st)
	if other != nil {
		for _, t := range Tables {
			// A table that fails is reported; the others are still swept.
			if err := s.table(ctx, rec, other, t, st, repair, rep); err != nil && rep.Error == "" {
				rep.Error = fmt.Sprintf("%s: %v", t.Name, err)
			}
			if ctx.Err() != nil {
				break
			}
		}
	}
	return rep
}

func (s *Sweeper) batch() int {
	if s.Batch <= 0 {
		return 500
	}
	return s.Batch
}

// table sweeps t in chunks: a chunk of the record, up to its last key,
// against the other store's rows in the same range.
func (s *Sweeper) table(ctx context.Context, rec, other RowStore, t Table, st State, repair bool, rep *SweepReport) error {
	cols, err := s.Router.copier.columns(ctx, rec, t.Name)
	if err != nil {
		return err
	}
	n := s.batch()
	var after []any
	for {
		want := map[string]sqlstore.Row{}
		var last sqlstore.Row
		err := rec.TableChunk(ctx, t.Name, cols, t.Key, after, nil, n, func(r sqlstore.Row) error {
			want[keyOf(t, cols, r)] = r
			last = r
			return nil
		})
		if err != nil {
			return err
		}
		var upTo []any // nil: the record's last chunk, compared to the end
		if len(want) == n {
			upTo = keyVals(t, cols, last)
		}
		have := map[string]sqlstore.Row{}
		for from := after; ; {
			got := 0
			var lastOther sqlstore.Row
			err := other.TableChunk(ctx, t.Name, cols, t.Key, from, upTo, n, func(r sqlstore.Row) error {
				have[keyOf(t, cols, r)] = r
				lastOther = r
				got++
				return nil
			})
			if err != nil {
				return err
			}
			if got < n {
				break
			}
			from = keyVals(t, cols, lastOther)
		}
		rep.Rows += int64(len(want))
		var differ [][]any
		for k, r := range want {
			if h, ok := have[k]; !ok || !sameRow(h, r) {
				differ = append(differ, keyVals(t, cols, r))
			}
		}
		for k, r := range have {
			if _, ok := want[k]; !ok {
				differ = append(differ, keyVals(t, cols, r))
			}
		}
		if len(differ) > 0 {
			rep.Differ += int64(len(differ))
			if err := s.settle(ctx, rec, other, t, cols, differ, st, repair, rep); err != nil {
				return err
			}
		}
		if upTo == nil {
			return nil
		}
		after = upTo
	}
}

// settle looks at the differing keys again (after the copy phase) and
// repairs what is still different.
func (s *Sweeper) settle(ctx context.Context, rec, other RowStore, t Table, cols []string, keys [][]any, st State, repair bool, rep *SweepReport) error {
	if st.Phase != PhaseCopy || !repair {
		wait := s.Settle
		if wait <= 0 {
			wait = 250 * time.Millisecond
		}
		for look := 0; look < 2 && len(keys) > 0; look++ {
			if zan.Sleep(ctx, wait); ctx.Err() != nil {
				return ctx.Err()
			}
			var err error
			if keys, err = s.stillDiffer(ctx, rec, other, t, cols, keys); err != nil {
				return err
			}
		}
		rep.Drift += int64(len(keys))
		for _, k := range keys {
			if len(rep.Details) < 20 {
				rep.Details = append(rep.Details, fmt.Sprintf("%s %v", t.Name, k))
			}
		}
	}
	if len(keys) == 0 || !repair {
		return nil
	}
	// The repair holds the fence like a write, and is dropped if the
	// record changed since the sweep began: the next sweep redoes it.
	now, done := s.Router.Switch.write()
	defer done()
	if now.DestIsRecord() != st.DestIsRecord() || now.Phase == PhaseRetired {
		return nil
	}
	changed, err := s.Router.copier.sync(ctx, rec, other, t.Name, t.Key, keys)
	rep.Repaired += int64(changed)
	metrics.MigrationSwept.WithLabelValues(t.Name).Add(float64(changed))
	return err
}

// stillDiffer returns those of keys whose rows differ between the stores.
func (s *Sweeper) stillDiffer(ctx context.Context, rec, other RowStore, t Table, cols []string, keys [][]any) ([][]any, error) {
	want, err := s.Router.copier.read(ctx, rec, t, cols, t.Key, keys)
	if err != nil {
		return nil, err
	}
	have, err := s.Router.copier.read(ctx, other, t, cols, t.Key, keys)
	if err != nil {
		return nil, err
	}
	var out [][]any
	for _, k := range keys {
		mk := keyString(k)
		w, okW := want[mk]
		h, okH := have[mk]
		if okW != okH || okW && !sameRow(w, h) {
			out = append(out, k)
		}
	}
	return out, nil
}
