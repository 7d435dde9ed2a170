// Package shops is the shop service: shops read through a cache that holds
// under abuse (see cache.go), written by admins, searched by type and text,
// and found nearby.
package shops

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"

	"github.com/zanlabs/zan"
)

// TargetType is the like target type of shops.
const TargetType = "shop"

// Config tunes the service; zero fields take the defaults.
type Config struct {
	// TTL is the life of an L2 entry (30 min), stretched by up to Jitter
	// (0.2 = +20%) so entries written together do not expire together.
	TTL    time.Duration
	Jitter float64
	// AbsentTTL is the life of an "absent" entry for a missing id (1 min):
	// long enough to absorb a flood, short enough that a shop created
	// through another path shows soon.
	AbsentTTL time.Duration
	// L1TTL bounds how long an in-process entry lives (1 s) should an
	// invalidation from another node be lost; normally invalidations drop
	// it within milliseconds.
	L1TTL time.Duration
	// L1Size is the most shops held in process (10,000).
	L1Size int
	// SecondDelete is the delay of the second invalidation after an update
	// (500 ms): it removes a stale value a reader may have written back
	// between the store write and the first delete.
	SecondDelete time.Duration
	// LockTTL bounds a rebuild lock held by a node that died (3 s).
	LockTTL time.Duration
	// Prewarm is how many shops (newest first) Start loads into the cache
	// (1,000); they use logical expiry: served stale while one caller
	// rebuilds, never missing.
	Prewarm int
	// BloomRefresh rebuilds the Bloom filter from the store this often
	// (10 min), so ids created while a node missed a notification show up.
	BloomRefresh time.Duration
	// NoBloom and NoAbsent switch protections off, for tests that show what
	// each one is worth.
	NoBloom, NoAbsent bool
}

func (c *Config) defaults() {
	if c.TTL <= 0 {
		c.TTL = 30 * time.Minute
	}
	if c.Jitter <= 0 {
		c.Jitter = 0.2
	}
	if c.AbsentTTL <= 0 {
		c.AbsentTTL = time.Minute
	}
	if c.L1TTL <= 0 {
		c.L1TTL = time.Second
	}
	if c.L1Size <= 0 {
		c.L1Size = 10000
	}
	if c.SecondDelete <= 0 {
		c.SecondDelete = 500 * time.Millisecond
	}
	if c.LockTTL <= 0 {
		c.LockTTL = 3 * time.Second
	}
	if c.Prewarm == 0 {
		c.Prewarm = 1000
	}
	if c.BloomRefresh <= 0 {
		c.BloomRefresh = 10 * time.Minute
	}
}

// Service is the shop service.
type Service struct {
	cfg    Config
	store  zan.ShopStore
	cache  zan.Cache
	notify zan.Notifier
	ids    *zan.IDGen
	log    *slog.Logger
	now    func() time.Time

	l1    *otter.Cache[int64, zan.Shop]
	sf    singleflight.Group
	bmu   sync.RWMutex
	bloom *bloom.BloomFilter
	// logical holds the ids whose L2 entries use logical expiry.
	logical sync.Map // int64 → struct{}
	timers  sync.WaitGroup
}

// New returns a shop service. cache is the shared L2 (memory or Redis);
// notify carries invalidations to every node.
func New(cfg Config, store zan.ShopStore, cache zan.Cache, notify zan.Notifier, ids *zan.IDGen, log *slog.Logger) *Service {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	return &Service{
		cfg: cfg, store: store, cache: cache, notify: notify, ids: ids, log: log, now: time.Now,
		l1: otter.Must(&otter.Options[int64, zan.Shop]{
			MaximumSize:      cfg.L1Size,
			ExpiryCalculator: otter.ExpiryWriting[int64, zan.Shop](cfg.L1TTL),
		}),
	}
}

// Input is what an admin writes; nil fields of an update keep the stored
// value.
type Input struct {
	Name      *string
	Type      *string
	Address   *string
	X, Y      *float64
	Score     *float64
	AvgPrice  *int64
	OpenHours *string
}

