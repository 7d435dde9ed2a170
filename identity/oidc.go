package identity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/zanlabs/zan"
)

// provider is one configured OpenID provider. Its discovery document is
// read on first use, not at start: a provider that is down must not keep
// zan from serving; until it answers, its sign-ins answer 503.
type provider struct {
	cfg ProviderConfig
	svc *Config

	mu       sync.Mutex
	op       *oidc.Provider
	verifier *oidc.IDTokenVerifier
	failedAt time.Time // last failed discovery: retried at most every 2 s
	failure  error
}

func newProvider(cfg ProviderConfig, svc *Config) *provider { return &provider{cfg: cfg, svc: svc} }

func (c ProviderConfig) validate() error {
	switch {
	case !validID(c.ID):
		return fmt.Errorf("OpenID provider id %q: want 1-32 of a-z, 0-9, - and _", c.ID)
	case c.Issuer == "" || c.ClientID == "":
		return fmt.Errorf("OpenID provider %q: issuer and client-id are required", c.ID)
	case len(c.Issuer) > 255:
		return fmt.Errorf("OpenID provider %q: issuer over 255 characters", c.ID)
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("OpenID provider %q: issuer must be an http(s) URL", c.ID)
	}
	return nil
}

func validID(id string) bool {
	if len(id) == 0 || len(id) > 32 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// discover returns the provider's endpoints and ID token verifier.
func (p *provider) discover(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.op != nil {
		return p.op, p.verifier, nil
	}
	if time.Since(p.failedAt) < 2*time.Second {
		return nil, nil, p.failure
	}
	// The provider keeps this context's HTTP client for its key set.
	op, err := oidc.NewProvider(oidc.ClientContext(context.WithoutCancel(ctx), p.svc.HTTPClient), p.cfg.Issuer)
	if err != nil {
		p.failedAt = time.Now()
		p.failure = zan.Unavailable("OpenID provider "+p.cfg.ID, err)
		return nil, nil, p.failure
	}
	skew, now := p.svc.ClockSkew, p.svc.Now
	// go-oidc allows no leeway on the expiry; checking it against a clock
	// set back by the skew is that leeway. The key set fetches the JWKS
	// again when a token names a key it does not hold: key rotation.
	p.op = op
	p.verifier = op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID, Now: func() time.Time { return now().Add(-skew) }})
	return p.op, p.verifier, nil
}

func (p *provider) oauth2(op *oidc.Provider, redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret,
		Endpoint: op.Endpoint(), RedirectURL: redirectURI,
		// Only who the user is at the provider: no profile, no e-mail.
		Scopes: []string{oidc.ScopeOpenID},
	}
}

// flow is a sign-in between its start and the provider's answer. It lives
// in the shared cache (Redis in scale-out, the process in embedded mode),
// keyed by its state, for FlowTTL, and is taken once: the callback may
// reach any node, and a replayed callback finds nothing. Kept server-side
// rather than in an encrypted cookie, so no key has to be shared by the
// nodes and single use is enforced here, not only by the provider.
type flow struct {
	Provider    string `json:"p"`
	Nonce       string `json:"n"`
	Verifier    string `json:"v"` // PKCE
	ReturnTo    string `json:"r"`
	RedirectURI string `json:"u"`
	// Browser is the SHA-256 of the browser's binding cookie: a callback
	// must come from the browser that started the flow, or an attacker
	// could have a victim finish a sign-in the attacker started (login
	// CSRF) and use zan under the attacker's account.
	Browser string `json:"b"`
	Link    int64  `json:"l,omitempty"` // linking to this user; 0: signing in
}

const (
	flowKey = "oidc:flow:"
	codeKey = "oidc:code:"
)

// StartRequest starts a sign-in (or, with Link, the linking of a provider
// to Link's account).
type StartRequest struct {
	ReturnTo string // a path on this site; "" is "/"
	Browser  string // the browser's binding cookie
	Base     string // the site's address as this request reached it (used without PublicURL)
	Link     int64
}

