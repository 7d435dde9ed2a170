package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/seed"
	"github.com/zanlabs/zan/shops"
	"github.com/zanlabs/zan/vouchers"
)

// runSeed loads the demo shops (and a voucher for every tenth shop) into a
// running server through its admin API, so that its caches and Bloom
// filters learn of them as of any shop an admin creates.
func runSeed(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet()
	var a adminClient
	a.flags(fs)
	n := fs.Int("shops", 200, "how many shops")
	seedN := fs.Uint64("seed", 1, "random seed: the same seed makes the same shops")
	if err := fs.Parse(args); err != nil {
		return usage(err)
	}
	if *n < 1 || *n > 1_000_000 || fs.NArg() > 0 {
		return usagef("--shops must be 1-1000000, and no arguments follow the flags")
	}
	list := seed.Shops(*n, *seedN)
	// A second run with the same seed makes the same shops: those already
	// there are left out, so that running it twice does not double them.
	have, err := existingShops(ctx, &a)
	if err != nil {
		return fmt.Errorf("listing the shops already there: %w", err)
	}
	fresh := list[:0:0]
	for _, sh := range list {
		if !have[shopKey(sh.Name, sh.Address, sh.X, sh.Y)] {
			fresh = append(fresh, sh)
		}
	}
	if skipped := len(list) - len(fresh); skipped > 0 {
		fmt.Fprintf(stdout, "%d of the %d shops are there already\n", skipped, len(list))
	}
	list = fresh
	var done, vouchersMade atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				sh := list[i]
				b, err := a.call(ctx, http.MethodPost, "/api/v1/shops", map[string]any{
					"name": sh.Name, "type": sh.Type, "address": sh.Address, "x": sh.X, "y": sh.Y,
					"score": sh.Score, "avg_price": sh.AvgPrice, "open_hours": sh.OpenHours,
				})
				if err == nil && i%10 == 0 {
					var created struct{ ID string }
					if err = json.Unmarshal(b, &created); err == nil {
						now := time.Now().UTC()
						_, err = a.call(ctx, http.MethodPost, "/api/v1/vouchers", map[string]any{
							"shop_id": created.ID, "title": "¥50 off a ¥100 bill", "stock": 100,
							"begin_at": now.Format(time.RFC3339), "end_at": now.Add(7 * 24 * time.Hour).Format(time.RFC3339),
						})
						vouchersMade.Add(1)
					}
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
				if d := done.Add(1); d%100 == 0 || d == int64(len(list)) {
					fmt.Fprintf(stdout, "\rseeded %d/%d shops", d, len(list))
				}
			}
		}()
	}
feed:
	for i := range list {
		select {
		case work <- i:
		case err := <-errs:
			close(work)
			wg.Wait()
			return err
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	fmt.Fprintf(stdout, "\rseeded %d new shops and %d vouchers around West Lake, Hangzhou (x=%.4f y=%.4f)\n",
		done.Load(), vouchersMade.Load(), seed.Center.X, seed.Center.Y)
	return ctx.Err()
}

// seedDev fills an empty store with a small demo set under --dev: shops to
// browse and search, and vouchers on sale now, soon and already over.
func seedDev(ctx context.Context, sh *shops.Service, vs *vouchers.Service, store zan.ShopStore) error {
	p, err := store.Shops(ctx, zan.ShopFilter{Limit: 1})
	if err != nil || len(p.Shops) > 0 {
		return err
	}
	now := time.Now()
	for i, s := range seed.Shops(60, 1) {
		in := shops.Input{Name: &s.Name, Type: &s.Type, Address: &s.Address, X: &s.X, Y: &s.Y,
			Score: &s.Score, AvgPrice: &s.AvgPrice, OpenHours: &s.OpenHours}
		created, err := sh.Create(ctx, in)
		if err != nil {
			return err
		}
		var begin, end time.Time
		switch i {
		case 0, 1:
			begin, end = now.Add(-time.Minute), now.Add(7*24*time.Hour) // on sale
		case 2:
			begin, end = now.Add(10*time.Minute), now.Add(24*time.Hour) // soon
		default:
			continue
		}
		if _, err := vs.Create(ctx, vouchers.Input{ShopID: created.ID, Title: "¥50 off a ¥100 bill", Stock: 100, BeginAt: begin, EndAt: end}); err != nil {
			return err
		}
	}
	return nil
}

// existingShops reads every shop of the server, page by page.
func existingShops(ctx context.Context, a *adminClient) (map[string]bool, error) {
	have := map[string]bool{}
	cursor := ""
	for {
		b, err := a.call(ctx, http.MethodGet, "/api/v1/shops?limit=100&cursor="+url.QueryEscape(cursor), nil)
		if err != nil {
			return nil, err
		}
		var page struct {
			Items []struct {
				Name, Address string
				X, Y          float64
			}
			NextCursor *string `json:"next_cursor"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return nil, err
		}
		for _, sh := range page.Items {
			have[shopKey(sh.Name, sh.Address, sh.X, sh.Y)] = true
		}
		if page.NextCursor == nil || len(page.Items) == 0 {
			return have, nil
		}
		cursor = *page.NextCursor
	}
}

func shopKey(name, address string, x, y float64) string {
	return fmt.Sprintf("%s|%s|%.6f|%.6f", name, address, x, y)
}
