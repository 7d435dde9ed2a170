// Package accounts is SMS-code login and sliding sessions.
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"math/big"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/maypok86/otter/v2"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// Sender delivers a login code to a phone.
type Sender interface {
	Send(ctx context.Context, phone, code string) error
}

// Config tunes the service; zero fields take the defaults.
type Config struct {
	CodeTTL    time.Duration // 5 min
	CodeGap    time.Duration // 60 s between codes for one phone
	MaxTries   int           // 5 wrong tries burn a code
	SessionTTL time.Duration // 30 min without use
	// TouchEvery: a session's expiry is moved at most this often, so a busy
	// client does not write its session on every request (expiry is exact
	// to within this).
	TouchEvery time.Duration // 1 min
	// LocalCache keeps sessions in process, read again from the store
	// every CacheTTL. Only when one process owns the sessions: with shared
	// ones a logout on another node must end the token at once. While the
	// store cannot be reached, a session read earlier stays good until its
	// own expiry (stale-if-error): the store being down must not sign
	// everyone out of a service that writes likes behind it. The price is
	// that a session deleted in the store by hand during an outage is
	// honoured until the store answers again; a logout through this
	// process forgets the session at once.
	LocalCache bool
	CacheTTL   time.Duration // 1 s
	// Dev returns codes to the caller (serve --dev).
	Dev bool
	// Limit is the per-user bucket for blog creation and other writes.
	Limit zan.Limit
	// SessionTimeout bounds each read or touch of a session in the store
	// (default 1 s, the hot state's own bound): a Redis that hangs must
	// make requests fail fast, not wait for it.
	SessionTimeout time.Duration
}

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.CodeTTL, 5*time.Minute)
	set(&c.CodeGap, time.Minute)
	set(&c.SessionTTL, 30*time.Minute)
	set(&c.TouchEvery, time.Minute)
	set(&c.CacheTTL, time.Second)
	set(&c.SessionTimeout, time.Second)
	if c.MaxTries <= 0 {
		c.MaxTries = 5
	}
}

// Service is the account service.
type Service struct {
	cfg      Config
	users    zan.UserStore
	sessions zan.SessionStore
	codes    zan.CodeStore
	sender   Sender
	ids      *zan.IDGen
	logger   *slog.Logger
	cache    *otter.Cache[[32]byte, cachedSession]
	now      func() time.Time
}

// New returns an account service.
func New(cfg Config, users zan.UserStore, sessions zan.SessionStore, codes zan.CodeStore, sender Sender, ids *zan.IDGen, logger *slog.Logger) *Service {
	cfg.defaults()
	if logger == nil {
		logger = slog.Default()
	}
	s := &Service{cfg: cfg, users: users, sessions: sessions, codes: codes, sender: sender, ids: ids, logger: logger, now: time.Now}
	if cfg.LocalCache {
		// Entries live as long as a session can without a touch (each
		// touch writes the entry again); CacheTTL is how often they are
		// checked against the store.
		s.cache = otter.Must(&otter.Options[[32]byte, cachedSession]{
			MaximumSize:      100_000,
			ExpiryCalculator: otter.ExpiryWriting[[32]byte, cachedSession](cfg.SessionTTL),
		})
	}
	return s
}

var sixDigits = regexp.MustCompile(`^[0-9]{6}$`)

// SendCode issues a login code for phone. In dev mode it returns the code.
func (s *Service) SendCode(ctx context.Context, phone string) (devCode string, err error) {
	phone, ok := NormalizePhone(phone)
	if !ok {
		return "", zan.Errorf(zan.EBadRequest, "phone must be 11 digits starting with 1, or + and 8-15 digits")
	}
	code := randomDigits(6)
	if err := s.codes.IssueCode(ctx, phone, code, s.cfg.CodeTTL, s.cfg.CodeGap); err != nil {
		if zan.ErrorCode(err) == zan.ERateLimited {
			metrics.RateLimited.WithLabelValues("sms_code").Inc()
			return "", err
		}
		return "", zan.Unavailable("code store", err)
	}
	if err := s.sender.Send(ctx, phone, code); err != nil {
		return "", zan.Unavailable("sms sender", err)
	}
	if s.cfg.Dev {
		return code, nil
	}
	return "", nil
}

