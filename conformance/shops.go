package conformance

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/geo"
)

func shop(id int64, name, typ, addr string, x, y float64) zan.Shop {
	t := now()
	return zan.Shop{ID: id, Name: name, Type: typ, Address: addr, X: x, Y: y, Score: 4.5, AvgPrice: 60,
		OpenHours: "10:00-22:00", CreatedAt: t, UpdatedAt: t}
}

func createShops(t *testing.T, s zan.Store, shops ...zan.Shop) {
	t.Helper()
	for _, sh := range shops {
		if err := s.CreateShop(t.Context(), sh); err != nil {
			t.Fatal(err)
		}
	}
}

func testShopsGetUpdate(t *testing.T, s zan.Store) {
	sh := shop(11, "Lanzhou Noodle House", "food", "18 Hubin Road", 120.162, 30.259)
	createShops(t, s, sh)
	got, err := s.Shop(t.Context(), 11)
	if err != nil || got != sh {
		t.Fatalf("Shop = %+v, %v; want %+v", got, err, sh)
	}
	if _, err := s.Shop(t.Context(), 12); !zan.IsNotFound(err) {
		t.Fatalf("missing shop: %v", err)
	}
	up := sh
	up.Name, up.X, up.UpdatedAt = "Sichuan Hot Pot", 120.2, sh.UpdatedAt.Add(time.Second)
	up.CreatedAt = sh.CreatedAt.Add(time.Hour) // must be kept
	if err := s.UpdateShop(t.Context(), up); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Shop(t.Context(), 11)
	up.CreatedAt = sh.CreatedAt
	if got != up {
		t.Fatalf("after update: %+v, want %+v", got, up)
	}
	if err := s.UpdateShop(t.Context(), up); err != nil { // same values again
		t.Fatalf("update to the same values: %v", err)
	}
	// The words moved with the update.
	if p, _ := s.Shops(t.Context(), zan.ShopFilter{Q: "noodle"}); len(p.Shops) != 0 {
		t.Fatalf("old name still found: %v", p.Shops)
	}
	if p, _ := s.Shops(t.Context(), zan.ShopFilter{Q: "hot pot"}); len(p.Shops) != 1 {
		t.Fatalf("new name not found: %v", p.Shops)
	}
	missing := up
	missing.ID = 99
	if err := s.UpdateShop(t.Context(), missing); !zan.IsNotFound(err) {
		t.Fatalf("update of a missing shop: %v", err)
	}
}

func shopIDs(p []zan.Shop) []int64 {
	out := make([]int64, len(p))
	for i, s := range p {
		out[i] = s.ID
	}
	return out
}

