package redis

import (
	"context"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/redis/rueidis"

	"github.com/zanlabs/zan"
)

// Sessions is a zan.SessionStore in Redis: one key per token hash holding
// "<user id>:<epoch>", expiring with the session (PEXPIREAT). Every node
// reads the same keys, so a logout ends the token everywhere at once, and a
// request costs one pipelined round trip instead of a SQL query. Sessions
// are as durable as Redis is: a Redis that loses its data logs everyone
// out, which is safe (users log in again) where losing a like would not be.
// A Redis that comes back older (a snapshot, a promoted replica) would
// bring back sessions logged out since, so a session holds the hot state's
// epoch (see fence) and one of another epoch reads as absent: a rollback
// logs everyone out rather than reviving a token its user ended.
type Sessions struct {
	c *Client
	// written holds the keys this process changed in the last writtenFor:
	// reads of them bypass the cache. Redis pushes the invalidation to
	// whichever of the client's connections read the key, with no order
	// against the write's reply on another connection, so a read right
	// after a write here could otherwise still find the old copy. Entries
	// expire on their own: a logged-out token is never read again.
	written *otter.Cache[string, struct{}]
}

func newSessions(c *Client) *Sessions {
	return &Sessions{c: c, written: otter.Must(&otter.Options[string, struct{}]{
		MaximumSize:      100_000,
		ExpiryCalculator: otter.ExpiryWriting[string, struct{}](writtenFor),
	})}
}

var _ zan.SessionStore = (*Sessions)(nil)

// Sessions returns the session store.
func (c *Client) Sessions() *Sessions { return c.sessions }

func (s *Sessions) key(h [32]byte) string {
	return "{" + s.c.prefix + ":s:" + hex.EncodeToString(h[:]) + "}"
}

// CreateSession implements zan.SessionStore.
func (s *Sessions) CreateSession(ctx context.Context, ss zan.Session) error {
	return s.c.fence.call(ctx, func(epoch string) error {
		cmd := s.c.c.B().Set().Key(s.key(ss.TokenHash)).Value(strconv.FormatInt(ss.UserID, 10) + ":" + epoch).
			Pxat(ss.ExpiresAt).Build()
		return s.write(ctx, s.key(ss.TokenHash), cmd)
	})
}

// write runs a change of a session key.
func (s *Sessions) write(ctx context.Context, key string, cmd rueidis.Completed) error {
	s.written.Set(key, struct{}{})
	return wrap(s.c.c.Do(ctx, cmd).Error())
}

// writtenFor is how long reads of a key this process wrote bypass the
// cache: far longer than an invalidation takes to arrive.
const writtenFor = time.Second

// recentlyWritten reports whether key was written here within writtenFor.
func (s *Sessions) recentlyWritten(key string) bool {
	_, ok := s.written.GetIfPresent(key)
	return ok
}

// sessionCacheTTL bounds how long this process keeps a session it read.
// Redis invalidates the copy when the key changes (a logout anywhere, a
// touch, the expiry), so the bound only matters if an invalidation were
// lost; rueidis drops the cache of a connection that broke.
const sessionCacheTTL = time.Minute

// Session implements zan.SessionStore. The session comes from this
// process's cache when it has read it before and Redis has not invalidated
// it since, so most requests authenticate without a round trip.
func (s *Sessions) Session(ctx context.Context, h [32]byte) (ss zan.Session, err error) {
	err = s.c.fence.call(ctx, func(epoch string) error {
		ss, err = s.read(ctx, h, epoch)
		return err
	})
	return ss, err
}

func (s *Sessions) read(ctx context.Context, h [32]byte, epoch string) (zan.Session, error) {
	key := s.key(h)
	var rs []rueidis.RedisResult
	if s.recentlyWritten(key) {
		rs = s.c.c.DoMulti(ctx, s.c.c.B().Get().Key(key).Build(), s.c.c.B().Pexpiretime().Key(key).Build())
	} else {
		rs = s.c.c.DoMultiCache(ctx,
			rueidis.CT(s.c.c.B().Get().Key(key).Cache(), sessionCacheTTL),
			rueidis.CT(s.c.c.B().Pexpiretime().Key(key).Cache(), sessionCacheTTL))
	}
	v, err := rs[0].ToString()
	if rueidis.IsRedisNil(err) {
		return zan.Session{}, errNoSession
	}
	if err != nil {
		return zan.Session{}, wrap(err)
	}
	exp, err := rs[1].AsInt64()
	if err != nil {
		return zan.Session{}, wrap(err)
	}
	uidText, e, _ := strings.Cut(v, ":")
	uid, err := strconv.ParseInt(uidText, 10, 64)
	// -1: no expiry, -2: gone since the GET. A session without an epoch (or
	// of another one) was written by an older zan or lived before a
	// rollback: absent, as after a Redis that lost its data.
	if err != nil || exp < 0 || e != epoch {
		return zan.Session{}, errNoSession
	}
	return zan.Session{TokenHash: h, UserID: uid, ExpiresAt: time.UnixMilli(exp).UTC()}, nil
}

// TouchSession implements zan.SessionStore. A missing session stays missing.
func (s *Sessions) TouchSession(ctx context.Context, h [32]byte, expiresAt time.Time) error {
	cmd := s.c.c.B().Pexpireat().Key(s.key(h)).MillisecondsTimestamp(expiresAt.UnixMilli()).Build()
	return s.write(ctx, s.key(h), cmd)
}

// DeleteSession implements zan.SessionStore.
func (s *Sessions) DeleteSession(ctx context.Context, h [32]byte) error {
	return s.write(ctx, s.key(h), s.c.c.B().Del().Key(s.key(h)).Build())
}

// DeleteExpiredSessions implements zan.SessionStore: Redis expires the keys
// itself, so there is never anything left to delete.
func (s *Sessions) DeleteExpiredSessions(context.Context, time.Time) (int, error) { return 0, nil }

var errNoSession = zan.Errorf(zan.ENotFound, "session not found")
