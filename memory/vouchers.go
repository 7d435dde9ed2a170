package memory

import (
	"context"
	"sync"
	"time"

	"github.com/zanlabs/zan"
)

// Vouchers is a zan.VoucherState in process memory: one lock per voucher,
// so a stampede on one sale never slows another.
type Vouchers struct {
	mu    sync.RWMutex
	sales map[int64]*sale
}

type sale struct {
	mu         sync.Mutex
	remaining  int64
	begin, end time.Time
	buyers     map[int64]struct{}
	pending    map[int64]int64 // user → order of an unconfirmed take
}

var _ zan.VoucherState = (*Vouchers)(nil)

// NewVouchers returns an empty sale state.
func NewVouchers() *Vouchers { return &Vouchers{sales: make(map[int64]*sale)} }

func (v *Vouchers) get(id int64) *sale {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.sales[id]
}

// LoadVoucher implements zan.VoucherState.
func (v *Vouchers) LoadVoucher(_ context.Context, s zan.VoucherSale) error {
	n := &sale{remaining: s.Remaining, begin: s.BeginAt, end: s.EndAt, buyers: make(map[int64]struct{}, len(s.Buyers))}
	for _, u := range s.Buyers {
		n.buyers[u] = struct{}{}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.sales[s.ID]; !ok {
		v.sales[s.ID] = n
	}
	return nil
}

// TakeVoucher implements zan.VoucherState.
func (v *Vouchers) TakeVoucher(_ context.Context, id, user, order int64, now time.Time) (zan.TakeResult, int64, error) {
	s := v.get(id)
	if s == nil {
		return 0, 0, zan.ErrNotLoaded
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch _, dup := s.buyers[user]; {
	case now.Before(s.begin):
		return zan.TakeNotStarted, 0, nil
	case !now.Before(s.end):
		return zan.TakeEnded, 0, nil
	case dup:
		return zan.TakeDuplicate, s.pending[user], nil
	case s.remaining <= 0:
		return zan.TakeSoldOut, 0, nil
	}
	s.remaining--
	s.buyers[user] = struct{}{}
	if s.pending == nil {
		s.pending = make(map[int64]int64)
	}
	s.pending[user] = order
	return zan.Taken, 0, nil
}

// ConfirmTake implements zan.VoucherState.
func (v *Vouchers) ConfirmTake(_ context.Context, id, user int64) error {
	if s := v.get(id); s != nil {
		s.mu.Lock()
		delete(s.pending, user)
		s.mu.Unlock()
	}
	return nil
}

// UndoTake implements zan.VoucherState.
func (v *Vouchers) UndoTake(_ context.Context, id, user int64) error {
	s := v.get(id)
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.buyers[user]; ok {
		delete(s.buyers, user)
		delete(s.pending, user)
		s.remaining++
	}
	return nil
}

// VoucherRemaining implements zan.VoucherState.
func (v *Vouchers) VoucherRemaining(_ context.Context, id int64) (int64, bool, error) {
	s := v.get(id)
	if s == nil {
		return 0, false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remaining, true, nil
}
