package conformance

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zanlabs/zan"
)

// TestVoucherState runs the flash-sale hot-state suite. Voucher ids are
// unique per run, so a shared backend may be reused.
func TestVoucherState(t *testing.T, open func(t *testing.T) zan.VoucherState) {
	now := time.UnixMicro(time.Now().UnixMicro())
	// Order ids as IDGen makes them: above 2^53, so a backend that holds
	// them as doubles shows.
	var orders atomic.Int64
	orders.Store(118339478963093507)
	order := func() int64 { return orders.Add(1) }
	load := func(t *testing.T, h zan.VoucherState, remaining int64, buyers ...int64) int64 {
		t.Helper()
		id := uniqueID()
		if err := h.LoadVoucher(t.Context(), zan.VoucherSale{ID: id, Remaining: remaining,
			BeginAt: now.Add(-time.Hour), EndAt: now.Add(time.Hour), Buyers: buyers}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	remaining := func(t *testing.T, h zan.VoucherState, id, want int64) {
		t.Helper()
		n, ok, err := h.VoucherRemaining(t.Context(), id)
		if err != nil || !ok || n != want {
			t.Fatalf("remaining = %d (loaded %v), %v; want %d", n, ok, err, want)
		}
	}

	t.Run("NotLoaded", func(t *testing.T) {
		h := open(t)
		id := uniqueID()
		if _, _, err := h.TakeVoucher(t.Context(), id, 1, order(), now); err != zan.ErrNotLoaded {
			t.Fatalf("take of a missing sale: %v, want ErrNotLoaded", err)
		}
		if _, ok, err := h.VoucherRemaining(t.Context(), id); ok || err != nil {
			t.Fatalf("remaining of a missing sale: loaded %v, %v", ok, err)
		}
		if err := h.UndoTake(t.Context(), id, 1); err != nil {
			t.Fatalf("undo on a missing sale: %v", err)
		}
	})

	t.Run("LoadKeepsFirst", func(t *testing.T) {
		h := open(t)
		id := load(t, h, 5)
		if err := h.LoadVoucher(t.Context(), zan.VoucherSale{ID: id, Remaining: 99, BeginAt: now, EndAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		remaining(t, h, id, 5)
	})

	t.Run("Outcomes", func(t *testing.T) {
		h := open(t)
		id := uniqueID()
		begin, end := now.Add(time.Minute), now.Add(time.Hour)
		if err := h.LoadVoucher(t.Context(), zan.VoucherSale{ID: id, Remaining: 1, BeginAt: begin, EndAt: end}); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			user int64
			at   time.Time
			want zan.TakeResult
			left int64
		}{
			{1, begin.Add(-time.Microsecond), zan.TakeNotStarted, 1},
			{1, end, zan.TakeEnded, 1},
			{1, begin, zan.Taken, 0},
			{1, begin, zan.TakeDuplicate, 0},
			{2, begin, zan.TakeSoldOut, 0},
		}
		for i, s := range steps {
			got, _, err := h.TakeVoucher(t.Context(), id, s.user, order(), s.at)
			if err != nil || got != s.want {
				t.Fatalf("step %d: %v, %v; want %v", i, got, err, s.want)
			}
			remaining(t, h, id, s.left)
		}
		// Undo gives the unit back and lets the user take again; an undo of
		// a user holding none changes nothing.
		for _, u := range []int64{1, 1, 2} { // 1 holds one, then not; 2 never did
			if err := h.UndoTake(t.Context(), id, u); err != nil {
				t.Fatal(err)
			}
			remaining(t, h, id, 1)
		}
		if got, _, err := h.TakeVoucher(t.Context(), id, 1, order(), begin); err != nil || got != zan.Taken {
			t.Fatalf("take after an undo: %v, %v", got, err)
		}
		remaining(t, h, id, 0)
		if got, _, _ := h.TakeVoucher(t.Context(), id, 2, order(), begin); got != zan.TakeSoldOut {
			t.Fatalf("take of the unit given back and taken again: %v", got)
		}
	})

	t.Run("Unconfirmed", func(t *testing.T) {
		h := open(t)
		id := load(t, h, 5)
		if got, _, err := h.TakeVoucher(t.Context(), id, 1, 77, now); err != nil || got != zan.Taken {
			t.Fatalf("take: %v %v", got, err)
		}
		got, pend, err := h.TakeVoucher(t.Context(), id, 1, 78, now)
		if err != nil || got != zan.TakeDuplicate || pend != 77 {
			t.Fatalf("again before ConfirmTake: %v %d %v; want duplicate of unconfirmed order 77", got, pend, err)
		}
		if err := h.ConfirmTake(t.Context(), id, 1); err != nil {
			t.Fatal(err)
		}
		if got, pend, _ := h.TakeVoucher(t.Context(), id, 1, 79, now); got != zan.TakeDuplicate || pend != 0 {
			t.Fatalf("again after ConfirmTake: %v %d", got, pend)
		}
		// An id above 2^53 comes back exact; an undone take leaves no mark,
		// so a new take's order is the one reported.
		big, bigger := order(), order()
		for _, o := range []int64{big, bigger} {
			if got, _, err := h.TakeVoucher(t.Context(), id, 2, o, now); err != nil || got != zan.Taken {
				t.Fatalf("take with order %d: %v %v", o, got, err)
			}
			if _, pend, _ := h.TakeVoucher(t.Context(), id, 2, order(), now); pend != o {
				t.Fatalf("unconfirmed order %d, want %d", pend, o)
			}
			if o == big {
				must(t, h.UndoTake(t.Context(), id, 2))
			}
		}
		if err := h.ConfirmTake(t.Context(), uniqueID(), 1); err != nil {
			t.Fatalf("ConfirmTake on a missing sale: %v", err)
		}
	})

	t.Run("LoadedBuyers", func(t *testing.T) {
		h := open(t)
		id := load(t, h, 3, 7, 8)
		for _, u := range []int64{7, 8} {
			if got, _, err := h.TakeVoucher(t.Context(), id, u, order(), now); err != nil || got != zan.TakeDuplicate {
				t.Fatalf("loaded buyer %d: %v, %v", u, got, err)
			}
		}
		if got, _, _ := h.TakeVoucher(t.Context(), id, 9, order(), now); got != zan.Taken {
			t.Fatalf("new buyer: %v", got)
		}
	})

	t.Run("ManyBuyersLoaded", func(t *testing.T) {
		h := open(t)
		buyers := make([]int64, 50000)
		for i := range buyers {
			buyers[i] = int64(i + 1)
		}
		id := load(t, h, 10, buyers...)
		for _, u := range []int64{1, 25000, 50000} {
			if got, _, _ := h.TakeVoucher(t.Context(), id, u, order(), now); got != zan.TakeDuplicate {
				t.Fatalf("buyer %d of 50,000: %v", u, got)
			}
		}
		if got, _, _ := h.TakeVoucher(t.Context(), id, 50001, order(), now); got != zan.Taken {
			t.Fatalf("new buyer: %v", got)
		}
		remaining(t, h, id, 9)
	})

	t.Run("ConcurrentLoads", func(t *testing.T) {
		// Loaders race on one sale, each with its own stock and buyers: one
		// wins whole, none mixes into another's buyer set.
		h := open(t)
		id := uniqueID()
		const loaders, buyers = 8, 3000
		var wg sync.WaitGroup
		for k := range int64(loaders) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := zan.VoucherSale{ID: id, Remaining: 100 + k, BeginAt: now.Add(-time.Hour), EndAt: now.Add(time.Hour)}
				for i := range int64(buyers) {
					s.Buyers = append(s.Buyers, (k+1)*1_000_000+i)
				}
				if err := h.LoadVoucher(t.Context(), s); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		n, ok, err := h.VoucherRemaining(t.Context(), id)
		if err != nil || !ok || n < 100 || n >= 100+loaders {
			t.Fatalf("remaining after concurrent loads: %d (loaded %v), %v", n, ok, err)
		}
		won := n - 100
		for k := range int64(loaders) {
			for _, i := range []int64{0, buyers - 1} {
				want := zan.Taken
				if k == won {
					want = zan.TakeDuplicate
				}
				if got, _, err := h.TakeVoucher(t.Context(), id, (k+1)*1_000_000+i, order(), now); err != nil || got != want {
					t.Fatalf("loader %d's buyer %d (loader %d won): %v, %v; want %v", k, i, won, got, err, want)
				}
			}
		}
	})

	t.Run("Contention", func(t *testing.T) {
		h := open(t)
		id := load(t, h, 100)
		var taken atomic.Int64
		var mu sync.Mutex
		winners := map[int64]bool{}
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1); i <= 6000; i = next.Add(1) {
					user := 1 + i%2000
					got, _, err := h.TakeVoucher(t.Context(), id, user, order(), now)
					if err != nil {
						t.Error(err)
						return
					}
					if got == zan.Taken {
						taken.Add(1)
						mu.Lock()
						if winners[user] {
							t.Errorf("user %d took twice", user)
						}
						winners[user] = true
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		if taken.Load() != 100 {
			t.Fatalf("%d units taken of 100", taken.Load())
		}
		remaining(t, h, id, 0)
	})
}

// BenchmarkTakeVoucher measures takes of one voucher, the ceiling of a
// single sale: "taken" has stock for every take, "soldout" refuses each.
// parallelism multiplies GOMAXPROCS for the taking goroutines (a shared
// hot state needs many in flight to show its pipelining).
func BenchmarkTakeVoucher(b *testing.B, open func(b *testing.B) zan.VoucherState, parallelism int) {
	for _, bc := range []struct {
		name  string
		stock int64
	}{{"taken", 1 << 62}, {"soldout", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			v := open(b)
			ctx := context.Background()
			now := time.Now()
			if err := v.LoadVoucher(ctx, zan.VoucherSale{ID: 1, Remaining: bc.stock,
				BeginAt: now.Add(-time.Hour), EndAt: now.Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
			var seq atomic.Int64
			b.SetParallelism(parallelism)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					if _, _, err := v.TakeVoucher(ctx, 1, n, 118339478963093507+n, now); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "takes/s")
		})
	}
}
