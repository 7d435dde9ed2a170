package identity_test

import (
	"encoding/base64"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/identity"
	"github.com/zanlabs/zan/internal/oidctest"
)

func TestHostTokens(t *testing.T) {
	var later atomic.Int64 // moves the service's clock
	f := newFixture(t, func(c *identity.Config) {
		c.KeyRefresh = time.Hour
		c.Now = func() time.Time { return time.Now().Add(time.Duration(later.Load())) }
	})
	ctx := t.Context()
	p := f.host
	tok := p.Token(t, oidctest.Claims{Subject: "u-1"})
	if !identity.IsJWT(tok) || identity.IsJWT("k8sJ0dQ2c1V9o6Zr1m0tYkq2aU7cR3bW5nE4xL8fGhI") {
		t.Fatal("IsJWT")
	}
	uid, err := f.svc.AuthenticateJWT(ctx, tok)
	if err != nil {
		t.Fatalf("a good token: %v", err)
	}
	u, err := f.store.User(ctx, uid)
	if err != nil || u.Phone != "" {
		t.Fatalf("the user made for it: %+v, %v", u, err)
	}
	// Another token of the same subject is the same user; another subject
	// another one.
	if again, err := f.svc.AuthenticateJWT(ctx, p.Token(t, oidctest.Claims{Subject: "u-1"})); err != nil || again != uid {
		t.Fatalf("same subject: %d, %v; want %d", again, err, uid)
	}
	if other, err := f.svc.AuthenticateJWT(ctx, p.Token(t, oidctest.Claims{Subject: "u-2"})); err != nil || other == uid {
		t.Fatalf("another subject: %d, %v", other, err)
	}

	parts := strings.Split(tok, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[0] ^= 1
	for name, bad := range map[string]string{
		"expired":         p.Token(t, oidctest.Claims{Subject: "u-1", Expiry: time.Now().Add(-2 * time.Minute)}),
		"no expiry":       p.Token(t, oidctest.Claims{Subject: "u-1", NoExpiry: true}),
		"no subject":      p.Token(t, oidctest.Claims{}),
		"wrong audience":  p.Token(t, oidctest.Claims{Subject: "u-1", Audience: "someone-else"}),
		"wrong issuer":    p.Token(t, oidctest.Claims{Subject: "u-1", Issuer: "https://evil.example"}),
		"wrongly signed":  p.Forged(t, oidctest.Claims{Subject: "u-1"}),
		"bad signature":   parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig),
		"unsigned (none)": base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".",
	} {
		if _, err := f.svc.AuthenticateJWT(ctx, bad); zan.ErrorCode(err) != zan.EUnauthorized {
			t.Errorf("%s: %v, want unauthorized", name, err)
		}
	}
	// Within the clock skew, a token just expired still passes.
	if _, err := f.svc.AuthenticateJWT(ctx, p.Token(t, oidctest.Claims{Subject: "u-1", Expiry: time.Now().Add(-10 * time.Second)})); err != nil {
		t.Fatalf("expired within the skew: %v", err)
	}

	// A token verified once and cached still ends at its expiry.
	short := p.Token(t, oidctest.Claims{Subject: "u-1", Expiry: time.Now().Add(time.Second)})
	if _, err := f.svc.AuthenticateJWT(ctx, short); err != nil {
		t.Fatal(err)
	}
	later.Store(int64(2 * time.Minute))
	if _, err := f.svc.AuthenticateJWT(ctx, short); zan.ErrorCode(err) != zan.EUnauthorized {
		t.Fatalf("a cached token past its expiry: %v", err)
	}
	later.Store(0)

	// Logout revokes a token everywhere the cache is shared.
	if err := f.svc.RevokeJWT(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticateJWT(ctx, tok); zan.ErrorCode(err) != zan.EUnauthorized {
		t.Fatalf("revoked token: %v", err)
	}
}

// TestHostKeyRotation: a token signed with a key the platform just
// published is accepted (the JWKS is fetched again), but tokens naming
// unknown keys fetch it at most once per refresh interval.
func TestHostKeyRotation(t *testing.T) {
	f := newFixture(t, func(c *identity.Config) { c.KeyRefresh = 200 * time.Millisecond })
	ctx := t.Context()
	p := f.host
	old := p.Token(t, oidctest.Claims{Subject: "u-1"})
	uid, err := f.svc.AuthenticateJWT(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond) // past the refresh interval
	p.Rotate(t, true)
	if got, err := f.svc.AuthenticateJWT(ctx, p.Token(t, oidctest.Claims{Subject: "u-1"})); err != nil || got != uid {
		t.Fatalf("a token of the new key: %d, %v", got, err)
	}
	if _, err := f.svc.AuthenticateJWT(ctx, old); err != nil {
		t.Fatalf("a token of the old key, still published: %v", err)
	}

	// A flood of tokens with made-up key ids.
	before := p.Fetches()
	other := oidctest.StartPlatform(t)
	other.Issuer = p.Issuer
	start := time.Now()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := f.svc.AuthenticateJWT(ctx, other.Token(t, oidctest.Claims{Subject: "u-1"})); zan.ErrorCode(err) != zan.EUnauthorized {
				t.Errorf("unknown key: %v", err)
			}
		})
	}
	wg.Wait()
	// One fetch per refresh interval at most (a slow machine may take more
	// than one interval for the flood).
	if n, most := p.Fetches()-before, 1+int(time.Since(start)/(200*time.Millisecond)); n > most {
		t.Fatalf("50 tokens of unknown keys fetched the JWKS %d times, want at most %d", n, most)
	}

	// The JWKS down: a token of a key zan does not hold cannot be checked
	// (503), tokens of the keys it holds still pass.
	time.Sleep(250 * time.Millisecond)
	p.FailJWKS(true)
	p.Rotate(t, true)
	if _, err := f.svc.AuthenticateJWT(ctx, p.Token(t, oidctest.Claims{Subject: "u-1"})); zan.ErrorCode(err) != zan.EUnavailable {
		t.Fatalf("unknown key while the JWKS is down: %v, want unavailable", err)
	}
	if _, err := f.svc.AuthenticateJWT(ctx, old); err != nil {
		t.Fatalf("a known key while the JWKS is down: %v", err)
	}
}

// BenchmarkAuthenticateJWT: what a request with a host token costs: the
// signature (ES256), the claims, the revocation check and the cached user.
func BenchmarkAuthenticateJWT(b *testing.B) {
	f := newFixture(b)
	tok := f.host.Token(b, oidctest.Claims{Subject: "u-1"})
	if _, err := f.svc.AuthenticateJWT(b.Context(), tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.svc.AuthenticateJWT(b.Context(), tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
