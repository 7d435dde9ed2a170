package accounts

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/zantest"
	"github.com/zanlabs/zan/memory"
)

// outbox records the codes "sent", as an SMS gateway would receive them.
type outbox struct {
	mu   sync.Mutex
	last map[string]string
}

func (o *outbox) Send(_ context.Context, phone, code string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last[phone] = code
	return nil
}

func (o *outbox) code(phone string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last[phone]
}

func newService(t *testing.T, cfg Config) (*Service, *outbox) {
	t.Helper()
	db := zantest.Store(t)
	codes := memory.NewCodes()
	t.Cleanup(func() { codes.Close() })
	box := &outbox{last: map[string]string{}}
	return New(cfg, db, db, codes, box, zan.NewIDGen(0), nil), box
}

func login(t *testing.T, s *Service, box *outbox, phone string) (string, zan.User) {
	t.Helper()
	if _, err := s.SendCode(t.Context(), phone); err != nil {
		t.Fatal(err)
	}
	tok, u, err := s.Login(t.Context(), phone, box.code(phone))
	if err != nil {
		t.Fatal(err)
	}
	return tok, u
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		phone, want string // want "": refused
	}{
		{"13800138000", "13800138000"},
		{"+8613800138000", "13800138000"},
		{"+86 138 0013 8000", "13800138000"},
		{"138-0013-8000", "13800138000"},
		{"0086 138 0013 8000", "13800138000"},
		{" 138 0013 8000 ", "13800138000"},
		{"+86 (10) 1234-5678", "+861012345678"}, // a landline stays E.164
		{"+1 (202) 555-0123", "+12025550123"},
		{"+44 20 7946 0958", "+442079460958"},
		{"001 202 555 0123", "+12025550123"},
		{"23800138000", ""}, {"1380013800", ""}, {"138001380000", ""},
		{"+1234567", ""}, {"+1234567890123456", ""}, {"", ""}, {"1380013800a", ""},
		{"+86+13800138000", ""}, {"１３８００１３８０００", ""}, {"13800138000\x00", ""},
	}
	for _, tc := range tests {
		got, ok := NormalizePhone(tc.phone)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", tc.phone, got, ok, tc.want)
		}
	}
}

// TestPhoneFormsOneAccount: every way of writing a number signs in to the
// account its 11-digit form made before normalisation existed.
func TestPhoneFormsOneAccount(t *testing.T) {
	s, box := newService(t, Config{CodeGap: time.Nanosecond})
	_, first := login(t, s, box, "13800138000")
	for _, phone := range []string{"+86 138 0013 8000", "+8613800138000", "138-0013-8000"} {
		if _, err := s.SendCode(t.Context(), phone); err != nil {
			t.Fatalf("SendCode(%q): %v", phone, err)
		}
		_, u, err := s.Login(t.Context(), phone, box.code("13800138000"))
		if err != nil || u.ID != first.ID {
			t.Fatalf("Login(%q): user %d, %v; want the account %d", phone, u.ID, err, first.ID)
		}
	}
}

