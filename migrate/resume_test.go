package migrate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/testenv"
	"github.com/zanlabs/zan/migrate"
	"github.com/zanlabs/zan/mysql"
)

// openMySQL opens a database of its own on ZAN_TEST_MYSQL's server (MariaDB,
// MySQL or TiDB), dropped when the test ends; it skips without one.
func openMySQL(t *testing.T) *mysql.DB {
	t.Helper()
	db, err := mysql.Open(t.Context(), testenv.FreshMySQL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// destinations are the stores a migration is tested into.
var destinations = []struct {
	name string
	open func(*testing.T) migrate.Destination
}{
	{"sqlite", func(t *testing.T) migrate.Destination { return open(t) }},
	{"mysql", func(t *testing.T) migrate.Destination { return openMySQL(t) }},
}

// TestResume interrupts a copy in every phase, after its first batch and
// at its very end, and resumes it from the checkpoint; the resumed run
// completes and verifies, and the runs after it converge without change.
func TestResume(t *testing.T) {
	phases := []string{"users", "identities", "blogs", "shops", "vouchers", "orders", "likes"}
	for _, d := range destinations {
		t.Run(d.name, func(t *testing.T) {
			src := open(t)
			fill(t, src)
			for _, phase := range phases {
				for _, atEnd := range []bool{false, true} {
					name := phase
					if atEnd {
						name += "/end"
					}
					t.Run(name, func(t *testing.T) { resumeAt(t, src, d.open(t), phase, atEnd) })
				}
			}
		})
	}
}

func resumeAt(t *testing.T, src zan.Exporter, dst migrate.Destination, phase string, atEnd bool) {
	ctx := t.Context()
	cp := filepath.Join(t.TempDir(), "cp.json")
	opts := migrate.Options{Batch: 5, Checkpoint: cp, Label: "src → dst"}

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	interrupted := opts
	interrupted.Progress = func(p migrate.Progress) {
		if p.Phase == phase && (!atEnd || p.Done >= p.Total) {
			cancel()
		}
	}
	rep, err := migrate.Run(cctx, src, dst, interrupted)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v (%+v)", err, rep)
	}
	b, err := os.ReadFile(cp)
	if err != nil {
		t.Fatalf("no checkpoint after a run interrupted in %s: %v", phase, err)
	}
	var saved struct{ Phase string }
	if err := json.Unmarshal(b, &saved); err != nil || saved.Phase != phase {
		t.Fatalf("checkpoint after a run interrupted in %s: %s (%v)", phase, b, err)
	}

	rep, err = migrate.Run(ctx, src, dst, opts)
	if err != nil {
		t.Fatalf("resumed run: %v (%+v)", err, rep.Verification)
	}
	// The counts of the interrupted run and the resumed one add up to the
	// source's rows, each once.
	type copied struct{ users, idents, blogs, shops, vouchers, orders, likes, changed int64 }
	want := copied{30, 6, 30, 12, 12, 12, 500, 400} // tombstones change no count
	if got := (copied{rep.Users, rep.Identities, rep.Blogs, rep.Shops, rep.Vouchers, rep.Orders, rep.Likes, rep.LikesChanged}); !rep.Resumed || got != want {
		t.Fatalf("resumed run copied %+v, want %+v (resumed: %v)", got, want, rep.Resumed)
	}
	if _, err := os.Stat(cp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("checkpoint left after a complete run: %v", err)
	}

	// Again, and again: everything is copied, nothing changes.
	for i := 0; i < 2; i++ {
		rep, err := migrate.Run(ctx, src, dst, opts)
		if err != nil || rep.Resumed || rep.Likes != 500 || rep.LikesChanged != 0 || !rep.Verification.OK() {
			t.Fatalf("run %d after the copy: %+v, %v", i+2, rep, err)
		}
	}
	if o, err := dst.(interface {
		Order(context.Context, int64) (zan.VoucherOrder, error)
	}).Order(ctx, 105); err != nil || o.UserID != 5 {
		t.Fatalf("order in the destination: %+v, %v", o, err)
	}
}

// fillIdentities links an identity to a few users of fill.
func fillIdentities(t *testing.T, s interface {
	LinkIdentity(context.Context, zan.Identity) error
}) {
	t.Helper()
	for id := int64(1); id <= 6; id++ {
		err := s.LinkIdentity(t.Context(), zan.Identity{Issuer: "https://id.example", Subject: fmt.Sprint("s", id), UserID: id,
			CreatedAt: time.UnixMicro(t0 + id).UTC()})
		if err != nil {
			t.Fatal(err)
		}
	}
}
