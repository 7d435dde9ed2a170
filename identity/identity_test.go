package identity_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/accounts"
	"github.com/zanlabs/zan/identity"
	"github.com/zanlabs/zan/internal/oidctest"
	"github.com/zanlabs/zan/internal/zantest"
	"github.com/zanlabs/zan/memory"
)

type fixture struct {
	svc   *identity.Service
	acc   *accounts.Service
	store zan.Store
	op    *oidctest.Provider
	host  *oidctest.Platform
}

const browser = "the-browser-binding-cookie-value-0123456789"

func newFixture(t testing.TB, configure ...func(*identity.Config)) *fixture {
	t.Helper()
	db := zantest.Store(t)
	cache := memory.NewCache()
	codes := memory.NewCodes()
	t.Cleanup(func() { cache.Close(); codes.Close() })
	ids := zan.NewIDGen(0)
	acc := accounts.New(accounts.Config{}, db, db, codes, nil, ids, nil)
	f := &fixture{acc: acc, store: db, op: oidctest.Start(t), host: oidctest.StartPlatform(t)}
	cfg := identity.Config{
		Providers: []identity.ProviderConfig{f.op.Config("test", "Test")},
		PublicURL: "http://zan.test",
		Host:      identity.HostConfig{JWKSURL: f.host.JWKSURL(), Issuer: f.host.Issuer, Audience: f.host.Audience},
	}
	for _, c := range configure {
		c(&cfg)
	}
	svc, err := identity.New(cfg, db, cache, acc, ids, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorize starts a sign-in (link: to that user's account) and has the
// provider answer it as a browser would be sent: it returns the callback's
// query. edit may change the provider URL first.
func (f *fixture) authorize(t *testing.T, subject string, link int64, edit func(url.Values)) url.Values {
	t.Helper()
	to, err := f.svc.Start(t.Context(), "test", identity.StartRequest{ReturnTo: "/back?x=1", Browser: browser, Link: link})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	u, _ := url.Parse(to)
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" ||
		q.Get("redirect_uri") != "http://zan.test/api/v1/auth/oidc/test/callback" {
		t.Fatalf("provider URL without PKCE, nonce, state or the callback: %s", to)
	}
	if edit != nil {
		edit(q)
		u.RawQuery = q.Encode()
	}
	f.op.Next(subject)
	res, err := noRedirects.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	back, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("provider answered %d, %q", res.StatusCode, res.Header.Get("Location"))
	}
	return back.Query()
}

// callback finishes a sign-in; it returns the fragment zan sends the
// browser back with.
func (f *fixture) callback(t *testing.T, q url.Values) string {
	t.Helper()
	to, err := f.svc.Callback(t.Context(), "test", q, browser)
	if err != nil {
		t.Fatalf("Callback: %v", err)
	}
	path, frag, _ := strings.Cut(to, "#")
	if path != "/back?x=1" {
		t.Fatalf("returned to %q", to)
	}
	return frag
}

// signIn signs subject in and returns the session token and user.
func (f *fixture) signIn(t *testing.T, subject string) (string, zan.User) {
	t.Helper()
	code, ok := strings.CutPrefix(f.callback(t, f.authorize(t, subject, 0, nil)), "zan_oidc=")
	if !ok {
		t.Fatalf("sign-in of %s failed", subject)
	}
	tok, u, err := f.svc.Exchange(t.Context(), code)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if uid, err := f.acc.Authenticate(t.Context(), tok); err != nil || uid != u.ID {
		t.Fatalf("the session: %d, %v; want user %d", uid, err, u.ID)
	}
	return tok, u
}

func TestSignIn(t *testing.T) {
	f := newFixture(t)
	_, alice := f.signIn(t, "alice")
	if alice.Phone != "" || !strings.HasPrefix(alice.Nickname, "user_") {
		t.Fatalf("new user %+v", alice)
	}
	if _, again := f.signIn(t, "alice"); again.ID != alice.ID {
		t.Fatalf("second sign-in of alice made user %d, want %d", again.ID, alice.ID)
	}
	if _, bob := f.signIn(t, "bob"); bob.ID == alice.ID {
		t.Fatal("bob signed in as alice")
	}
	if got := f.svc.Providers(); len(got) != 1 || got[0] != (identity.Provider{ID: "test", Name: "Test"}) {
		t.Fatalf("Providers: %+v", got)
	}
}

func TestCallbackRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	q := f.authorize(t, "alice", 0, nil)

	tampered := url.Values{"code": {q.Get("code")}, "state": {q.Get("state") + "x"}}
	for name, tc := range map[string]struct {
		provider string
		q        url.Values
		browser  string
		code     string
	}{
		"tampered state":   {"test", tampered, browser, zan.EBadRequest},
		"no state":         {"test", url.Values{"code": {q.Get("code")}}, browser, zan.EBadRequest},
		"unknown provider": {"nope", q, browser, zan.ENotFound},
	} {
		if _, err := f.svc.Callback(ctx, tc.provider, tc.q, tc.browser); zan.ErrorCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", name, err, tc.code)
		}
	}
	// Another browser (login CSRF): refused, and the flow is spent.
	if _, err := f.svc.Callback(ctx, "test", q, "another-browser"); zan.ErrorCode(err) != zan.EBadRequest {
		t.Fatalf("callback in another browser: %v", err)
	}
	if _, err := f.svc.Callback(ctx, "test", q, browser); zan.ErrorCode(err) != zan.EBadRequest {
		t.Fatalf("callback after a refused one: %v", err)
	}

	// A callback replayed: the state is used up.
	q = f.authorize(t, "alice", 0, nil)
	if frag := f.callback(t, q); !strings.HasPrefix(frag, "zan_oidc=") {
		t.Fatalf("sign-in: %q", frag)
	}
	if _, err := f.svc.Callback(ctx, "test", q, browser); zan.ErrorCode(err) != zan.EBadRequest {
		t.Fatalf("replayed callback: %v, want bad_request", err)
	}

	// The used code with a new flow's state: the provider refuses it.
	used := q.Get("code")
	q2 := f.authorize(t, "alice", 0, nil)
	q2.Set("code", used)
	if frag := f.callback(t, q2); frag != "zan_oidc_error=exchange_failed" {
		t.Fatalf("replayed code: %q", frag)
	}

	// The user said no at the provider.
	to, err := f.svc.Start(ctx, "test", identity.StartRequest{Browser: browser})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(to)
	denied := url.Values{"error": {"access_denied"}, "state": {u.Query().Get("state")}}
	if to, err := f.svc.Callback(ctx, "test", denied, browser); err != nil || to != "/#zan_oidc_error=access_denied" {
		t.Fatalf("denied: %q, %v", to, err)
	}
}

