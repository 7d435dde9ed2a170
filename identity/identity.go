// Package identity is sign-in through others: OpenID Connect providers
// (authorization code flow with PKCE, state and nonce; go-oidc and
// x/oauth2 do the protocol and the ID token checks) and a host platform
// whose own JWTs zan accepts as bearer tokens (go-jose verifies them
// against the platform's JWKS). Either way an outside (issuer, subject)
// maps to one zan user, created on first use.
package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/accounts"
)

// ProviderConfig is one OpenID provider: the issuer (whose discovery
// document gives the endpoints and keys), the client registered there and
// the name shown on the sign-in button.
type ProviderConfig struct {
	ID           string
	Name         string
	Issuer       string
	ClientID     string
	ClientSecret string
}

// HostConfig is a host platform whose tokens are accepted: JWTs signed by
// a key of JWKSURL, with this issuer and audience. Zero: none.
type HostConfig struct {
	JWKSURL  string
	Issuer   string
	Audience string
}

// Config tunes the service; zero durations take the defaults.
type Config struct {
	Providers []ProviderConfig
	Host      HostConfig
	// PublicURL is the site's address as browsers reach it
	// ("https://zan.example.com"): callback URLs registered with providers
	// start with it. Empty: taken from each request's Host header.
	PublicURL string
	FlowTTL   time.Duration // 10 min: a sign-in started and not finished
	CodeTTL   time.Duration // 1 min: the one-time code the app exchanges
	ClockSkew time.Duration // 1 min: leeway on token times
	// HTTPClient talks to the providers and the JWKS; default: 10 s timeout.
	HTTPClient *http.Client
	// KeyRefresh bounds how often an unknown key makes the platform's JWKS
	// be fetched again (5 s), and KeyMaxAge how long keys are kept before
	// they are fetched again anyway (15 min).
	KeyRefresh time.Duration
	KeyMaxAge  time.Duration
	// Now is the clock that token times are checked with (tests move it).
	Now func() time.Time
}

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.FlowTTL, 10*time.Minute)
	set(&c.CodeTTL, time.Minute)
	set(&c.ClockSkew, time.Minute)
	set(&c.KeyRefresh, 5*time.Second)
	set(&c.KeyMaxAge, 15*time.Minute)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Store is what the service keeps in the SQL store.
type Store interface {
	zan.UserStore
	zan.IdentityStore
}

// Service signs users in through providers and host tokens.
type Service struct {
	cfg       Config
	store     Store
	cache     zan.Cache
	accounts  *accounts.Service
	ids       *zan.IDGen
	logger    *slog.Logger
	providers []*provider // in configuration order
	host      *hostTokens // nil: host tokens not accepted
}

// New returns the service. cache holds the sign-in flows and one-time codes
// and must be shared by every node (Redis in scale-out).
func New(cfg Config, store Store, cache zan.Cache, acc *accounts.Service, ids *zan.IDGen, logger *slog.Logger) (*Service, error) {
	cfg.defaults()
	if logger == nil {
		logger = slog.Default()
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
			return nil, fmt.Errorf("public URL %q: want http(s)://host[:port]", cfg.PublicURL)
		}
		cfg.PublicURL = u.Scheme + "://" + u.Host
	}
	s := &Service{cfg: cfg, store: store, cache: cache, accounts: acc, ids: ids, logger: logger}
	for _, pc := range cfg.Providers {
		if err := pc.validate(); err != nil {
			return nil, err
		}
		if slices.ContainsFunc(s.providers, func(p *provider) bool { return p.cfg.ID == pc.ID }) {
			return nil, fmt.Errorf("OpenID provider %q configured twice", pc.ID)
		}
		s.providers = append(s.providers, newProvider(pc, &s.cfg))
	}
	if cfg.Host != (HostConfig{}) {
		h, err := newHostTokens(cfg.Host, &s.cfg)
		if err != nil {
			return nil, err
		}
		s.host = h
	}
	return s, nil
}

// Provider is a configured provider as clients see it.
type Provider struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Providers lists the configured providers in configuration order.
func (s *Service) Providers() []Provider {
	out := make([]Provider, len(s.providers))
	for i, p := range s.providers {
		out[i] = Provider{ID: p.cfg.ID, Name: p.cfg.Name}
	}
	return out
}

func (s *Service) provider(id string) (*provider, error) {
	for _, p := range s.providers {
		if p.cfg.ID == id {
			return p, nil
		}
	}
	return nil, zan.Errorf(zan.ENotFound, "no sign-in provider %q", id)
}

// Linked is one of a user's identities.
type Linked struct {
	Provider string // the configured provider of its issuer; "" for none (a host platform)
	Name     string // the provider's name
	Issuer   string
	LinkedAt time.Time
}

// Ways lists a user's ways in: a phone, and identities.
func (s *Service) Ways(ctx context.Context, user int64) (hasPhone bool, linked []Linked, err error) {
	u, err := s.store.User(ctx, user)
	if err != nil {
		return false, nil, storeErr(err)
	}
	ids, err := s.store.Identities(ctx, user)
	if err != nil {
		return false, nil, storeErr(err)
	}
	linked = make([]Linked, 0, len(ids))
	for _, id := range ids {
		l := Linked{Issuer: id.Issuer, LinkedAt: id.CreatedAt}
		for _, p := range s.providers {
			if p.cfg.Issuer == id.Issuer {
				l.Provider, l.Name = p.cfg.ID, p.cfg.Name
				break
			}
		}
		linked = append(linked, l)
	}
	return u.Phone != "", linked, nil
}

// Unlink removes user's identity at a provider; never the last way in.
func (s *Service) Unlink(ctx context.Context, user int64, providerID string) error {
	p, err := s.provider(providerID)
	if err != nil {
		return err
	}
	return storeErr(s.store.UnlinkIdentity(ctx, user, p.cfg.Issuer))
}

// userOf returns the user of (issuer, subject), making one on first use.
func (s *Service) userOf(ctx context.Context, issuer, subject string) (zan.User, error) {
	now := time.Now().UTC()
	u, err := s.store.EnsureIdentityUser(ctx,
		zan.Identity{Issuer: issuer, Subject: subject, CreatedAt: now},
		zan.User{ID: s.ids.Next(), Nickname: accounts.NewNickname(), CreatedAt: now})
	return u, storeErr(err)
}

// storeErr gives store errors without a code the code unavailable.
func storeErr(err error) error { return zan.Unavailable("store", err) }

// random returns n random bytes, base64url without padding.
func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// take reads and consumes a one-time entry of the shared cache: of
// concurrent takers, on any node, exactly one gets it. The claim is a lock
// that is never released, only expires; the entry is deleted after it.
func (s *Service) take(ctx context.Context, key string, ttl time.Duration) ([]byte, bool, error) {
	v, ok, err := s.cache.Get(ctx, key)
	if err != nil || !ok {
		return nil, false, err
	}
	_, won, err := s.cache.TryLock(ctx, key+":taken", ttl)
	if err != nil || !won {
		return nil, false, err
	}
	if err := s.cache.Delete(ctx, key); err != nil {
		s.logger.Debug("deleting a taken entry", "err", err) // the claim already stops a second use
	}
	return v, true, nil
}

// NewBrowserBinding returns a new value for the cookie that binds sign-ins
// to a browser (see flow).
func NewBrowserBinding() string { return random(32) }
