// Package oidctest runs, in the test process, the outside parties of
// third-party sign-in: an OpenID provider (mockoidc: discovery, the
// authorization code flow with PKCE, ID tokens signed by a key of its JWKS,
// codes that work once) and a host platform (a JWKS URL and tokens signed
// with go-jose), with the knobs the tests turn: who signs in next, key
// rotation, a JWKS that does not hold the signing key, the provider's clock.
package oidctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/zanlabs/zan/identity"
)

// Provider is an OpenID provider.
type Provider struct {
	m *mockoidc.MockOIDC
	// mu serialises the provider's requests with the tests' changes to it:
	// mockoidc keeps its sessions, keys and clock in plain fields.
	mu       sync.Mutex
	jwks     []byte // served instead of the signing key's set when set
	requests map[string]int
}

// Start runs a provider until the test ends.
func Start(t testing.TB) *Provider {
	t.Helper()
	m, err := mockoidc.NewServer(newRSA(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Keypair.KeyID(); err != nil { // computed once, before requests can race on it
		t.Fatal(err)
	}
	p := &Provider{m: m, requests: map[string]int{}}
	err = m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.requests[r.URL.Path]++
			if r.URL.Path == mockoidc.JWKSEndpoint && p.jwks != nil {
				w.Header().Set("Content-Type", "application/json")
				w.Write(p.jwks)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	return p
}

func newRSA(t testing.TB) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Issuer is the provider's issuer URL.
func (p *Provider) Issuer() string { return p.m.Issuer() }

// Config is the provider as zan is configured with it.
func (p *Provider) Config(id, name string) identity.ProviderConfig {
	return identity.ProviderConfig{ID: id, Name: name, Issuer: p.m.Issuer(), ClientID: p.m.ClientID, ClientSecret: p.m.ClientSecret}
}

// Flag is the provider as --oidc-provider takes it.
func (p *Provider) Flag(id, name string) string {
	return "id=" + id + ",issuer=" + p.m.Issuer() + ",client-id=" + p.m.ClientID + ",client-secret=" + p.m.ClientSecret + ",name=" + name
}

// Next makes subject the user of the next authorization.
func (p *Provider) Next(subject string) {
	p.m.QueueUser(&mockoidc.MockUser{Subject: subject})
}

// Rotate makes the provider sign with a new key, published in its JWKS
// instead of the old one.
func (p *Provider) Rotate(t testing.TB) {
	kp, err := mockoidc.NewKeypair(newRSA(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kp.KeyID(); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m.Keypair, p.jwks = kp, nil
}

// PublishOther makes the JWKS hold another key under the signing key's
// id: the provider's ID tokens are then wrongly signed. Undone by Rotate.
func (p *Provider) PublishOther(t testing.TB) {
	other := newRSA(t)
	p.mu.Lock()
	defer p.mu.Unlock()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &other.PublicKey, KeyID: p.m.Keypair.Kid, Algorithm: string(jose.RS256), Use: "sig"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	p.jwks = b
}

// Shift moves the provider's clock: with a negative d its ID tokens are
// issued already expired.
func (p *Provider) Shift(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m.FastForward(d)
}

// Requests reports how often a path of the provider was requested.
func (p *Provider) Requests(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests[path]
}

// JWKSPath is the path of the provider's JWKS.
const JWKSPath = mockoidc.JWKSEndpoint

// Platform is a host platform: it signs its users' tokens and publishes
// its public keys at a JWKS URL.
type Platform struct {
	Issuer, Audience string

	srv      *httptest.Server
	mu       sync.Mutex
	signer   jose.Signer
	kid      string
	keys     []jose.JSONWebKey // published
	fetches  int
	failJWKS bool
}

// StartPlatform runs a platform until the test ends.
func StartPlatform(t testing.TB) *Platform {
	t.Helper()
	p := &Platform{Issuer: "https://platform.example", Audience: "zan"}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.fetches++
		if p.failJWKS {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: p.keys})
	}))
	t.Cleanup(p.srv.Close)
	p.Rotate(t, false)
	return p
}

// JWKSURL is the platform's JWKS URL.
func (p *Platform) JWKSURL() string { return p.srv.URL + "/.well-known/jwks.json" }

// Rotate signs with a new key (ES256) from now on; keepOld keeps the old
// key published beside it, as a platform does while old tokens live.
func (p *Platform) Rotate(t testing.TB, keepOld bool) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid := rand.Text()[:12]
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !keepOld {
		p.keys = nil
	}
	p.signer, p.kid, p.keys = s, kid, append(p.keys, pub)
}

// Claims of a token; zero fields take the platform's defaults.
type Claims struct {
	Subject  string
	Issuer   string
	Audience string
	Expiry   time.Time // zero: an hour from now
	NoExpiry bool
}

// Token signs claims with the platform's current key.
func (p *Platform) Token(t testing.TB, c Claims) string {
	p.mu.Lock()
	s := p.signer
	p.mu.Unlock()
	return sign(t, s, p, c)
}

// Forged signs claims with a key the platform never published, under the
// id of the platform's current key.
func (p *Platform) Forged(t testing.TB, c Claims) string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	kid := p.kid
	p.mu.Unlock()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, s, p, c)
}

func sign(t testing.TB, s jose.Signer, p *Platform, c Claims) string {
	if c.Issuer == "" {
		c.Issuer = p.Issuer
	}
	if c.Audience == "" {
		c.Audience = p.Audience
	}
	if c.Expiry.IsZero() {
		c.Expiry = time.Now().Add(time.Hour)
	}
	claims := jwt.Claims{
		Subject: c.Subject, Issuer: c.Issuer, Audience: jwt.Audience{c.Audience},
		IssuedAt: jwt.NewNumericDate(time.Now()),
	}
	if !c.NoExpiry {
		claims.Expiry = jwt.NewNumericDate(c.Expiry)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Fetches reports how often the JWKS was fetched.
func (p *Platform) Fetches() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fetches
}

// FailJWKS makes the JWKS URL answer 503 (or work again).
func (p *Platform) FailJWKS(fail bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failJWKS = fail
}
