package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// Phase is a step of an online migration: the nodes keep serving while
// the like log feeds both stores (see Router, Verifier and the README).
type Phase string

const (
	// PhaseCopy: the mirror persister applies the live log to the
	// destination while `zan migrate` copies what the source held before;
	// writes of the other tables are copied by rows, and the sweep copies
	// what they held before.
	PhaseCopy Phase = "copy"
	// PhaseMirror: the copy is done; both stores follow the log and the
	// verifier's drift should stay at 0. Reads are the source's.
	PhaseMirror Phase = "mirror"
	// PhaseReads: ReadShare percent of like reads are the destination's,
	// the others asked of it in the shadow and compared.
	PhaseReads Phase = "reads"
	// PhaseWrites: the destination is the record: every like read, and
	// reconciliation (the one writer of stored counts besides the log),
	// and the other tables, whose writes are copied to the source. The
	// source keeps following the log, so going back loses nothing.
	PhaseWrites Phase = "writes"
	// PhaseRetired: final. The source is no longer read, written or
	// compared: both persisters apply to the destination, so the nodes
	// may move onto it (--db) at their next deploy, in any order.
	PhaseRetired Phase = "retired"
)

var onlinePhases = []Phase{PhaseCopy, PhaseMirror, PhaseReads, PhaseWrites, PhaseRetired}

// State is where a migration stands, shared by every node.
type State struct {
	Phase Phase `json:"phase"`
	// ReadShare is the percent of like reads the destination answers in
	// PhaseReads (0-100); 0 before, 100 after.
	ReadShare int       `json:"read_share"`
	Changed   time.Time `json:"changed"`
}

// DestReads is the percent of like reads the destination answers.
func (s State) DestReads() int {
	switch s.Phase {
	case PhaseReads:
		return s.ReadShare
	case PhaseWrites, PhaseRetired:
		return 100
	}
	return 0
}

// DestIsRecord reports whether the destination is the record of likes.
func (s State) DestIsRecord() bool { return s.Phase == PhaseWrites || s.Phase == PhaseRetired }

// Next is the state a switch to phase (and share, nil: unchanged in
// PhaseReads, else 0) leads to from cur. Phases go forward one at a time
// and back to any earlier one, except that retired is final and only
// follows writes.
func Next(cur State, phase Phase, share *int, now time.Time) (State, error) {
	i := slices.Index(onlinePhases, phase)
	if i < 0 {
		return cur, zan.Errorf(zan.EBadRequest, "phase must be one of copy, mirror, reads, writes, retired")
	}
	if share != nil && (*share < 0 || *share > 100) {
		return cur, zan.Errorf(zan.EBadRequest, "read_share must be 0-100")
	}
	if share != nil && phase != PhaseReads {
		return cur, zan.Errorf(zan.EBadRequest, "read_share is for the reads phase")
	}
	c := slices.Index(onlinePhases, cur.Phase)
	if cur.Phase == PhaseRetired && phase != PhaseRetired {
		return cur, zan.Errorf(zan.EConflict, "the migration is retired: the source is no longer followed")
	}
	if i > c+1 {
		return cur, zan.Errorf(zan.EConflict, "phase %s cannot follow %s: onlinePhases go forward one at a time", phase, cur.Phase)
	}
	next := State{Phase: phase, Changed: now}
	if phase == PhaseReads {
		if share != nil {
			next.ReadShare = *share
		} else if cur.Phase == PhaseReads {
			next.ReadShare = cur.ReadShare
		}
	}
	if next.Phase == cur.Phase && next.ReadShare == cur.ReadShare {
		return cur, nil
	}
	return next, nil
}

// Switch holds the migration's state on this node. With a shared cache
// (Redis in scale-out) a switch made on any node reaches all of them
// within PollEvery, without restarts; without one (a single embedded
// node) the state is this process's.
type Switch struct {
	cache  zan.Cache // nil: this process only
	file   string    // without a cache: where the state is kept ("": nowhere)
	key    string
	logger *slog.Logger
	cur    atomic.Pointer[State]
	// fence holds the writes of rows (not likes) while the record
	// changes: each write holds it shared from choosing its store until
	// its rows are copied, and a change of the record takes it whole.
	fence   sync.RWMutex
	maxHold atomic.Int64 // nanoseconds, the longest hold so far
}

// StateKey is the cache key of the shared state of the migration to
// dest: a later migration to another store starts afresh rather than in
// the phase an earlier one ended in.
func StateKey(dest string) string {
	h := fnv.New64a()
	h.Write([]byte(dest))
	return fmt.Sprintf("migration:state:%x", h.Sum64())
}

// PollEvery is how often a node reads the shared state.
const PollEvery = 500 * time.Millisecond

// stateTTL is the shared state's lifetime: the cache wants one.
const stateTTL = 10 * 365 * 24 * time.Hour

// NewSwitch returns the switch of the migration to dest (a name the nodes
// agree on), in the shared state when there is one, else in PhaseCopy.
func NewSwitch(ctx context.Context, cache zan.Cache, dest string, logger *slog.Logger) (*Switch, error) {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Switch{cache: cache, key: StateKey(dest), logger: logger}
	st := State{Phase: PhaseCopy}
	if cache != nil {
		got, ok, err := s.load(ctx)
		if err != nil {
			return nil, err
		}
		if ok {
			st = got
		}
	}
	s.set(st)
	return s, nil
}

