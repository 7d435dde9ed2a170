// Package vouchers is the flash sale: limited vouchers of shops, ordered by
// thousands of buyers in the same second, never oversold, one per user.
//
// An order attempt passes two token buckets (the user's, and the voucher's
// own, which sheds a stampede with 429 before it reaches the hot state),
// then one atomic check-and-take in the hot state (window, buyer set,
// stock). A won unit becomes an order event on the order log (taken back if
// the publish fails: 503) and the buyer gets 202 with the order id at once.
// The order writer (writer.go) stores orders in batches, where a unique key
// on (voucher, user) and a conditional decrement are the last guard.
package vouchers

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/singleflight"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// Config tunes the service; zero fields take the defaults.
type Config struct {
	// UserLimit is each user's bucket for order attempts (1/s, burst 5).
	UserLimit zan.Limit
	// VoucherLimit is each voucher's bucket for order attempts from all
	// users together (2,000/s, burst 2,000): past it attempts are shed.
	VoucherLimit zan.Limit
	// PendingTTL is how long a pending order is remembered for its buyer
	// before the writer stores it (1 h); the writer takes milliseconds.
	PendingTTL time.Duration
	// PublishTimeout bounds the order publish (5 s).
	PublishTimeout time.Duration
	// LoadWait bounds how long loading a voucher into the hot state waits
	// for the order writer to store the orders already published (10 s).
	LoadWait time.Duration
	// MaxStock is the largest stock of one voucher (10,000,000).
	MaxStock int64
}

func (c *Config) defaults() {
	if c.UserLimit.Rate == 0 {
		c.UserLimit = zan.Limit{Rate: 1, Burst: 5}
	}
	if c.VoucherLimit.Rate == 0 {
		c.VoucherLimit = zan.Limit{Rate: 2000, Burst: 2000}
	}
	if c.PendingTTL <= 0 {
		c.PendingTTL = time.Hour
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 5 * time.Second
	}
	if c.LoadWait <= 0 {
		c.LoadWait = 10 * time.Second
	}
	if c.MaxStock <= 0 {
		c.MaxStock = 10_000_000
	}
}

// Service is the voucher and order service.
type Service struct {
	cfg     Config
	store   zan.VoucherStore
	shops   zan.ShopStore
	hot     zan.VoucherState
	log     zan.OrderLog
	pending zan.Cache
	limiter zan.RateLimiter
	ids     *zan.IDGen
	logger  *slog.Logger
	now     func() time.Time
	loads   singleflight.Group
}

// New returns the service. pending is the shared cache where orders wait,
// visible to their buyer on every node, until the writer stores them.
func New(cfg Config, store zan.VoucherStore, shops zan.ShopStore, hot zan.VoucherState, log zan.OrderLog,
	pending zan.Cache, limiter zan.RateLimiter, ids *zan.IDGen, logger *slog.Logger) *Service {
	cfg.defaults()
	if logger == nil {
		logger = slog.Default()
	}
	return &Service{cfg: cfg, store: store, shops: shops, hot: hot, log: log, pending: pending,
		limiter: limiter, ids: ids, logger: logger, now: time.Now}
}

// Input is a new voucher.
type Input struct {
	ShopID  int64
	Title   string
	Stock   int64
	BeginAt time.Time
	EndAt   time.Time
}

