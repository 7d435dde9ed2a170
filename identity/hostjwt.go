package identity

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/maypok86/otter/v2"

	"github.com/zanlabs/zan"
)

// hostTokens accepts a host platform's JWTs: a token is verified
// (signature by a key of the platform's JWKS, issuer, audience, expiry) and
// its subject mapped to a zan user. The mapping never changes once made, so
// it is cached in process. A token's verification is cached too, for at
// most verifiedFor: a client sends the same token with every request, and
// the signature check is most of the cost (ES256: about 150 µs of CPU
// here). The tokens themselves are stateless; a logout with one revokes it
// in the shared cache until it expires, checked on every request.
type hostTokens struct {
	cfg      HostConfig
	svc      *Config
	keys     *keySet
	users    *otter.Cache[string, int64] // subject → user
	verified *otter.Cache[[32]byte, verifiedToken]
}

// verifiedToken is a token that passed verification.
type verifiedToken struct {
	subject string
	expiry  time.Time
}

// verifiedFor bounds how long a verified token is taken without checking
// it again: far below the key set's own refresh (a key the platform drops
// stops working after KeyMaxAge anyway).
const verifiedFor = time.Minute

// algorithms zan accepts in host tokens: the asymmetric ones. A JWKS holds
// public keys, so an HMAC token could only be a forgery.
var algorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

func newHostTokens(cfg HostConfig, svc *Config) (*hostTokens, error) {
	if cfg.JWKSURL == "" || cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("host tokens need a JWKS URL, an issuer and an audience")
	}
	if u, err := url.Parse(cfg.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("JWKS URL %q: want an http(s) URL", cfg.JWKSURL)
	}
	if len(cfg.Issuer) > 255 {
		return nil, errors.New("host token issuer over 255 characters")
	}
	return &hostTokens{
		cfg:  cfg,
		svc:  svc,
		keys: &keySet{url: cfg.JWKSURL, client: svc.HTTPClient, refresh: svc.KeyRefresh, maxAge: svc.KeyMaxAge},
		users: otter.Must(&otter.Options[string, int64]{
			MaximumSize: 100_000,
		}),
		verified: otter.Must(&otter.Options[[32]byte, verifiedToken]{
			MaximumSize:      100_000,
			ExpiryCalculator: otter.ExpiryWriting[[32]byte, verifiedToken](verifiedFor),
		}),
	}, nil
}

// HostTokens reports whether host-platform tokens are accepted.
func (s *Service) HostTokens() bool { return s != nil && s.host != nil }

// IsJWT reports whether a bearer token has the form of a JWT (three
// base64url parts, the first a JSON header); session tokens never do.
func IsJWT(token string) bool {
	head, rest, ok := strings.Cut(token, ".")
	if !ok || strings.Count(rest, ".") != 1 || len(head) > 1024 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	return json.Unmarshal(b, &h) == nil && h.Alg != ""
}

// errBadToken is every refusal of a host token: the reason is logged at
// debug level, not told to whoever presented it.
var errBadToken = zan.Errorf(zan.EUnauthorized, "invalid or expired token")

// AuthenticateJWT verifies a host-platform token and returns its user,
// made on first use.
func (s *Service) AuthenticateJWT(ctx context.Context, raw string) (int64, error) {
	h := s.host
	if h == nil {
		return 0, errBadToken
	}
	sum := sha256.Sum256([]byte(raw))
	v, ok := h.verified.GetIfPresent(sum)
	if !ok || !s.cfg.Now().Add(-s.cfg.ClockSkew).Before(v.expiry) {
		claims, err := h.verify(ctx, raw)
		if err != nil {
			if zan.ErrorCode(err) == zan.EUnavailable {
				return 0, err
			}
			s.logger.Debug("host token refused", "err", err)
			return 0, errBadToken
		}
		v = verifiedToken{subject: claims.Subject, expiry: claims.Expiry.Time()}
		h.verified.Set(sum, v)
	}
	revoked, err := s.revoked(ctx, sum)
	if err != nil {
		return 0, err
	}
	if revoked {
		return 0, errBadToken
	}
	if uid, ok := h.users.GetIfPresent(v.subject); ok {
		return uid, nil
	}
	u, err := s.userOf(ctx, h.cfg.Issuer, v.subject)
	if err != nil {
		return 0, err
	}
	h.users.Set(v.subject, u.ID)
	return u.ID, nil
}