// Start begins a sign-in at providerID and returns the provider's URL to
// send the browser to.
func (s *Service) Start(ctx context.Context, providerID string, req StartRequest) (string, error) {
	p, err := s.provider(providerID)
	if err != nil {
		return "", err
	}
	ret, err := ReturnPath(req.ReturnTo)
	if err != nil {
		return "", err
	}
	if req.Browser == "" {
		return "", zan.Errorf(zan.EBadRequest, "no browser binding")
	}
	op, _, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	base := s.SiteBase(req.Base)
	f := flow{
		Provider: p.cfg.ID, Nonce: random(24), Verifier: oauth2.GenerateVerifier(), ReturnTo: ret,
		RedirectURI: base + "/api/v1/auth/oidc/" + p.cfg.ID + "/callback", Browser: browserHash(req.Browser), Link: req.Link,
	}
	b, _ := json.Marshal(f)
	state := random(32)
	if err := s.cache.Set(ctx, flowKey+state, b, s.cfg.FlowTTL); err != nil {
		return "", zan.Unavailable("cache", err)
	}
	return p.oauth2(op, f.RedirectURI).AuthCodeURL(state, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), nil
}

// SiteBase is the site's address: the configured public URL, or the one
// the request reached (requestBase) without one.
func (s *Service) SiteBase(requestBase string) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	return requestBase
}

func browserHash(b string) string {
	h := sha256.Sum256([]byte(b))
	return fmt.Sprintf("%x", h)
}

// ReturnPath checks where a sign-in may return to: a path on this site,
// with an optional query, never another site ("//host", "/\host", a
// scheme) and without a fragment (the sign-in's answer goes there).
func ReturnPath(s string) (string, error) {
	if s == "" {
		return "/", nil
	}
	bad := zan.Errorf(zan.EBadRequest, "return_to must be a path on this site (starting with a single /, no fragment)")
	if len(s) > 2048 || s[0] != '/' || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\#") {
		return "", bad
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", bad
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", bad
	}
	return s, nil
}