// Create stores a voucher and puts its sale in the hot state.
func (s *Service) Create(ctx context.Context, in Input) (zan.Voucher, error) {
	in.Title = strings.TrimSpace(in.Title)
	switch {
	case in.ShopID <= 0:
		return zan.Voucher{}, zan.Errorf(zan.EBadRequest, "shop_id is required")
	case in.Title == "" || utf8.RuneCountInString(in.Title) > 100:
		return zan.Voucher{}, zan.Errorf(zan.EBadRequest, "title must be 1-100 characters")
	case in.Stock < 1 || in.Stock > s.cfg.MaxStock:
		return zan.Voucher{}, zan.Errorf(zan.EBadRequest, "stock must be in [1,%d]", s.cfg.MaxStock)
	case in.BeginAt.IsZero() || in.EndAt.IsZero():
		return zan.Voucher{}, zan.Errorf(zan.EBadRequest, "begin_at and end_at are required (RFC 3339)")
	case !in.EndAt.After(in.BeginAt):
		return zan.Voucher{}, zan.Errorf(zan.EBadRequest, "end_at must be after begin_at")
	}
	if _, err := s.shops.Shop(ctx, in.ShopID); err != nil {
		if zan.IsNotFound(err) {
			return zan.Voucher{}, zan.Errorf(zan.EBadRequest, "shop %d does not exist", in.ShopID)
		}
		return zan.Voucher{}, zan.Unavailable("store", err)
	}
	v := zan.Voucher{
		ID: s.ids.Next(), ShopID: in.ShopID, Title: in.Title, Stock: in.Stock, Remaining: in.Stock,
		BeginAt: in.BeginAt.UTC().Truncate(time.Millisecond), EndAt: in.EndAt.UTC().Truncate(time.Millisecond),
		CreatedAt: s.now().UTC().Truncate(time.Millisecond),
	}
	if err := s.store.CreateVoucher(ctx, v); err != nil {
		return zan.Voucher{}, zan.Unavailable("store", err)
	}
	// A failure here is repaired by the first order, which loads the sale
	// on a miss.
	if err := s.hot.LoadVoucher(ctx, zan.VoucherSale{ID: v.ID, Remaining: v.Stock, BeginAt: v.BeginAt, EndAt: v.EndAt}); err != nil {
		s.logger.Warn("voucher: loading a new sale into the hot state", "voucher", v.ID, "err", err)
	}
	return v, nil
}

// Get returns a voucher with the remaining stock as the hot state knows it
// (the store's count trails it by the orders being written).
func (s *Service) Get(ctx context.Context, id int64) (zan.Voucher, error) {
	v, err := s.store.Voucher(ctx, id)
	if err != nil {
		return zan.Voucher{}, zan.Unavailable("store", err)
	}
	s.hotRemaining(ctx, &v)
	return v, nil
}

// ShopVouchers lists a shop's vouchers, newest first.
func (s *Service) ShopVouchers(ctx context.Context, shopID int64) ([]zan.Voucher, error) {
	vs, err := s.store.ShopVouchers(ctx, shopID)
	if err != nil {
		return nil, zan.Unavailable("store", err)
	}
	for i := range vs {
		s.hotRemaining(ctx, &vs[i])
	}
	return vs, nil
}

func (s *Service) hotRemaining(ctx context.Context, v *zan.Voucher) {
	if n, ok, err := s.hot.VoucherRemaining(ctx, v.ID); err == nil && ok {
		v.Remaining = n
	}
}

