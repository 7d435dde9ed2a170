package conformance

import (
	"testing"

	"github.com/zanlabs/zan"
)

// testUserOrders: a user's orders page newest first with their vouchers,
// and never show another user's.
func testUserOrders(t *testing.T, s zan.Store) {
	ctx := t.Context()
	for _, v := range []zan.Voucher{voucher(41, 1, 5), voucher(42, 1, 5), voucher(43, 2, 5)} {
		if err := s.CreateVoucher(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ApplyOrders(ctx, []zan.VoucherOrder{
		order(201, 41, 7), order(202, 42, 8), order(203, 42, 7), order(204, 43, 7),
	}); err != nil {
		t.Fatal(err)
	}
	var got []int64
	var after *zan.Cursor
	for pages := 0; ; pages++ {
		p, err := s.UserOrders(ctx, 7, 2, after)
		if err != nil {
			t.Fatal(err)
		}
		if pages > 3 {
			t.Fatalf("paging does not end: %+v", p)
		}
		for _, it := range p.Items {
			got = append(got, it.Order.ID)
			want, _ := s.Voucher(ctx, it.Order.VoucherID)
			if it.Order.UserID != 7 || it.Order.Status != zan.OrderCreated || it.Voucher != want {
				t.Fatalf("item %+v, want its voucher %+v", it, want)
			}
		}
		if after = p.Next; after == nil {
			break
		}
	}
	if len(got) != 3 || got[0] != 204 || got[1] != 203 || got[2] != 201 {
		t.Fatalf("user 7's orders = %v, want [204 203 201]", got)
	}
	p, err := s.UserOrders(ctx, 9, 20, nil)
	if err != nil || p.Items == nil || len(p.Items) != 0 || p.Next != nil {
		t.Fatalf("a user without orders: %+v, %v", p, err)
	}
}

// testAvatar: the avatar style is stored, read with the user, and starts
// at the default.
func testAvatar(t *testing.T, s zan.Store) {
	ctx := t.Context()
	u := zan.User{ID: 1, Phone: "+8613800000001", Nickname: "first", CreatedAt: now()}
	if got, err := s.EnsureUser(ctx, u); err != nil || got.Avatar != 0 {
		t.Fatalf("EnsureUser: %+v, %v; want the default avatar", got, err)
	}
	if err := s.SetAvatar(ctx, 1, zan.MaxAvatar); err != nil {
		t.Fatal(err)
	}
	if got, err := s.User(ctx, 1); err != nil || got.Avatar != zan.MaxAvatar || got.Nickname != "first" {
		t.Fatalf("User after SetAvatar: %+v, %v", got, err)
	}
	if m, err := s.Users(ctx, []int64{1}); err != nil || m[1].Avatar != zan.MaxAvatar {
		t.Fatalf("Users after SetAvatar: %+v, %v", m, err)
	}
	if got, err := s.EnsureUser(ctx, u); err != nil || got.Avatar != zan.MaxAvatar {
		t.Fatalf("EnsureUser of a known phone: %+v, %v", got, err)
	}
	if err := s.SetAvatar(ctx, 999, 1); !zan.IsNotFound(err) {
		t.Fatalf("SetAvatar(missing): %v, want not_found", err)
	}
}
