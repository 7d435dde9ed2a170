package main

import (
	"strings"
	"testing"
)

// sendable reports whether a client can put s in a URL's query as is.
func sendable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '#' || r >= 0x7f })
}

// FuzzRequestBodies sends arbitrary JSON bodies and query strings to every
// endpoint that reads them: whatever comes in, the answer is never a 500
// and every error carries a code.
func FuzzRequestBodies(f *testing.F) {
	for _, seed := range []struct {
		route int
		body  string
	}{
		{0, `{"phone":"13800138000"}`},
		{0, `{"phone":13800138000}`},
		{0, `{"phone":"+` + "8613800138000" + `","x":[1,2,{}]}`},
		{1, `{"phone":"13800138000","code":"123456"}`},
		{1, `{"phone":null,"code":{}}`},
		{2, `{"title":"t","content":"c","shop_id":"12"}`},
		{2, `{"title":"t","content":"c","shop_id":-1}`},
		{2, `{"title":"t","content":"c","shop_id":"99999999999999999999"}`},
		{2, `{"title":"\u0000","content":"\ud800"}`},
		{3, `targets=blog:1,comment:2`},
		{3, `targets=blog:-1,:,blog:`},
		{4, `order=earliest&limit=100&since=2026-01-01T00:00:00Z`},
		{4, `cursor=eyJhIjoxfQ&until=yesterday&limit=0`},
		{5, `type=blog&cursor=%%%`},
		{6, `with=blog:2&limit=101`},
		{7, `sort=hot&limit=5&cursor=eyJzIjoiMSJ9`},
		{8, `{"seqs":[1,"2",-3]}`},
		{9, `{"name":"n","type":"food","x":120.1,"y":30.2,"score":4.5,"avg_price":"1"}`},
		{9, `{"name":"n","type":"food","x":1e999,"y":-0}`},
		{10, `{"score":5.1,"x":null}`},
		{11, `type=food&q=noodle%20bar&limit=3`},
		{12, `x=120.15&y=30.28&radius_m=5000&cursor=eyJzIjoxfQ`},
		{12, `x=NaN&y=Inf&radius_m=-1`},
		{13, `{"shop_id":"1","title":"t","stock":10,"begin_at":"2026-01-01T00:00:00Z","end_at":"2027-01-01T00:00:00Z"}`},
		{13, `{"shop_id":"1","stock":1e30,"begin_at":"yesterday"}`},
		{0, `[`}, {1, `{}`}, {2, `null`}, {8, `{"seqs":"all"}`},
	} {
		f.Add(seed.route, seed.body)
	}
	m := startServer(f)
	a, uid := login(f, "http://"+m.Addr())
	admin := newAPI(f, "http://"+m.Addr())
	admin.token = "admin-secret"
	shop := admin.expect(201, "POST", "/api/v1/shops", map[string]any{"name": "Fuzz Cafe", "type": "cafe", "x": 120.1, "y": 30.2}).json(f)["id"].(string)
	f.Fuzz(func(t *testing.T, route int, in string) {
		a.t, admin.t = t, t
		var r resp
		k := uint(route) % 14
		if (k >= 3 && k <= 7 || k == 11 || k == 12) && !sendable(in) {
			return // not a query string a client can send
		}
		switch k {
		case 0:
			r = a.do("POST", "/api/v1/auth/code", in)
		case 1:
			r = a.do("POST", "/api/v1/auth/login", in)
		case 2:
			r = a.do("POST", "/api/v1/blogs", in)
		case 3:
			r = a.do("GET", "/api/v1/likes?"+in, nil)
		case 4:
			r = a.do("GET", "/api/v1/likes/blog/1/users?"+in, nil)
		case 5:
			r = a.do("GET", "/api/v1/users/"+uid+"/likes?"+in, nil)
		case 6:
			r = a.do("GET", "/api/v1/likes/blog/1/users/common?"+in, nil)
		case 7:
			r = a.do("GET", "/api/v1/blogs?"+in, nil)
		case 8:
			r = admin.do("POST", "/api/v1/admin/dlq/replay", in)
		case 9:
			r = admin.do("POST", "/api/v1/shops", in)
		case 10:
			r = admin.do("PUT", "/api/v1/shops/"+shop, in)
		case 11:
			r = a.do("GET", "/api/v1/shops?"+in, nil)
		case 12:
			r = a.do("GET", "/api/v1/shops/nearby?"+in, nil)
		case 13:
			r = admin.do("POST", "/api/v1/vouchers", in)
		}
		if r.Status >= 500 {
			t.Fatalf("route %d, input %q: status %d: %s", route, in, r.Status, r.Body)
		}
		if r.Status >= 400 && r.errCode(t) == "" {
			t.Fatalf("route %d, input %q: error without a code: %s", route, in, r.Body)
		}
		if msg := string(r.Body); r.Status >= 400 && (strings.Contains(msg, "Go ") || strings.Contains(msg, "UnmarshalJSON")) {
			t.Fatalf("route %d, input %q: an error in Go's words: %s", route, in, msg)
		}
	})
}
