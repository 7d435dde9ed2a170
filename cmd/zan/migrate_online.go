package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/zanlabs/zan/migrate"
)

const switchUsage = "usage: zan migrate switch [--url URL] [--admin-token T] [--phase copy|mirror|reads|writes|retired] [--read-share 0-100]"

// runMigrateSwitch shows the online migration of running nodes started
// with --mirror-db, or moves all of them to a phase: the state is shared,
// so any one node will do.
func runMigrateSwitch(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet()
	var a adminClient
	a.flags(fs)
	phase := fs.String("phase", "", "the phase to switch to (none: show the migration)")
	share := fs.Int("read-share", -1, "reads phase: percent of like reads the destination answers")
	if err := fs.Parse(args); err != nil {
		return usage(err)
	}
	if fs.NArg() > 0 || (*phase == "" && *share >= 0) {
		return usagef("%s", switchUsage)
	}
	var (
		b   []byte
		err error
	)
	if *phase == "" {
		b, err = a.call(ctx, http.MethodGet, "/api/v1/admin/migration", nil)
	} else {
		body := map[string]any{"phase": *phase}
		if *share >= 0 {
			body["read_share"] = *share
		}
		b, err = a.call(ctx, http.MethodPost, "/api/v1/admin/migration", body)
	}
	if err != nil {
		return err
	}
	var st migrate.Status
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	fmt.Fprintf(stdout, "phase %s: the destination answers %d%% of like reads; the record is the %s (%s → %s)\n",
		st.Phase, st.DestReads, st.Record, st.Source, st.Dest)
	if v := st.Verification; v != nil {
		if v.Error != "" {
			fmt.Fprintf(stdout, "last verification %s: %s\n", v.At.Format("15:04:05"), v.Error)
		} else {
			fmt.Fprintf(stdout, "last verification %s: liked rows %d/%d, %d targets and %d rows compared; drift: totals %d, counts %d, rows %d\n",
				v.At.Format("15:04:05"), v.SourceLiked, v.DestLiked, v.Targets, v.Rows, v.TotalsDrift, v.CountDrift, v.RowDrift)
		}
		for _, d := range v.Differences {
			fmt.Fprintln(stdout, "  differs: "+d)
		}
	}
	if w := st.Sweep; w != nil {
		if w.Error != "" {
			fmt.Fprintf(stdout, "last sweep %s (%s): %s\n", w.At.Format("15:04:05"), w.Phase, w.Error)
		} else {
			fmt.Fprintf(stdout, "last sweep %s (%s): %d rows compared, %d differed, drift %d, %d repaired\n",
				w.At.Format("15:04:05"), w.Phase, w.Rows, w.Differ, w.Drift, w.Repaired)
		}
	}
	if st.MaxHoldMS > 0 {
		fmt.Fprintf(stdout, "longest hold of row writes at a switch of the record: %d ms\n", st.MaxHoldMS)
	}
	return nil
}