func TestIDTokenRefusals(t *testing.T) {
	f := newFixture(t)
	f.signIn(t, "alice") // keys fetched

	// A provider URL whose nonce was swapped: the ID token carries the
	// swapped one, not the flow's.
	q := f.authorize(t, "alice", 0, func(q url.Values) { q.Set("nonce", "not-the-flows") })
	if frag := f.callback(t, q); frag != "zan_oidc_error=invalid_token" {
		t.Fatalf("wrong nonce: %q", frag)
	}

	// Expired: issued by a provider whose clock is two hours behind (well
	// past the clock skew allowed).
	f.op.Shift(-2 * time.Hour)
	if frag := f.callback(t, f.authorize(t, "alice", 0, nil)); frag != "zan_oidc_error=invalid_token" {
		t.Fatalf("expired ID token: %q", frag)
	}
	// Within the skew allowed, a provider clock a little behind is fine
	// (mockoidc's tokens live 10 minutes).
	f.op.Shift(2*time.Hour - 10*time.Minute - 30*time.Second)
	f.signIn(t, "alice")
	f.op.Shift(10*time.Minute + 30*time.Second)

	// Wrongly signed: the provider signs with a new key, and the JWKS zan
	// fetches for it holds another key under that key's id.
	f.op.Rotate(t)
	f.op.PublishOther(t)
	if frag := f.callback(t, f.authorize(t, "alice", 0, nil)); frag != "zan_oidc_error=invalid_token" {
		t.Fatalf("wrongly signed ID token: %q", frag)
	}

	// The provider rotates its key: zan fetches the new JWKS by itself.
	f.op.Rotate(t)
	_, u := f.signIn(t, "alice")
	_, before := f.signIn(t, "alice")
	if u.ID != before.ID {
		t.Fatal("a new key made a new user")
	}
}