// Callback finishes the sign-in that the provider answered (the query of
// its redirect, q) and returns where to send the browser: the flow's
// return path with a fragment the web app reads, which never reaches a
// server's log:
//
//	#zan_oidc=<one-time code>   signed in: POST it to /auth/oidc/exchange
//	#zan_oidc_linked=<provider> the provider was linked to the account
//	#zan_oidc_error=<code>      access_denied, provider_error, invalid_token,
//	                            exchange_failed, conflict or unavailable
//
// A state that is missing, unknown, used, of another provider or started in
// another browser is an error (bad_request): then nothing in the request
// can be trusted to say where to return to.
func (s *Service) Callback(ctx context.Context, providerID string, q url.Values, browser string) (string, error) {
	p, err := s.provider(providerID)
	if err != nil {
		return "", err
	}
	state := q.Get("state")
	if state == "" || len(state) > 128 {
		return "", zan.Errorf(zan.EBadRequest, "missing or malformed state")
	}
	raw, ok, err := s.take(ctx, flowKey+state, s.cfg.FlowTTL)
	if err != nil {
		return "", zan.Unavailable("cache", err)
	}
	var f flow
	if !ok || json.Unmarshal(raw, &f) != nil {
		return "", zan.Errorf(zan.EBadRequest, "this sign-in is unknown, expired or already finished: start again")
	}
	if f.Provider != p.cfg.ID {
		return "", zan.Errorf(zan.EBadRequest, "this sign-in was started with another provider")
	}
	if subtle.ConstantTimeCompare([]byte(browserHash(browser)), []byte(f.Browser)) != 1 {
		return "", zan.Errorf(zan.EBadRequest, "this sign-in was started in another browser: start again")
	}
	fail := func(code, why string, err error) (string, error) {
		s.logger.Info("OpenID sign-in failed", "provider", p.cfg.ID, "reason", code, "detail", why, "err", err)
		return f.ReturnTo + "#zan_oidc_error=" + code, nil
	}
	if e := q.Get("error"); e != "" {
		code := "provider_error"
		if e == "access_denied" {
			code = e
		}
		return fail(code, "the provider answered "+e+": "+q.Get("error_description"), nil)
	}
	code := q.Get("code")
	if code == "" {
		return fail("provider_error", "no code in the answer", nil)
	}
	op, verifier, err := p.discover(ctx)
	if err != nil {
		return fail("unavailable", "discovery", err)
	}
	tok, err := p.oauth2(op, f.RedirectURI).Exchange(oidc.ClientContext(ctx, s.cfg.HTTPClient), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			// The provider refused the code: used before, expired, or not
			// issued for this verifier.
			return fail("exchange_failed", "the token endpoint refused the code", err)
		}
		return fail("unavailable", "token endpoint", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return fail("invalid_token", "no ID token", nil)
	}
	idt, err := verifier.Verify(ctx, rawID)
	if err != nil {
		return fail("invalid_token", "ID token verification", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return fail("invalid_token", "the ID token's nonce is not this sign-in's", nil)
	}
	// go-oidc checks that zan is among the audiences; with others there too,
	// the token must have been issued to zan (OpenID Connect Core 3.1.3.7).
	var azp struct {
		Azp string `json:"azp"`
	}
	if err := idt.Claims(&azp); err != nil || (len(idt.Audience) > 1 && azp.Azp != p.cfg.ClientID) {
		return fail("invalid_token", "the ID token was issued to another party", err)
	}
	if idt.Subject == "" || len(idt.Subject) > 255 {
		return fail("invalid_token", "the ID token has no usable subject", nil)
	}

	if f.Link != 0 {
		err := s.store.LinkIdentity(ctx, zan.Identity{Issuer: p.cfg.Issuer, Subject: idt.Subject, UserID: f.Link, CreatedAt: time.Now().UTC()})
		switch zan.ErrorCode(err) {
		case "":
			return f.ReturnTo + "#zan_oidc_linked=" + p.cfg.ID, nil
		case zan.EConflict, zan.ENotFound:
			return fail("conflict", zan.ErrorMessage(err), nil)
		default:
			return fail("unavailable", "linking", err)
		}
	}
	u, err := s.userOf(ctx, p.cfg.Issuer, idt.Subject)
	if err != nil {
		return fail("unavailable", "store", err)
	}
	one := random(32)
	if err := s.cache.Set(ctx, codeKey+one, []byte(fmt.Sprint(u.ID)), s.cfg.CodeTTL); err != nil {
		return fail("unavailable", "cache", err)
	}
	return f.ReturnTo + "#zan_oidc=" + one, nil
}

// Exchange trades the one-time code of a finished sign-in for a session:
// the token the web app then keeps, as after an SMS login.
func (s *Service) Exchange(ctx context.Context, code string) (string, zan.User, error) {
	if code == "" || len(code) > 128 {
		return "", zan.User{}, zan.Errorf(zan.EBadRequest, "missing or malformed code")
	}
	raw, ok, err := s.take(ctx, codeKey+code, s.cfg.CodeTTL)
	if err != nil {
		return "", zan.User{}, zan.Unavailable("cache", err)
	}
	var uid int64
	if !ok || json.Unmarshal(raw, &uid) != nil {
		return "", zan.User{}, zan.Errorf(zan.EUnauthorized, "unknown, expired or used sign-in code")
	}
	u, err := s.store.User(ctx, uid)
	if err != nil {
		return "", zan.User{}, storeErr(err)
	}
	token, err := s.accounts.OpenSession(ctx, uid)
	if err != nil {
		return "", zan.User{}, err
	}
	return token, u, nil
}
