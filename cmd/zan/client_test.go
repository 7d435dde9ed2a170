package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zanlabs/zan/client"
)

// TestClient drives every call of the contract through the Go client
// against the real embedded server.
func TestClient(t *testing.T) {
	m := startServer(t)
	ctx := context.Background()
	c := client.New(baseOf(m))
	code, err := c.SendCode(ctx, "13700137000")
	if err != nil || code == "" {
		t.Fatalf("SendCode: %q %v", code, err)
	}
	if _, err := c.Login(ctx, "13700137000", "000000"); !client.IsCode(err, client.Unauthorized) {
		t.Fatalf("wrong code: %v", err)
	}
	me, err := c.Login(ctx, "13700137000", code)
	if err != nil || c.Token() == "" {
		t.Fatalf("Login: %v", err)
	}
	// One code per phone a minute: a POST is not retried, the wait is told.
	var limited *client.Error
	if _, err := c.SendCode(ctx, "13700137000"); !errors.As(err, &limited) || limited.Code != client.RateLimited || limited.RetryAfter <= 0 {
		t.Fatalf("second code within a minute: %v", err)
	}
	if got, err := c.Me(ctx); err != nil || got.ID != me.ID {
		t.Fatalf("Me: %+v %v", got, err)
	}

	b, err := c.CreateBlog(ctx, "Hello", "First post", 0)
	if err != nil {
		t.Fatal(err)
	}
	if ch, err := c.Like(ctx, "blog", int64(b.ID)); err != nil || !ch.Liked || !ch.Changed || ch.Count != 1 {
		t.Fatalf("Like: %+v %v", ch, err)
	}
	if ch, _ := c.Like(ctx, "blog", int64(b.ID)); ch.Changed {
		t.Fatal("a second like changed something")
	}
	if l, err := c.GetLikes(ctx, "blog", int64(b.ID)); err != nil || l.Count != 1 || l.Liked == nil || !*l.Liked {
		t.Fatalf("GetLikes: %+v %v", l, err)
	}
	items, err := c.BatchLikes(ctx, []client.Target{{Type: "blog", ID: int64(b.ID)}, {Type: "comment", ID: 9}})
	if err != nil || len(items) != 2 || items[0].Count != 1 || items[1].Count != 0 {
		t.Fatalf("BatchLikes: %+v %v", items, err)
	}
	eventually(t, "likers listed", func() error {
		p, err := c.Likers(ctx, "blog", int64(b.ID), client.LikeQuery{Earliest: true, ListOptions: client.ListOptions{Limit: 5}})
		if err != nil || len(p.Items) != 1 || p.Items[0].UserID != me.ID || p.Next != "" {
			return fmt.Errorf("Likers: %+v %v", p, err)
		}
		ul, err := c.UserLikes(ctx, int64(me.ID), client.LikeQuery{Type: "blog"})
		if err != nil || len(ul.Items) != 1 || ul.Items[0].ID != b.ID {
			return fmt.Errorf("UserLikes: %+v %v", ul, err)
		}
		return nil
	})
	if _, err := c.Like(ctx, "comment", 9); err != nil {
		t.Fatal(err)
	}
	eventually(t, "common likers", func() error {
		ids, err := c.CommonLikers(ctx, client.Target{Type: "blog", ID: int64(b.ID)}, client.Target{Type: "comment", ID: 9}, 10)
		if err != nil || len(ids) != 1 || ids[0] != me.ID {
			return fmt.Errorf("CommonLikers: %v %v", ids, err)
		}
		return nil
	})
	if got, err := c.Blog(ctx, int64(b.ID)); err != nil || got.LikeCount != 1 || !got.Liked || len(got.TopLikers) != 1 || got.TopLikers[0].ID != me.ID {
		t.Fatalf("Blog: %+v %v", got, err)
	}

	// Live counts: the count at once, then a like of another user's.
	other := client.New(baseOf(m))
	if _, err := other.LoginDev(ctx, "13700137001"); err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	var seen []int64
	for ev, err := range c.Stream(sctx, []client.Target{{Type: "blog", ID: int64(b.ID)}}) {
		if err != nil {
			t.Fatalf("Stream: %v", err)
		}
		if ev.Type != "blog" || ev.ID != b.ID {
			t.Fatalf("stream event %+v", ev)
		}
		seen = append(seen, ev.Count)
		if len(seen) == 1 {
			if _, err := other.Like(ctx, "blog", int64(b.ID)); err != nil {
				t.Fatal(err)
			}
		}
		if ev.Count == 2 {
			break
		}
	}
	if len(seen) < 2 || seen[0] != 1 || seen[len(seen)-1] != 2 {
		t.Fatalf("stream counts %v, want 1 then 2", seen)
	}
	if _, err := other.Unlike(ctx, "blog", int64(b.ID)); err != nil {
		t.Fatal(err)
	}
	for _, hot := range []bool{false, true} {
		if p, err := c.Blogs(ctx, hot, client.ListOptions{Limit: 10}); err != nil || len(p.Items) == 0 {
			t.Fatalf("Blogs(hot=%v): %+v %v", hot, p, err)
		}
	}
	if p, err := c.UserBlogs(ctx, int64(me.ID), client.ListOptions{}); err != nil || len(p.Items) != 1 {
		t.Fatalf("UserBlogs: %+v %v", p, err)
	}
	if ch, err := c.Unlike(ctx, "blog", int64(b.ID)); err != nil || ch.Liked || ch.Count != 0 {
		t.Fatalf("Unlike: %+v %v", ch, err)
	}
	if err := c.DeleteBlog(ctx, int64(b.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Blog(ctx, int64(b.ID)); !client.IsCode(err, client.NotFound) {
		t.Fatalf("deleted blog: %v", err)
	}

	admin := client.New(baseOf(m), client.WithToken("admin-secret"))
	name, typ, x, y := "Client Cafe", "cafe", 10.5, 50.1
	if _, err := c.CreateShop(ctx, client.ShopInput{Name: &name, Type: &typ, X: &x, Y: &y}); !client.IsCode(err, client.Forbidden) {
		t.Fatalf("CreateShop as a user: %v", err)
	}
	shop, err := admin.CreateShop(ctx, client.ShopInput{Name: &name, Type: &typ, X: &x, Y: &y})
	if err != nil {
		t.Fatal(err)
	}
	score := 4.4
	if s, err := admin.UpdateShop(ctx, int64(shop.ID), client.ShopInput{Score: &score}); err != nil || s.Score != 4.4 {
		t.Fatalf("UpdateShop: %+v %v", s, err)
	}
	if s, err := c.Shop(ctx, int64(shop.ID)); err != nil || s.Name != name {
		t.Fatalf("Shop: %+v %v", s, err)
	}
	if p, err := c.SearchShops(ctx, "cafe", "client", client.ListOptions{}); err != nil || len(p.Items) != 1 {
		t.Fatalf("SearchShops: %+v %v", p, err)
	}
	if p, err := c.NearbyShops(ctx, x, y, 100, "cafe", client.ListOptions{}); err != nil || len(p.Items) != 1 || p.Items[0].DistanceM == nil {
		t.Fatalf("NearbyShops: %+v %v", p, err)
	}
	now := time.Now()
	v, err := admin.CreateVoucher(ctx, int64(shop.ID), "50 off", 1, now.Add(-time.Second), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	oid, err := c.Order(ctx, int64(v.ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Order(ctx, int64(v.ID)); !client.IsCode(err, client.Conflict) {
		t.Fatalf("second order: %v", err)
	}
	eventually(t, "order created", func() error {
		o, err := c.GetOrder(ctx, oid)
		if err != nil || o.Status != "created" {
			return fmt.Errorf("GetOrder: %+v %v", o, err)
		}
		return nil
	})
	if vs, err := c.ShopVouchers(ctx, int64(shop.ID)); err != nil || len(vs) != 1 || vs[0].Remaining != 0 {
		t.Fatalf("ShopVouchers: %+v %v", vs, err)
	}
	if got, err := c.Voucher(ctx, int64(v.ID)); err != nil || got.Remaining != 0 {
		t.Fatalf("Voucher: %+v %v", got, err)
	}
	if _, err := c.Order(ctx, int64(v.ID)); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("errors.Is(%v, ErrConflict)", err)
	}
	if _, err := other.Order(ctx, int64(v.ID)); !errors.Is(err, client.ErrSoldOut) {
		t.Fatalf("order of a sold-out voucher: %v", err)
	}

	if err := c.Health(ctx); err != nil {
		t.Fatalf("Health: %v", err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if text, err := c.Metrics(ctx); err != nil || !strings.Contains(text, "zan_likes_published_total") {
		t.Fatalf("Metrics: %v", err)
	}
	if doc, err := c.OpenAPI(ctx); err != nil || !strings.Contains(string(doc), `"openapi"`) {
		t.Fatalf("OpenAPI: %v", err)
	}

	if err := c.Logout(ctx); err != nil || c.Token() != "" {
		t.Fatalf("Logout: %v", err)
	}
	if _, err := c.Me(ctx); !client.IsCode(err, client.Unauthorized) {
		t.Fatalf("after logout: %v", err)
	}
}
