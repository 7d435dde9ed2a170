package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/memory"
	"github.com/zanlabs/zan/migrate"
)

func TestNextPhase(t *testing.T) {
	now := time.Unix(1, 0)
	share := func(n int) *int { return &n }
	st := migrate.State{Phase: migrate.PhaseCopy}
	steps := []struct {
		phase migrate.Phase
		share *int
		code  string // error code wanted; "" ok
		reads int    // destination read share after
	}{
		{"reads", nil, zan.EConflict, 0}, // forward one at a time
		{"mirror", nil, "", 0},
		{"reads", share(101), zan.EBadRequest, 0},
		{"mirror", share(5), zan.EBadRequest, 0},
		{"nonsense", nil, zan.EBadRequest, 0},
		{"reads", nil, "", 0},
		{"reads", share(10), "", 10},
		{"reads", nil, "", 10}, // unchanged
		{"retired", nil, zan.EConflict, 10},
		{"writes", nil, "", 100},
		{"copy", nil, "", 0}, // back to any earlier phase
		{"mirror", nil, "", 0},
		{"reads", share(100), "", 100},
		{"writes", nil, "", 100},
		{"retired", nil, "", 100},
		{"writes", nil, zan.EConflict, 100}, // final
	}
	for i, s := range steps {
		next, err := migrate.Next(st, s.phase, s.share, now)
		if code := zan.ErrorCode(err); s.code != "" && code != s.code || s.code == "" && err != nil {
			t.Fatalf("step %d (%s): err %v, want code %q", i, s.phase, err, s.code)
		}
		if err == nil {
			st = next
		}
		if st.DestReads() != s.reads {
			t.Fatalf("step %d (%s): destination reads %d%%, want %d%%", i, s.phase, st.DestReads(), s.reads)
		}
	}
	if !st.DestIsRecord() {
		t.Fatal("retired: the destination is not the record")
	}
}

// TestSwitchShared: a switch made through one node's Switch reaches
// another sharing the cache, and a state lost from the cache is written
// back rather than taken for a new migration.
func TestSwitchShared(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cache := memory.NewCache()
	defer cache.Close()
	a, err := migrate.NewSwitch(ctx, cache, "db2", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := migrate.NewSwitch(ctx, cache, "db2", nil)
	if err != nil {
		t.Fatal(err)
	}
	go b.Run(ctx)
	if _, err := a.Set(ctx, migrate.PhaseMirror, nil); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, b, migrate.PhaseMirror)
	if err := cache.Delete(ctx, migrate.StateKey("db2")); err != nil {
		t.Fatal(err)
	}
	c := waitCached(t, cache)
	if c != migrate.PhaseMirror {
		t.Fatalf("state written back: %s", c)
	}
	// Another migration's state is its own.
	other, err := migrate.NewSwitch(ctx, cache, "db3", nil)
	if err != nil {
		t.Fatal(err)
	}
	if other.State().Phase != migrate.PhaseCopy {
		t.Fatalf("a migration to another store starts in %s", other.State().Phase)
	}
	// b, reading the shared state, refuses a jump a has not seen either.
	if _, err := b.Set(ctx, migrate.PhaseWrites, nil); zan.ErrorCode(err) != zan.EConflict {
		t.Fatalf("mirror → writes: %v", err)
	}
}

func waitPhase(t *testing.T, s *migrate.Switch, p migrate.Phase) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if s.State().Phase == p {
			return
		}
	}
	t.Fatalf("phase %s, want %s", s.State().Phase, p)
}

func waitCached(t *testing.T, cache zan.Cache) migrate.Phase {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, ok, _ := cache.Get(t.Context(), migrate.StateKey("db2")); ok {
			s, err := migrate.NewSwitch(t.Context(), cache, "db2", nil)
			if err != nil {
				t.Fatal(err)
			}
			return s.State().Phase
		}
	}
	t.Fatal("the state was not written back")
	return ""
}

