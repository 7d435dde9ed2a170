// Package client is the Go client of zan's HTTP API (API.md): every call,
// typed, with a context, errors that carry the API's error codes, and
// retries only where a call is idempotent.
//
//	c := client.New("http://127.0.0.1:8080")
//	code, _ := c.SendCode(ctx, "13800138000")       // dev_code with serve --dev
//	login, _ := c.Login(ctx, "13800138000", code)   // c now carries the token
//	ch, _ := c.Like(ctx, "blog", 42)
//	for n, err := range c.Stream(ctx, []client.Target{{Type: "blog", ID: 42}}) { ... }
//
// Reads, like and unlike, a shop update and logout are idempotent: they
// are retried after a network error, a 503 or a 429, honouring
// Retry-After within a bound and the context. Posts (login, blogs, orders,
// shops and vouchers) are never retried: a lost answer may hide a write
// that happened, and only the caller can tell whether to try again.
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
	maxWait time.Duration

	mu    sync.RWMutex
	token string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient uses h instead of a client with a 30 s timeout. Live
// streams use a copy of it without its Timeout, which would cut them.
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

// WithMaxWait bounds one wait before a retry (default 10 s). When the
// server's Retry-After asks for longer, or the context would end first,
// the call returns the error at once instead: its RetryAfter tells the
// caller when to come back.
func WithMaxWait(d time.Duration) Option { return func(c *Client) { c.maxWait = d } }

// New returns a client of the server at base (e.g. http://127.0.0.1:8080).
func New(base string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 30 * time.Second},
		retries: 3, backoff: 100 * time.Millisecond, maxWait: 10 * time.Second}
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

// Is makes errors.Is(err, client.ErrSoldOut) true for every answer with
// that code, whatever its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
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

// Targets for errors.Is, one per code of the contract.
var (
	ErrBadRequest   = &Error{Status: 400, Code: BadRequest, Message: "bad request"}
	ErrUnauthorized = &Error{Status: 401, Code: Unauthorized, Message: "not logged in"}
	ErrForbidden    = &Error{Status: 403, Code: Forbidden, Message: "forbidden"}
	ErrNotFound     = &Error{Status: 404, Code: NotFound, Message: "not found"}
	ErrConflict     = &Error{Status: 409, Code: Conflict, Message: "conflict"}
	ErrSoldOut      = &Error{Status: 410, Code: SoldOut, Message: "sold out"}
	ErrTooLarge     = &Error{Status: 413, Code: TooLarge, Message: "too large"}
	ErrRateLimited  = &Error{Status: 429, Code: RateLimited, Message: "rate limited"}
	ErrUnavailable  = &Error{Status: 503, Code: Unavailable, Message: "unavailable"}
)

// IsCode reports whether err is an API error with code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// transportError is a request that got no answer: the only failure besides
// 503 and 429 worth repeating, and only for an idempotent call.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

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
		wait, ok := c.wait(ctx, err, delay)
		if !ok {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = min(2*delay, c.maxWait)
	}
}

// wait is how long to wait before the next try after err: the backoff
// delay, or the server's Retry-After, with some jitter so that clients
// refused together do not come back together. It is false when that is
// longer than the client waits or than the context lasts.
func (c *Client) wait(ctx context.Context, err error, delay time.Duration) (time.Duration, bool) {
	wait := delay
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		if e.RetryAfter > c.maxWait {
			return 0, false
		}
		wait = e.RetryAfter
	}
	wait = min(wait+time.Duration(rand.Int64N(int64(wait)/4+1)), c.maxWait)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		return 0, false
	}
	return wait, true
}

func retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests
	}
	var te *transportError
	return errors.As(err, &te) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

func (c *Client) once(ctx context.Context, method, u string, payload []byte, out any) error {
	res, err := c.send(ctx, c.http, method, u, payload)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return &transportError{err}
	}
	if res.StatusCode >= 400 {
		return apiError(res, b)
	}
	if out == nil || res.StatusCode == http.StatusNoContent {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = b
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("zan: decoding %s %s: %w", method, res.Request.URL.Path, err)
	}
	return nil
}

// send makes one request with the client's token.
func (c *Client) send(ctx context.Context, h *http.Client, method, u string, payload []byte) (*http.Response, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if t := c.Token(); t != "" {
		req.Header.Set("Authorization", "Bearer "+t)
	}
	res, err := h.Do(req)
	if err != nil {
		return nil, &transportError{err}
	}
	return res, nil
}

// apiError reads an error answer; one without the API's body (a proxy's,
// say) gets the code http_<status>.
func apiError(res *http.Response, body []byte) *Error {
	e := &Error{Status: res.StatusCode, Code: "http_" + strconv.Itoa(res.StatusCode), Message: http.StatusText(res.StatusCode)}
	var v struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil && v.Error.Code != "" {
		e.Code, e.Message = v.Error.Code, v.Error.Message
	}
	if ra := res.Header.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(ra); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil && time.Until(t) > 0 {
			e.RetryAfter = time.Until(t)
		}
	}
	return e
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
