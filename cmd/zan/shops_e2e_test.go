package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func baseOf(m *Main) string { return "http://" + m.Addr() }

// TestShopsHTTP walks the shop and voucher contract over HTTP against the
// embedded server: admin calls, reads through the cache, search, nearby,
// orders with every outcome.
func TestShopsHTTP(t *testing.T) {
	m := startServer(t)
	base := baseOf(m)
	anon := newAPI(t, base)
	admin := newAPI(t, base)
	admin.token = "admin-secret"
	user, _ := login(t, base)

	// --dev seeded demo shops around West Lake.
	if items := anon.expect(200, "GET", "/api/v1/shops?limit=100", nil).json(t)["items"].([]any); len(items) < 50 {
		t.Fatalf("--dev seeded %d shops, want 60", len(items))
	}

	shop := map[string]any{"name": "Lanzhou Noodle House", "type": "food", "address": "18 Hubin Road",
		"x": 120.162, "y": 30.259, "avg_price": 35, "score": 4.5, "open_hours": "10:00-22:00"}
	anon.expect(403, "POST", "/api/v1/shops", shop)
	user.expect(403, "POST", "/api/v1/shops", shop) // a session token is never an admin token
	for _, bad := range []any{
		map[string]any{"name": "x"},
		map[string]any{"name": "x", "type": "food", "x": 500, "y": 30},
		map[string]any{"name": "x", "type": "Food", "x": 120, "y": 30},
		`{"name":`,
	} {
		admin.expect(400, "POST", "/api/v1/shops", bad)
	}
	created := admin.expect(201, "POST", "/api/v1/shops", shop).json(t)
	id := created["id"].(string)
	got := anon.expect(200, "GET", "/api/v1/shops/"+id, nil).json(t)
	if got["name"] != "Lanzhou Noodle House" || got["x"].(float64) != 120.162 || got["avg_price"].(float64) != 35 {
		t.Fatalf("GET shop: %v", got)
	}
	anon.expect(404, "GET", "/api/v1/shops/1", nil)
	anon.expect(400, "GET", "/api/v1/shops/abc", nil)

	// An update is seen at once on the node that made it.
	admin.expect(200, "PUT", "/api/v1/shops/"+id, map[string]any{"score": 4.9, "name": "Lanzhou Noodle Bar"})
	if got := anon.expect(200, "GET", "/api/v1/shops/"+id, nil).json(t); got["score"].(float64) != 4.9 || got["name"] != "Lanzhou Noodle Bar" || got["address"] != "18 Hubin Road" {
		t.Fatalf("after update: %v", got)
	}
	admin.expect(404, "PUT", "/api/v1/shops/1", map[string]any{"score": 1})

	// Search and nearby.
	found := anon.expect(200, "GET", "/api/v1/shops?type=food&q=lanzhou+bar", nil).json(t)["items"].([]any)
	if len(found) != 1 || found[0].(map[string]any)["id"] != id {
		t.Fatalf("search: %v", found)
	}
	near := anon.expect(200, "GET", "/api/v1/shops/nearby?x=120.162&y=30.259&radius_m=300&type=food", nil).json(t)["items"].([]any)
	if len(near) == 0 || near[0].(map[string]any)["id"] != id || near[0].(map[string]any)["distance_m"].(float64) != 0 {
		t.Fatalf("nearby: %v", near)
	}
	for _, q := range []string{"x=120", "x=a&y=1", "x=120&y=30&radius_m=0", "x=120&y=30&radius_m=60000", "x=120&y=100"} {
		anon.expect(400, "GET", "/api/v1/shops/nearby?"+q, nil)
	}
	anon.expect(400, "GET", "/api/v1/shops?cursor=garbage", nil)

	// Vouchers.
	now := time.Now().UTC()
	ts := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	voucher := func(stock int, begin, end time.Duration) string {
		return admin.expect(201, "POST", "/api/v1/vouchers", map[string]any{"shop_id": id, "title": "50 off", "stock": stock,
			"begin_at": ts(begin), "end_at": ts(end)}).json(t)["id"].(string)
	}
	anon.expect(403, "POST", "/api/v1/vouchers", map[string]any{"shop_id": id})
	admin.expect(400, "POST", "/api/v1/vouchers", map[string]any{"shop_id": "1", "title": "x", "stock": 1, "begin_at": ts(0), "end_at": ts(time.Hour)})
	admin.expect(400, "POST", "/api/v1/vouchers", map[string]any{"shop_id": id, "title": "x", "stock": 1, "begin_at": ts(time.Hour), "end_at": ts(0)})
	one := voucher(1, -time.Minute, time.Hour)
	soon := voucher(5, time.Hour, 2*time.Hour)
	over := voucher(5, -2*time.Hour, -time.Hour)
	if vs := anon.expect(200, "GET", "/api/v1/shops/"+id+"/vouchers", nil).json(t)["items"].([]any); len(vs) != 3 {
		t.Fatalf("shop vouchers: %v", vs)
	}
	anon.expect(401, "POST", "/api/v1/vouchers/"+one+"/orders", nil)
	oid := user.expect(202, "POST", "/api/v1/vouchers/"+one+"/orders", nil).json(t)["order_id"].(string)
	if c := user.expect(409, "POST", "/api/v1/vouchers/"+one+"/orders", nil).errCode(t); c != "conflict" {
		t.Fatalf("second order: %s", c)
	}
	other, _ := login(t, base)
	if c := other.expect(410, "POST", "/api/v1/vouchers/"+one+"/orders", nil).errCode(t); c != "sold_out" {
		t.Fatalf("sold out: %s", c)
	}
	other.expect(400, "POST", "/api/v1/vouchers/"+soon+"/orders", nil)
	other.expect(400, "POST", "/api/v1/vouchers/"+over+"/orders", nil)
	other.expect(404, "POST", "/api/v1/vouchers/1/orders", nil)
	other.expect(403, "GET", "/api/v1/orders/"+oid, nil)
	other.expect(404, "GET", "/api/v1/orders/1", nil)
	eventually(t, "order created", func() error {
		o := user.expect(200, "GET", "/api/v1/orders/"+oid, nil).json(t)
		if o["status"] != "created" || o["voucher_id"] != one {
			return fmt.Errorf("order %v", o)
		}
		return nil
	})
	if v := anon.expect(200, "GET", "/api/v1/vouchers/"+one, nil).json(t); v["remaining"].(float64) != 0 || v["stock"].(float64) != 1 {
		t.Fatalf("voucher after the sale: %v", v)
	}
}

