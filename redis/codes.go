package redis

import (
	"context"
	"strconv"
	"time"

	"github.com/zanlabs/zan"
)

// Codes is a zan.CodeStore in Redis: a HASH {p:c:<phone>} with the code
// ("" once used or burned), the wrong tries, and the issue and expiry times
// (µs, server clock, so every app server sees the same gap). The hash lives
// max(ttl, gap): after the code expires it still remembers the gap.
type Codes struct{ c *Client }

var _ zan.CodeStore = (*Codes)(nil)

// issueLua: KEYS code; ARGV code, ttl µs, gap µs. Returns 0, or the µs to
// wait when a code was issued less than gap ago.
var issueLua = newScript(luaHelpers + `
local now = now_us()
local ttl, gap = tonumber(ARGV[2]), tonumber(ARGV[3])
local issued = redis.call('HGET', KEYS[1], 'issued')
if issued then
  local wait = tonumber(issued) + gap - now
  if wait > 0 then return wait end
end
redis.call('HSET', KEYS[1], 'code', ARGV[1], 'tries', 0, 'issued', fmt(now), 'expires', fmt(now + ttl))
redis.call('PEXPIRE', KEYS[1], fmt(math.max(1, math.ceil(math.max(ttl, gap) / 1000))))
return 0
`)

// verifyLua: KEYS code; ARGV code, maxTries. Returns 1 when the code is
// right (and consumes it), else 0.
//
// The comparison is Lua's ==, not constant-time: Lua has no such compare.
// The defence is elsewhere: a code is 6 digits, lives minutes, and burns
// after maxTries wrong tries, far too few for a timing attack over a
// network to learn anything.
var verifyLua = newScript(luaHelpers + `
local h = redis.call('HMGET', KEYS[1], 'code', 'tries', 'expires')
if not h[1] or h[1] == '' or now_us() >= tonumber(h[3]) then return 0 end
if h[1] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'code', '')
  return 1
end
local tries = tonumber(h[2]) + 1
if tries >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'code', '', 'tries', tries)
else
  redis.call('HSET', KEYS[1], 'tries', tries)
end
return 0
`)

func (c *Codes) key(phone string) string { return "{" + c.c.prefix + ":c:" + phone + "}" }

// IssueCode implements zan.CodeStore.
func (c *Codes) IssueCode(ctx context.Context, phone, code string, ttl, gap time.Duration) error {
	wait, err := issueLua.run(ctx, c.c.c, []string{c.key(phone)}, code,
		strconv.FormatInt(ttl.Microseconds(), 10), strconv.FormatInt(gap.Microseconds(), 10)).AsInt64()
	if err != nil {
		return wrap(err)
	}
	if wait > 0 {
		return zan.RateLimited(time.Duration(wait)*time.Microsecond, "a code was sent less than %s ago", gap)
	}
	return nil
}

// VerifyCode implements zan.CodeStore.
func (c *Codes) VerifyCode(ctx context.Context, phone, code string, maxTries int) (bool, error) {
	ok, err := verifyLua.run(ctx, c.c.c, []string{c.key(phone)}, code, strconv.Itoa(maxTries)).AsInt64()
	if err != nil {
		return false, wrap(err)
	}
	return ok == 1, nil
}
