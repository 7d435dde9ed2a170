package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zanlabs/zan"
)

// Endpoint is a receiver of deliveries.
type Endpoint struct {
	// ID names the endpoint's reader of the like log (webhook_<ID>): a
	// registered webhook's id in decimal, or, for a --webhook endpoint,
	// 12 hex digits derived from the URL, so a restart resumes where the
	// endpoint was.
	ID     string
	URL    string
	Secret string
	// Events are the ops the endpoint receives; none: all.
	Events []zan.Op
	// Static marks an endpoint of the --webhook flag (not deletable
	// through the API).
	Static    bool
	CreatedAt time.Time
}

// Wants reports whether the endpoint subscribed to op.
func (e Endpoint) Wants(op zan.Op) bool { return len(e.Events) == 0 || slices.Contains(e.Events, op) }

func registered(w zan.Webhook) Endpoint {
	return Endpoint{ID: strconv.FormatInt(w.ID, 10), URL: w.URL, Secret: w.Secret, Events: w.Events, CreatedAt: w.CreatedAt}
}

// ParseEndpoints reads URL#secret entries separated by commas (the
// --webhook flag). The secret follows the last '#'; it is required, since
// a receiver cannot check a signature without it.
func ParseEndpoints(s string) ([]Endpoint, error) {
	var out []Endpoint
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		i := strings.LastIndexByte(f, '#')
		if i < 0 || i == len(f)-1 {
			return nil, fmt.Errorf("webhook %q: want URL#secret", redact(f))
		}
		raw, secret := f[:i], f[i+1:]
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("webhook %q: want an http(s) URL", raw)
		}
		out = append(out, Endpoint{ID: endpointID(raw), URL: raw, Secret: secret, Static: true})
	}
	return out, nil
}

// redact drops the secret from an entry shown in an error.
func redact(f string) string {
	if i := strings.LastIndexByte(f, '#'); i >= 0 {
		return f[:i] + "#…"
	}
	return f
}

func endpointID(rawURL string) string {
	h := sha256.Sum256([]byte(rawURL))
	return hex.EncodeToString(h[:6])
}

// Sign returns the Zan-Signature header value of body sent at timestamp
// (Unix seconds): sha256=<hex HMAC-SHA256 of timestamp + "." + body>.
func Sign(secret string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(strconv.AppendInt(nil, timestamp, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature (the Zan-Signature header) matches
// body and timestamp (the Zan-Timestamp header) under secret. Receivers
// should also refuse timestamps far from their clock, against replays.
func Verify(secret, timestamp string, body []byte, signature string) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	return hmac.Equal([]byte(Sign(secret, ts, body)), []byte(signature))
}
