package likes

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/zanlabs/zan"
)

// TestLoadsBatched: after a restart, many concurrent first toggles load
// their targets through the batched summaries: targets with likers, with
// only tombstones, and with no rows each load right, and the counts the
// toggles answer agree with the store once it applied them.
func TestLoadsBatched(t *testing.T) {
	e := newEnv(t, Config{Limit: zan.Limit{Rate: 1e6, Burst: 1e6}})
	ctx := context.Background()
	tg := func(i int) zan.Target { return zan.Target{Type: "comment", ID: int64(1000 + i)} }
	for i := range 150 {
		switch {
		case i < 50: // liked by users 1 and 2
			for _, u := range []int64{1, 2} {
				if _, err := e.svc.Toggle(ctx, u, tg(i), true); err != nil {
					t.Fatal(err)
				}
			}
		case i < 100: // a like and its unlike: a tombstone, no liker
			for _, like := range []bool{true, false} {
				if _, err := e.svc.Toggle(ctx, 1, tg(i), like); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := e.log.WaitApplied(ctx); err != nil {
		t.Fatal(err)
	}
	e.restart()

	var wg sync.WaitGroup
	counts := make([]int64, 150)
	errs := make([]error, 150)
	for i := range 150 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch, err := e.svc.Toggle(ctx, 3, tg(i), true)
			counts[i], errs[i] = ch.Count, err
		}()
	}
	wg.Wait()
	for i := range 150 {
		want := int64(1)
		if i < 50 {
			want = 3
		}
		if errs[i] != nil || counts[i] != want {
			t.Fatalf("first like of %v after the restart: count %d, %v; want %d", tg(i), counts[i], errs[i], want)
		}
	}
	if err := e.log.WaitApplied(ctx); err != nil {
		t.Fatal(err)
	}
	ts := make([]zan.Target, 150)
	for i := range ts {
		ts[i] = tg(i)
	}
	stored, err := e.store.LikeCounts(ctx, ts)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range stored {
		if n != counts[i] {
			t.Fatalf("%v: stored %d, answered %d", tg(i), n, counts[i])
		}
	}
}

// TestSummaryWaitBounded: a caller whose context ends stops waiting; the
// batch it joined still answers the others.
func TestSummaryWaitBounded(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.svc.summaries
	if b == nil {
		t.Fatal("the SQLite store reads summaries in batches; the service does not use them")
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.get(done, zan.Target{Type: "comment", ID: 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("get with an ended context: %v", err)
	}
	if s, err := b.get(context.Background(), zan.Target{Type: "comment", ID: 2}); err != nil || s != (zan.LikeSummary{}) {
		t.Fatalf("get of a target without rows: %+v, %v", s, err)
	}
}