// TestRouterAndVerifier: like reads follow the read share, the record
// follows the write switch, and the verifier finds a row one store lacks
// (drift), and none once both hold it.
func TestRouterAndVerifier(t *testing.T) {
	ctx := t.Context()
	src, dst := open(t), open(t)
	sw, err := migrate.NewSwitch(ctx, nil, "db2", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := migrate.NewRouter(src, dst, sw)
	var evs []zan.Event
	for i := int64(1); i <= 100; i++ {
		evs = append(evs, zan.Event{ID: fmt.Sprint(i), Op: zan.OpLike, Target: zan.Target{Type: "blog", ID: i}, User: 7, At: t0 + i})
	}
	rec := migrate.NewRecent(dst)
	if _, err := src.ApplyLikes(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if _, err := rec.ApplyLikes(ctx, evs[:99]); err != nil { // the destination misses the last
		t.Fatal(err)
	}
	// The destination holds a later unlike of the last, which the source
	// has not applied yet.
	if _, err := dst.ApplyLikes(ctx, []zan.Event{{ID: "x", Op: zan.OpUnlike, Target: evs[99].Target, User: 7, At: t0 + 200}}); err != nil {
		t.Fatal(err)
	}
	// Reads: source only, then a share by target, then the destination.
	last := []zan.Target{evs[99].Target}
	counts := func() int64 {
		c, err := r.LikeCounts(ctx, last)
		if err != nil {
			t.Fatal(err)
		}
		return c[0]
	}
	if counts() != 1 {
		t.Fatal("copy phase: not the source's count")
	}
	for _, p := range []migrate.Phase{migrate.PhaseMirror, migrate.PhaseReads} {
		if _, err := sw.Set(ctx, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	half := 50
	if _, err := sw.Set(ctx, migrate.PhaseReads, &half); err != nil {
		t.Fatal(err)
	}
	fromDest := 0
	for _, e := range evs[:99] {
		// Routed by the first target: which store answers shows in the
		// second, on which they differ.
		c, err := r.LikeCounts(ctx, []zan.Target{e.Target, evs[99].Target})
		if err != nil {
			t.Fatal(err)
		}
		if c[1] == 0 {
			fromDest++
		}
	}
	if fromDest < 20 || fromDest > 80 {
		t.Fatalf("read share 50%%: %d of 99 reads from the destination", fromDest)
	}
	if r.Record() != zan.LikeStore(src) {
		t.Fatal("reads phase: the record is not the source")
	}
	if _, err := sw.Set(ctx, migrate.PhaseWrites, nil); err != nil {
		t.Fatal(err)
	}
	if counts() != 0 || r.Record() != zan.LikeStore(dst) {
		t.Fatal("writes phase: not the destination")
	}

	v := &migrate.Verifier{Source: src, Dest: dst, Recent: rec}
	rep := v.Round(ctx)
	if rep.Error != "" || rep.TotalsDrift != 1 || rep.Targets != 99 {
		t.Fatalf("%+v", rep)
	}
	// evs[99] is not among the recent events: a row of a recent target.
	if _, err := rec.ApplyLikes(ctx, []zan.Event{{ID: "y", Op: zan.OpLike, Target: evs[0].Target, User: 8, At: t0 + 300}}); err != nil {
		t.Fatal(err)
	}
	rep = v.Round(ctx)
	if rep.CountDrift != 1 || rep.TotalsDrift != 0 || v.Last() != rep {
		t.Fatalf("%+v", rep)
	}
	if _, err := src.ApplyLikes(ctx, []zan.Event{{ID: "y", Op: zan.OpLike, Target: evs[0].Target, User: 8, At: t0 + 300}}); err != nil {
		t.Fatal(err)
	}
	if rep = v.Round(ctx); rep.Drift() != 1 { // the totals still differ by evs[99]
		t.Fatalf("%+v", rep)
	}
	if _, err := src.ApplyLikes(ctx, []zan.Event{{ID: "x", Op: zan.OpUnlike, Target: evs[99].Target, User: 7, At: t0 + 200}}); err != nil {
		t.Fatal(err)
	}
	if rep = v.Round(ctx); rep.Drift() != 0 || rep.Error != "" {
		t.Fatalf("%+v", rep)
	}
	// A wait that fails is an error, not a verdict.
	v.Wait = func(context.Context) error { return errors.New("behind") }
	if rep = v.Round(ctx); rep.Error == "" {
		t.Fatal("no error")
	}
}
