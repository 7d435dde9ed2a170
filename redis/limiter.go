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

// allowLua: KEYS bucket; ARGV rate (tokens/s), burst. Returns {ok, wait µs}.
// A changed limit starts a full bucket, as the memory limiter does.
var allowLua = newScript(luaHelpers + `
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local lim = ARGV[1] .. '/' .. ARGV[2]
local now = now_us()
local h = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'lim')
local tokens = burst
if h[1] and h[3] == lim then
  tokens = math.min(burst, tonumber(h[1]) + math.max(0, now - tonumber(h[2])) * rate / 1e6)
end
local ok, wait = 0, 0
if tokens >= 1 then
  ok, tokens = 1, tokens - 1
elseif rate > 0 then
  wait = math.ceil((1 - tokens) * 1e6 / rate)
else
  wait = 3600e6
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', fmt(now), 'lim', lim)
local full = 7 * 86400e3
if rate > 0 then full = math.min(full, math.ceil((burst - tokens) * 1e3 / rate) + 1) end
redis.call('PEXPIRE', KEYS[1], fmt(full))
return {ok, wait}
`)

// Allow implements zan.RateLimiter.
func (l *Limiter) Allow(ctx context.Context, key string, lim zan.Limit) (bool, time.Duration, error) {
	if lim.Burst < 1 { // nothing ever passes
		return false, time.Hour, nil
	}
	v, err := ints(allowLua.run(ctx, l.c.c, []string{"{" + l.c.prefix + ":rl:" + key + "}"},
		strconv.FormatFloat(lim.Rate, 'g', -1, 64), strconv.Itoa(lim.Burst)))
	if err != nil {
		return false, 0, err
	}
	if len(v) != 2 {
		return false, 0, fmt.Errorf("redis: allow replied %v", v)
	}
	return v[0] == 1, time.Duration(v[1]) * time.Microsecond, nil
}
