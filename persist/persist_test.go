package persist

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/zantest"
	"github.com/zanlabs/zan/natslog"
)

// The persister runs against the real embedded adapters; the only stand-in
// is faultyStore, which injects failures into a real store.

func openStore(t *testing.T) zan.Store { return zantest.Store(t) }

func openLog(t *testing.T) *natslog.Log { return zantest.Log(t, 4) }

var blog1 = zan.Target{Type: "blog", ID: 1}

func ev(id string, op zan.Op, t zan.Target, user, at int64) zan.Event {
	return zan.Event{ID: id, Op: op, Target: t, User: user, At: at}
}

// check asserts the stored count of t and its likers.
func check(t *testing.T, s zan.Store, tg zan.Target, want []int64) {
	t.Helper()
	counts, err := s.LikeCounts(t.Context(), []zan.Target{tg})
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	if err := s.ScanLikers(t.Context(), tg, func(u []int64) error { got = append(got, u...); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || counts[0] != int64(len(want)) {
		t.Fatalf("%s: likers %v count %d, want likers %v", tg, got, counts[0], want)
	}
}

func TestRedelivery(t *testing.T) {
	batch1 := []zan.Event{
		ev("a", zan.OpLike, blog1, 1, 100),
		ev("b", zan.OpLike, blog1, 2, 101),
		ev("c", zan.OpLike, blog1, 3, 102),
		ev("d", zan.OpUnlike, blog1, 2, 103),
	}
	batch2 := []zan.Event{
		ev("e", zan.OpUnlike, blog1, 1, 104),
		ev("f", zan.OpLike, blog1, 2, 105),
		ev("g", zan.OpLike, blog1, 4, 106),
	}
	tests := []struct {
		name    string
		batches [][]zan.Event
		want    []int64
	}{
		{"in order", [][]zan.Event{batch1, batch2}, []int64{2, 3, 4}},
		{"same batch twice", [][]zan.Event{batch1, batch1}, []int64{1, 3}},
		{"both batches twice", [][]zan.Event{batch1, batch2, batch1, batch2}, []int64{2, 3, 4}},
		{"out of order across batches", [][]zan.Event{batch2, batch1}, []int64{2, 3, 4}},
		{"reversed within a batch", [][]zan.Event{reversed(batch1), reversed(batch2)}, []int64{2, 3, 4}},
		{"unlike before its like", [][]zan.Event{{batch2[0]}, {batch1[0]}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			p := New(Config{}, openLog(t), s, nil)
			for _, b := range tc.batches {
				if err := p.apply(t.Context(), b); err != nil {
					t.Fatal(err)
				}
			}
			check(t, s, blog1, tc.want)
		})
	}
}

func reversed(es []zan.Event) []zan.Event {
	out := slices.Clone(es)
	slices.Reverse(out)
	return out
}

// TestThroughLog publishes through the real log, including a retried
// publish of the same event id, and lets Run apply it.
func TestThroughLog(t *testing.T) {
	s, l := openStore(t), openLog(t)
	p := New(Config{MaxWait: 20 * time.Millisecond}, l, s, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	want := map[zan.Target][]int64{}
	at := int64(1000)
	for target := int64(1); target <= 20; target++ {
		tg := zan.Target{Type: "blog", ID: target}
		for user := int64(1); user <= target; user++ {
			at++
			e := ev(fmt.Sprintf("%d-%d", target, user), zan.OpLike, tg, user, at)
			for range 2 { // a retried publish is stored once
				if err := l.Publish(t.Context(), e); err != nil {
					t.Fatal(err)
				}
			}
			want[tg] = append(want[tg], user)
		}
	}
	wctx, wcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer wcancel()
	if err := l.WaitApplied(wctx); err != nil {
		t.Fatal(err)
	}
	for tg, users := range want {
		check(t, s, tg, users)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// faultyStore fails ApplyLikes for batches holding a poisoned user, or
// reports the store unavailable for its first calls.
type faultyStore struct {
	zan.Store
	poison      int64
	unavailable atomic.Int32
	calls       atomic.Int32
}

func (f *faultyStore) ApplyLikes(ctx context.Context, events []zan.Event) (zan.ApplyResult, error) {
	f.calls.Add(1)
	if f.unavailable.Add(-1) >= 0 {
		return zan.ApplyResult{}, zan.Unavailable("store", errors.New("connection refused"))
	}
	for _, e := range events {
		if e.User == f.poison {
			return zan.ApplyResult{}, errors.New("constraint failed")
		}
	}
	return f.Store.ApplyLikes(ctx, events)
}

func TestDeadLetter(t *testing.T) {
	s, l := openStore(t), openLog(t)
	fs := &faultyStore{Store: s, poison: 666}
	p := New(Config{Backoff: time.Millisecond}, l, fs, nil)
	var events []zan.Event
	for u := int64(1); u <= 10; u++ {
		events = append(events, ev(fmt.Sprint(u), zan.OpLike, blog1, u, 100+u))
	}
	events = append(events, ev("bad", zan.OpLike, blog1, 666, 200))
	if err := p.apply(t.Context(), events); err != nil {
		t.Fatal(err)
	}
	check(t, s, blog1, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	dl, err := l.DeadLetters(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 1 || dl[0].Event == nil || dl[0].Event.ID != "bad" || dl[0].Reason == "" {
		t.Fatalf("dead letters: %+v", dl)
	}

	// Replayed once the fault is gone, it lands.
	fs.poison = 0
	if n, err := l.Replay(t.Context(), nil); err != nil || n != 1 {
		t.Fatalf("replay: %d, %v", n, err)
	}
	if err := p.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	check(t, s, blog1, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 666})
}

// TestStoreUnavailable: a store that is down is waited for, never a reason
// to dead-letter.
func TestStoreUnavailable(t *testing.T) {
	s, l := openStore(t), openLog(t)
	fs := &faultyStore{Store: s}
	fs.unavailable.Store(6) // more than Retries
	p := New(Config{Backoff: time.Millisecond}, l, fs, nil)
	if err := p.apply(t.Context(), []zan.Event{ev("x", zan.OpLike, blog1, 7, 100)}); err != nil {
		t.Fatal(err)
	}
	check(t, s, blog1, []int64{7})
	if dl, _ := l.DeadLetters(t.Context(), 10); len(dl) != 0 {
		t.Fatalf("dead-lettered while the store was down: %+v", dl)
	}
	if fs.calls.Load() != 7 {
		t.Fatalf("ApplyLikes called %d times, want 7", fs.calls.Load())
	}
}

// BenchmarkPersister measures likes/s from the log into SQLite: publish b.N
// events, then time the persister applying them.
func BenchmarkPersister(b *testing.B) {
	db, l := zantest.Store(b), zantest.Log(b, 8)
	ctx := context.Background()
	for i := range b.N {
		e := ev(fmt.Sprint(i), zan.OpLike, zan.Target{Type: "blog", ID: int64(i%1000 + 1)}, int64(i/1000+1), int64(i+1))
		if err := l.Publish(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	p := New(Config{}, l, db, nil)
	b.ResetTimer()
	if err := p.Drain(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "likes/s")
}