// verify checks a token's signature and claims.
func (h *hostTokens) verify(ctx context.Context, raw string) (*jwt.Claims, error) {
	tok, err := jwt.ParseSigned(raw, algorithms)
	if err != nil {
		return nil, err
	}
	if len(tok.Headers) != 1 {
		return nil, errors.New("not one signature")
	}
	hdr := tok.Headers[0]
	key, err := h.keys.key(ctx, hdr.KeyID, hdr.Algorithm)
	if err != nil {
		return nil, err
	}
	var c jwt.Claims
	if err := tok.Claims(key, &c); err != nil {
		return nil, err
	}
	// Validate skips the times a token lacks: a token that never expires
	// is not accepted.
	if c.Expiry == nil || c.Subject == "" || len(c.Subject) > 255 {
		return nil, errors.New("token without exp or sub")
	}
	err = c.ValidateWithLeeway(jwt.Expected{
		Issuer: h.cfg.Issuer, AnyAudience: jwt.Audience{h.cfg.Audience}, Time: h.svc.Now(),
	}, h.svc.ClockSkew)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

const revokedKey = "jwt:revoked:"

func tokenKey(sum [32]byte) string { return revokedKey + hex.EncodeToString(sum[:]) }

func (s *Service) revoked(ctx context.Context, sum [32]byte) (bool, error) {
	_, ok, err := s.cache.Get(ctx, tokenKey(sum))
	if err != nil {
		return false, zan.Unavailable("cache", err)
	}
	return ok, nil
}

// RevokeJWT ends a host token on every node (a logout with it) until it
// expires, when it would end anyway.
func (s *Service) RevokeJWT(ctx context.Context, raw string) error {
	if s.host == nil {
		return errBadToken
	}
	c, err := s.host.verify(ctx, raw)
	if err != nil {
		return errBadToken
	}
	ttl := c.Expiry.Time().Add(s.cfg.ClockSkew).Sub(s.cfg.Now())
	if ttl <= 0 {
		return nil
	}
	if err := s.cache.Set(ctx, tokenKey(sha256.Sum256([]byte(raw))), []byte{1}, ttl); err != nil {
		return zan.Unavailable("cache", err)
	}
	return nil
}

// keySet is the platform's JWKS. A token naming a key that is not here
// makes it fetch the set again (the platform rotated its keys), but at most
// every refresh: tokens with made-up key ids must not turn zan into a
// flood of requests to the platform. Keys are also fetched again after
// maxAge, so a key the platform dropped stops working.
type keySet struct {
	url     string
	client  *http.Client
	refresh time.Duration
	maxAge  time.Duration

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	fetchedAt time.Time
	fetching  chan struct{} // closed when the fetch in flight ends
	fetchErr  error
}

// key returns the key with id kid for alg.
func (k *keySet) key(ctx context.Context, kid, alg string) (*jose.JSONWebKey, error) {
	k.mu.Lock()
	keys, age := k.keys, time.Since(k.fetchedAt)
	k.mu.Unlock()
	if key := find(keys, kid, alg); key != nil && age < k.maxAge {
		return key, nil
	}
	if age < k.refresh {
		return nil, fmt.Errorf("no key %q in the JWKS", kid)
	}
	keys, err := k.fetch(ctx)
	if key := find(keys, kid, alg); key != nil {
		return key, nil
	}
	if err != nil {
		return nil, zan.Unavailable("host JWKS", err)
	}
	return nil, fmt.Errorf("no key %q in the JWKS", kid)
}

// find returns the signing key of keys with id kid that may sign with alg.
func find(keys []jose.JSONWebKey, kid, alg string) *jose.JSONWebKey {
	for i := range keys {
		key := &keys[i]
		if key.KeyID == kid && key.Use != "enc" && (key.Algorithm == "" || key.Algorithm == alg) {
			return key
		}
	}
	return nil
}

// fetch reads the set again (one fetch at a time; others wait for it) and
// returns the keys there are then; on failure the old keys stay.
func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	if k.fetching == nil {
		if time.Since(k.fetchedAt) < k.refresh { // fetched while this caller waited for the lock
			defer k.mu.Unlock()
			return k.keys, k.fetchErr
		}
		k.fetching = make(chan struct{})
		go k.load(k.fetching)
	}
	done := k.fetching
	k.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys, k.fetchErr
}

// load fetches the set, detached from any one request.
func (k *keySet) load(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys, err := k.get(ctx)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fetchedAt, k.fetchErr, k.fetching = time.Now(), err, nil
	if err == nil {
		k.keys = keys
	}
	close(done)
}

func (k *keySet) get(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	res, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("JWKS: %s", res.Status)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	// A key of a type this library does not know is skipped, not a reason
	// to refuse the keys it does.
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if key.UnmarshalJSON(raw) == nil && key.IsPublic() && key.Valid() {
			keys = append(keys, key)
		}
	}
	return keys, nil
}
