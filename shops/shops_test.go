package shops_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/seed"
	"github.com/zanlabs/zan/internal/zantest"
	"github.com/zanlabs/zan/memory"
	"github.com/zanlabs/zan/shops"
)

// countingStore is the real SQLite store with its point reads counted (and
// slowed, to widen the window in which concurrent readers overlap): what
// each cache protection is judged by.
type countingStore struct {
	zan.ShopStore
	reads atomic.Int64
	delay time.Duration
	// hold, when set, keeps each point read waiting until it is closed:
	// a test can then tell a reader that waited for a rebuild from one
	// that did not by whether it finished before the close, not by time.
	hold chan struct{}
}

func (c *countingStore) Shop(ctx context.Context, id int64) (zan.Shop, error) {
	c.reads.Add(1)
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	if c.hold != nil {
		<-c.hold
	}
	return c.ShopStore.Shop(ctx, id)
}

type fixture struct {
	store  *countingStore
	cache  zan.Cache
	notify zan.Notifier
	ids    *zan.IDGen
	shops  []zan.Shop
}

// newFixture opens SQLite with n seeded shops, a memory cache and an
// embedded log for notifications.
func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	db := zantest.Store(t)
	c := memory.NewCache()
	t.Cleanup(func() { c.Close() })
	f := &fixture{store: &countingStore{ShopStore: db}, cache: c, notify: zantest.Log(t, 1), ids: zan.NewIDGen(1)}
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, sh := range seed.Shops(n, 1) {
		sh.ID, sh.CreatedAt, sh.UpdatedAt = f.ids.Next(), now, now
		if err := db.CreateShop(t.Context(), sh); err != nil {
			t.Fatal(err)
		}
		f.shops = append(f.shops, sh)
	}
	return f
}

// node starts a shop service over the fixture: several nodes share the
// store, the cache and the notifier, as in scale-out mode.
func (f *fixture) node(t *testing.T, cfg shops.Config) *shops.Service {
	t.Helper()
	s := shops.New(cfg, f.store, f.cache, f.notify, f.ids, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); s.Close() })
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// parallel runs fn n times on workers goroutines.
func parallel(n, workers int, fn func(i int)) {
	var wg sync.WaitGroup
	var next atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

func TestGetCreateUpdate(t *testing.T) {
	f := newFixture(t, 0)
	s := f.node(t, shops.Config{})
	str := func(s string) *string { return &s }
	flt := func(f float64) *float64 { return &f }
	bad := []shops.Input{
		{},
		{Name: str(""), Type: str("food"), X: flt(120), Y: flt(30)},
		{Name: str("x"), Type: str("Food!"), X: flt(120), Y: flt(30)},
		{Name: str("x"), Type: str("food"), X: flt(181), Y: flt(30)},
		{Name: str("x"), Type: str("food"), X: flt(120), Y: flt(-91)},
		{Name: str("x"), Type: str("food"), X: flt(120), Y: flt(30), Score: flt(5.5)},
	}
	for i, in := range bad {
		if _, err := s.Create(t.Context(), in); zan.ErrorCode(err) != zan.EBadRequest {
			t.Errorf("bad input %d: %v, want bad_request", i, err)
		}
	}
	sh, err := s.Create(t.Context(), shops.Input{Name: str(" Noodle House "), Type: str("food"), X: flt(120.15), Y: flt(30.28), Score: flt(4.66)})
	if err != nil {
		t.Fatal(err)
	}
	if sh.Name != "Noodle House" || sh.Score != 4.7 {
		t.Errorf("created %+v: want the name trimmed and the score rounded to 4.7", sh)
	}
	got, err := s.Get(t.Context(), sh.ID)
	if err != nil || got != sh {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, sh)
	}
	up, err := s.Update(t.Context(), sh.ID, shops.Input{Address: str("1 Hubin Road")})
	if err != nil || up.Address != "1 Hubin Road" || up.Name != sh.Name {
		t.Fatalf("Update = %+v, %v", up, err)
	}
	if got, _ := s.Get(t.Context(), sh.ID); got.Address != "1 Hubin Road" {
		t.Errorf("after the update this node reads %+v", got)
	}
	if _, err := s.Update(t.Context(), sh.ID+1, shops.Input{Address: str("x")}); !zan.IsNotFound(err) {
		t.Errorf("update of a missing shop: %v", err)
	}
	if _, err := s.Get(t.Context(), sh.ID+1); !zan.IsNotFound(err) {
		t.Errorf("get of a missing shop: %v", err)
	}
}