func (in Input) apply(s *zan.Shop) error {
	if in.Name != nil {
		s.Name = strings.TrimSpace(*in.Name)
	}
	if in.Type != nil {
		s.Type = *in.Type
	}
	if in.Address != nil {
		s.Address = strings.TrimSpace(*in.Address)
	}
	if in.X != nil {
		s.X = *in.X
	}
	if in.Y != nil {
		s.Y = *in.Y
	}
	if in.Score != nil {
		s.Score = *in.Score
	}
	if in.AvgPrice != nil {
		s.AvgPrice = *in.AvgPrice
	}
	if in.OpenHours != nil {
		s.OpenHours = strings.TrimSpace(*in.OpenHours)
	}
	switch {
	case s.Name == "" || utf8.RuneCountInString(s.Name) > 100:
		return zan.Errorf(zan.EBadRequest, "name must be 1-100 characters")
	case !zan.ValidType(s.Type):
		return zan.Errorf(zan.EBadRequest, "type must match [a-z][a-z0-9_]{0,31}")
	case utf8.RuneCountInString(s.Address) > 200:
		return zan.Errorf(zan.EBadRequest, "address must be at most 200 characters")
	case !(s.X >= -180 && s.X <= 180) || !(s.Y >= -90 && s.Y <= 90):
		return zan.Errorf(zan.EBadRequest, "x must be a longitude in [-180,180] and y a latitude in [-90,90]")
	case !(s.Score >= 0 && s.Score <= 5):
		return zan.Errorf(zan.EBadRequest, "score must be in [0,5]")
	case s.AvgPrice < 0 || s.AvgPrice > 1e9:
		return zan.Errorf(zan.EBadRequest, "avg_price must be in [0,1000000000]")
	case utf8.RuneCountInString(s.OpenHours) > 64:
		return zan.Errorf(zan.EBadRequest, "open_hours must be at most 64 characters")
	}
	s.Score = math.Round(s.Score*10) / 10
	return nil
}

// Create stores a new shop; name, type, x and y are required.
func (s *Service) Create(ctx context.Context, in Input) (zan.Shop, error) {
	if in.Name == nil || in.Type == nil || in.X == nil || in.Y == nil {
		return zan.Shop{}, zan.Errorf(zan.EBadRequest, "name, type, x and y are required")
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	sh := zan.Shop{ID: s.ids.Next(), CreatedAt: now, UpdatedAt: now}
	if err := in.apply(&sh); err != nil {
		return zan.Shop{}, err
	}
	if err := s.store.CreateShop(ctx, sh); err != nil {
		return zan.Shop{}, zan.Unavailable("store", err)
	}
	s.bloomAdd(sh.ID)
	// Written through to L2 so that another node whose Bloom filter has not
	// heard of the id yet still finds it there (see Get); an absent entry
	// cached before the create is replaced at the same time.
	if err := s.put(ctx, sh); err != nil {
		s.log.Warn("shop cache: write-through after create", "shop", sh.ID, "err", err)
	}
	s.publish(ctx, "c", sh.ID)
	return sh, nil
}

// Update changes the fields given. The store is written first, then the
// cache entry is deleted everywhere, and deleted again after SecondDelete.
func (s *Service) Update(ctx context.Context, id int64, in Input) (zan.Shop, error) {
	sh, err := s.store.Shop(ctx, id)
	if err != nil {
		return zan.Shop{}, zan.Unavailable("store", err)
	}
	if err := in.apply(&sh); err != nil {
		return zan.Shop{}, err
	}
	sh.UpdatedAt = s.now().UTC().Truncate(time.Millisecond)
	if err := s.store.UpdateShop(ctx, sh); err != nil {
		return zan.Shop{}, zan.Unavailable("store", err)
	}
	if err := s.invalidate(ctx, id); err != nil {
		// The update is stored; the L1 bound and the second delete still
		// bring readers to it. Saying 503 here would invite a retry of a
		// change that happened.
		s.log.Warn("shop cache: invalidation after update", "shop", id, "err", err)
	}
	s.timers.Add(1)
	time.AfterFunc(s.cfg.SecondDelete, func() {
		defer s.timers.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.invalidate(ctx, id); err != nil {
			s.log.Warn("shop cache: second delete", "shop", id, "err", err)
		}
	})
	return sh, nil
}

// invalidate deletes id's L2 entry and drops it from every node's L1.
func (s *Service) invalidate(ctx context.Context, id int64) error {
	err := s.cache.Delete(ctx, key(id))
	s.l1.Invalidate(id)
	s.publish(ctx, "u", id)
	return err
}

// publish tells the other nodes: "u" an update (drop L1), "c" a create
// (add to the Bloom filter, drop L1).
func (s *Service) publish(ctx context.Context, op string, id int64) {
	if s.notify == nil {
		return
	}
	if err := s.notify.Notify(ctx, notifyTopic, []byte(op+":"+strconv.FormatInt(id, 10))); err != nil {
		s.log.Warn("shop cache: notify", "shop", id, "err", err)
	}
}

const notifyTopic = "shops"

func (s *Service) onNotify(b []byte) {
	op, idStr, ok := strings.Cut(string(b), ":")
	id, err := strconv.ParseInt(idStr, 10, 64)
	if !ok || err != nil {
		return
	}
	if op == "c" {
		s.bloomAdd(id)
	}
	s.l1.Invalidate(id)
	metricsInvalidation()
}

// Search lists shops by type and text.
func (s *Service) Search(ctx context.Context, f zan.ShopFilter) (zan.ShopPage, error) {
	if f.Type != "" && !zan.ValidType(f.Type) {
		return zan.ShopPage{}, zan.Errorf(zan.EBadRequest, "type must match [a-z][a-z0-9_]{0,31}")
	}
	f.Q = strings.TrimSpace(f.Q)
	if utf8.RuneCountInString(f.Q) > 100 {
		return zan.ShopPage{}, zan.Errorf(zan.EBadRequest, "q must be at most 100 characters")
	}
	p, err := s.store.Shops(ctx, f)
	return p, zan.Unavailable("store", err)
}

// MaxRadius is the largest nearby radius, in metres.
const MaxRadius = 50000

// Nearby lists the shops around a point, nearest first.
func (s *Service) Nearby(ctx context.Context, q zan.NearbyQuery) (zan.NearbyPage, error) {
	if q.Type != "" && !zan.ValidType(q.Type) {
		return zan.NearbyPage{}, zan.Errorf(zan.EBadRequest, "type must match [a-z][a-z0-9_]{0,31}")
	}
	if !(q.X >= -180 && q.X <= 180) || !(q.Y >= -90 && q.Y <= 90) {
		return zan.NearbyPage{}, zan.Errorf(zan.EBadRequest, "x must be a longitude in [-180,180] and y a latitude in [-90,90]")
	}
	if !(q.RadiusM >= 1 && q.RadiusM <= MaxRadius) {
		return zan.NearbyPage{}, zan.Errorf(zan.EBadRequest, "radius_m must be in [1,%d]", MaxRadius)
	}
	p, err := s.store.NearbyShops(ctx, q)
	return p, zan.Unavailable("store", err)
}

// Start fills the Bloom filter and prewarms the cache, then keeps both
// current until ctx ends: notifications from every node, and a periodic
// Bloom rebuild. It returns once the filter is filled (or ctx ended);
// serving before that would answer 404 for every shop.
func (s *Service) Start(ctx context.Context) error {
	if err := s.rebuildBloom(ctx); err != nil {
		return err
	}
	if s.notify != nil {
		stop, err := s.notify.Subscribe(notifyTopic, s.onNotify)
		if err != nil {
			return err
		}
		context.AfterFunc(ctx, stop)
	}
	if err := s.prewarm(ctx); err != nil {
		s.log.Warn("shop cache: prewarm", "err", err)
	}
	go func() {
		t := time.NewTicker(s.cfg.BloomRefresh)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.rebuildBloom(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("shop cache: Bloom filter rebuild", "err", err)
				}
			}
		}
	}()
	return nil
}

