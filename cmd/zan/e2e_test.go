package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestE2EOperations(t *testing.T) {
	m := startServer(t)
	a := newAPI(t, baseURL(m))
	a.expect(200, "GET", "/healthz", nil)
	a.expect(200, "GET", "/readyz", nil)
	if r := a.expect(200, "GET", "/metrics", nil); !strings.Contains(string(r.Body), "zan_http_requests_total") {
		t.Errorf("metrics lack request counts")
	}
	if r := a.expect(200, "GET", "/openapi.json", nil); !strings.Contains(string(r.Body), `"openapi"`) {
		t.Errorf("openapi.json: %.100s", r.Body)
	}
	a.expect(200, "GET", "/docs", nil)
	if r := a.expect(404, "GET", "/api/v1/nope", nil); r.errCode(t) != "not_found" {
		t.Errorf("unknown route: %s", r.Body)
	}
}

func TestE2EAccounts(t *testing.T) {
	m := startServer(t)
	a := newAPI(t, baseURL(m))
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"phone":"12345"}`, 400},
		{`{"phone":"23800138000"}`, 400},
		{`{"phone":"+1234567"}`, 400},
		{`{"phone":13800138000}`, 400},
		{`{not json`, 400},
		{``, 400},
	} {
		a.expect(tc.status, "POST", "/api/v1/auth/code", tc.body)
	}
	v := a.expect(200, "POST", "/api/v1/auth/code", map[string]string{"phone": "+8613800138000"}).json(t)
	if v["sent"] != true || len(v["dev_code"].(string)) != 6 {
		t.Fatalf("code: %v", v)
	}
	r := a.expect(429, "POST", "/api/v1/auth/code", map[string]string{"phone": "+8613800138000"})
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("429 without Retry-After: %v", r.Header)
	}

	// Wrong codes: 401; after 5 the code is burned.
	phone := "13800138001"
	code := a.expect(200, "POST", "/api/v1/auth/code", map[string]string{"phone": phone}).json(t)["dev_code"].(string)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	a.expect(400, "POST", "/api/v1/auth/login", map[string]string{"phone": phone, "code": "12"})
	for range 5 {
		a.expect(401, "POST", "/api/v1/auth/login", map[string]string{"phone": phone, "code": wrong})
	}
	a.expect(401, "POST", "/api/v1/auth/login", map[string]string{"phone": phone, "code": code})

	// Login, me, logout.
	u, uid := login(t, baseURL(m))
	me := u.expect(200, "GET", "/api/v1/me", nil).json(t)
	if me["id"] != uid || me["nickname"] == "" || me["created_at"] == nil {
		t.Errorf("me: %v", me)
	}
	// The phone as a JSON value (the id's digits may hold "139" by chance).
	if regexp.MustCompile(`"(\+86)?139\d{8}"`).Match(u.expect(200, "GET", "/api/v1/me", nil).Body) {
		t.Errorf("me shows the phone number")
	}
	// Second login of the same phone is the same user.
	a.expect(401, "GET", "/api/v1/me", nil)
	bad := &api{t: t, base: a.base, token: "not-a-token"}
	bad.expect(401, "GET", "/api/v1/me", nil)
	bad.expect(200, "GET", "/api/v1/likes/blog/1", nil) // optional auth: anonymous
	u.expect(204, "POST", "/api/v1/auth/logout", nil)
	u.expect(401, "GET", "/api/v1/me", nil)
}

func TestE2ELikes(t *testing.T) {
	m := startServer(t)
	anon := newAPI(t, baseURL(m))
	u1, id1 := login(t, baseURL(m))
	u2, id2 := login(t, baseURL(m))

	anon.expect(401, "PUT", "/api/v1/likes/comment/42", nil)
	anon.expect(401, "DELETE", "/api/v1/likes/comment/42", nil)
	u1.expect(404, "PUT", "/api/v1/likes/nosuchtype/42", nil)
	u1.expect(404, "PUT", "/api/v1/likes/blog/42", nil) // zan holds blogs: this one does not exist
	u1.expect(404, "PUT", "/api/v1/likes/shop/42", nil)
	u1.expect(400, "PUT", "/api/v1/likes/blog/0", nil)
	u1.expect(400, "PUT", "/api/v1/likes/blog/abc", nil)
	u1.expect(400, "PUT", "/api/v1/likes/Blog/1", nil)
	u1.expect(400, "GET", "/api/v1/likes/blog/99999999999999999999", nil)

	check := func(r resp, liked, changed bool, count float64) {
		t.Helper()
		v := r.json(t)
		if v["liked"] != liked || v["changed"] != changed || v["count"] != count {
			t.Fatalf("got %v, want liked=%v changed=%v count=%v", v, liked, changed, count)
		}
	}
	check(u1.expect(200, "PUT", "/api/v1/likes/comment/42", nil), true, true, 1)
	check(u1.expect(200, "PUT", "/api/v1/likes/comment/42", nil), true, false, 1)
	check(u2.expect(200, "PUT", "/api/v1/likes/comment/42", nil), true, true, 2)
	check(u2.expect(200, "DELETE", "/api/v1/likes/comment/42", nil), false, true, 1)
	check(u2.expect(200, "DELETE", "/api/v1/likes/comment/42", nil), false, false, 1)
	check(u2.expect(200, "PUT", "/api/v1/likes/comment/7", nil), true, true, 1)
	check(u1.expect(200, "PUT", "/api/v1/likes/comment/7", nil), true, true, 2)

	v := u1.expect(200, "GET", "/api/v1/likes/comment/42", nil).json(t)
	if v["type"] != "comment" || v["id"] != "42" || v["count"] != 1.0 || v["liked"] != true {
		t.Errorf("get with token: %v", v)
	}
	v = anon.expect(200, "GET", "/api/v1/likes/comment/42", nil).json(t)
	if _, ok := v["liked"]; ok || v["count"] != 1.0 {
		t.Errorf("anonymous get: %v", v)
	}
	if v := u2.expect(200, "GET", "/api/v1/likes/comment/42", nil).json(t); v["liked"] != false {
		t.Errorf("u2 liked: %v", v)
	}

	// Batch, in request order, with unknown targets at zero.
	v = u1.expect(200, "GET", "/api/v1/likes?targets=comment:7,comment:42,comment:43", nil).json(t)
	items := v["items"].([]any)
	want := []string{"comment/7/2/true", "comment/42/1/true", "comment/43/0/false"}
	for i, it := range items {
		m := it.(map[string]any)
		if got := fmt.Sprintf("%s/%s/%v/%v", m["type"], m["id"], m["count"], m["liked"]); got != want[i] {
			t.Errorf("batch item %d: %s, want %s", i, got, want[i])
		}
	}
	many := make([]string, 201)
	for i := range many {
		many[i] = fmt.Sprintf("blog:%d", i+1)
	}
	anon.expect(400, "GET", "/api/v1/likes?targets="+strings.Join(many, ","), nil)
	anon.expect(200, "GET", "/api/v1/likes?targets="+strings.Join(many[:200], ","), nil)
	anon.expect(400, "GET", "/api/v1/likes?targets=", nil)
	anon.expect(404, "GET", "/api/v1/likes?targets=nope:1", nil)

	// Likers: read from the store, so wait for the persister.
	eventually(t, "likers of comment/7", func() error {
		r := anon.expect(200, "GET", "/api/v1/likes/comment/7/users?order=earliest", nil).json(t)
		items := r["items"].([]any)
		if len(items) != 2 {
			return fmt.Errorf("%d likers", len(items))
		}
		if items[0].(map[string]any)["user_id"] != id2 || items[1].(map[string]any)["user_id"] != id1 {
			return fmt.Errorf("earliest order: %v", items)
		}
		return nil
	})
	r := anon.expect(200, "GET", "/api/v1/likes/comment/7/users?order=latest&limit=1", nil).json(t)
	if items := r["items"].([]any); len(items) != 1 || items[0].(map[string]any)["user_id"] != id1 || r["next_cursor"] == nil {
		t.Fatalf("latest limit 1: %v", r)
	}
	r = anon.expect(200, "GET", "/api/v1/likes/comment/7/users?order=latest&limit=1&cursor="+r["next_cursor"].(string), nil).json(t)
	if items := r["items"].([]any); len(items) != 1 || items[0].(map[string]any)["user_id"] != id2 || r["next_cursor"] != nil {
		t.Fatalf("latest page 2: %v", r)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if r := anon.expect(200, "GET", "/api/v1/likes/comment/7/users?since="+future, nil).json(t); len(r["items"].([]any)) != 0 {
		t.Errorf("since the future: %v", r)
	}
	if r := anon.expect(200, "GET", "/api/v1/likes/comment/7/users?until="+future, nil).json(t); len(r["items"].([]any)) != 2 {
		t.Errorf("until the future: %v", r)
	}
	for _, q := range []string{"order=sideways", "limit=0", "limit=101", "limit=x", "cursor=%%%", "since=yesterday", "until=2020-01-01T00:00:00Z&since=2021-01-01T00:00:00Z"} {
		anon.expect(400, "GET", "/api/v1/likes/comment/7/users?"+q, nil)
	}

	// What a user liked, and common likers.
	eventually(t, "u1's likes", func() error {
		r := anon.expect(200, "GET", "/api/v1/users/"+id1+"/likes", nil).json(t)
		if n := len(r["items"].([]any)); n != 2 {
			return fmt.Errorf("%d likes", n)
		}
		return nil
	})
	r = anon.expect(200, "GET", "/api/v1/users/"+id1+"/likes?type=comment", nil).json(t)
	if items := r["items"].([]any); len(items) != 2 || items[0].(map[string]any)["id"] != "7" {
		t.Errorf("u1's comment likes: %v", r)
	}
	if r := anon.expect(200, "GET", "/api/v1/users/"+id1+"/likes?type=blog", nil).json(t); len(r["items"].([]any)) != 0 {
		t.Errorf("u1's blog likes: %v", r)
	}
	anon.expect(404, "GET", "/api/v1/users/"+id1+"/likes?type=nope", nil)
	anon.expect(400, "GET", "/api/v1/users/x/likes", nil)
	u2.expect(200, "PUT", "/api/v1/likes/comment/42", nil)
	eventually(t, "common likers", func() error {
		r := anon.expect(200, "GET", "/api/v1/likes/comment/42/users/common?with=comment:7", nil).json(t)
		if n := len(r["items"].([]any)); n != 2 {
			return fmt.Errorf("%d common likers", n)
		}
		return nil
	})
	anon.expect(400, "GET", "/api/v1/likes/comment/42/users/common", nil)
	anon.expect(400, "GET", "/api/v1/likes/comment/42/users/common?with=comment", nil)
}

func TestE2EBlogs(t *testing.T) {
	m := startServer(t)
	anon := newAPI(t, baseURL(m))
	u1, id1 := login(t, baseURL(m))
	u2, _ := login(t, baseURL(m))
	anon.expect(401, "POST", "/api/v1/blogs", map[string]string{"title": "t", "content": "c"})
	for _, body := range []any{
		map[string]string{"title": "", "content": "c"},
		map[string]string{"title": strings.Repeat("题", 101), "content": "c"},
		map[string]string{"title": "t", "content": ""},
		map[string]string{"title": "t", "content": strings.Repeat("x", 20001)},
		map[string]any{"title": "t", "content": "c", "shop_id": "x"},
		`{"title":1}`,
	} {
		u1.expect(400, "POST", "/api/v1/blogs", body)
	}
	b := u1.expect(201, "POST", "/api/v1/blogs", map[string]any{"title": "第一篇", "content": "hello", "shop_id": 7}).json(t)
	id := b["id"].(string)
	if b["title"] != "第一篇" || b["like_count"] != 0.0 || b["liked"] != false || b["shop_id"] != "7" ||
		b["author"].(map[string]any)["id"] != id1 || b["created_at"] == nil {
		t.Fatalf("created blog: %v", b)
	}
	b2 := u2.expect(201, "POST", "/api/v1/blogs", map[string]any{"title": "second", "content": strings.Repeat("x", 20000)}).json(t)
	u2.expect(200, "PUT", "/api/v1/likes/blog/"+id, nil)
	u1.expect(200, "PUT", "/api/v1/likes/blog/"+id, nil)

	got := u1.expect(200, "GET", "/api/v1/blogs/"+id, nil).json(t)
	if got["like_count"] != 2.0 || got["liked"] != true {
		t.Errorf("blog view: %v", got)
	}
	eventually(t, "top likers", func() error {
		got := anon.expect(200, "GET", "/api/v1/blogs/"+id, nil).json(t)
		if tl := got["top_likers"].([]any); len(tl) != 2 || tl[1].(map[string]any)["id"] != id1 {
			return fmt.Errorf("top_likers %v", tl)
		}
		return nil
	})
	anon.expect(404, "GET", "/api/v1/blogs/12345", nil)
	anon.expect(400, "GET", "/api/v1/blogs/abc", nil)

	// New: newest first, paged.
	r := anon.expect(200, "GET", "/api/v1/blogs?limit=1", nil).json(t)
	if items := r["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != b2["id"] {
		t.Fatalf("new page 1: %v", r)
	}
	r = anon.expect(200, "GET", "/api/v1/blogs?limit=1&cursor="+r["next_cursor"].(string), nil).json(t)
	if items := r["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != id || r["next_cursor"] != nil {
		t.Fatalf("new page 2: %v", r)
	}
	// Hot: the liked one first.
	eventually(t, "hot order", func() error {
		r := anon.expect(200, "GET", "/api/v1/blogs?sort=hot", nil).json(t)
		if items := r["items"].([]any); len(items) != 2 || items[0].(map[string]any)["id"] != id {
			return fmt.Errorf("hot: %v", items)
		}
		return nil
	})
	anon.expect(400, "GET", "/api/v1/blogs?sort=cold", nil)
	r = anon.expect(200, "GET", "/api/v1/users/"+id1+"/blogs", nil).json(t)
	if items := r["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != id {
		t.Errorf("user blogs: %v", r)
	}
	u2.expect(403, "DELETE", "/api/v1/blogs/"+id, nil)
	anon.expect(401, "DELETE", "/api/v1/blogs/"+id, nil)
	u1.expect(204, "DELETE", "/api/v1/blogs/"+id, nil)
	anon.expect(404, "GET", "/api/v1/blogs/"+id, nil)
	u1.expect(404, "DELETE", "/api/v1/blogs/"+id, nil)
}

func TestE2EBodyLimitAndMalformed(t *testing.T) {
	m := startServer(t)
	u, _ := login(t, baseURL(m))
	big := `{"title":"t","content":"` + strings.Repeat("x", 70<<10) + `"}`
	if r := u.expect(413, "POST", "/api/v1/blogs", big); r.errCode(t) != "too_large" {
		t.Errorf("413 code: %s", r.Body)
	}
	// Without a Content-Length the limit still holds.
	req, _ := http.NewRequest("POST", u.base+"/api/v1/blogs", strings.NewReader(big))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+u.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Errorf("chunked big body: %d", res.StatusCode)
	}
	for _, body := range []string{`{`, `[]`, `"x"`, `{"title":"t","content":"c"`, "\x00\xff"} {
		u.expect(400, "POST", "/api/v1/blogs", body)
	}
}

func TestE2ERateLimits(t *testing.T) {
	m := startServer(t, func(c *Config) { c.LikeRate, c.LikeBurst = 1, 3 })
	u, _ := login(t, baseURL(m))
	for i := range 3 {
		u.expect(200, "PUT", fmt.Sprintf("/api/v1/likes/comment/%d", i+1), nil)
	}
	r := u.expect(429, "PUT", "/api/v1/likes/comment/9", nil)
	if r.errCode(t) != "rate_limited" || r.Header.Get("Retry-After") == "" {
		t.Errorf("429: %s %v", r.Body, r.Header)
	}
	// Another user has a budget of their own.
	u2, _ := login(t, baseURL(m))
	u2.expect(200, "PUT", "/api/v1/likes/comment/9", nil)
}

func TestE2EAdmin(t *testing.T) {
	m := startServer(t)
	a := newAPI(t, baseURL(m))
	a.expect(403, "GET", "/api/v1/admin/dlq", nil)
	u, _ := login(t, baseURL(m))
	u.expect(403, "GET", "/api/v1/admin/dlq", nil) // a session is never an admin token
	a.token = "admin-secret"
	if r := a.expect(200, "GET", "/api/v1/admin/dlq", nil).json(t); len(r["items"].([]any)) != 0 {
		t.Errorf("dlq: %v", r)
	}
	if r := a.expect(200, "POST", "/api/v1/admin/dlq/replay", nil).json(t); r["replayed"] != 0.0 {
		t.Errorf("replay: %v", r)
	}
	a.expect(400, "POST", "/api/v1/admin/dlq/replay", map[string]any{"seqs": []string{"x"}})
}

func baseURL(m *Main) string { return "http://" + m.Addr() }

func TestE2ELikeStream(t *testing.T) {
	m := startServer(t)
	base := baseURL(m)
	a, _ := login(t, base)
	anon := newAPI(t, base)
	anon.expect(400, "GET", "/api/v1/likes/stream", nil)
	anon.expect(404, "GET", "/api/v1/likes/stream?targets=nope:1", nil)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/likes/stream?targets=blog:1,comment:2", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "data: ") {
				events <- strings.TrimPrefix(line, "data: ")
			}
		}
		close(events)
	}()
	next := func() string {
		select {
		case e := <-events:
			return e
		case <-ctx.Done():
			t.Fatal("no event")
		}
		return ""
	}
	for _, want := range []string{
		`{"type":"blog","id":"1","count":0}`,
		`{"type":"comment","id":"2","count":0}`,
	} {
		if got := next(); got != want {
			t.Fatalf("initial event %s, want %s", got, want)
		}
	}
	a.expect(200, "PUT", "/api/v1/likes/comment/2", nil)
	if got, want := next(), `{"type":"comment","id":"2","count":1}`; got != want {
		t.Fatalf("event after a like: %s, want %s", got, want)
	}
}

func TestE2EReconcile(t *testing.T) {
	m := startServer(t)
	u, _ := login(t, baseURL(m))
	u.expect(200, "PUT", "/api/v1/likes/comment/1", nil)
	u.expect(403, "POST", "/api/v1/admin/reconcile", map[string]any{"all": true})
	a := newAPI(t, baseURL(m))
	a.token = "admin-secret"
	for _, bad := range []any{
		map[string]any{}, map[string]any{"all": true, "targets": []string{"blog/1"}},
		map[string]any{"targets": []string{"blog"}}, `{"all":"yes"}`,
	} {
		a.expect(400, "POST", "/api/v1/admin/reconcile", bad)
	}
	a.expect(404, "POST", "/api/v1/admin/reconcile", map[string]any{"targets": []string{"nope/1"}})
	r := a.expect(200, "POST", "/api/v1/admin/reconcile", map[string]any{"targets": []string{"blog/1", "comment:2"}}).json(t)
	if r["checked"] != 2.0 || r["set_drift"] != 0.0 || r["count_drift"] != 0.0 {
		t.Fatalf("reconcile: %v", r)
	}

	// The command talks to the same call.
	var out strings.Builder
	err := run(t.Context(), []string{"reconcile", "--url", baseURL(m), "--admin-token", "admin-secret", "--all"}, &out, io.Discard)
	if err != nil || !strings.Contains(out.String(), "checked 1 targets: 0 count drifts") {
		t.Fatalf("zan reconcile --all: %v: %s", err, out.String())
	}
	if err := run(t.Context(), []string{"reconcile", "--url", baseURL(m)}, io.Discard, io.Discard); err == nil {
		t.Fatal("zan reconcile without --target or --all: no error")
	}
}