// Penetration, Bloom filter: 10,000 requests for ids that never existed
// reach the store at most a handful of times.
func TestPenetrationBloom(t *testing.T) {
	f := newFixture(t, 200)
	s := f.node(t, shops.Config{})
	r := rand.New(rand.NewPCG(7, 7))
	missing := make([]int64, 10000)
	for i := range missing {
		missing[i] = r.Int64N(1<<62) + 1
	}
	parallel(len(missing), 32, func(i int) {
		if _, err := s.Get(context.Background(), missing[i]); !zan.IsNotFound(err) {
			t.Errorf("missing id %d: %v", missing[i], err)
		}
	})
	if n := f.store.reads.Load(); n > 5 {
		t.Errorf("10,000 requests for missing ids reached the store %d times, want at most 5", n)
	}
}

// Penetration, absent entries: with ids the Bloom filter lets through (here:
// no filter at all), a missing id reaches the store once, not per request.
func TestPenetrationAbsent(t *testing.T) {
	f := newFixture(t, 10)
	s := f.node(t, shops.Config{NoBloom: true})
	parallel(10000, 32, func(i int) {
		id := int64(1 + i%10) // ten missing ids, a thousand times each
		if _, err := s.Get(context.Background(), id); !zan.IsNotFound(err) {
			t.Errorf("missing id %d: %v", id, err)
		}
	})
	if n := f.store.reads.Load(); n > 10 {
		t.Errorf("10,000 requests for 10 missing ids reached the store %d times, want at most 10", n)
	}
}

// Breakdown: 1,000 concurrent readers of a shop missing from the cache, on
// two nodes, cause one rebuild: singleflight on each node, the cache's lock
// between them.
func TestBreakdown(t *testing.T) {
	f := newFixture(t, 1)
	f.store.delay = 50 * time.Millisecond
	nodes := []*shops.Service{f.node(t, shops.Config{Prewarm: -1}), f.node(t, shops.Config{Prewarm: -1})}
	id := f.shops[0].ID
	parallel(1000, 200, func(i int) {
		sh, err := nodes[i%2].Get(context.Background(), id)
		if err != nil || sh.ID != id {
			t.Errorf("reader %d: %+v, %v", i, sh, err)
		}
	})
	if n := f.store.reads.Load(); n != 1 {
		t.Errorf("1,000 concurrent readers on 2 nodes caused %d store reads, want 1", n)
	}
}

