package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// call sends one request with extra headers and returns the status, the
// headers and the body.
func call(t testing.TB, method, url, body string, header ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: b}
}

// budgeted sends n requests and returns how many passed; every refused one
// must be a 429 rate_limited with a Retry-After.
func budgeted(t *testing.T, n int, send func(i int) resp) int {
	t.Helper()
	ok := 0
	for i := range n {
		r := send(i)
		switch {
		case r.Status == 429:
			if r.errCode(t) != "rate_limited" || r.Header.Get("Retry-After") == "" {
				t.Fatalf("request %d: 429 without rate_limited and Retry-After: %v %s", i, r.Header, r.Body)
			}
		case r.Status/100 == 2 || r.Status == 401:
			ok++
		default:
			t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
		}
	}
	return ok
}

// TestClientBudgets: one client address gets its budget of each call and
// then 429s, whatever phones it names; behind a trusted proxy the budget
// is the client's (X-Forwarded-For), not the proxy's; a /24 shares a
// budget of --subnet-factor times one address's.
func TestClientBudgets(t *testing.T) {
	on := func(c *Config) {
		c.Edge.ClientLimits = true
		c.Edge.ReadLimit = limitFlag{50, time.Hour}
	}
	m := startServer(t, on)
	base := baseURL(m)
	code := func(phone, xff string) resp {
		return call(t, "POST", base+"/api/v1/auth/code", `{"phone":"`+phone+`"}`, "X-Forwarded-For", xff)
	}
	cases := []struct {
		name string
		n    int
		want int // the budget (refills are slow enough to add at most one)
		send func(i int) resp
	}{
		{"code requests for 300 phones from one address", 300, 20, func(i int) resp {
			return code(fmt.Sprintf("137%08d", i), "")
		}},
		{"500 wrong logins over 100 phones from one address", 500, 30, func(i int) resp {
			return call(t, "POST", base+"/api/v1/auth/login", fmt.Sprintf(`{"phone":"136%08d","code":"000000"}`, i%100))
		}},
		{"anonymous reads", 100, 50, func(i int) resp {
			return call(t, "GET", base+"/api/v1/likes/comment/"+strconv.Itoa(i+1), "")
		}},
		// Without --trusted-proxies the header is anyone's to write: ignored.
		{"X-Forwarded-For from an untrusted peer", 30, 0, func(i int) resp {
			return code(fmt.Sprintf("135%08d", i), fmt.Sprintf("198.51.100.%d", i+1))
		}},
	}
	for _, c := range cases {
		start := time.Now()
		got := budgeted(t, c.n, c.send)
		if extra := int(time.Since(start).Minutes()*float64(c.want)) + 1; got < c.want || got > c.want+extra {
			t.Errorf("%s: %d passed, want the budget of %d", c.name, got, c.want)
		}
	}
	// Reads with a token are the user's, not the address's.
	q := startServer(t, on, func(c *Config) { c.Edge.ReadLimit = limitFlag{5, time.Hour} })
	u, _ := login(t, baseURL(q))
	for range 20 {
		u.expect(200, "GET", "/api/v1/likes/comment/1", nil)
	}
	if got := budgeted(t, 10, func(int) resp { return call(t, "GET", baseURL(q)+"/api/v1/likes/comment/1", "") }); got != 5 {
		t.Errorf("anonymous reads beside a user's: %d passed, want 5", got)
	}

	// Behind a trusted proxy: each client its own budget, a /24 a shared one.
	p := startServer(t, on, func(c *Config) { c.Edge.TrustedProxies = "127.0.0.1/32, ::1" })
	pbase := baseURL(p)
	pcode := func(phone, xff string) resp {
		return call(t, "POST", pbase+"/api/v1/auth/code", `{"phone":"`+phone+`"}`, "X-Forwarded-For", xff)
	}
	// The leftmost hops are the client's to write: only the rightmost
	// untrusted one counts, so rotating them escapes nothing.
	if got := budgeted(t, 40, func(i int) resp {
		return pcode(fmt.Sprintf("134%08d", i), fmt.Sprintf("10.9.%d.1, 192.0.2.7, 127.0.0.1", i))
	}); got != 20 {
		t.Errorf("one client behind the proxy with forged hops: %d passed, want 20", got)
	}
	if r := pcode("13300000001", "192.0.2.8"); r.Status != 200 {
		t.Errorf("another client behind the proxy: %d %s", r.Status, r.Body)
	}
	// 60 addresses of one /24, 5 requests each: 20 per address would let
	// all 300 through; the subnet's 8 x 20 = 160 holds.
	got := budgeted(t, 300, func(i int) resp {
		return pcode(fmt.Sprintf("132%08d", i), fmt.Sprintf("203.0.113.%d", i%60+1))
	})
	if got < 160 || got > 163 {
		t.Errorf("60 addresses of one /24: %d passed, want the subnet's 160", got)
	}
	// The IPv6 subnet is the /64.
	got = budgeted(t, 200, func(i int) resp {
		return pcode(fmt.Sprintf("131%08d", i), fmt.Sprintf("2001:db8:1:2::%x", i+1))
	})
	if got < 160 || got > 163 {
		t.Errorf("200 addresses of one /64: %d passed, want the subnet's 160", got)
	}
}

