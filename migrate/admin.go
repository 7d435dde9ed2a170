package migrate

import (
	"context"
	"time"

	"github.com/zanlabs/zan"
)

// Online is an online migration as the admin API shows and drives it.
type Online struct {
	Switch   *Switch
	Verifier *Verifier
	Sweeper  *Sweeper // nil: none
	// Source and Dest name the stores (passwords hidden).
	Source, Dest string
}

// Status is what GET /api/v1/admin/migration answers.
type Status struct {
	State
	DestReads    int           `json:"destination_read_share"`
	Record       string        `json:"record"` // the store reconciliation repairs: source or destination
	Source       string        `json:"source"`
	Dest         string        `json:"destination"`
	Verification *VerifyReport `json:"verification"` // the last round; null before the first
	// Sweep is the last sweep of the tables other than likes; null before
	// the first.
	Sweep *SweepReport `json:"sweep"`
	// MaxHoldMS is the longest that writes of rows waited on this node
	// at a change of the record (the fence).
	MaxHoldMS int64 `json:"max_hold_ms"`
}

// MigrationStatus is this node's view of the migration.
func (o *Online) MigrationStatus(ctx context.Context) (any, error) {
	return o.status(o.Switch.State()), nil
}

func (o *Online) status(st State) Status {
	record := "source"
	if st.DestIsRecord() {
		record = "destination"
	}
	s := Status{State: st, DestReads: st.DestReads(), Record: record, Source: o.Source, Dest: o.Dest,
		Verification: o.Verifier.Last(), MaxHoldMS: o.Switch.MaxHold().Milliseconds()}
	if o.Sweeper != nil {
		s.Sweep = o.Sweeper.Last()
	}
	return s
}

// SwitchMigration moves every node to phase (see Next). The switch to
// retired returns once every node has seen it and both persisters
// applied everything published before: from then on the destination
// holds every event, whichever persister a node restarted onto it
// continues from.
func (o *Online) SwitchMigration(ctx context.Context, phase string, readShare *int) (any, error) {
	cur := o.Switch.State()
	if cur.Phase == PhaseCopy && Phase(phase) == PhaseMirror && o.Sweeper != nil {
		// The sweep is the copy of the tables other than likes: one must
		// have walked them all since the copy began.
		if last := o.Sweeper.Last(); last == nil || last.Error != "" || last.At.Before(cur.Changed) {
			return nil, zan.Errorf(zan.EConflict, "no sweep has copied the tables other than likes yet: wait for one (zan migrate switch shows the last)")
		}
	}
	retiring := Phase(phase) == PhaseRetired && cur.Phase != PhaseRetired
	if retiring {
		if err := o.waitApplied(ctx); err != nil {
			return nil, err
		}
	}
	st, err := o.Switch.Set(ctx, Phase(phase), readShare)
	if err != nil {
		return nil, err
	}
	if retiring {
		if o.Switch.cache != nil {
			zan.Sleep(ctx, FenceHold) // every node saw it
		}
		if err := o.waitApplied(ctx); err != nil {
			return nil, err
		}
	}
	return o.status(st), nil
}

func (o *Online) waitApplied(ctx context.Context) error {
	if o.Verifier == nil || o.Verifier.Wait == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := o.Verifier.Wait(ctx); err != nil {
		return zan.Unavailable("waiting for both persisters", err)
	}
	return nil
}