// State is this node's view of the migration.
func (s *Switch) State() State { return *s.cur.Load() }

// FenceHold is how long the writes of rows wait when the record changes,
// counted from the switch: longer than a node takes to see it (PollEvery,
// plus a margin for the read of the state), so that no node writes a row
// into the new record while another may still write it into the old.
// Nodes' clocks are taken to agree within the margin.
const FenceHold = PollEvery + 500*time.Millisecond

// write returns the state a write of rows is made under; done must be
// called once its rows are copied to the other store.
func (s *Switch) write() (State, func()) {
	s.fence.RLock()
	return s.State(), s.fence.RUnlock
}

// MaxHold is the longest that writes of rows waited on this node at a
// change of the record.
func (s *Switch) MaxHold() time.Duration { return time.Duration(s.maxHold.Load()) }

func (s *Switch) set(st State) {
	if old := s.cur.Load(); old != nil && old.DestIsRecord() != st.DestIsRecord() {
		// The record changes: wait for the writes in flight (they copy
		// their rows under the old record), then hold new ones until every
		// node has seen the change. A node that sees it late holds less:
		// the hold ends FenceHold after the switch, not after this node
		// saw it.
		start := time.Now()
		s.fence.Lock()
		defer func() {
			s.fence.Unlock()
			d := time.Since(start)
			metrics.MigrationFenceHold.Observe(d.Seconds())
			for {
				m := s.maxHold.Load()
				if int64(d) <= m || s.maxHold.CompareAndSwap(m, int64(d)) {
					break
				}
			}
		}()
		if s.cache != nil {
			until := st.Changed.Add(FenceHold)
			if latest := time.Now().Add(FenceHold); until.After(latest) {
				until = latest
			}
			time.Sleep(time.Until(until))
		}
	}
	old := s.cur.Swap(&st)
	for _, p := range onlinePhases {
		v := 0.0
		if p == st.Phase {
			v = 1
		}
		metrics.MigrationPhase.WithLabelValues(string(p)).Set(v)
	}
	metrics.MigrationReadShare.Set(float64(st.DestReads()))
	if old != nil && *old != st {
		s.logger.Info("migration switched", "phase", st.Phase, "read_share", st.DestReads(), "from", old.Phase)
	}
}

func (s *Switch) load(ctx context.Context) (State, bool, error) {
	b, ok, err := s.cache.Get(ctx, s.key)
	if err != nil || !ok {
		return State{}, false, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil || !slices.Contains(onlinePhases, st.Phase) {
		s.logger.Warn("ignoring a malformed migration state", "value", string(b))
		return State{}, false, nil
	}
	return st, true, nil
}

// Set switches every node to phase (see Next) and returns the new state.
func (s *Switch) Set(ctx context.Context, phase Phase, share *int) (State, error) {
	cur := s.State()
	if s.cache != nil {
		got, ok, err := s.load(ctx)
		if err != nil {
			return cur, zan.Unavailable("migration state", err)
		}
		if ok {
			cur = got
		}
	}
	next, err := Next(cur, phase, share, time.Now().UTC())
	if err != nil {
		return cur, err
	}
	if s.cache != nil {
		b, _ := json.Marshal(next)
		if err := s.cache.Set(ctx, s.key, b, stateTTL); err != nil {
			return cur, zan.Unavailable("migration state", err)
		}
	}
	if s.file != "" {
		if err := s.save(next); err != nil {
			return cur, zan.Unavailable("migration state", err)
		}
	}
	s.set(next)
	return next, nil
}

// stateFile is how PersistTo keeps the state.
type stateFile struct {
	Key   string `json:"key"`
	State State  `json:"state"`
}

// PersistTo keeps the state of a node without a shared cache in file: a
// restart with the same flags continues in the phase it left (retired
// included) rather than in PhaseCopy.
func (s *Switch) PersistTo(file string) error {
	s.file = file
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil || !slices.Contains(onlinePhases, f.State.Phase) {
		return fmt.Errorf("migrate: %s is not a migration state", file)
	}
	if f.Key == s.key { // else a migration to another store: afresh
		s.set(f.State)
	}
	return nil
}

func (s *Switch) save(st State) error {
	b, _ := json.Marshal(stateFile{Key: s.key, State: st})
	tmp := s.file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.file)
}

// Run follows the shared state until ctx ends. A state lost from the
// cache (a Redis restarted empty) is written back from this node's view
// rather than taken for a new migration.
func (s *Switch) Run(ctx context.Context) error {
	if s.cache == nil {
		return nil
	}
	for {
		if zan.Sleep(ctx, PollEvery); ctx.Err() != nil {
			return nil
		}
		st, ok, err := s.load(ctx)
		switch {
		case err != nil:
			s.logger.Debug("reading the migration state", "err", err)
		case ok:
			s.set(st)
		default:
			b, _ := json.Marshal(s.State())
			if err := s.cache.Set(ctx, s.key, b, stateTTL); err != nil {
				s.logger.Debug("writing the migration state back", "err", err)
			}
		}
	}
}