// Login checks the code and opens a session; the first login creates the
// user. It returns the bearer token, which is never stored: only its hash.
func (s *Service) Login(ctx context.Context, phone, code string) (string, zan.User, error) {
	phone, ok := NormalizePhone(phone)
	if !ok {
		return "", zan.User{}, zan.Errorf(zan.EBadRequest, "invalid phone")
	}
	if !sixDigits.MatchString(code) {
		return "", zan.User{}, zan.Errorf(zan.EBadRequest, "code must be 6 digits")
	}
	ok, err := s.codes.VerifyCode(ctx, phone, code, s.cfg.MaxTries)
	if err != nil {
		return "", zan.User{}, zan.Unavailable("code store", err)
	}
	if !ok {
		return "", zan.User{}, zan.Errorf(zan.EUnauthorized, "wrong or expired code")
	}
	now := s.now().UTC()
	u, err := s.users.EnsureUser(ctx, zan.User{
		ID: s.ids.Next(), Phone: phone, Nickname: NewNickname(), CreatedAt: now,
	})
	if err != nil {
		return "", zan.User{}, zan.Unavailable("store", err)
	}
	token, err := s.OpenSession(ctx, u.ID)
	if err != nil {
		return "", zan.User{}, err
	}
	return token, u, nil
}

// OpenSession signs user in: it returns the bearer token of a new session,
// which is never stored (only its hash). Every way in (SMS code, OpenID
// Connect) ends here, so their sessions behave alike.
func (s *Service) OpenSession(ctx context.Context, user int64) (string, error) {
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	sess := zan.Session{TokenHash: hashToken(token), UserID: user, ExpiresAt: s.now().UTC().Add(s.cfg.SessionTTL)}
	if err := s.sessions.CreateSession(ctx, sess); err != nil {
		return "", zan.Unavailable("store", err)
	}
	return token, nil
}

// NewNickname returns a random public name for a new user: nothing of the
// phone or of a third party's profile is shown to others.
func NewNickname() string { return "user_" + randomBase36(8) }

// Authenticate returns the user id of a live session and slides its expiry.
func (s *Service) Authenticate(ctx context.Context, token string) (int64, error) {
	if len(token) != 43 { // 32 bytes, base64url without padding
		return 0, errUnauthorized
	}
	h := hashToken(token)
	now := s.now()
	var c cachedSession
	known, cached := false, false
	if s.cache != nil {
		c, known = s.cache.GetIfPresent(h)
		cached = known && c.ExpiresAt.After(now)
	}
	sess := c.Session
	if !cached || now.Sub(c.checked) >= s.cfg.CacheTTL {
		sctx, cancel := context.WithTimeout(ctx, s.cfg.SessionTimeout)
		fresh, err := s.sessions.Session(sctx, h)
		cancel()
		switch {
		case zan.IsNotFound(err):
			s.forget(h)
			return 0, errUnauthorized
		case err != nil && cached:
			// Stale-if-error (see Config.LocalCache); asked again after
			// CacheTTL, so a hanging store is not waited for on every request.
			s.logger.Debug("session store unreachable; using the session read earlier", "err", err)
			cached = false
		case err != nil && known:
			// Expired by the expiry this process gave it, and nothing could
			// have slid it since (this process owns the sessions).
			return 0, errUnauthorized
		case err != nil:
			return 0, zan.Unavailable("session store", err)
		default:
			if !fresh.ExpiresAt.After(now) {
				s.forget(h)
				return 0, errUnauthorized
			}
			sess, cached = fresh, false
		}
	}
	retryTouch := now.Sub(c.touchFailed) >= s.cfg.CacheTTL
	if exp := now.Add(s.cfg.SessionTTL); exp.Sub(sess.ExpiresAt) >= s.cfg.TouchEvery && retryTouch {
		tctx, cancel := context.WithTimeout(ctx, s.cfg.SessionTimeout)
		err := s.sessions.TouchSession(tctx, h, exp)
		cancel()
		switch {
		case err == nil:
			sess.ExpiresAt = exp
			cached = false
		case zan.IsNotFound(err):
			s.forget(h)
			return 0, errUnauthorized
		default:
			// The session is valid until its current expiry; sliding it is
			// worth a retry on the next request, not refusing this one
			// while the store is down.
			s.logger.Debug("session touch failed", "err", err)
			c.touchFailed, cached = now, false
		}
	}
	if s.cache != nil && !cached {
		s.cache.Set(h, cachedSession{Session: sess, checked: now, touchFailed: c.touchFailed})
	}
	return sess.UserID, nil
}

