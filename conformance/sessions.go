package conformance

import (
	"testing"
	"time"

	"github.com/zanlabs/zan"
)

// TestSessionStore runs the session suite shared by the SQL stores (which
// keep expired rows until DeleteExpiredSessions) and Redis (which expires
// keys itself). Times are at millisecond precision, the coarser of the two.
func TestSessionStore(t *testing.T, open func(t *testing.T) zan.SessionStore) {
	s := open(t)
	ctx := t.Context()
	ms := func(d time.Duration) time.Time { return time.Now().Add(d).Truncate(time.Millisecond).UTC() }
	tok := func(name string) [32]byte { return hash(unique(name)) }

	live := zan.Session{TokenHash: tok("live"), UserID: 7, ExpiresAt: ms(time.Hour)}
	expired := zan.Session{TokenHash: tok("expired"), UserID: 8, ExpiresAt: ms(-time.Hour)}
	short := zan.Session{TokenHash: tok("short"), UserID: 9, ExpiresAt: ms(150 * time.Millisecond)}
	for _, ss := range []zan.Session{live, expired, short} {
		must(t, s.CreateSession(ctx, ss))
	}
	got, err := s.Session(ctx, live.TokenHash)
	if err != nil || got.UserID != 7 || got.TokenHash != live.TokenHash || !got.ExpiresAt.Equal(live.ExpiresAt) {
		t.Fatalf("Session: %+v, %v; want %+v", got, err, live)
	}
	for name, h := range map[string][32]byte{"missing": tok("missing"), "expired": expired.TokenHash} {
		if _, err := s.Session(ctx, h); !zan.IsNotFound(err) {
			t.Fatalf("Session(%s): %v, want not_found", name, err)
		}
	}

	later := ms(2 * time.Hour)
	must(t, s.TouchSession(ctx, live.TokenHash, later))
	if got, err := s.Session(ctx, live.TokenHash); err != nil || !got.ExpiresAt.Equal(later) {
		t.Fatalf("Session after touch: %+v, %v; want expiry %v", got, err, later)
	}
	missing := tok("missing")
	must(t, s.TouchSession(ctx, missing, later))
	if _, err := s.Session(ctx, missing); !zan.IsNotFound(err) {
		t.Fatalf("touching a missing session created it: %v", err)
	}

	time.Sleep(250 * time.Millisecond)
	if _, err := s.Session(ctx, short.TokenHash); !zan.IsNotFound(err) {
		t.Fatalf("Session after its expiry: %v, want not_found", err)
	}
	if _, err := s.DeleteExpiredSessions(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, live.TokenHash); err != nil {
		t.Fatalf("live session after DeleteExpiredSessions: %v", err)
	}
	must(t, s.DeleteSession(ctx, live.TokenHash))
	if _, err := s.Session(ctx, live.TokenHash); !zan.IsNotFound(err) {
		t.Fatalf("Session after delete: %v, want not_found", err)
	}
	must(t, s.DeleteSession(ctx, live.TokenHash)) // twice: no error
}