func TestLogin(t *testing.T) {
	s, box := newService(t, Config{})
	ctx := t.Context()
	if _, err := s.SendCode(ctx, "12345"); zan.ErrorCode(err) != zan.EBadRequest {
		t.Fatalf("bad phone: %v", err)
	}
	dev, err := s.SendCode(ctx, "13800138000")
	if err != nil || dev != "" {
		t.Fatalf("SendCode: %q %v (no dev code without Dev)", dev, err)
	}
	if _, err := s.SendCode(ctx, "13800138000"); zan.ErrorCode(err) != zan.ERateLimited {
		t.Fatalf("second code within a minute: %v", err)
	}
	if _, _, err := s.Login(ctx, "13800138000", "000000"); zan.ErrorCode(err) != zan.EUnauthorized {
		t.Fatalf("wrong code: %v", err)
	}
	tok, u, err := s.Login(ctx, "13800138000", box.code("13800138000"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 43 || u.ID == 0 || u.Nickname == "" {
		t.Fatalf("login: %q %+v", tok, u)
	}
	id, err := s.Authenticate(ctx, tok)
	if err != nil || id != u.ID {
		t.Fatalf("Authenticate: %d %v", id, err)
	}
}

func TestSamePhoneSameUser(t *testing.T) {
	s, box := newService(t, Config{CodeGap: time.Nanosecond})
	_, u1 := login(t, s, box, "13800138000")
	_, u2 := login(t, s, box, "13800138000")
	if u2.ID != u1.ID {
		t.Fatalf("second login made a new user: %d vs %d", u2.ID, u1.ID)
	}
}

func TestDevCode(t *testing.T) {
	s, box := newService(t, Config{Dev: true})
	dev, err := s.SendCode(t.Context(), "+8613800138000")
	// The sender gets the number in its stored form.
	if err != nil || dev == "" || dev != box.code("13800138000") {
		t.Fatalf("dev code %q, sent %q, err %v", dev, box.code("13800138000"), err)
	}
}

func TestBurnedCode(t *testing.T) {
	s, box := newService(t, Config{})
	ctx := t.Context()
	s.SendCode(ctx, "13800138001")
	for range 5 {
		s.Login(ctx, "13800138001", "999999")
	}
	if _, _, err := s.Login(ctx, "13800138001", box.code("13800138001")); zan.ErrorCode(err) != zan.EUnauthorized {
		t.Fatalf("right code after 5 wrong tries: %v", err)
	}
}

func TestSlidingSession(t *testing.T) {
	for _, cache := range []bool{false, true} {
		t.Run(map[bool]string{false: "store", true: "local cache"}[cache], func(t *testing.T) {
			s, box := newService(t, Config{LocalCache: cache})
			tok, _ := login(t, s, box, "13800138002")
			start := time.Now()
			steps := []struct {
				after time.Duration
				ok    bool
			}{
				{29 * time.Minute, true}, // slides to 59 min
				{58 * time.Minute, true}, // slides to 88 min
				{87 * time.Minute, true},
				{118 * time.Minute, false}, // 31 minutes idle
			}
			for _, st := range steps {
				s.now = func() time.Time { return start.Add(st.after) }
				_, err := s.Authenticate(t.Context(), tok)
				if (err == nil) != st.ok {
					t.Fatalf("after %v: %v, want ok=%v", st.after, err, st.ok)
				}
			}
		})
	}
}

func TestLogout(t *testing.T) {
	s, box := newService(t, Config{LocalCache: true})
	tok, _ := login(t, s, box, "13800138003")
	if _, err := s.Authenticate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if err := s.Logout(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(t.Context(), tok); zan.ErrorCode(err) != zan.EUnauthorized {
		t.Fatalf("token after logout: %v", err)
	}
	other := []byte(tok)
	other[0] ^= 1 // still base64url, another token
	for _, bad := range []string{"", "short", string(other)} {
		if _, err := s.Authenticate(t.Context(), bad); zan.ErrorCode(err) != zan.EUnauthorized {
			t.Fatalf("token %q: %v", bad, err)
		}
	}
}

// downSessions is a session store that can be cut off, as a database is
// during an outage.
type downSessions struct {
	zan.SessionStore
	mu   sync.Mutex
	down bool
}

func (d *downSessions) set(down bool) { d.mu.Lock(); d.down = down; d.mu.Unlock() }

func (d *downSessions) err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return errors.New("dial tcp: connection refused")
	}
	return nil
}

func (d *downSessions) Session(ctx context.Context, h [32]byte) (zan.Session, error) {
	if err := d.err(); err != nil {
		return zan.Session{}, err
	}
	return d.SessionStore.Session(ctx, h)
}

func (d *downSessions) TouchSession(ctx context.Context, h [32]byte, exp time.Time) error {
	if err := d.err(); err != nil {
		return err
	}
	return d.SessionStore.TouchSession(ctx, h, exp)
}

// TestSessionStoreOutage: with a local cache, a session read before the
// store went down stays good until its own expiry; without one (shared
// sessions) the answer is 503, never a 401 that would sign the user out.
func TestSessionStoreOutage(t *testing.T) {
	for _, tc := range []struct {
		cache bool
		want  string // during the outage, 10 min after the last read
	}{
		{cache: true, want: ""},
		{cache: false, want: zan.EUnavailable},
	} {
		t.Run(map[bool]string{false: "store", true: "local cache"}[tc.cache], func(t *testing.T) {
			db := zantest.Store(t)
			codes := memory.NewCodes()
			t.Cleanup(func() { codes.Close() })
			box := &outbox{last: map[string]string{}}
			sessions := &downSessions{SessionStore: db}
			s := New(Config{LocalCache: tc.cache}, db, sessions, codes, box, zan.NewIDGen(0), nil)
			tok, u := login(t, s, box, "13800138004")
			if _, err := s.Authenticate(t.Context(), tok); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			at := func(d time.Duration) (int64, error) {
				s.now = func() time.Time { return start.Add(d) }
				return s.Authenticate(t.Context(), tok)
			}
			sessions.set(true)
			if id, err := at(10 * time.Minute); zan.ErrorCode(err) != tc.want || (err == nil && id != u.ID) {
				t.Fatalf("during the outage: %v, %v; want code %q", id, err, tc.want)
			}
			if tc.cache {
				if _, err := at(31 * time.Minute); zan.ErrorCode(err) != zan.EUnauthorized {
					t.Fatalf("past the session's own expiry: %v", err)
				}
				return
			}
			sessions.set(false)
			if _, err := at(11 * time.Minute); err != nil {
				t.Fatalf("the store back: %v", err)
			}
		})
	}
}

func TestSetNickname(t *testing.T) {
	s, box := newService(t, Config{})
	_, u := login(t, s, box, "13800138000")
	tests := []struct {
		name, in, want, code string
	}{
		{"plain", "ann", "ann", ""},
		{"trimmed", "  小兰 ", "小兰", ""},
		{"32 characters", strings.Repeat("名", 32), strings.Repeat("名", 32), ""},
		{"emoji", "🍜 lover", "🍜 lover", ""},
		{"empty", "", "", zan.EBadRequest},
		{"blank", " \t ", "", zan.EBadRequest},
		{"33 characters", strings.Repeat("名", 33), "", zan.EBadRequest},
		{"newline", "a\nb", "", zan.EBadRequest},
		{"NUL", "a\x00b", "", zan.EBadRequest},
		{"right-to-left override", "a\u202eb", "", zan.EBadRequest},
		{"zero-width space", "a\u200bb", "", zan.EBadRequest},
		{"invalid UTF-8", "a\xffb", "", zan.EBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.SetNickname(t.Context(), u.ID, tc.in)
			if zan.ErrorCode(err) != tc.code {
				t.Fatalf("code %q, want %q (%v)", zan.ErrorCode(err), tc.code, err)
			}
			if err == nil && (got.Nickname != tc.want || got.ID != u.ID) {
				t.Fatalf("user %+v, want nickname %q", got, tc.want)
			}
		})
	}
	if _, err := s.SetNickname(t.Context(), u.ID+999, "x"); !zan.IsNotFound(err) {
		t.Fatalf("missing user: %v", err)
	}
}
