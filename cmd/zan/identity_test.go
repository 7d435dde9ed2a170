package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/client"
	"github.com/zanlabs/zan/identity"
	"github.com/zanlabs/zan/internal/oidctest"
)

// withIdentity configures a provider "test" and the platform's tokens.
func withIdentity(op *oidctest.Provider, host *oidctest.Platform) func(*Config) {
	return func(c *Config) {
		c.OIDCProviders.list = []identity.ProviderConfig{op.Config("test", "Test ID")}
		c.JWTJWKSURL, c.JWTIssuer, c.JWTAudience = host.JWKSURL(), host.Issuer, host.Audience
	}
}

// get requests without following redirects.
func get(t *testing.T, u string, cookie *http.Cookie) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// oidcFlow walks a sign-in as a browser would: start on node start, the
// provider, the callback on node back (rebased there, as a load balancer
// may send it). It returns the callback's response.
func oidcFlow(t *testing.T, op *oidctest.Provider, start, back, subject string) *http.Response {
	t.Helper()
	res := get(t, start+"/api/v1/auth/oidc/test/start?return_to=/%23/blog/1", nil)
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("return_to with a fragment: %d, want 400", res.StatusCode)
	}
	res = get(t, start+"/api/v1/auth/oidc/test/start?return_to=/shops?q=x", nil)
	if res.StatusCode != http.StatusFound {
		t.Fatalf("start: %d", res.StatusCode)
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "zan_oidc" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode {
		t.Fatalf("start set no HttpOnly, SameSite=Lax binding cookie: %v", res.Cookies())
	}
	op.Next(subject)
	res = get(t, res.Header.Get("Location"), nil)
	cb, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("provider: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	return get(t, back+cb.Path+"?"+cb.RawQuery, cookie)
}

// oidcSignIn signs subject in and returns an API client with the session.
func oidcSignIn(t *testing.T, op *oidctest.Provider, start, back, subject string) *api {
	t.Helper()
	res := oidcFlow(t, op, start, back, subject)
	loc := res.Header.Get("Location")
	code, ok := strings.CutPrefix(loc, "/shops?q=x#zan_oidc=")
	if res.StatusCode != http.StatusFound || !ok {
		t.Fatalf("callback: %d %q", res.StatusCode, loc)
	}
	a := newAPI(t, back)
	v := a.expect(200, "POST", "/api/v1/auth/oidc/exchange", map[string]string{"code": code}).json(t)
	a.expect(401, "POST", "/api/v1/auth/oidc/exchange", map[string]string{"code": code}) // once
	a.token = v["token"].(string)
	return a
}

// TestOIDCSignIn: the sign-in contract over HTTP, embedded.
func TestOIDCSignIn(t *testing.T) {
	op, host := oidctest.Start(t), oidctest.StartPlatform(t)
	m := startServer(t, withIdentity(op, host))
	base := baseURL(m)
	anon := newAPI(t, base)
	if v := anon.expect(200, "GET", "/api/v1/auth/providers", nil).json(t); len(v["items"].([]any)) != 1 ||
		v["items"].([]any)[0].(map[string]any)["name"] != "Test ID" {
		t.Fatalf("providers: %v", v)
	}
	anon.expect(404, "GET", "/api/v1/auth/oidc/nope/start", nil)

	alice := oidcSignIn(t, op, base, base, "alice")
	me := alice.expect(200, "GET", "/api/v1/me", nil).json(t)
	alice.expect(200, "PUT", "/api/v1/likes/comment/1", nil)
	if again := oidcSignIn(t, op, base, base, "alice"); again.expect(200, "GET", "/api/v1/me", nil).json(t)["id"] != me["id"] {
		t.Fatal("alice's second sign-in is another user")
	}
	ways := alice.expect(200, "GET", "/api/v1/me/identities", nil).json(t)
	if ways["phone"] != false || len(ways["items"].([]any)) != 1 || ways["items"].([]any)[0].(map[string]any)["provider"] != "test" {
		t.Fatalf("identities: %v", ways)
	}
	alice.expect(409, "DELETE", "/api/v1/me/identities/test", nil) // her only way in

	// A callback replayed, or without the browser's cookie: 400.
	res := oidcFlow(t, op, base, base, "alice")
	if res.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d", res.StatusCode)
	}
	if r := get(t, base+res.Request.URL.Path+"?"+res.Request.URL.RawQuery, nil); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("replayed callback: %d, want 400", r.StatusCode)
	}

	// Link to an SMS account, sign in through it, unlink: the phone stays.
	phoned, uid := login(t, base)
	v := phoned.expect(200, "POST", "/api/v1/me/identities/test", map[string]string{"return_to": "/me"})
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: v.Header}).Cookies() {
		if c.Name == "zan_oidc" {
			cookie = c
		}
	}
	op.Next("carol")
	res = get(t, v.json(t)["redirect_url"].(string), nil)
	cb, _ := url.Parse(res.Header.Get("Location"))
	if r := get(t, base+cb.Path+"?"+cb.RawQuery, cookie); r.Header.Get("Location") != "/me#zan_oidc_linked=test" {
		t.Fatalf("link: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if got := oidcSignIn(t, op, base, base, "carol").expect(200, "GET", "/api/v1/me", nil).json(t)["id"]; got != uid {
		t.Fatalf("carol signed in as %v, want the linked account %s", got, uid)
	}
	phoned.expect(204, "DELETE", "/api/v1/me/identities/test", nil)
	phoned.expect(404, "DELETE", "/api/v1/me/identities/test", nil)
	phoned.expect(200, "GET", "/api/v1/me", nil)

	// Logout ends an OIDC session as an SMS one.
	alice.expect(204, "POST", "/api/v1/auth/logout", nil)
	alice.expect(401, "GET", "/api/v1/me", nil)
}