func TestExchangeOnce(t *testing.T) {
	f := newFixture(t)
	code, _ := strings.CutPrefix(f.callback(t, f.authorize(t, "alice", 0, nil)), "zan_oidc=")
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 8 {
		wg.Go(func() {
			_, _, err := f.svc.Exchange(t.Context(), code)
			switch zan.ErrorCode(err) {
			case "":
				mu.Lock()
				won++
				mu.Unlock()
			case zan.EUnauthorized:
			default:
				t.Errorf("Exchange: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d exchanges of one code passed, want 1", won)
	}
}

func TestLinkUnlink(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	phoned, err := f.store.EnsureUser(ctx, zan.User{ID: 777, Phone: "13800138000", Nickname: "p", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if frag := f.callback(t, f.authorize(t, "carol", phoned.ID, nil)); frag != "zan_oidc_linked=test" {
		t.Fatalf("link: %q", frag)
	}
	if _, u := f.signIn(t, "carol"); u.ID != phoned.ID {
		t.Fatalf("carol signs in as user %d, want the linked %d", u.ID, phoned.ID)
	}
	phone, linked, err := f.svc.Ways(ctx, phoned.ID)
	if err != nil || !phone || len(linked) != 1 || linked[0].Provider != "test" || linked[0].Issuer != f.op.Issuer() {
		t.Fatalf("Ways: %v %+v %v", phone, linked, err)
	}

	// alice's identity is hers: linking it elsewhere is a conflict.
	f.signIn(t, "alice")
	other, _ := f.store.EnsureUser(ctx, zan.User{ID: 778, Phone: "13800138001", Nickname: "q", CreatedAt: time.Now()})
	if frag := f.callback(t, f.authorize(t, "alice", other.ID, nil)); frag != "zan_oidc_error=conflict" {
		t.Fatalf("linking another's identity: %q", frag)
	}

	// The phone stays a way in; alice's provider is her only one.
	if err := f.svc.Unlink(ctx, phoned.ID, "test"); err != nil {
		t.Fatalf("Unlink: %v", err)
	}
	if err := f.svc.Unlink(ctx, phoned.ID, "test"); zan.ErrorCode(err) != zan.ENotFound {
		t.Fatalf("Unlink again: %v", err)
	}
	_, alice := f.signIn(t, "alice")
	if err := f.svc.Unlink(ctx, alice.ID, "test"); zan.ErrorCode(err) != zan.EConflict {
		t.Fatalf("Unlink of the last way in: %v, want conflict", err)
	}
	if err := f.svc.Unlink(ctx, alice.ID, "nope"); zan.ErrorCode(err) != zan.ENotFound {
		t.Fatalf("Unlink of an unknown provider: %v", err)
	}
}

func TestReturnPath(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "": refused
	}{
		{"", "/"}, {"/", "/"}, {"/blog/1?x=2", "/blog/1?x=2"},
		{"//evil.example/x", ""}, {"/\\evil.example", ""}, {"https://evil.example/", ""},
		{"javascript:alert(1)", ""}, {"evil", ""}, {"/a#frag", ""}, {"/a\r\nX: y", ""}, {"/\tx", ""},
	} {
		got, err := identity.ReturnPath(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("ReturnPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseProviders(t *testing.T) {
	ps, err := identity.ParseProviders("id=a,issuer=https://a.example,client-id=ca,client-secret=s,name=A One; id=b,issuer=http://b.example/realm,client-id=cb")
	if err != nil || len(ps) != 2 ||
		ps[0] != (identity.ProviderConfig{ID: "a", Name: "A One", Issuer: "https://a.example", ClientID: "ca", ClientSecret: "s"}) ||
		ps[1] != (identity.ProviderConfig{ID: "b", Name: "b", Issuer: "http://b.example/realm", ClientID: "cb"}) {
		t.Fatalf("ParseProviders: %+v, %v", ps, err)
	}
	for _, bad := range []string{
		"id=a,issuer=https://a.example", "issuer=https://a.example,client-id=c", "id=A!,issuer=https://a.example,client-id=c",
		"id=a,issuer=ftp://a.example,client-id=c", "id=a,issuer=https://a.example,client-id=c,color=red", "id=a,oops",
	} {
		if _, err := identity.ParseProviders(bad); err == nil {
			t.Errorf("ParseProviders(%q) passed", bad)
		}
	}
}
