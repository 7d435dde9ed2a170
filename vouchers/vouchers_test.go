package vouchers_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/zantest"
	"github.com/zanlabs/zan/memory"
	"github.com/zanlabs/zan/vouchers"
)

type sale struct {
	svc     *vouchers.Service
	db      zan.Store
	hot     zan.VoucherState
	log     zan.OrderLog
	pending zan.Cache
	shop    int64
}

func newSale(t *testing.T, cfg vouchers.Config) *sale {
	t.Helper()
	db := zantest.Store(t)
	log := zantest.Log(t, 1)
	hot := memory.NewVouchers()
	pending := memory.NewCache()
	limiter := memory.NewLimiter()
	t.Cleanup(func() { pending.Close(); limiter.Close() })
	ids := zan.NewIDGen(2)
	s := &sale{db: db, hot: hot, log: log, pending: pending, shop: ids.Next()}
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := db.CreateShop(t.Context(), zan.Shop{ID: s.shop, Name: "Lotus Spa", Type: "spa", X: 120.15, Y: 30.27, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	s.svc = vouchers.New(cfg, db, db, hot, log, pending, limiter, ids, nil)
	return s
}

// writer runs an order writer until the returned stop is called. With
// kill set, stop does not let it drain: the batch in flight is abandoned
// as by a killed process.
func (s *sale) writer(t *testing.T, kill ...bool) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	w := &vouchers.Writer{Log: s.log, Store: s.db, Pending: s.pending}
	if len(kill) > 0 && kill[0] {
		w.DrainTimeout = time.Nanosecond
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("writer: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func (s *sale) voucher(t *testing.T, stock int64, begin, end time.Time) zan.Voucher {
	t.Helper()
	v, err := s.svc.Create(t.Context(), vouchers.Input{ShopID: s.shop, Title: "¥50 for ¥100", Stock: stock, BeginAt: begin, EndAt: end})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCreateValidation(t *testing.T) {
	s := newSale(t, vouchers.Config{})
	now := time.Now()
	for i, in := range []vouchers.Input{
		{ShopID: s.shop, Title: "", Stock: 1, BeginAt: now, EndAt: now.Add(time.Hour)},
		{ShopID: s.shop, Title: "t", Stock: 0, BeginAt: now, EndAt: now.Add(time.Hour)},
		{ShopID: s.shop, Title: "t", Stock: 1, BeginAt: now, EndAt: now},
		{ShopID: s.shop, Title: "t", Stock: 1},
		{ShopID: s.shop + 1, Title: "t", Stock: 1, BeginAt: now, EndAt: now.Add(time.Hour)},
	} {
		if _, err := s.svc.Create(t.Context(), in); zan.ErrorCode(err) != zan.EBadRequest {
			t.Errorf("input %d: %v, want bad_request", i, err)
		}
	}
}

func TestOrderOutcomes(t *testing.T) {
	s := newSale(t, vouchers.Config{})
	s.writer(t)
	now := time.Now()
	v := s.voucher(t, 1, now.Add(-time.Minute), now.Add(time.Hour))
	early := s.voucher(t, 1, now.Add(time.Hour), now.Add(2*time.Hour))
	late := s.voucher(t, 1, now.Add(-2*time.Hour), now.Add(-time.Hour))

	oid, err := s.svc.Order(t.Context(), 1, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		user, voucher int64
		code          string
	}{
		{1, v.ID, zan.EConflict},
		{2, v.ID, zan.ESoldOut},
		{2, early.ID, zan.EBadRequest},
		{2, late.ID, zan.EBadRequest},
		{2, v.ID + 12345, zan.ENotFound},
	}
	for _, c := range cases {
		if _, err := s.svc.Order(t.Context(), c.user, c.voucher); zan.ErrorCode(err) != c.code {
			t.Errorf("user %d, voucher %d: %v, want %s", c.user, c.voucher, err, c.code)
		}
	}
	if _, err := s.svc.GetOrder(t.Context(), 2, oid); zan.ErrorCode(err) != zan.EForbidden {
		t.Errorf("someone else's order: %v, want forbidden", err)
	}
	waitCreated(t, s, 1, oid)
	got, err := s.svc.Get(t.Context(), v.ID)
	if err != nil || got.Remaining != 0 || got.Stock != 1 {
		t.Errorf("voucher after the sale: %+v, %v", got, err)
	}
}

func waitCreated(t *testing.T, s *sale, user, oid int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, err := s.svc.GetOrder(t.Context(), user, oid)
		if err != nil {
			t.Fatalf("order %d: %v", oid, err)
		}
		if o.Status == zan.OrderCreated {
			return
		}
		if o.Status != zan.OrderPending || time.Now().After(deadline) {
			t.Fatalf("order %d: status %s", oid, o.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rush makes attempts order attempts from users users (user i%users) on
// workers goroutines and returns the winners: user → order id. midway, when
// set, runs once the 50th order is won.
func rush(t *testing.T, s *sale, voucher int64, attempts, users, workers int, midway func()) map[int64]int64 {
	var mu sync.Mutex
	won := map[int64]int64{}
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(attempts); i = next.Add(1) - 1 {
				user := 1 + i%int64(users)
				oid, err := s.svc.Order(context.Background(), user, voucher)
				switch zan.ErrorCode(err) {
				case "":
					mu.Lock()
					// A retry while the first order is in flight gets the same
					// order back (it is unconfirmed until published); a second
					// order would be the failure.
					if prev, ok := won[user]; ok && prev != oid {
						t.Errorf("user %d won twice: orders %d and %d", user, prev, oid)
					}
					won[user] = oid
					n := len(won)
					mu.Unlock()
					if midway != nil && n == 50 {
						once.Do(midway)
					}
				case zan.ESoldOut, zan.EConflict, zan.ERateLimited:
				default:
					t.Errorf("attempt %d: %v", i, err)
				}
			}
		}()
	}
	wg.Wait()
	return won
}

// checkSale checks the invariants once the writer has drained: exactly
// stock orders, each created and its buyer's, nothing remaining in the hot
// state or the store.
func checkSale(t *testing.T, s *sale, v zan.Voucher, won map[int64]int64) {
	t.Helper()
	if int64(len(won)) != v.Stock {
		t.Fatalf("%d orders won, want exactly %d", len(won), v.Stock)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.log.WaitOrdersApplied(ctx); err != nil {
		t.Fatalf("orders not all written: %v", err)
	}
	for user, oid := range won {
		o, err := s.db.Order(t.Context(), oid)
		if err != nil || o.UserID != user || o.VoucherID != v.ID || o.Status != zan.OrderCreated {
			t.Fatalf("order %d of user %d in the store: %+v, %v", oid, user, o, err)
		}
	}
	stored, err := s.db.Voucher(t.Context(), v.ID)
	if err != nil || stored.Remaining != 0 {
		t.Errorf("store: remaining %d, %v; want 0", stored.Remaining, err)
	}
	if n, ok, err := s.hot.VoucherRemaining(t.Context(), v.ID); err != nil || !ok || n != 0 {
		t.Errorf("hot state: remaining %d (loaded %v), %v; want 0", n, ok, err)
	}
	var buyers int
	if err := s.db.VoucherBuyers(t.Context(), v.ID, func(u []int64) error { buyers += len(u); return nil }); err != nil || int64(buyers) != v.Stock {
		t.Errorf("store holds %d buyers, %v; want %d", buyers, err, v.Stock)
	}
}

// 10,000 concurrent order attempts from 2,000 users on 100 units: exactly
// 100 orders, no user twice, remaining 0 in the hot state and the store.
func TestFlashSale(t *testing.T) {
	s := newSale(t, vouchers.Config{})
	s.writer(t)
	now := time.Now()
	v := s.voucher(t, 100, now.Add(-time.Second), now.Add(time.Hour))
	won := rush(t, s, v.ID, 10000, 2000, 64, nil)
	checkSale(t, s, v, won)
}

// The same with the order writer killed halfway through the sale (no
// drain: its batch in flight is abandoned and comes back) and started
// again: nothing lost, nothing twice.
func TestFlashSaleWriterRestarted(t *testing.T) {
	s := newSale(t, vouchers.Config{})
	stop := s.writer(t, true)
	now := time.Now()
	v := s.voucher(t, 100, now.Add(-time.Second), now.Add(time.Hour))
	won := rush(t, s, v.ID, 10000, 2000, 64, func() {
		stop()
		time.AfterFunc(200*time.Millisecond, func() { s.writer(t) })
	})
	checkSale(t, s, v, won)
}

// A sale lost from the hot state (a Redis restarted empty) is loaded back
// from the store after the orders in flight are written: the buyers before
// the loss cannot buy again and the stock does not come back.
func TestSaleReloadedAfterHotStateLoss(t *testing.T) {
	s := newSale(t, vouchers.Config{})
	s.writer(t)
	now := time.Now()
	v := s.voucher(t, 10, now.Add(-time.Second), now.Add(time.Hour))
	won := rush(t, s, v.ID, 300, 5, 8, nil)
	if len(won) != 5 {
		t.Fatalf("%d of 5 users won", len(won))
	}
	// The hot state is lost: a fresh one, as after a Redis restart.
	s.hot = memory.NewVouchers()
	s.svc = vouchers.New(vouchers.Config{}, s.db, s.db, s.hot, s.log, s.pending, memory.NewLimiter(), zan.NewIDGen(3), nil)
	more := rush(t, s, v.ID, 300, 50, 8, nil)
	for u := range more {
		if _, ok := won[u]; ok {
			t.Errorf("user %d bought again after the reload", u)
		}
	}
	for u, o := range more {
		won[u] = o
	}
	checkSale(t, s, v, won)
}

// A node that took a unit and died before publishing the order: the user's
// retry (on any node) completes that order instead of answering 409 for an
// order that does not exist.
func TestTakerDiedBeforePublish(t *testing.T) {
	s := newSale(t, vouchers.Config{})
	s.writer(t)
	now := time.Now()
	v := s.voucher(t, 3, now.Add(-time.Second), now.Add(time.Hour))
	// The dead node's half: the take only, for its order 4242.
	if res, _, err := s.hot.TakeVoucher(t.Context(), v.ID, 9, 4242, now); err != nil || res != zan.Taken {
		t.Fatalf("%v %v", res, err)
	}
	oid, err := s.svc.Order(t.Context(), 9, v.ID)
	if err != nil || oid != 4242 {
		t.Fatalf("retry: order %d, %v; want the taken order 4242", oid, err)
	}
	waitCreated(t, s, 9, oid)
	if _, err := s.svc.Order(t.Context(), 9, v.ID); zan.ErrorCode(err) != zan.EConflict {
		t.Fatalf("after the order is confirmed: %v, want conflict", err)
	}
	if got, _ := s.svc.Get(t.Context(), v.ID); got.Remaining != 2 {
		t.Fatalf("remaining %d, want 2", got.Remaining)
	}
}

// racingStore runs during (at the end of) its first Order call what the
// order writer does meanwhile: store the order, then delete its pending
// record.
type racingStore struct {
	zan.Store
	once sync.Once
	race func()
}

func (r *racingStore) Order(ctx context.Context, id int64) (zan.VoucherOrder, error) {
	o, err := r.Store.Order(ctx, id)
	r.once.Do(r.race)
	return o, err
}

// TestGetOrderRacingTheWriter: an order read while the writer stores it
// and drops its pending record (between the read's store lookup and its
// pending lookup) is found, not answered 404.
func TestGetOrderRacingTheWriter(t *testing.T) {
	s := newSale(t, vouchers.Config{})
	v := s.voucher(t, 10, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	oid, err := s.svc.Order(t.Context(), 1, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	rs := &racingStore{Store: s.db, race: func() {
		o := zan.VoucherOrder{ID: oid, VoucherID: v.ID, UserID: 1, Status: zan.OrderCreated, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
		if _, err := s.db.ApplyOrders(context.Background(), []zan.VoucherOrder{o}); err != nil {
			t.Error(err)
		}
		if err := s.pending.Delete(context.Background(), "order:"+strconv.FormatInt(oid, 10)); err != nil {
			t.Error(err)
		}
	}}
	svc := vouchers.New(vouchers.Config{}, rs, rs, s.hot, s.log, s.pending, memory.NewLimiter(), zan.NewIDGen(4), nil)
	o, err := svc.GetOrder(t.Context(), 1, oid)
	if err != nil || o.ID != oid {
		t.Fatalf("GetOrder racing the writer: %+v, %v", o, err)
	}
}
