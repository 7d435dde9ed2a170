package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/sqlite"
)

// TestKill9FlashSale kills the server with SIGKILL in the middle of a flash
// sale (orders accepted, some not yet written), restarts it on the same data
// and sells the rest: exactly the stock is sold, no user twice, and every
// order accepted before the kill is created after it.
func TestKill9FlashSale(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server process")
	}
	data, addr := t.TempDir(), freeAddr(t)
	flags := []string{"--admin-token", "admin-secret", "--order-rate", "1000", "--order-burst", "1000"}
	c := startChild(t, data, addr, flags...)
	base := "http://" + addr
	admin := newAPI(t, base)
	admin.token = "admin-secret"
	shop := admin.expect(201, "POST", "/api/v1/shops", map[string]any{"name": "Lotus Spa", "type": "spa", "x": 120.15, "y": 30.27}).json(t)["id"].(string)
	now := time.Now().UTC()
	voucher := admin.expect(201, "POST", "/api/v1/vouchers", map[string]any{"shop_id": shop, "title": "50 off", "stock": 100,
		"begin_at": now.Add(-time.Second).Format(time.RFC3339Nano), "end_at": now.Add(time.Hour).Format(time.RFC3339Nano)}).json(t)["id"].(string)
	users := make([]*api, 400)
	for i := range users {
		users[i], _ = login(t, base)
	}

	var (
		mu     sync.Mutex
		won    = map[string]string{} // token → order id
		killed atomic.Bool
	)
	// attempt orders once for user u; transport errors (the server is
	// gone) are no answer and count for nothing.
	attempt := func(u *api) {
		req, _ := http.NewRequest("POST", base+"/api/v1/vouchers/"+voucher+"/orders", nil)
		req.Header.Set("Authorization", "Bearer "+u.token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		defer res.Body.Close()
		switch res.StatusCode {
		case 202:
			var v struct {
				OrderID string `json:"order_id"`
			}
			if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
				t.Errorf("202 without an order id: %v", err)
				return
			}
			mu.Lock()
			if prev, ok := won[u.token]; ok && prev != v.OrderID { // the same order again is a retry's answer
				t.Errorf("a user won twice: %s and %s", prev, v.OrderID)
			}
			won[u.token] = v.OrderID
			n := len(won)
			mu.Unlock()
			if n >= 50 && killed.CompareAndSwap(false, true) {
				if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Error(err)
				}
			}
		case 409, 410, 429:
		default:
			if !killed.Load() {
				t.Errorf("order attempt: status %d", res.StatusCode)
			}
		}
	}
	rush := func(from []*api) {
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1) - 1; i < int64(3*len(from)); i = next.Add(1) - 1 {
					attempt(from[i%int64(len(from))])
				}
			}()
		}
		wg.Wait()
	}
	rush(users[:200])
	if !killed.Load() {
		t.Fatalf("only %d orders won before the rush ended; the kill never happened", len(won))
	}
	_ = c.cmd.Wait()
	before := len(won)
	t.Logf("killed after %d accepted orders", before)

	c2 := startChild(t, data, addr, flags...)
	rush(users) // everyone, the earlier winners included
	// Orders the kill cut off before their 202 reached the client are
	// sold too: the answers are at most 100, the store holds exactly 100.
	if len(won) > 100 || len(won) < 100-32 {
		t.Fatalf("%d orders answered in all (%d before the kill); want at most 100, and no more lost answers than attempts in flight", len(won), before)
	}
	byToken := map[string]*api{}
	for _, u := range users {
		byToken[u.token] = u
	}
	eventually(t, "every accepted order created", func() error {
		for tok, oid := range won {
			o := byToken[tok].do("GET", "/api/v1/orders/"+oid, nil)
			if o.Status != 200 || o.json(t)["status"] != "created" {
				return fmt.Errorf("order %s: %d %s", oid, o.Status, o.Body)
			}
		}
		return nil
	})
	if v := admin.expect(200, "GET", "/api/v1/vouchers/"+voucher, nil).json(t); v["remaining"].(float64) != 0 {
		t.Fatalf("remaining %v after the sale", v["remaining"])
	}

	// The store, after a clean stop: exactly 100 buyers, none twice (the
	// unique key), nothing remaining.
	if err := c2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = c2.cmd.Wait()
	db, err := sqlite.Open(t.Context(), filepath.Join(data, "zan.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	vid, _ := zan.ParseID(voucher)
	buyers := 0
	if err := db.VoucherBuyers(t.Context(), vid, func(u []int64) error { buyers += len(u); return nil }); err != nil {
		t.Fatal(err)
	}
	v, err := db.Voucher(t.Context(), vid)
	if err != nil || buyers != 100 || v.Remaining != 0 {
		t.Fatalf("store: %d buyers, remaining %d, %v; want 100 and 0", buyers, v.Remaining, err)
	}
	t.Logf("%d orders answered 202, %d stored (the rest were cut off by the kill before their answer)", len(won), buyers)
}
