package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/zanlabs/zan/client"
)

// TestE2EAvatarsAndMyOrders: the avatar style is validated, kept and shown
// wherever a person is; a user's orders are listed with their vouchers,
// newest first, and only their own.
func TestE2EAvatarsAndMyOrders(t *testing.T) {
	m := startServer(t)
	base := baseURL(m)
	anon := newAPI(t, base)
	admin := newAPI(t, base)
	admin.token = "admin-secret"
	u1, id1 := login(t, base)
	u2, _ := login(t, base)

	if me := u1.expect(200, "GET", "/api/v1/me", nil).json(t); me["avatar"] != 0.0 {
		t.Fatalf("a new user's avatar: %v", me)
	}
	for _, bad := range []any{
		map[string]any{"avatar": -1}, map[string]any{"avatar": 12}, map[string]any{"avatar": "3"},
		map[string]any{"avatar": 1.5}, map[string]any{"avatar": 3, "nickname": ""},
	} {
		u1.expect(400, "PATCH", "/api/v1/me", bad)
	}
	if me := u1.expect(200, "GET", "/api/v1/me", nil).json(t); me["avatar"] != 0.0 {
		t.Fatalf("a refused request changed the avatar: %v", me)
	}
	anon.expect(401, "PATCH", "/api/v1/me", map[string]any{"avatar": 1})
	if me := u1.expect(200, "PATCH", "/api/v1/me", map[string]any{"avatar": 11, "nickname": "Ava"}).json(t); me["avatar"] != 11.0 || me["nickname"] != "Ava" {
		t.Fatalf("both changed: %v", me)
	}
	if me := u1.expect(200, "PATCH", "/api/v1/me", map[string]any{"avatar": 4}).json(t); me["avatar"] != 4.0 || me["nickname"] != "Ava" {
		t.Fatalf("avatar only: %v", me)
	}
	if u := anon.expect(200, "GET", "/api/v1/users/"+id1, nil).json(t); u["avatar"] != 4.0 {
		t.Fatalf("public user: %v", u)
	}
	blog := u1.expect(201, "POST", "/api/v1/blogs", map[string]any{"title": "t", "content": "c"}).json(t)
	if blog["author"].(map[string]any)["avatar"] != 4.0 {
		t.Fatalf("author: %v", blog["author"])
	}
	bid := blog["id"].(string)
	u1.expect(200, "PUT", "/api/v1/likes/blog/"+bid, nil)
	eventually(t, "likers with avatars", func() error {
		items := anon.expect(200, "GET", "/api/v1/likes/blog/"+bid+"/users", nil).json(t)["items"].([]any)
		if len(items) != 1 || items[0].(map[string]any)["avatar"] != 4.0 {
			return fmt.Errorf("likers: %v", items)
		}
		b := anon.expect(200, "GET", "/api/v1/blogs/"+bid, nil).json(t)
		if tl := b["top_likers"].([]any); len(tl) != 1 || tl[0].(map[string]any)["avatar"] != 4.0 {
			return fmt.Errorf("top likers: %v", tl)
		}
		return nil
	})

	// My orders.
	shop := admin.expect(201, "POST", "/api/v1/shops", map[string]any{"name": "Noodles", "type": "food", "address": "1 Hubin Road",
		"x": 120.162, "y": 30.259, "avg_price": 35}).json(t)["id"].(string)
	now := time.Now().UTC()
	var vids []string
	for i := range 3 {
		vids = append(vids, admin.expect(201, "POST", "/api/v1/vouchers", map[string]any{"shop_id": shop, "title": fmt.Sprint("voucher ", i),
			"stock": 5, "begin_at": now.Add(-time.Minute).Format(time.RFC3339Nano), "end_at": now.Add(time.Hour).Format(time.RFC3339Nano)}).json(t)["id"].(string))
	}
	anon.expect(401, "GET", "/api/v1/me/orders", nil)
	u1.expect(400, "GET", "/api/v1/me/orders?limit=0", nil)
	u1.expect(400, "GET", "/api/v1/me/orders?cursor=%21", nil)
	if r := u1.expect(200, "GET", "/api/v1/me/orders", nil).json(t); len(r["items"].([]any)) != 0 || r["next_cursor"] != nil {
		t.Fatalf("no orders yet: %v", r)
	}
	var oids []string
	for _, v := range vids {
		oids = append(oids, u1.expect(202, "POST", "/api/v1/vouchers/"+v+"/orders", nil).json(t)["order_id"].(string))
	}
	u2.expect(202, "POST", "/api/v1/vouchers/"+vids[0]+"/orders", nil)
	eventually(t, "my orders", func() error {
		var got []any
		cursor := ""
		for range 5 {
			r := u1.expect(200, "GET", "/api/v1/me/orders?limit=2"+cursor, nil).json(t)
			got = append(got, r["items"].([]any)...)
			c, _ := r["next_cursor"].(string)
			if c == "" {
				break
			}
			cursor = "&cursor=" + c
		}
		if len(got) != 3 {
			return fmt.Errorf("orders: %v", got)
		}
		for i, it := range got {
			o := it.(map[string]any)
			v, _ := o["voucher"].(map[string]any)
			if o["id"] != oids[2-i] || o["status"] != "created" || v == nil || v["id"] != vids[2-i] || v["title"] != fmt.Sprint("voucher ", 2-i) {
				return fmt.Errorf("order %d: %v", i, o)
			}
		}
		return nil
	})
	// The Go client reads the same page.
	c := client.New(base, client.WithToken(u1.token))
	if p, err := c.MyOrders(t.Context(), 2, ""); err != nil || len(p.Items) != 2 || p.Next == "" ||
		p.Items[0].Voucher == nil || p.Items[0].Voucher.Title != "voucher 2" {
		t.Fatalf("client MyOrders: %+v, %v", p, err)
	}
	if me, err := c.Me(t.Context()); err != nil || me.Avatar != 4 {
		t.Fatalf("client Me: %+v, %v", me, err)
	}
	if r := u2.expect(200, "GET", "/api/v1/me/orders", nil).json(t); len(r["items"].([]any)) > 1 {
		t.Fatalf("u2 sees others' orders: %v", r)
	}
}