// TestHostTokensHTTP: a platform's own JWTs are bearer tokens; bad ones are
// 401 with WWW-Authenticate on every endpoint.
func TestHostTokensHTTP(t *testing.T) {
	op, host := oidctest.Start(t), oidctest.StartPlatform(t)
	m := startServer(t, withIdentity(op, host))
	base := baseURL(m)
	a := newAPI(t, base)
	a.token = host.Token(t, oidctest.Claims{Subject: "platform-user-7"})
	uid := a.expect(200, "GET", "/api/v1/me", nil).json(t)["id"].(string)
	a.expect(200, "PUT", "/api/v1/likes/comment/5", nil)
	if v := a.expect(200, "GET", "/api/v1/likes/comment/5", nil).json(t); v["liked"] != true || v["count"] != 1.0 {
		t.Fatalf("like with a host token: %v", v)
	}
	b := newAPI(t, base)
	b.token = host.Token(t, oidctest.Claims{Subject: "platform-user-7"})
	if got := b.expect(200, "GET", "/api/v1/me", nil).json(t)["id"]; got != uid {
		t.Fatalf("another token of the subject: user %v, want %s", got, uid)
	}
	for name, tok := range map[string]string{
		"expired":        host.Token(t, oidctest.Claims{Subject: "x", Expiry: time.Now().Add(-2 * time.Minute)}),
		"wrong audience": host.Token(t, oidctest.Claims{Subject: "x", Audience: "other"}),
		"wrongly signed": host.Forged(t, oidctest.Claims{Subject: "x"}),
	} {
		bad := newAPI(t, base)
		bad.token = tok
		for _, path := range []string{"/api/v1/me", "/api/v1/likes/comment/5"} {
			r := bad.expect(401, "GET", path, nil)
			if h := r.Header.Get("WWW-Authenticate"); !strings.Contains(h, `Bearer`) || !strings.Contains(h, `error="invalid_token"`) {
				t.Errorf("%s, %s: WWW-Authenticate %q", name, path, h)
			}
		}
	}
	a.expect(204, "POST", "/api/v1/auth/logout", nil)
	a.expect(401, "GET", "/api/v1/me", nil)
	b.expect(200, "GET", "/api/v1/me", nil) // a logout ends that token only
}

