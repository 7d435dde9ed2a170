package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/zanlabs/zan"
)

// Limiter is a zan.RateLimiter of token buckets in Redis: a HASH
// {p:rl:<key>} with the tokens left, when they were counted (µs, server
// clock, so all app servers drain one bucket alike) and the limit they were
// counted for. A bucket expires when it would be full again: a missing
// bucket is a full one.
type Limiter struct{ c *Client }

var _ zan.RateLimiter = (*Limiter)(nil)

// bucketLua takes a token from the bucket rk for limit rate (tokens/s),
// burst (numbers) and lim (their text) at now (µs), and sets ok (1 or 0) and wait (µs
// until a token is there). A changed limit starts a full bucket, as the
// memory limiter does. It is inlined, not a function, since a function
// definition costs a closure on every call of the hot toggle script.
const bucketLua = `
local h = redis.call('HMGET', rk, 'tokens', 'ts', 'lim')
local tokens = burst
if h[1] and h[3] == lim then
  tokens = math.min(burst, tonumber(h[1]) + math.max(0, now - tonumber(h[2])) * rate / 1e6)
end
if tokens >= 1 then
  ok, tokens = 1, tokens - 1
elseif rate > 0 then
  wait = math.ceil((1 - tokens) * 1e6 / rate)
else
  wait = 3600e6
end
redis.call('HSET', rk, 'tokens', string.format('%.17g', tokens), 'ts', fmt(now), 'lim', lim)
local full = 7 * 86400e3
if rate > 0 then full = math.min(full, math.ceil((burst - tokens) * 1e3 / rate) + 1) end
redis.call('PEXPIRE', rk, fmt(full))
`

// allowLua: KEYS bucket; ARGV rate (tokens/s), burst. Returns {ok, wait µs}.
var allowLua = newScript(luaHelpers + `
local rk, rate, burst, lim = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[1] .. '/' .. ARGV[2]
local ok, wait, now = 0, 0, now_us()
` + bucketLua + `
return {ok, wait}
`)

// key is the bucket of a limiter key.
func (c *Client) limitKey(key string) string { return "{" + c.prefix + ":rl:" + key + "}" }

// limitArgs are a limit as the scripts take it.
func limitArgs(lim zan.Limit) (rate, burst string) {
	return strconv.FormatFloat(lim.Rate, 'g', -1, 64), strconv.Itoa(lim.Burst)
}

// Allow implements zan.RateLimiter.
func (l *Limiter) Allow(ctx context.Context, key string, lim zan.Limit) (bool, time.Duration, error) {
	if lim.Burst < 1 { // nothing ever passes
		return false, time.Hour, nil
	}
	rate, burst := limitArgs(lim)
	v, err := ints(allowLua.run(ctx, l.c.c, []string{l.c.limitKey(key)}, rate, burst))
	if err != nil {
		return false, 0, err
	}
	if len(v) != 2 {
		return false, 0, fmt.Errorf("redis: allow replied %v", v)
	}
	return v[0] == 1, time.Duration(v[1]) * time.Microsecond, nil
}