// cachedSession is a session with the time it was last read from the store.
type cachedSession struct {
	zan.Session
	checked     time.Time
	touchFailed time.Time // the last failed slide, so a down store is asked once per CacheTTL
}

// Logout ends the session of token at once.
func (s *Service) Logout(ctx context.Context, token string) error {
	h := hashToken(token)
	s.forget(h)
	if err := s.sessions.DeleteSession(ctx, h); err != nil && !zan.IsNotFound(err) {
		return zan.Unavailable("session store", err)
	}
	return nil
}

func (s *Service) forget(h [32]byte) {
	if s.cache != nil {
		s.cache.Invalidate(h)
	}
}

// User returns a user.
func (s *Service) User(ctx context.Context, id int64) (zan.User, error) {
	u, err := s.users.User(ctx, id)
	if err != nil && !zan.IsNotFound(err) {
		return u, zan.Unavailable("store", err)
	}
	return u, err
}

// Users returns the users found among ids.
func (s *Service) Users(ctx context.Context, ids []int64) (map[int64]zan.User, error) {
	if len(ids) == 0 {
		return map[int64]zan.User{}, nil
	}
	m, err := s.users.Users(ctx, ids)
	if err != nil {
		return nil, zan.Unavailable("store", err)
	}
	return m, nil
}

// MaxNickname is the longest nickname, in characters.
const MaxNickname = 32

// SetNickname renames user. A nickname is 1-32 characters after trimming
// spaces, with no control or invisible formatting characters: it is shown
// wherever the user's name is, and must look like what it says.
func (s *Service) SetNickname(ctx context.Context, user int64, nickname string) (zan.User, error) {
	nickname = strings.TrimSpace(nickname)
	if n := utf8.RuneCountInString(nickname); n < 1 || n > MaxNickname {
		return zan.User{}, zan.Errorf(zan.EBadRequest, "a nickname is 1 to %d characters", MaxNickname)
	}
	for _, r := range nickname {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return zan.User{}, zan.Errorf(zan.EBadRequest, "a nickname cannot hold control or invisible characters")
		}
	}
	if err := s.users.SetNickname(ctx, user, nickname); err != nil {
		if zan.IsNotFound(err) {
			return zan.User{}, err
		}
		return zan.User{}, zan.Unavailable("store", err)
	}
	return s.User(ctx, user)
}

// SetAvatar sets user's avatar style, 0 (the default) to zan.MaxAvatar.
func (s *Service) SetAvatar(ctx context.Context, user int64, avatar int) (zan.User, error) {
	if avatar < 0 || avatar > zan.MaxAvatar {
		return zan.User{}, zan.Errorf(zan.EBadRequest, "avatar must be 0 to %d", zan.MaxAvatar)
	}
	if err := s.users.SetAvatar(ctx, user, avatar); err != nil {
		if zan.IsNotFound(err) {
			return zan.User{}, err
		}
		return zan.User{}, zan.Unavailable("store", err)
	}
	return s.User(ctx, user)
}

// Run deletes expired sessions now and then until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := s.sessions.DeleteExpiredSessions(ctx, s.now()); err != nil && ctx.Err() == nil {
				s.logger.Warn("deleting expired sessions", "err", err)
			}
		}
	}
}

var errUnauthorized = zan.Errorf(zan.EUnauthorized, "missing, invalid or expired token")

func hashToken(token string) [32]byte { return sha256.Sum256([]byte(token)) }

func randomDigits(n int) string {
	b := make([]byte, n)
	for i := range b {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b[i] = byte('0' + d.Int64())
	}
	return string(b)
}

func randomBase36(n int) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	for i := range b {
		d, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[d.Int64()]
	}
	return string(b)
}
