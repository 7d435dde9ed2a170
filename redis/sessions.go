package redis

import (
	"context"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/zanlabs/zan"
)

// Sessions is a zan.SessionStore in Redis: one key per token hash holding
// the user id, expiring with the session (PEXPIREAT). Every node reads the
// same keys, so a logout ends the token everywhere at once, and a request
// costs one pipelined round trip instead of a SQL query. Sessions are as
// durable as Redis is: a Redis that loses its data logs everyone out, which
// is safe (users log in again) where losing a like would not be.
type Sessions struct{ c *Client }

var _ zan.SessionStore = (*Sessions)(nil)

// Sessions returns the session store.
func (c *Client) Sessions() *Sessions { return &Sessions{c: c} }

func (s *Sessions) key(h [32]byte) string {
	return "{" + s.c.prefix + ":s:" + hex.EncodeToString(h[:]) + "}"
}

// CreateSession implements zan.SessionStore.
func (s *Sessions) CreateSession(ctx context.Context, ss zan.Session) error {
	cmd := s.c.c.B().Set().Key(s.key(ss.TokenHash)).Value(strconv.FormatInt(ss.UserID, 10)).
		Pxat(ss.ExpiresAt).Build()
	return wrap(s.c.c.Do(ctx, cmd).Error())
}

// Session implements zan.SessionStore.
func (s *Sessions) Session(ctx context.Context, h [32]byte) (zan.Session, error) {
	key := s.key(h)
	rs := s.c.c.DoMulti(ctx,
		s.c.c.B().Get().Key(key).Build(),
		s.c.c.B().Pexpiretime().Key(key).Build())
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
	uid, err := strconv.ParseInt(v, 10, 64)
	if err != nil || exp < 0 { // -1: no expiry, -2: gone since the GET
		return zan.Session{}, errNoSession
	}
	return zan.Session{TokenHash: h, UserID: uid, ExpiresAt: time.UnixMilli(exp).UTC()}, nil
}

// TouchSession implements zan.SessionStore. A missing session stays missing.
func (s *Sessions) TouchSession(ctx context.Context, h [32]byte, expiresAt time.Time) error {
	cmd := s.c.c.B().Pexpireat().Key(s.key(h)).MillisecondsTimestamp(expiresAt.UnixMilli()).Build()
	return wrap(s.c.c.Do(ctx, cmd).Error())
}

// DeleteSession implements zan.SessionStore.
func (s *Sessions) DeleteSession(ctx context.Context, h [32]byte) error {
	return wrap(s.c.c.Do(ctx, s.c.c.B().Del().Key(s.key(h)).Build()).Error())
}

// DeleteExpiredSessions implements zan.SessionStore: Redis expires the keys
// itself, so there is never anything left to delete.
func (s *Sessions) DeleteExpiredSessions(context.Context, time.Time) (int, error) { return 0, nil }

var errNoSession = zan.Errorf(zan.ENotFound, "session not found")