// Logical expiry: a prewarmed (hot) shop past its logical expiry is served
// at once, stale, while one caller rebuilds it. The rebuild's store read is
// held until every reader has its answer, so a reader that waited for the
// rebuild would never finish: no timing is judged, however loaded the
// machine.
func TestLogicalExpiry(t *testing.T) {
	f := newFixture(t, 1)
	s := f.node(t, shops.Config{TTL: 50 * time.Millisecond, L1TTL: time.Millisecond})
	if n := f.store.reads.Load(); n != 0 {
		t.Fatalf("prewarm read the store %d times through Shop; want the listing only", n)
	}
	f.store.hold = make(chan struct{})
	time.Sleep(120 * time.Millisecond) // past the logical expiry, within the key's TTL
	id := f.shops[0].ID
	done := make(chan struct{})
	go func() {
		defer close(done)
		parallel(200, 50, func(i int) {
			if sh, err := s.Get(context.Background(), id); err != nil || sh.ID != id {
				t.Errorf("reader %d: %+v, %v", i, sh, err)
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		close(f.store.hold)
		t.Fatal("readers still waiting while the rebuild's store read is held: they waited for the rebuild instead of reading the stale value")
	}
	close(f.store.hold)
	// The one rebuild finishes once released; no reader comes after it, so
	// its fresh value is not rebuilt again.
	deadline := time.Now().Add(10 * time.Second)
	for f.store.reads.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if n := f.store.reads.Load(); n != 1 {
		t.Errorf("%d rebuilds after the logical expiry, want 1", n)
	}
}

// Avalanche: Start prewarms the newest shops, so the first wave of readers
// after a start does not reach the store.
func TestPrewarm(t *testing.T) {
	f := newFixture(t, 300)
	s := f.node(t, shops.Config{Prewarm: 300})
	for _, sh := range f.shops {
		if _, err := s.Get(t.Context(), sh.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.store.reads.Load(); n != 0 {
		t.Errorf("reads of 300 prewarmed shops reached the store %d times, want 0", n)
	}
}

// Update consistency: after an update on node A returns, node B (whose L1
// held the old version) serves the new one within 1 s, even when a slow
// reader wrote the old version back to the cache after the first delete.
func TestUpdateReachesOtherNodes(t *testing.T) {
	f := newFixture(t, 1)
	a := f.node(t, shops.Config{Prewarm: -1, SecondDelete: 200 * time.Millisecond})
	b := f.node(t, shops.Config{Prewarm: -1, L1TTL: time.Minute}) // only invalidation can refresh B's L1
	id := f.shops[0].ID
	old, err := b.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	name := "Renamed " + old.Name
	if _, err := a.Update(t.Context(), id, shops.Input{Name: &name}); err != nil {
		t.Fatal(err)
	}
	updated := time.Now()
	// The slow reader: it read the store before the update and writes the
	// old version back now.
	stale := `{"shop":{"ID":` + itoa(id) + `,"Name":"` + old.Name + `","Type":"` + old.Type + `"}}`
	if err := f.cache.Set(t.Context(), "shop:"+itoa(id), []byte(stale), time.Minute); err != nil {
		t.Fatal(err)
	}
	for {
		sh, err := b.Get(t.Context(), id)
		if err == nil && sh.Name == name {
			break
		}
		if time.Since(updated) > time.Second {
			t.Fatalf("node B still serves %q 1 s after the update", sh.Name)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("node B served the new version %v after the update returned", time.Since(updated).Round(time.Millisecond))
}

// A shop created on node A is found on node B at once, before B's Bloom
// filter has heard of it.
func TestCreateSeenOnOtherNode(t *testing.T) {
	f := newFixture(t, 0)
	a := f.node(t, shops.Config{})
	b := shops.New(shops.Config{}, f.store, f.cache, nil, f.ids, nil) // no notifications reach B
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	name, typ, x, y := "Night Owl Bar", "bar", 120.16, 30.27
	sh, err := a.Create(t.Context(), shops.Input{Name: &name, Type: &typ, X: &x, Y: &y})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(t.Context(), sh.ID); err != nil || got.Name != name {
		t.Fatalf("node B: %+v, %v", got, err)
	}
}

func TestNearbyValidation(t *testing.T) {
	f := newFixture(t, 50)
	s := f.node(t, shops.Config{})
	for _, q := range []zan.NearbyQuery{
		{X: 200, Y: 30, RadiusM: 100},
		{X: 120, Y: 30, RadiusM: 0},
		{X: 120, Y: 30, RadiusM: shops.MaxRadius + 1},
		{X: 120, Y: 30, RadiusM: 100, Type: "No"},
	} {
		if _, err := s.Nearby(t.Context(), q); zan.ErrorCode(err) != zan.EBadRequest {
			t.Errorf("%+v: %v, want bad_request", q, err)
		}
	}
	p, err := s.Nearby(t.Context(), zan.NearbyQuery{X: seed.Center.X, Y: seed.Center.Y, RadiusM: 20000, Limit: 100})
	if err != nil || len(p.Shops) == 0 {
		t.Fatalf("nearby the centre: %d shops, %v", len(p.Shops), err)
	}
	for i := 1; i < len(p.Distances); i++ {
		if p.Distances[i] < p.Distances[i-1] {
			t.Fatalf("not nearest first: %v", p.Distances)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