// Close waits for pending second deletes.
func (s *Service) Close() { s.timers.Wait() }

// rebuildBloom builds a new filter from every stored id and swaps it in.
// A create racing the rebuild is added to both filters (bloomAdd adds to
// the current one, and the scan may or may not see it), so nothing is lost
// at the swap except what the scan missed, which the write-through L2 entry
// covers.
func (s *Service) rebuildBloom(ctx context.Context) error {
	if s.cfg.NoBloom {
		return nil
	}
	var ids []int64
	if err := s.store.ShopIDs(ctx, func(chunk []int64) error {
		ids = append(ids, chunk...)
		return nil
	}); err != nil {
		return zan.Unavailable("store", err)
	}
	// Room to grow before the false-positive rate climbs: twice the shops
	// there are, and at least 100,000.
	f := bloom.NewWithEstimates(uint(max(2*len(ids), 100000)), 0.01)
	var buf [8]byte
	for _, id := range ids {
		f.Add(idBytes(&buf, id))
	}
	s.bmu.Lock()
	s.bloom = f
	s.bmu.Unlock()
	return nil
}

func (s *Service) bloomAdd(id int64) {
	var buf [8]byte
	s.bmu.Lock()
	if s.bloom != nil {
		s.bloom.Add(idBytes(&buf, id))
	}
	s.bmu.Unlock()
}

// mayExist reports whether id can be a shop: false only when the filter
// knows it is not.
func (s *Service) mayExist(id int64) bool {
	var buf [8]byte
	s.bmu.RLock()
	defer s.bmu.RUnlock()
	return s.bloom == nil || s.bloom.Test(idBytes(&buf, id))
}

func idBytes(buf *[8]byte, id int64) []byte {
	for i := range buf {
		buf[i] = byte(id >> (8 * i))
	}
	return buf[:]
}