func testShopsSearch(t *testing.T, s zan.Store) {
	createShops(t, s,
		shop(1, "Lanzhou Noodle House", "food", "18 Hubin Road, Xihu District", 120.1, 30.2),
		shop(2, "Morning Coffee", "cafe", "3 Nanshan Road", 120.1, 30.2),
		shop(3, "NOODLE bar", "food", "7 Yan'an Road", 120.1, 30.2),
		shop(4, "Lakeside Tea Room", "cafe", "1 Hubin Road", 120.1, 30.2),
		shop(5, "兰州拉面 Noodles", "food", "西湖区 湖滨路", 120.1, 30.2),
		shop(6, "Café Été", "cafe", "Nanshan-Road 9", 120.1, 30.2),
	)
	cases := []struct {
		f    zan.ShopFilter
		want []int64
	}{
		{zan.ShopFilter{}, []int64{6, 5, 4, 3, 2, 1}},
		{zan.ShopFilter{Type: "cafe"}, []int64{6, 4, 2}},
		{zan.ShopFilter{Q: "noodle"}, []int64{5, 3, 1}},
		{zan.ShopFilter{Q: "nood"}, []int64{5, 3, 1}},
		{zan.ShopFilter{Q: "Noodle Lanzhou"}, []int64{1}},
		{zan.ShopFilter{Q: "noodle", Type: "food"}, []int64{5, 3, 1}},
		{zan.ShopFilter{Q: "hubin"}, []int64{4, 1}},
		{zan.ShopFilter{Q: "hubin road tea"}, []int64{4}},
		{zan.ShopFilter{Q: "nanshan"}, []int64{6, 2}},
		{zan.ShopFilter{Q: "road 1"}, []int64{4, 1}}, // "1" is a prefix of "18"
		{zan.ShopFilter{Q: "兰州"}, []int64{5}},
		{zan.ShopFilter{Q: "湖滨路"}, []int64{5}},
		{zan.ShopFilter{Q: "拉面"}, []int64{5}}, // inside a CJK run: see testShopsSearchCJK
		{zan.ShopFilter{Q: "café"}, []int64{6}},
		{zan.ShopFilter{Q: "CAFÉ"}, []int64{6}},
		{zan.ShopFilter{Q: "été"}, []int64{6}},
		{zan.ShopFilter{Q: "pizza"}, nil},
		{zan.ShopFilter{Q: "noodle pizza"}, nil},
		{zan.ShopFilter{Q: "!!"}, nil},
		{zan.ShopFilter{Q: `" OR 1=1 -- *`}, nil},
	}
	for _, c := range cases {
		p, err := s.Shops(t.Context(), c.f)
		if err != nil {
			t.Fatalf("%+v: %v", c.f, err)
		}
		if got := shopIDs(p.Shops); !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Errorf("%+v: %v, want %v", c.f, got, c.want)
		}
		if p.Next != nil {
			t.Errorf("%+v: a single page has a next cursor %+v", c.f, p.Next)
		}
		// Pages of every size concatenate to the same list; a full last
		// page has no next cursor.
		for limit := 1; limit <= len(c.want); limit++ {
			f := c.f
			f.Limit = limit
			var got []int64
			for range len(c.want) + 1 {
				p, err := s.Shops(t.Context(), f)
				if err != nil {
					t.Fatalf("%+v: %v", f, err)
				}
				got = append(got, shopIDs(p.Shops)...)
				if p.Next == nil {
					break
				}
				f.After = p.Next
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%+v in pages of %d: %v, want %v", c.f, limit, got, c.want)
			}
		}
	}
	// Pages of 4 then 2, with a cursor.
	p, _ := s.Shops(t.Context(), zan.ShopFilter{Limit: 4})
	if !slices.Equal(shopIDs(p.Shops), []int64{6, 5, 4, 3}) || p.Next == nil {
		t.Fatalf("first page: %v next %v", shopIDs(p.Shops), p.Next)
	}
	p, _ = s.Shops(t.Context(), zan.ShopFilter{Limit: 4, After: p.Next})
	if !slices.Equal(shopIDs(p.Shops), []int64{2, 1}) || p.Next != nil {
		t.Fatalf("second page: %v next %v", shopIDs(p.Shops), p.Next)
	}
	var all []int64
	if err := s.ShopIDs(t.Context(), func(ids []int64) error { all = append(all, ids...); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(all, []int64{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("ShopIDs: %v", all)
	}
}

// testShopsSearchCJK: Chinese and Japanese are written without spaces, so
// a query word with CJK characters in it matches anywhere inside a name or
// an address, not only at the start of a run.
func testShopsSearchCJK(t *testing.T, s zan.Store) {
	createShops(t, s,
		shop(1, "兰州拉面馆", "food", "上城区 湖滨路5号", 120.1, 30.2),
		shop(2, "Tea House", "cafe", "西湖区文三路18号", 120.1, 30.2),
		shop(3, "KTV拉面 Bar", "food", "文三路 20号", 120.1, 30.2),
		shop(4, "Ramen Alley", "food", "らーめん横丁 2", 120.1, 30.2),
		shop(5, "面包店 Bakery", "food", "Nanshan Road 100%_off", 120.1, 30.2),
	)
	cases := []struct {
		q    string
		typ  string
		want []int64
	}{
		{"拉面", "", []int64{3, 1}},
		{"文三路", "", []int64{3, 2}},
		{"西湖区文三路18号", "", []int64{2}},
		{"路18", "", []int64{2}},
		{"拉面 文三路", "", []int64{3}},
		{"拉面 bar", "", []int64{3}}, // CJK inside, latin by prefix
		{"拉面 ba", "", []int64{3}},
		{"ktv拉面", "", []int64{3}}, // a mixed run, case aside
		{"拉面", "cafe", nil},
		{"面", "", []int64{5, 3, 1}},
		{"面 店", "", []int64{5}},
		{"らーめん", "", []int64{4}},
		{"湖滨", "", []int64{1}},
		{"兰州 湖滨路5号", "", []int64{1}},
		{"上海", "", nil},
		{"面_", "", []int64{5, 3, 1}}, // "_" splits words: no wildcard
	}
	for _, c := range cases {
		f := zan.ShopFilter{Q: c.q, Type: c.typ}
		p, err := s.Shops(t.Context(), f)
		if err != nil {
			t.Fatalf("%q: %v", c.q, err)
		}
		if got := shopIDs(p.Shops); !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Errorf("%q (type %q): %v, want %v", c.q, c.typ, got, c.want)
		}
	}
	// Pages of one concatenate to the same list.
	f := zan.ShopFilter{Q: "面", Limit: 1}
	var got []int64
	for range 4 {
		p, err := s.Shops(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, shopIDs(p.Shops)...)
		if p.Next == nil {
			break
		}
		f.After = p.Next
	}
	if !slices.Equal(got, []int64{5, 3, 1}) {
		t.Fatalf("面 in pages of 1: %v", got)
	}
}

// testShopsNearby compares nearby searches with a brute-force answer over
// shops scattered around Hangzhou.
func testShopsNearby(t *testing.T, s zan.Store) {
	r := rand.New(rand.NewPCG(3, 4))
	cx, cy := 120.15, 30.28
	var shops []zan.Shop
	types := []string{"food", "cafe"}
	for i := range 400 {
		d := math.Exp(r.Float64()*math.Log(30000/10)) * 10 // 10 m to 30 km
		b := r.Float64() * 2 * math.Pi
		sh := shop(int64(i+1), "Shop", types[i%2], "", cx+d*math.Sin(b)/96000, cy+d*math.Cos(b)/111000)
		shops = append(shops, sh)
	}
	createShops(t, s, shops...)
	var ids []int64
	if err := s.ShopIDs(t.Context(), func(chunk []int64) error {
		if len(chunk) == 0 {
			t.Error("ShopIDs: an empty chunk")
		}
		ids = append(ids, chunk...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(ids) != len(shops) || !slices.IsSorted(ids) || ids[0] != 1 || ids[len(ids)-1] != int64(len(shops)) {
		t.Fatalf("ShopIDs: %d ids, from %v", len(ids), ids[:min(len(ids), 5)])
	}
	for _, q := range []zan.NearbyQuery{
		{X: cx, Y: cy, RadiusM: 50},
		{X: cx, Y: cy, RadiusM: 1000},
		{X: cx, Y: cy, RadiusM: 5000, Type: "cafe"},
		{X: cx + 0.01, Y: cy - 0.02, RadiusM: 3000},
		{X: cx, Y: cy, RadiusM: 20000},
	} {
		type hit struct {
			id int64
			d  float64
		}
		var want []hit
		for _, sh := range shops {
			if d := geo.Distance(q.X, q.Y, sh.X, sh.Y); d <= q.RadiusM && (q.Type == "" || q.Type == sh.Type) {
				want = append(want, hit{sh.ID, d})
			}
		}
		slices.SortFunc(want, func(a, b hit) int {
			return cmp.Or(cmp.Compare(math.Round(a.d*1000), math.Round(b.d*1000)), cmp.Compare(a.id, b.id))
		})
		var got []hit
		q.Limit = 7
		for pages := 0; ; pages++ {
			p, err := s.NearbyShops(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			for i, sh := range p.Shops {
				got = append(got, hit{sh.ID, p.Distances[i]})
			}
			if p.Next == nil || pages > 100 {
				break
			}
			q.After = p.Next
		}
		if len(got) != len(want) {
			t.Fatalf("%+v: %d shops, want %d", q, len(got), len(want))
		}
		for i := range got {
			if got[i].id != want[i].id || math.Abs(got[i].d-want[i].d) > 0.01 {
				t.Fatalf("%+v: item %d is %+v, want %+v", q, i, got[i], want[i])
			}
		}
	}
}

func voucher(id, shopID, stock int64) zan.Voucher {
	t := now()
	return zan.Voucher{ID: id, ShopID: shopID, Title: "50 off", Stock: stock, Remaining: stock,
		BeginAt: t, EndAt: t.Add(time.Hour), CreatedAt: t}
}

func testVouchers(t *testing.T, s zan.Store) {
	first := voucher(21, 1, 10)
	for _, v := range []zan.Voucher{first, voucher(22, 1, 5), voucher(23, 2, 1)} {
		if err := s.CreateVoucher(t.Context(), v); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Voucher(t.Context(), 21)
	if err != nil || got != first {
		t.Fatalf("Voucher = %+v, %v", got, err)
	}
	if _, err := s.Voucher(t.Context(), 24); !zan.IsNotFound(err) {
		t.Fatalf("missing voucher: %v", err)
	}
	vs, err := s.ShopVouchers(t.Context(), 1)
	if err != nil || len(vs) != 2 || vs[0].ID != 22 || vs[1].ID != 21 {
		t.Fatalf("ShopVouchers = %+v, %v", vs, err)
	}
	if vs, _ := s.ShopVouchers(t.Context(), 3); vs == nil || len(vs) != 0 {
		t.Fatalf("a shop without vouchers: %#v", vs)
	}
}

func order(id, voucher, user int64) zan.VoucherOrder {
	return zan.VoucherOrder{ID: id, VoucherID: voucher, UserID: user, Status: zan.OrderPending, CreatedAt: now()}
}

func testApplyOrders(t *testing.T, s zan.Store) {
	if err := s.CreateVoucher(t.Context(), voucher(31, 1, 3)); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	out, err := s.ApplyOrders(ctx, []zan.VoucherOrder{
		order(101, 31, 1), order(102, 31, 2), order(103, 31, 1), // user 1 twice in one batch
		order(104, 99, 5), // missing voucher
	})
	want := []zan.OrderOutcome{zan.OrderStored, zan.OrderStored, zan.OrderRejectedDuplicate, zan.OrderRejectedSoldOut}
	if err != nil || !slices.Equal(out, want) {
		t.Fatalf("first batch: %v, %v; want %v", out, err, want)
	}
	// A redelivery, a duplicate user, the last unit, then sold out.
	out, err = s.ApplyOrders(ctx, []zan.VoucherOrder{
		order(101, 31, 1), order(105, 31, 2), order(106, 31, 3), order(107, 31, 4), order(108, 31, 5),
	})
	want = []zan.OrderOutcome{zan.OrderExists, zan.OrderRejectedDuplicate, zan.OrderStored, zan.OrderRejectedSoldOut, zan.OrderRejectedSoldOut}
	if err != nil || !slices.Equal(out, want) {
		t.Fatalf("second batch: %v, %v; want %v", out, err, want)
	}
	v, _ := s.Voucher(ctx, 31)
	if v.Remaining != 0 || v.Stock != 3 {
		t.Fatalf("voucher after the sale: %+v", v)
	}
	o, err := s.Order(ctx, 106)
	if err != nil || o.UserID != 3 || o.VoucherID != 31 || o.Status != zan.OrderCreated {
		t.Fatalf("Order = %+v, %v", o, err)
	}
	for _, id := range []int64{103, 104, 105, 107} {
		if _, err := s.Order(ctx, id); !zan.IsNotFound(err) {
			t.Fatalf("rejected order %d: %v", id, err)
		}
	}
	var buyers []int64
	if err := s.VoucherBuyers(ctx, 31, func(u []int64) error { buyers = append(buyers, u...); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(buyers, []int64{1, 2, 3}) {
		t.Fatalf("VoucherBuyers = %v", buyers)
	}
}

// testApplyOrdersConcurrent: several writers (as on several nodes) apply
// overlapping batches for one voucher; the store never oversells and never
// gives a user two.
func testApplyOrdersConcurrent(t *testing.T, s zan.Store) {
	if err := s.CreateVoucher(t.Context(), voucher(41, 1, 50)); err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		stored int
		done   = make(chan struct{})
		watch  = make(chan error, 1)
	)
	// The remaining stock never leaves [0, stock], even between batches.
	go func() {
		defer close(watch)
		for {
			select {
			case <-done:
				return
			default:
			}
			v, err := s.Voucher(t.Context(), 41)
			if err == nil && (v.Remaining < 0 || v.Remaining > 50) {
				err = fmt.Errorf("remaining %d", v.Remaining)
			}
			if err != nil {
				watch <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for b := 0; b < 10; b++ {
				var batch []zan.VoucherOrder
				for range 20 {
					u := 1 + r.Int64N(200)
					// Order ids repeat across writers for a user half the
					// time: redeliveries mixed with fresh orders.
					id := 1000*u + r.Int64N(2)
					batch = append(batch, order(id, 41, u))
				}
				for try := 0; ; try++ {
					out, err := s.ApplyOrders(t.Context(), batch)
					if err == nil {
						mu.Lock()
						stored += count(out, zan.OrderStored)
						mu.Unlock()
						break
					}
					if try == 20 {
						t.Errorf("writer %d: %v", w, err)
						return
					}
					time.Sleep(time.Duration(try+1) * 5 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	if err := <-watch; err != nil {
		t.Fatalf("voucher during the sale: %v", err)
	}
	var buyers []int64
	if err := s.VoucherBuyers(t.Context(), 41, func(u []int64) error { buyers = append(buyers, u...); return nil }); err != nil {
		t.Fatal(err)
	}
	v, _ := s.Voucher(t.Context(), 41)
	if len(buyers) != 50 || v.Remaining != 0 || stored != 50 {
		t.Fatalf("%d buyers, remaining %d, %d stored outcomes; want 50, 0 and 50", len(buyers), v.Remaining, stored)
	}
	// Each buyer holds exactly one of the two order ids it could have had.
	for _, u := range buyers {
		n := 0
		for _, id := range []int64{1000 * u, 1000*u + 1} {
			o, err := s.Order(t.Context(), id)
			switch {
			case err == nil && o.UserID == u && o.VoucherID == 41 && o.Status == zan.OrderCreated:
				n++
			case err != nil && !zan.IsNotFound(err):
				t.Fatal(err)
			case err == nil:
				t.Fatalf("order %d: %+v", id, o)
			}
		}
		if n != 1 {
			t.Fatalf("user %d has %d orders", u, n)
		}
	}
}

func count[T comparable](xs []T, x T) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}
