// Package client is the Go client of zan's HTTP API (API.md): every call,
// typed, with a context, errors that carry the API's error codes, and
// retries only where a call is idempotent.
//
//	c := client.New("http://127.0.0.1:8080")
//	code, _ := c.SendCode(ctx, "13800138000")       // dev_code with serve --dev
//	login, _ := c.Login(ctx, "13800138000", code)   // c now carries the token
//	ch, _ := c.Like(ctx, "blog", 42)
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client calls one zan server. It is safe for concurrent use.
type Client struct {
	base    string
	http    *http.Client
	retries int
	backoff time.Duration

	mu    sync.RWMutex
	token string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient uses h instead of a client with a 30 s timeout.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithToken starts the client logged in (a session token, or the admin
// token for admin calls).
func WithToken(t string) Option { return func(c *Client) { c.token = t } }

// WithRetries sets how often an idempotent call is retried after a network
// error, a 503 or a 429 (default 3), waiting from backoff (default 100 ms)
// and doubling, or as long as Retry-After says.
func WithRetries(n int, backoff time.Duration) Option {
	return func(c *Client) { c.retries, c.backoff = n, backoff }
}

// New returns a client of the server at base (e.g. http://127.0.0.1:8080).
func New(base string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 30 * time.Second},
		retries: 3, backoff: 100 * time.Millisecond}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Token returns the token the client sends.
func (c *Client) Token() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token
}

// SetToken changes the token the client sends ("" for none).
func (c *Client) SetToken(t string) {
	c.mu.Lock()
	c.token = t
	c.mu.Unlock()
}

// Error is an error answer of the API.
type Error struct {
	Status     int    // HTTP status
	Code       string // the API's error code: bad_request, unauthorized, sold_out, ...
	Message    string
	RetryAfter time.Duration // from Retry-After, with rate_limited and unavailable
}

func (e *Error) Error() string {
	return fmt.Sprintf("zan: %d %s: %s", e.Status, e.Code, e.Message)
}

// Error codes of the contract.
const (
	BadRequest   = "bad_request"
	Unauthorized = "unauthorized"
	Forbidden    = "forbidden"
	NotFound     = "not_found"
	Conflict     = "conflict"
	SoldOut      = "sold_out"
	TooLarge     = "too_large"
	RateLimited  = "rate_limited"
	Unavailable  = "unavailable"
)

// IsCode reports whether err is an API error with code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// call sends one request; idempotent calls are retried.
func (c *Client) call(ctx context.Context, method, path string, q url.Values, body, out any, idempotent bool) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	delay := c.backoff
	for attempt := 0; ; attempt++ {
		err := c.once(ctx, method, u, payload, out)
		if err == nil || !idempotent || attempt >= c.retries || !retryable(err) {
			return err
		}
		wait := delay
		var e *Error
		if errors.As(err, &e) && e.RetryAfter > 0 {
			wait = e.RetryAfter
		}
		wait += time.Duration(rand.Int64N(int64(wait)/4 + 1)) // keep retrying clients apart
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Code == Unavailable || e.Code == RateLimited || e.Status >= 502
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

func (c *Client) once(ctx context.Context, method, u string, payload []byte, out any) error {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if t := c.Token(); t != "" {
		req.Header.Set("Authorization", "Bearer "+t)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return err
	}
	if res.StatusCode >= 400 {
		e := &Error{Status: res.StatusCode, Code: "http_" + strconv.Itoa(res.StatusCode), Message: http.StatusText(res.StatusCode)}
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(b, &body) == nil && body.Error.Code != "" {
			e.Code, e.Message = body.Error.Code, body.Error.Message
		}
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return e
	}
	if out == nil || res.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("zan: decoding %s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// ID is an identifier: a string of digits on the wire, an int64 here.
type ID int64

// UnmarshalJSON reads "123" or 123.
func (id *ID) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("zan: id %s: %w", b, err)
	}
	*id = ID(n)
	return nil
}

// MarshalJSON writes the id as a string, as the API does.
func (id ID) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatInt(int64(id), 10) + `"`), nil
}

func idPath(id int64) string { return strconv.FormatInt(id, 10) }

// Page is one page of a listing; Next is "" on the last page.
type Page[T any] struct {
	Items []T
	Next  string
}

type pageJSON[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func (p pageJSON[T]) page() Page[T] {
	out := Page[T]{Items: p.Items}
	if p.NextCursor != nil {
		out.Next = *p.NextCursor
	}
	return out
}

// ListOptions page a listing; zero fields take the server's defaults.
type ListOptions struct {
	Limit  int
	Cursor string
}

func (o ListOptions) values() url.Values {
	q := url.Values{}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	return q
}
