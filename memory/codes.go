package memory

import (
	"context"
	"crypto/subtle"
	"sync"
	"time"

	"github.com/zanlabs/zan"
)

// Codes is a zan.CodeStore in process memory.
type Codes struct {
	mu    sync.Mutex
	codes map[string]*code
	now   func() time.Time
	stop  func()
}

type code struct {
	code     string // "" once used or burned
	expires  time.Time
	issued   time.Time
	tries    int
	keepTill time.Time // the entry also remembers the gap after the code expired
}

var _ zan.CodeStore = (*Codes)(nil)

// NewCodes returns an empty code store that sweeps expired codes every
// minute until Close.
func NewCodes() *Codes {
	c := &Codes{codes: map[string]*code{}, now: time.Now}
	c.stop = every(time.Minute, c.sweep)
	return c
}

// IssueCode implements zan.CodeStore.
func (c *Codes) IssueCode(_ context.Context, phone, value string, ttl, gap time.Duration) error {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.codes[phone]; old != nil {
		if wait := old.issued.Add(gap).Sub(now); wait > 0 {
			return zan.RateLimited(wait, "a code was sent less than %s ago", gap)
		}
	}
	c.codes[phone] = &code{
		code: value, expires: now.Add(ttl), issued: now, keepTill: now.Add(max(ttl, gap)),
	}
	return nil
}

// VerifyCode implements zan.CodeStore.
func (c *Codes) VerifyCode(_ context.Context, phone, value string, maxTries int) (bool, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.codes[phone]
	if e == nil || e.code == "" || !now.Before(e.expires) {
		return false, nil
	}
	if subtle.ConstantTimeCompare([]byte(e.code), []byte(value)) == 1 {
		e.code = ""
		return true, nil
	}
	if e.tries++; e.tries >= maxTries {
		e.code = ""
	}
	return false, nil
}

func (c *Codes) sweep() {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for phone, e := range c.codes {
		if now.After(e.keepTill) {
			delete(c.codes, phone)
		}
	}
}

// Close stops the sweeper.
func (c *Codes) Close() error {
	c.stop()
	return nil
}

// every is zan.Every: the sweepers of codes and limits stop with Close.
var every = zan.Every