// TestOIDCTwoNodes: in scale-out a sign-in started on one node finishes on
// another (the flow is in Redis), its one-time code is exchanged on either,
// and a logout, of an OIDC session or of a host token, holds on every node.
func TestOIDCTwoNodes(t *testing.T) {
	cfg := scaleOut(t)
	op, host := oidctest.Start(t), oidctest.StartPlatform(t)
	public := func(c *Config) { c.PublicURL = "http://zan.test" }
	a := startServer(t, cfg, withIdentity(op, host), public)
	b := startServer(t, cfg, withIdentity(op, host), public, func(c *Config) { c.NodeID = 1 })
	onB := oidcSignIn(t, op, baseURL(a), baseURL(b), "alice")
	onA := newAPI(t, baseURL(a))
	onA.token = onB.token
	uid := onA.expect(200, "GET", "/api/v1/me", nil).json(t)["id"]
	onA.expect(200, "PUT", "/api/v1/likes/comment/1", nil)
	if v := onB.expect(200, "GET", "/api/v1/likes/comment/1", nil).json(t); v["liked"] != true {
		t.Fatalf("a like through node A seen on node B: %v", v)
	}
	if again := oidcSignIn(t, op, baseURL(b), baseURL(a), "alice"); again.expect(200, "GET", "/api/v1/me", nil).json(t)["id"] != uid {
		t.Fatal("the second sign-in, on the other node, is another user")
	}
	onB.expect(204, "POST", "/api/v1/auth/logout", nil)
	onA.expectSoon(401, "GET", "/api/v1/me", nil)

	jwtA, jwtB := newAPI(t, baseURL(a)), newAPI(t, baseURL(b))
	jwtA.token = host.Token(t, oidctest.Claims{Subject: "p-1"})
	jwtB.token = jwtA.token
	if jwtA.expect(200, "GET", "/api/v1/me", nil).json(t)["id"] != jwtB.expect(200, "GET", "/api/v1/me", nil).json(t)["id"] {
		t.Fatal("one host subject is two users on two nodes")
	}
	jwtA.expect(204, "POST", "/api/v1/auth/logout", nil)
	jwtB.expectSoon(401, "GET", "/api/v1/me", nil)
}

// TestClientSignIn: the Go client's calls around a sign-in, and a host
// token set as the client's token.
func TestClientSignIn(t *testing.T) {
	op, host := oidctest.Start(t), oidctest.StartPlatform(t)
	m := startServer(t, withIdentity(op, host))
	ctx := t.Context()
	c := client.New(baseURL(m))
	if ps, err := c.Providers(ctx); err != nil || len(ps) != 1 || ps[0] != (client.Provider{ID: "test", Name: "Test ID"}) {
		t.Fatalf("Providers: %+v, %v", ps, err)
	}
	res := oidcFlow(t, op, baseURL(m), baseURL(m), "dave")
	code := strings.TrimPrefix(res.Header.Get("Location"), "/shops?q=x#zan_oidc=")
	u, err := c.ExchangeSignIn(ctx, code)
	if err != nil || c.Token() == "" {
		t.Fatalf("ExchangeSignIn: %+v, %v", u, err)
	}
	if _, err := c.ExchangeSignIn(ctx, code); !client.IsCode(err, client.Unauthorized) {
		t.Fatalf("a code twice: %v", err)
	}
	phone, ids, err := c.Identities(ctx)
	if err != nil || phone || len(ids) != 1 || ids[0].Provider != "test" || ids[0].LinkedAt.IsZero() {
		t.Fatalf("Identities: %v %+v %v", phone, ids, err)
	}
	if err := c.UnlinkIdentity(ctx, "test"); !client.IsCode(err, client.Conflict) {
		t.Fatalf("unlinking the only way in: %v", err)
	}

	hc := client.New(baseURL(m))
	hc.SetToken(host.Token(t, oidctest.Claims{Subject: "platform-user-1"}))
	if _, err := hc.Like(ctx, "comment", 3); err != nil { // a foreign type: zan does not check it exists
		t.Fatalf("a like with a host token: %v", err)
	}
	if _, ids, err := hc.Identities(ctx); err != nil || len(ids) != 1 || ids[0].Provider != "" || ids[0].Issuer != host.Issuer {
		t.Fatalf("a host user's identities: %+v, %v", ids, err)
	}
}

