package memory_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/conformance"
	"github.com/zanlabs/zan/memory"
)

func TestLikes(t *testing.T) {
	conformance.TestLikeState(t, func(t *testing.T) zan.LikeState { return memory.NewLikes() })
}

func TestCodes(t *testing.T) {
	conformance.TestCodeStore(t, func(t *testing.T) zan.CodeStore {
		c := memory.NewCodes()
		t.Cleanup(func() { c.Close() })
		return c
	})
}

func TestLimiter(t *testing.T) {
	conformance.TestRateLimiter(t, func(t *testing.T) zan.RateLimiter {
		l := memory.NewLimiter()
		t.Cleanup(func() { l.Close() })
		return l
	})
}

// BenchmarkToggle measures the hot path of a like on many targets from all
// cores: the sharded locks should let it scale.
func BenchmarkToggle(b *testing.B) {
	for _, targets := range []int{1, 10000} {
		b.Run(fmt.Sprintf("targets=%d", targets), func(b *testing.B) {
			h := memory.NewLikes()
			ctx := context.Background()
			for i := range targets {
				h.Load(ctx, zan.Target{Type: "blog", ID: int64(i + 1)}, nil, 0)
			}
			var seq atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					t := zan.Target{Type: "blog", ID: n%int64(targets) + 1}
					if _, err := h.Toggle(ctx, t, n, true, testID()); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "likes/s")
		})
	}
}

func TestVouchers(t *testing.T) {
	conformance.TestVoucherState(t, func(t *testing.T) zan.VoucherState { return memory.NewVouchers() })
}

func TestCache(t *testing.T) {
	conformance.TestCache(t, func(t *testing.T) zan.Cache {
		c := memory.NewCache()
		t.Cleanup(func() { c.Close() })
		return c
	})
}

// BenchmarkBytesPerLike measures the heap a hot like costs at 1,000,000
// likes: spread thin (10,000 targets of 100) and concentrated (100 targets
// of 10,000). Run with -benchtime=1x.
func BenchmarkBytesPerLike(b *testing.B) {
	for _, shape := range []struct{ targets, likes int }{{10000, 100}, {100, 10000}} {
		b.Run(fmt.Sprintf("targets=%d", shape.targets), func(b *testing.B) {
			for range b.N {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				h := memory.NewLikes()
				users := make([]int64, shape.likes)
				for t := range shape.targets {
					for i := range users {
						users[i] = int64(t*shape.likes+i) + 118339478963093507 // ids as IDGen makes them
					}
					if err := h.Load(context.Background(), zan.Target{Type: "blog", ID: int64(t + 1)}, users, 0); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(shape.targets*shape.likes), "bytes/like")
				runtime.KeepAlive(h)
			}
		})
	}
}

// BenchmarkTakeVoucher measures the flash-sale step on one voucher from all
// cores, every call by another user: "taken" while stock lasts (every take
// wins and the buyer set grows), "soldout" once it is gone (what most of a
// stampede meets). One voucher is one lock, so this is the ceiling of one
// sale, not of the process.
func BenchmarkTakeVoucher(b *testing.B) {
	conformance.BenchmarkTakeVoucher(b, func(*testing.B) zan.VoucherState { return memory.NewVouchers() }, 1)
}

// BenchmarkState reads feed-sized batches (50 targets, with liked-by-me)
// from 10,000 loaded targets: the batch read's hot-state part.
func BenchmarkState(b *testing.B) {
	h := memory.NewLikes()
	ctx := context.Background()
	const targets = 10000
	for i := range targets {
		h.Load(ctx, zan.Target{Type: "blog", ID: int64(i + 1)}, []int64{1, 2, 3}, 0)
	}
	var seq atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		ts := make([]zan.Target, 50)
		for pb.Next() {
			n := seq.Add(1)
			for i := range ts {
				ts[i] = zan.Target{Type: "blog", ID: (n*50+int64(i))%targets + 1}
			}
			if _, err := h.State(ctx, ts, 2); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N*50)/b.Elapsed().Seconds(), "targets/s")
}

// testID returns a fresh request id for a toggle.
var testID = zan.NewEventIDs().Next