// Order tries to win one unit of voucher id for user. It returns the new
// order's id; the order is pending until the writer stores it.
func (s *Service) Order(ctx context.Context, user, id int64) (int64, error) {
	if err := s.allow(ctx, "order:"+strconv.FormatInt(user, 10), s.cfg.UserLimit, "too many order attempts; slow down"); err != nil {
		return 0, err
	}
	if err := s.allow(ctx, "voucher:"+strconv.FormatInt(id, 10), s.cfg.VoucherLimit, "too many buyers right now; try again"); err != nil {
		return 0, err
	}
	// From the take on, the client's cancellation must not cut the path:
	// a script cancelled in flight may still have taken the unit.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PublishTimeout+s.cfg.LoadWait)
	defer cancel()
	now := s.now()
	oid := s.ids.Next()
	res, unconfirmed, err := s.hot.TakeVoucher(ctx, id, user, oid, now)
	if err == zan.ErrNotLoaded {
		if err := s.load(ctx, id); err != nil {
			return 0, err
		}
		res, unconfirmed, err = s.hot.TakeVoucher(ctx, id, user, oid, now)
	}
	if err != nil {
		metrics.Orders.WithLabelValues("unavailable").Inc()
		return 0, zan.Unavailable("hot state", err)
	}
	switch res {
	case zan.Taken:
	case zan.TakeSoldOut:
		metrics.Orders.WithLabelValues("sold_out").Inc()
		return 0, zan.Errorf(zan.ESoldOut, "this voucher is sold out")
	case zan.TakeDuplicate:
		if unconfirmed != 0 {
			// This user's unit was taken for an order whose publish was
			// never confirmed (its node may have died in between): the
			// retry completes that order instead of refusing it.
			return s.place(ctx, zan.VoucherOrder{ID: unconfirmed, VoucherID: id, UserID: user,
				Status: zan.OrderPending, CreatedAt: now.UTC().Truncate(time.Millisecond)}, false)
		}
		metrics.Orders.WithLabelValues("duplicate").Inc()
		return 0, zan.Errorf(zan.EConflict, "you already have this voucher")
	case zan.TakeNotStarted:
		metrics.Orders.WithLabelValues("window").Inc()
		return 0, zan.Errorf(zan.EBadRequest, "the sale has not started")
	case zan.TakeEnded:
		metrics.Orders.WithLabelValues("window").Inc()
		return 0, zan.Errorf(zan.EBadRequest, "the sale has ended")
	default:
		return 0, zan.Unavailable("hot state", zan.Errorf(zan.EInternal, "unknown take result %d", res))
	}

	return s.place(ctx, zan.VoucherOrder{ID: oid, VoucherID: id, UserID: user, Status: zan.OrderPending,
		CreatedAt: now.UTC().Truncate(time.Millisecond)}, true)
}

// place records o as pending and publishes it; then the take is
// confirmed. If that fails, a fresh take (undo) is given back; a retried
// one stays unconfirmed for the next retry.
func (s *Service) place(ctx context.Context, o zan.VoucherOrder, undo bool) (int64, error) {
	// The pending record is written first so that the buyer can read the
	// order the moment the 202 arrives, and only published orders count:
	// an order whose publish failed is undone and its record removed.
	pendingErr := s.pending.Set(ctx, pendingKey(o.ID), encodePending(o), s.cfg.PendingTTL)
	var pubErr error
	if pendingErr == nil {
		pubErr = s.log.PublishOrder(ctx, o)
	}
	if err := cmpErr(pendingErr, pubErr); err != nil {
		if undo {
			if uerr := s.hot.UndoTake(ctx, o.VoucherID, o.UserID); uerr != nil {
				// The unit stays taken, unconfirmed: the user's retry
				// publishes its order. Never more than the stock: the store
				// would refuse it.
				s.logger.Error("voucher: undoing a take whose order was not published", "voucher", o.VoucherID, "user", o.UserID, "err", uerr)
			}
			_ = s.pending.Delete(ctx, pendingKey(o.ID))
		}
		metrics.Orders.WithLabelValues("unavailable").Inc()
		return 0, zan.Unavailable("order log", err)
	}
	if err := s.hot.ConfirmTake(ctx, o.VoucherID, o.UserID); err != nil {
		// Harmless: a later duplicate attempt publishes the order again,
		// which the store takes once (same order id).
		s.logger.Debug("voucher: confirming a take", "voucher", o.VoucherID, "err", err)
	}
	metrics.Orders.WithLabelValues("taken").Inc()
	return o.ID, nil
}

func cmpErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func (s *Service) allow(ctx context.Context, key string, l zan.Limit, msg string) error {
	if s.limiter == nil {
		return nil
	}
	ok, retry, err := s.limiter.Allow(ctx, key, l)
	if err != nil {
		return zan.Unavailable("rate limiter", err)
	}
	if !ok {
		metrics.Orders.WithLabelValues("rate_limited").Inc()
		metrics.RateLimited.WithLabelValues("order").Inc()
		return zan.RateLimited(retry, "%s", msg)
	}
	return nil
}