// openRawStream opens a live stream on a connection of its own and
// returns it with the status of the answer.
func openRawStream(t *testing.T, addr string) (net.Conn, int) {
	t.Helper()
	cn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(cn, "GET /api/v1/likes/stream?targets=comment:1 HTTP/1.1\r\nHost: x\r\n\r\n")
	cn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(cn), nil)
	if err != nil {
		t.Fatal(err)
	}
	cn.SetReadDeadline(time.Time{})
	if res.StatusCode != 200 {
		cn.Close()
	}
	return cn, res.StatusCode
}

// TestStreamSlots: a stream whose client hangs up frees its slot at once
// (it used to hold it until a keep-alive write failed, up to 30 s), and
// one address holds at most --ip-streams streams and opens at most
// --ip-stream-limit.
func TestStreamSlots(t *testing.T) {
	m := startServer(t, func(c *Config) {
		c.StreamMax = 3
		c.Edge.ClientLimits = true
		c.Edge.StreamsPerIP = 2
		c.Edge.StreamLimit = limitFlag{6, time.Hour}
	})
	a, st := openRawStream(t, m.Addr())
	b, st2 := openRawStream(t, m.Addr())
	if st != 200 || st2 != 200 {
		t.Fatalf("streams: %d %d", st, st2)
	}
	defer b.Close()
	if _, st := openRawStream(t, m.Addr()); st != 429 {
		t.Fatalf("a third stream from one address: %d, want 429", st)
	}
	a.Close()
	start := time.Now()
	for {
		c, st := openRawStream(t, m.Addr())
		if st == 200 {
			defer c.Close()
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("the slot of a closed stream is still held after %v (%d)", time.Since(start), st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("slot freed %v after the client hung up", time.Since(start).Round(time.Millisecond))
	// Opens so far: 2 + 1 refused + the retries; the hour's budget of 6 runs out.
	for range 6 {
		if _, st := openRawStream(t, m.Addr()); st != 429 {
			t.Fatalf("beyond the open budget and the cap: %d", st)
		}
	}
}

// TestLikeTargets: blogs and shops are zan's: a like of one that does not
// exist or was deleted is 404; comments are not checked, but a user brings
// in at most --foreign-like-limit new ones.
func TestLikeTargets(t *testing.T) {
	m := startServer(t, func(c *Config) { c.Edge.ForeignLimit = limitFlag{3, time.Hour} })
	base := baseURL(m)
	u, _ := login(t, base)
	admin := newAPI(t, base)
	admin.token = "admin-secret"
	blog := u.expect(201, "POST", "/api/v1/blogs", map[string]string{"title": "t", "content": "c"}).json(t)["id"].(string)
	shop := admin.expect(201, "POST", "/api/v1/shops", map[string]any{"name": "Edge Cafe", "type": "cafe", "x": 120.1, "y": 30.2}).json(t)["id"].(string)

	u.expect(200, "PUT", "/api/v1/likes/blog/"+blog, nil)
	u.expect(200, "PUT", "/api/v1/likes/shop/"+shop, nil)
	for _, missing := range []string{"blog/9223372036854775807", "blog/1", "shop/9223372036854775807"} {
		if r := u.expect(404, "PUT", "/api/v1/likes/"+missing, nil); r.errCode(t) != "not_found" {
			t.Errorf("%s: %s", missing, r.Body)
		}
	}
	u.expect(204, "DELETE", "/api/v1/blogs/"+blog, nil)
	other, _ := login(t, base)
	other.expect(404, "PUT", "/api/v1/likes/blog/"+blog, nil)
	u.expect(200, "DELETE", "/api/v1/likes/blog/"+blog, nil) // an unlike adds nothing: never refused

	for i := range 3 {
		u.expect(200, "PUT", fmt.Sprintf("/api/v1/likes/comment/%d", 100+i), nil)
	}
	r := u.expect(429, "PUT", "/api/v1/likes/comment/200", nil)
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
	// A comment someone liked on this node is known: no token needed.
	other.expect(200, "PUT", "/api/v1/likes/comment/100", nil)
	u.expect(200, "PUT", "/api/v1/likes/comment/101", nil)
}

// TestLikeTargetsAcrossNodes: a blog deleted through one node cannot be
// liked through the other, which had it cached as existing.
func TestLikeTargetsAcrossNodes(t *testing.T) {
	cfg := scaleOut(t)
	a := startServer(t, cfg)
	b := startServer(t, cfg, func(c *Config) { c.NodeID = 1 })
	author, _ := login(t, baseURL(a))
	blog := author.expect(201, "POST", "/api/v1/blogs", map[string]string{"title": "t", "content": "c"}).json(t)["id"].(string)
	onB, _ := login(t, baseURL(b))
	onB.expect(200, "PUT", "/api/v1/likes/blog/"+blog, nil) // B now knows it
	onB.expect(200, "DELETE", "/api/v1/likes/blog/"+blog, nil)
	author.expect(204, "DELETE", "/api/v1/blogs/"+blog, nil)
	eventually(t, "node B refuses likes of the deleted blog", func() error {
		if r := onB.do("PUT", "/api/v1/likes/blog/"+blog, nil); r.Status != 404 {
			return fmt.Errorf("%d %s", r.Status, r.Body)
		}
		return nil
	})
}

// TestClientBudgetsAcrossNodes: the code budget of an address is one over
// all nodes.
func TestClientBudgetsAcrossNodes(t *testing.T) {
	cfg := scaleOut(t)
	on := func(c *Config) { c.Edge.ClientLimits = true }
	a := startServer(t, cfg, on)
	b := startServer(t, cfg, on, func(c *Config) { c.NodeID = 1 })
	got := budgeted(t, 60, func(i int) resp {
		node := a
		if i%2 == 1 {
			node = b
		}
		return call(t, "POST", baseURL(node)+"/api/v1/auth/code", fmt.Sprintf(`{"phone":"138%08d"}`, i))
	})
	if got < 20 || got > 21 {
		t.Errorf("code requests over two nodes: %d passed, want one budget of 20", got)
	}
}

// TestHTTPEdges: what a client meets at the edges of the contract.
func TestHTTPEdges(t *testing.T) {
	m := startServer(t, func(c *Config) { c.Edge.CORSOrigins = "https://app.example" })
	base := baseURL(m)
	u, _ := login(t, base)
	auth := "Bearer " + u.token

	// A wrong method on a known path: 405 with Allow; OPTIONS lists them.
	for _, c := range []struct{ method, path, allow string }{
		{"PUT", "/api/v1/me", "GET, HEAD, PATCH, OPTIONS"},
		{"POST", "/api/v1/likes/comment/1", "GET, HEAD, PUT, DELETE, OPTIONS"},
		{"DELETE", "/metrics", "GET, HEAD, OPTIONS"},
		{"POST", "/", "GET, HEAD, OPTIONS"},
	} {
		r := call(t, c.method, base+c.path, "")
		if r.Status != 405 || r.Header.Get("Allow") != c.allow || r.errCode(t) != "method_not_allowed" {
			t.Errorf("%s %s: %d Allow=%q %s", c.method, c.path, r.Status, r.Header.Get("Allow"), r.Body)
		}
		if r := call(t, "OPTIONS", base+c.path, ""); r.Status != 204 || r.Header.Get("Allow") != c.allow {
			t.Errorf("OPTIONS %s: %d Allow=%q", c.path, r.Status, r.Header.Get("Allow"))
		}
	}
	if r := call(t, "GET", base+"/api/v1/nothing", ""); r.Status != 404 {
		t.Errorf("unknown path: %d", r.Status)
	}

	// Every 401 says how to authenticate.
	for _, r := range []resp{
		call(t, "GET", base+"/api/v1/me", ""),
		call(t, "GET", base+"/api/v1/me", "", "Authorization", "Bearer nope"),
		call(t, "PUT", base+"/api/v1/likes/comment/1", ""),
		call(t, "POST", base+"/api/v1/auth/login", `{"phone":"13900000000","code":"000000"}`),
	} {
		if r.Status != 401 || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 without WWW-Authenticate: %d %v", r.Status, r.Header)
		}
	}

	// CORS: only the configured origin, with its preflight.
	pre := call(t, "OPTIONS", base+"/api/v1/likes/comment/1", "", "Origin", "https://app.example",
		"Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "authorization")
	if pre.Status != 204 || pre.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(pre.Header.Get("Access-Control-Allow-Methods"), "PUT") ||
		!strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", pre.Status, pre.Header)
	}
	r := call(t, "PUT", base+"/api/v1/likes/comment/1", "", "Origin", "https://app.example", "Authorization", auth)
	if r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("CORS request: %d %v", r.Status, r.Header)
	}
	for _, h := range []http.Header{
		call(t, "OPTIONS", base+"/api/v1/likes/comment/1", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "PUT").Header,
		call(t, "GET", base+"/api/v1/likes/comment/1", "", "Origin", "https://evil.example").Header,
	} {
		if h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("another origin allowed: %v", h)
		}
	}

	// The docs page has the web app's headers.
	d := call(t, "GET", base+"/docs", "")
	if csp := d.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'sha256-") ||
		!strings.Contains(csp, "frame-ancestors 'none'") || d.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("/docs headers: %v", d.Header)
	}

	// Text: invalid UTF-8, NUL and half surrogates are refused, anywhere.
	for _, body := range []string{
		"{\"title\":\"t\xff\",\"content\":\"c\"}",
		`{"title":"t\u0000","content":"c"}`,
		`{"title":"t","content":"c\u0000"}`,
		`{"title":"t\ud800","content":"c"}`,
		`{"title":"t\udc00x","content":"c"}`,
	} {
		if r := call(t, "POST", base+"/api/v1/blogs", body, "Authorization", auth); r.Status != 400 {
			t.Errorf("%q: %d %s", body, r.Status, r.Body)
		}
	}
	for _, body := range []string{`{"title":"t\\u0000 is six characters","content":"c"}`, `{"title":"😀 \ud83d\ude00","content":"c"}`} {
		if r := call(t, "POST", base+"/api/v1/blogs", body, "Authorization", auth); r.Status != 201 {
			t.Errorf("%q: %d %s", body, r.Status, r.Body)
		}
	}
	for _, q := range []string{"/api/v1/shops?q=%00", "/api/v1/shops?q=%ff", "/api/v1/likes/comment%00/1"} {
		if r := call(t, "GET", base+q, ""); r.Status != 400 {
			t.Errorf("%s: %d %s", q, r.Status, r.Body)
		}
	}

	// One body limit, declared or chunked, whether the route reads it or not.
	big := strings.Repeat("x", 2<<20)
	for _, chunked := range []bool{false, true} {
		req, _ := http.NewRequest("PUT", base+"/api/v1/likes/comment/1", strings.NewReader(big))
		if chunked {
			req.ContentLength = -1
		}
		req.Header.Set("Authorization", auth)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 413 {
			t.Errorf("2 MB body (chunked %v) on a route that reads none: %d", chunked, res.StatusCode)
		}
	}

	// Errors speak JSON, not Go.
	for _, body := range []string{`{"phone":1}`, `[1]`, `"x"`, `{"phone":{"a":1}}`} {
		r := call(t, "POST", base+"/api/v1/auth/code", body)
		msg := string(r.Body)
		if r.Status != 400 || strings.Contains(msg, "Go ") || strings.Contains(msg, "struct") || strings.Contains(msg, "main.") {
			t.Errorf("%s: %d %s", body, r.Status, msg)
		}
	}
	admin := "Bearer admin-secret"
	for _, body := range []string{`{"shop_id":"1","title":"x","stock":"many"}`, `{"shop_id":"1","title":"x","stock":1,"begin_at":7}`, `{"shop_id":"1","title":"x","stock":1,"begin_at":"soon"}`} {
		r := call(t, "POST", base+"/api/v1/vouchers", body, "Authorization", admin)
		if msg := string(r.Body); r.Status != 400 || strings.Contains(msg, "Go ") || strings.Contains(msg, "UnmarshalJSON") || strings.Contains(msg, "int64") {
			t.Errorf("%s: %d %s", body, r.Status, msg)
		}
	}
}
