package migrate

import (
	"context"
)

// Online is an online migration as the admin API shows and drives it.
type Online struct {
	Switch   *Switch
	Verifier *Verifier
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
	return Status{State: st, DestReads: st.DestReads(), Record: record, Source: o.Source, Dest: o.Dest, Verification: o.Verifier.Last()}
}

// SwitchMigration moves every node to phase (see Next).
func (o *Online) SwitchMigration(ctx context.Context, phase string, readShare *int) (any, error) {
	st, err := o.Switch.Set(ctx, Phase(phase), readShare)
	if err != nil {
		return nil, err
	}
	return o.status(st), nil
}