// flashSale makes attempts order attempts over HTTP from the logged-in
// users (round robin over nodes), conns at a time, and returns the orders
// won per user and the statuses seen.
func flashSale(t *testing.T, users []*api, voucher string, attempts, conns int) (map[string]string, map[int]int) {
	t.Helper()
	var (
		mu     sync.Mutex
		won    = map[string]string{} // user token → order id
		status = map[int]int{}
		next   atomic.Int64
		wg     sync.WaitGroup
	)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(attempts); i = next.Add(1) - 1 {
				u := users[i%int64(len(users))]
				r := u.do("POST", "/api/v1/vouchers/"+voucher+"/orders", nil)
				mu.Lock()
				status[r.Status]++
				if r.Status == 202 {
					if prev, ok := won[u.token]; ok && prev != r.json(t)["order_id"] { // the same order again is a retry's answer
						t.Errorf("a user won twice: orders %s and %s", prev, r.json(t)["order_id"])
					}
					won[u.token] = r.json(t)["order_id"].(string)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for s := range status {
		if s != 202 && s != 409 && s != 410 && s != 429 {
			t.Errorf("statuses %v: %d is not an answer of the sale", status, s)
		}
	}
	return won, status
}

// TestFlashSaleTwoNodes: 10,000 order attempts from 2,000 users over two
// scale-out nodes (Redis, NATS, MariaDB) on 100 units: exactly 100 orders,
// no user twice, remaining 0 on both nodes, and every order created.
func TestFlashSaleTwoNodes(t *testing.T) {
	cfg := scaleOut(t)
	a := startServer(t, cfg)
	b := startServer(t, cfg, func(c *Config) { c.NodeID = 1 })
	nodes := []string{baseOf(a), baseOf(b)}
	admin := newAPI(t, nodes[0])
	admin.token = "admin-secret"
	shop := admin.expect(201, "POST", "/api/v1/shops", map[string]any{"name": "Lotus Spa", "type": "spa", "x": 120.15, "y": 30.27}).json(t)["id"].(string)
	now := time.Now().UTC()
	voucher := admin.expect(201, "POST", "/api/v1/vouchers", map[string]any{"shop_id": shop, "title": "50 off", "stock": 100,
		"begin_at": now.Add(-time.Second).Format(time.RFC3339Nano), "end_at": now.Add(time.Hour).Format(time.RFC3339Nano)}).json(t)["id"].(string)

	users := make([]*api, 2000)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range users {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			users[i], _ = login(t, nodes[i%2])
		}()
	}
	wg.Wait()
	// Half of each user's attempts go to the other node.
	for i, u := range users {
		if i%4 < 2 {
			u.base = nodes[(i+1)%2]
		}
	}
	start := time.Now()
	won, status := flashSale(t, users, voucher, 10000, 200)
	took := time.Since(start)
	if len(won) != 100 {
		t.Fatalf("%d orders won, want exactly 100 (statuses %v)", len(won), status)
	}
	t.Logf("10,000 attempts in %v (%.0f/s): %v", took.Round(time.Millisecond), 10000/took.Seconds(), status)
	for _, n := range nodes {
		if v := newAPI(t, n).expect(200, "GET", "/api/v1/vouchers/"+voucher, nil).json(t); v["remaining"].(float64) != 0 {
			t.Fatalf("node %s: remaining %v", n, v["remaining"])
		}
	}
	byToken := map[string]*api{}
	for _, u := range users {
		byToken[u.token] = u
	}
	eventually(t, "every order created", func() error {
		for tok, oid := range won {
			o := byToken[tok].expect(200, "GET", "/api/v1/orders/"+oid, nil).json(t)
			if o["status"] != "created" {
				return fmt.Errorf("order %s: %v", oid, o["status"])
			}
		}
		return nil
	})
	t.Logf("every accepted order created %v after the first attempt", time.Since(start).Round(time.Millisecond))
}
