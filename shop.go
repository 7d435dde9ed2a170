package zan

import (
	"context"
	"time"
)

// Shop is a place people read about, find nearby and buy vouchers of.
// X is the longitude and Y the latitude, WGS 84 degrees.
type Shop struct {
	ID        int64
	Name      string
	Type      string // a ValidType name: food, cafe, ...
	Address   string
	X, Y      float64
	Score     float64 // rating 0–5
	AvgPrice  int64   // average spend per person, whole currency units
	OpenHours string  // free text, e.g. "10:00-22:00"
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ShopFilter selects a page of shops, newest (highest id) first.
// Q matches words of the name or the address by prefix ("nood" finds
// "Noodle House"), ignoring case; every word of Q must match. Words are
// runs of letters and digits, and a Q with no word matches nothing. A word
// with CJK characters in it matches anywhere inside the name or the
// address ("拉面" finds "兰州拉面馆"): those scripts put no spaces between
// words.
type ShopFilter struct {
	Type  string // "" = any
	Q     string // "" = no text filter
	Limit int
	After *Cursor // ID of the last shop returned
}

// ShopPage is one page of shops; Next is nil on the last page.
type ShopPage struct {
	Shops []Shop
	Next  *Cursor
}

// NearbyQuery selects the shops within RadiusM metres of (X, Y), nearest
// first (distance, then id). After holds Score = the last distance in
// millimetres and ID = the last shop's id.
type NearbyQuery struct {
	X, Y    float64
	RadiusM float64
	Type    string // "" = any
	Limit   int
	After   *Cursor
}

// NearbyPage is one page of a nearby search; Distances[i] is Shops[i]'s
// distance in metres.
type NearbyPage struct {
	Shops     []Shop
	Distances []float64
	Next      *Cursor
}

// ShopStore keeps shops.
type ShopStore interface {
	CreateShop(ctx context.Context, s Shop) error
	// UpdateShop replaces the stored shop s.ID (CreatedAt is kept);
	// ENotFound when there is none.
	UpdateShop(ctx context.Context, s Shop) error
	// Shop returns ENotFound for a missing shop.
	Shop(ctx context.Context, id int64) (Shop, error)
	Shops(ctx context.Context, f ShopFilter) (ShopPage, error)
	NearbyShops(ctx context.Context, q NearbyQuery) (NearbyPage, error)
	// ShopIDs calls fn with every shop id, in chunks (to fill a Bloom filter).
	ShopIDs(ctx context.Context, fn func(ids []int64) error) error
}

// Voucher is a limited stock of discount coupons of a shop, sold in a
// window [BeginAt, EndAt).
type Voucher struct {
	ID        int64
	ShopID    int64
	Title     string
	Stock     int64 // units put on sale
	Remaining int64 // units not yet ordered, as the store knows it
	BeginAt   time.Time
	EndAt     time.Time
	CreatedAt time.Time
}

// OrderStatus is where an order is in its life.
type OrderStatus string

const (
	OrderPending   OrderStatus = "pending"   // won in the hot state, not yet in the store
	OrderCreated   OrderStatus = "created"   // stored: the unit is the buyer's
	OrderPaid      OrderStatus = "paid"      // reserved for payment, not used yet
	OrderCancelled OrderStatus = "cancelled" // reserved for cancellation, not used yet
)

// VoucherOrder is one user's order of one unit of a voucher.
type VoucherOrder struct {
	ID        int64
	VoucherID int64
	UserID    int64
	Status    OrderStatus
	CreatedAt time.Time
}

// UserOrder is one of a user's orders with the voucher it is for; Voucher
// is the zero value when the voucher is gone.
type UserOrder struct {
	Order   VoucherOrder
	Voucher Voucher
}

// UserOrderPage is a page of a user's orders, newest first; Next (an ID
// cursor) is nil on the last page.
type UserOrderPage struct {
	Items []UserOrder
	Next  *Cursor
}

// OrderOutcome says what ApplyOrders did with one order.
type OrderOutcome uint8

const (
	// OrderStored: the order was created by this call.
	OrderStored OrderOutcome = iota + 1
	// OrderExists: an order with this id was stored before (a redelivery).
	OrderExists
	// OrderRejectedDuplicate: the user already has another order of this
	// voucher; nothing was stored.
	OrderRejectedDuplicate
	// OrderRejectedSoldOut: the stored remaining stock was 0; nothing was
	// stored.
	OrderRejectedSoldOut
)

// VoucherStore keeps vouchers and their orders.
type VoucherStore interface {
	// CreateVoucher stores v with Remaining = Stock.
	CreateVoucher(ctx context.Context, v Voucher) error
	// Voucher returns ENotFound for a missing voucher.
	Voucher(ctx context.Context, id int64) (Voucher, error)
	// ShopVouchers returns the vouchers of a shop, newest first (at most
	// 1000).
	ShopVouchers(ctx context.Context, shopID int64) ([]Voucher, error)
	// ApplyOrders stores orders idempotently, in one transaction: an order
	// whose id is stored already changes nothing; else a unique key on
	// (voucher, user) and a conditional decrement (remaining > 0) decide
	// whether it is stored, with status created. It returns one outcome per
	// order, in order. An order of a missing voucher is rejected as sold out.
	ApplyOrders(ctx context.Context, orders []VoucherOrder) ([]OrderOutcome, error)
	// Order returns ENotFound for an order not stored.
	Order(ctx context.Context, id int64) (VoucherOrder, error)
	// UserOrders lists user's stored orders with their vouchers, newest
	// (highest id) first, limit at a time after the cursor's ID.
	UserOrders(ctx context.Context, user int64, limit int, after *Cursor) (UserOrderPage, error)
	// VoucherBuyers calls fn with the users holding an order of the
	// voucher, in chunks (to load the hot state).
	VoucherBuyers(ctx context.Context, voucherID int64, fn func(users []int64) error) error
}

// VoucherSale is the hot state of one voucher's sale.
type VoucherSale struct {
	ID        int64
	Remaining int64
	BeginAt   time.Time
	EndAt     time.Time
	Buyers    []int64
}

// TakeResult is the outcome of one atomic check-and-take.
type TakeResult uint8

const (
	Taken          TakeResult = iota + 1 // a unit is the user's now
	TakeSoldOut                          // no unit left
	TakeDuplicate                        // the user has one already
	TakeNotStarted                       // before BeginAt
	TakeEnded                            // at or after EndAt
)

// VoucherState is the hot state of flash sales: per voucher the remaining
// stock and the set of buyers, changed in one atomic step. Implementations:
// memory and redis (one Lua script, keys hash-tagged per voucher).
type VoucherState interface {
	// LoadVoucher installs s unless the voucher is present already (a
	// concurrent loader or buyer won; its state is kept).
	LoadVoucher(ctx context.Context, s VoucherSale) error
	// TakeVoucher checks the window at now, the buyer set and the stock and,
	// when all allow it, takes one unit for user, to become order. The take
	// stays unconfirmed until ConfirmTake: a TakeDuplicate of an unconfirmed
	// take returns its order (its writer may have died before publishing
	// it), else 0. ErrNotLoaded when the voucher is not in the hot state.
	TakeVoucher(ctx context.Context, id, user, order int64, now time.Time) (res TakeResult, unconfirmed int64, err error)
	// ConfirmTake records that user's order is in the order log.
	ConfirmTake(ctx context.Context, id, user int64) error
	// UndoTake gives user's unit back (its order could not be published).
	// It does nothing when user holds none or the voucher is missing.
	UndoTake(ctx context.Context, id, user int64) error
	// VoucherRemaining returns the remaining stock; loaded is false when the
	// voucher is not in the hot state.
	VoucherRemaining(ctx context.Context, id int64) (remaining int64, loaded bool, err error)
}

// Cache is a shared key-value cache with expiry and a lock, the L2 of the
// shop cache and the home of pending orders: in process (memory) or Redis,
// where every node sees the same entries.
type Cache interface {
	// Get returns the value of key; ok is false when it is missing or
	// expired.
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	// Set stores val under key for ttl (> 0).
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Delete removes keys; missing keys are no error.
	Delete(ctx context.Context, keys ...string) error
	// TryLock takes the lock named key for at most ttl unless another
	// holder has it (ok false). unlock releases it only while it is still
	// this holder's.
	TryLock(ctx context.Context, key string, ttl time.Duration) (unlock func(context.Context) error, ok bool, err error)
}

// OrderBatch is a run of orders fetched from the order log; Ack, Nak and
// Progress as in Batch.
type OrderBatch struct {
	Orders   []VoucherOrder
	Ack      func(ctx context.Context) error
	Nak      func()
	Progress func()
}

// OrderLog carries orders won in the hot state to the order writer,
// durably. Implementation: natslog.
type OrderLog interface {
	// PublishOrder stores o durably (o.ID de-duplicates a retried publish).
	PublishOrder(ctx context.Context, o VoucherOrder) error
	// FetchOrders waits up to wait for up to max orders, for the order
	// writer's durable consumer shared by every node.
	FetchOrders(ctx context.Context, max int, wait time.Duration) (OrderBatch, error)
	// WaitOrdersApplied returns once every order published before the call
	// has been acknowledged by the order writer, or when ctx ends.
	WaitOrdersApplied(ctx context.Context) error
}

// Notifier sends small messages to every node, at most once and without
// history: cache invalidations. Implementation: natslog (core NATS).
type Notifier interface {
	Notify(ctx context.Context, topic string, data []byte) error
	// Subscribe calls fn, one message at a time, with every message
	// notified on topic (by any node, this one included) until stop.
	Subscribe(topic string, fn func(data []byte)) (stop func(), err error)
}