// load puts a sale missing from the hot state (lost with a Redis restart,
// or never loaded) back from the store: after the orders already published
// are stored, so that the buyers and the remaining stock are complete.
func (s *Service) load(ctx context.Context, id int64) error {
	_, err, _ := s.loads.Do(strconv.FormatInt(id, 10), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.LoadWait)
		defer cancel()
		v, err := s.store.Voucher(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := s.log.WaitOrdersApplied(ctx); err != nil {
			return nil, err
		}
		// Read again: the orders just applied changed the remaining stock.
		if v, err = s.store.Voucher(ctx, id); err != nil {
			return nil, err
		}
		sale := zan.VoucherSale{ID: id, Remaining: v.Remaining, BeginAt: v.BeginAt, EndAt: v.EndAt}
		if err := s.store.VoucherBuyers(ctx, id, func(users []int64) error {
			sale.Buyers = append(sale.Buyers, users...)
			return nil
		}); err != nil {
			return nil, err
		}
		return nil, s.hot.LoadVoucher(ctx, sale)
	})
	if err != nil && !zan.IsNotFound(err) {
		metrics.Orders.WithLabelValues("unavailable").Inc()
		return zan.Unavailable("loading the sale", err)
	}
	return err
}

// GetOrder returns one of user's orders: stored (created), or pending while
// the writer has not stored it yet.
func (s *Service) GetOrder(ctx context.Context, user, id int64) (zan.VoucherOrder, error) {
	o, err := s.store.Order(ctx, id)
	if err != nil && !zan.IsNotFound(err) {
		return zan.VoucherOrder{}, zan.Unavailable("store", err)
	}
	if err != nil {
		b, ok, perr := s.pending.Get(ctx, pendingKey(id))
		if perr != nil {
			return zan.VoucherOrder{}, zan.Unavailable("cache", perr)
		}
		switch {
		case ok:
			if o, err = decodePending(b); err != nil {
				return zan.VoucherOrder{}, err
			}
		default:
			// The writer deletes a pending record only after the order is
			// stored, so a record gone since the first read means the
			// order may be in the store now: without this second look a
			// read racing the writer answered 404 for an accepted order
			// (seen in CI).
			if o, err = s.store.Order(ctx, id); zan.IsNotFound(err) {
				return zan.VoucherOrder{}, zan.Errorf(zan.ENotFound, "order %d not found", id)
			} else if err != nil {
				return zan.VoucherOrder{}, zan.Unavailable("store", err)
			}
		}
	}
	if o.UserID != user {
		return zan.VoucherOrder{}, zan.Errorf(zan.EForbidden, "this order is someone else's")
	}
	return o, nil
}

// UserOrders lists user's stored orders with their vouchers, newest first.
// An order still pending (won, not yet written) is not among them: GetOrder
// shows it.
func (s *Service) UserOrders(ctx context.Context, user int64, limit int, after *zan.Cursor) (zan.UserOrderPage, error) {
	p, err := s.store.UserOrders(ctx, user, limit, after)
	if err != nil {
		return zan.UserOrderPage{}, zan.Unavailable("store", err)
	}
	return p, nil
}

func pendingKey(id int64) string { return "order:" + strconv.FormatInt(id, 10) }

type pendingJSON struct {
	ID, Voucher, User int64
	At                int64 // Unix ms
}

func encodePending(o zan.VoucherOrder) []byte {
	b, _ := json.Marshal(pendingJSON{o.ID, o.VoucherID, o.UserID, o.CreatedAt.UnixMilli()})
	return b
}

func decodePending(b []byte) (zan.VoucherOrder, error) {
	var p pendingJSON
	if err := json.Unmarshal(b, &p); err != nil {
		return zan.VoucherOrder{}, err
	}
	return zan.VoucherOrder{ID: p.ID, VoucherID: p.Voucher, UserID: p.User, Status: zan.OrderPending,
		CreatedAt: time.UnixMilli(p.At).UTC()}, nil
}