// TestPhoneForms: every way of writing a number is one account (the one
// an old 11-digit row is) and one code budget.
func TestPhoneForms(t *testing.T) {
	m := startServer(t)
	old, err := m.store.EnsureUser(t.Context(), zan.User{ID: 42, Phone: "13800138123", Nickname: "old_user", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	a := newAPI(t, baseURL(m))
	code := a.expect(200, "POST", "/api/v1/auth/code", map[string]string{"phone": "+86 138 0013 8123"}).json(t)["dev_code"].(string)
	a.expect(429, "POST", "/api/v1/auth/code", map[string]string{"phone": "138-0013-8123"})
	a.expect(429, "POST", "/api/v1/auth/code", map[string]string{"phone": "+8613800138123"})
	u := a.expect(200, "POST", "/api/v1/auth/login", map[string]string{"phone": "138-0013-8123", "code": code}).json(t)["user"].(map[string]any)
	if u["id"] != "42" || u["nickname"] != old.Nickname {
		t.Fatalf("signed in as %v, want the old account 42", u)
	}
}

// TestMigrateIdentities: zan migrate copies users without phones and their
// identities, so they sign in to the same accounts on the destination.
func TestMigrateIdentities(t *testing.T) {
	dsn := freshMySQL(t)
	op, host := oidctest.Start(t), oidctest.StartPlatform(t)
	a := startServer(t, withIdentity(op, host))
	alice := oidcSignIn(t, op, baseURL(a), baseURL(a), "alice").expect(200, "GET", "/api/v1/me", nil).json(t)["id"]
	p := newAPI(t, baseURL(a))
	p.token = host.Token(t, oidctest.Claims{Subject: "p-9"})
	platformUser := p.expect(200, "GET", "/api/v1/me", nil).json(t)["id"]

	var out strings.Builder
	args := []string{"migrate", "--from", a.Config.Data, "--to", "mysql://" + dsn, "--checkpoint", t.TempDir() + "/cp.json"}
	if err := run(t.Context(), args, &out, io.Discard); err != nil || !strings.Contains(out.String(), "2 users, 2 identities") {
		t.Fatalf("migrate: %v\n%s", err, &out)
	}
	b := startServer(t, withIdentity(op, host), func(c *Config) { c.DBURL = "mysql://" + dsn })
	if got := oidcSignIn(t, op, baseURL(b), baseURL(b), "alice").expect(200, "GET", "/api/v1/me", nil).json(t)["id"]; got != alice {
		t.Fatalf("alice on the destination: %v, want %v", got, alice)
	}
	p.base = baseURL(b)
	if got := p.expect(200, "GET", "/api/v1/me", nil).json(t)["id"]; got != platformUser {
		t.Fatalf("the platform's user on the destination: %v, want %v", got, platformUser)
	}
}

// TestOIDCSecureCookie: on an https site the binding cookie is a __Host-
// cookie, and a plain one (which a sibling subdomain could plant) does not
// count.
func TestOIDCSecureCookie(t *testing.T) {
	op, host := oidctest.Start(t), oidctest.StartPlatform(t)
	m := startServer(t, withIdentity(op, host), func(c *Config) { c.PublicURL = "https://zan.test" })
	base := baseURL(m)
	res := get(t, base+"/api/v1/auth/oidc/test/start", nil)
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		cookie = c
	}
	if cookie == nil || cookie.Name != "__Host-zan_oidc" || !cookie.Secure || cookie.Path != "/" || !cookie.HttpOnly {
		t.Fatalf("binding cookie: %+v", cookie)
	}
	op.Next("eve")
	res = get(t, res.Header.Get("Location"), nil)
	cb, _ := url.Parse(res.Header.Get("Location"))
	if cb.Host != "zan.test" || cb.Scheme != "https" {
		t.Fatalf("callback URL %s, want the public URL's", cb)
	}
	planted := &http.Cookie{Name: "zan_oidc", Value: cookie.Value}
	if r := get(t, base+cb.Path+"?"+cb.RawQuery, planted); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("callback with a plain cookie: %d, want 400", r.StatusCode)
	}
}

// TestIdentityFlags: providers from the environment (several in one
// variable) are replaced by those of the command line, as other flags are;
// the host token flags go together.
func TestIdentityFlags(t *testing.T) {
	t.Setenv("ZAN_OIDC_PROVIDER", "id=a,issuer=https://a.example,client-id=ca;id=b,issuer=https://b.example,client-id=cb,name=B")
	var c Config
	if err := c.parse("serve", nil); err != nil || c.OIDCProviders.String() != "a,b" || c.OIDCProviders.list[1].Name != "B" {
		t.Fatalf("from the environment: %v %q", err, c.OIDCProviders.String())
	}
	c = Config{}
	err := c.parse("serve", []string{"--oidc-provider", "id=c,issuer=https://c.example,client-id=cc", "--oidc-provider", "id=d,issuer=https://d.example,client-id=cd"})
	if err != nil || c.OIDCProviders.String() != "c,d" {
		t.Fatalf("the command line over the environment: %v %q", err, c.OIDCProviders.String())
	}
	c = Config{}
	if err := c.parse("serve", []string{"--oidc-provider", "id=c,issuer=ftp://c.example,client-id=cc"}); err == nil {
		t.Fatal("a bad provider passed")
	}
	c = Config{}
	if err := c.parse("serve", []string{"--jwt-jwks-url", "https://p.example/jwks.json"}); err == nil {
		t.Fatal("--jwt-jwks-url without issuer and audience passed")
	}
}
