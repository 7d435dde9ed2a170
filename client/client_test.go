package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// These tests pin the protocol rules of the client (what is retried, how
// errors decode) against scripted answers; the calls themselves are tested
// against the real server in cmd/zan's end-to-end tests.

func scripted(t *testing.T, answers ...func(w http.ResponseWriter)) (*Client, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if i >= len(answers) {
			i = len(answers) - 1
		}
		answers[i](w)
	}))
	t.Cleanup(srv.Close)
	return New(srv.URL, WithRetries(3, time.Millisecond)), &n
}

func status(code int, body string, header ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		w.Write([]byte(body))
	}
}

func TestRetries(t *testing.T) {
	unavailable := status(503, `{"error":{"code":"unavailable","message":"down"}}`)
	ok := status(200, `{"liked":true,"changed":true,"count":3}`)
	cases := []struct {
		name  string
		call  func(c *Client) error
		calls int32
		ok    bool
	}{
		{"idempotent like is retried", func(c *Client) error { _, err := c.Like(context.Background(), "blog", 1); return err }, 3, true},
		{"order is not retried", func(c *Client) error { _, err := c.Order(context.Background(), 1); return err }, 1, false},
		{"blog post is not retried", func(c *Client) error { _, err := c.CreateBlog(context.Background(), "t", "c", 0); return err }, 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, n := scripted(t, unavailable, unavailable, ok)
			err := tc.call(c)
			if (err == nil) != tc.ok || n.Load() != tc.calls {
				t.Fatalf("err %v after %d calls; want ok=%v after %d", err, n.Load(), tc.ok, tc.calls)
			}
		})
	}
}

func TestNotRetriedOnClientErrors(t *testing.T) {
	c, n := scripted(t, status(404, `{"error":{"code":"not_found","message":"no such blog"}}`))
	_, err := c.Blog(context.Background(), 7)
	if !IsCode(err, NotFound) || n.Load() != 1 {
		t.Fatalf("err %v after %d calls", err, n.Load())
	}
	var e *Error
	if !asError(err, &e) || e.Status != 404 || e.Message != "no such blog" {
		t.Fatalf("error %#v", err)
	}
}

func asError(err error, e **Error) bool {
	x, ok := err.(*Error)
	*e = x
	return ok
}

func TestRetryAfter(t *testing.T) {
	c, n := scripted(t, status(429, `{"error":{"code":"rate_limited","message":"slow down"}}`, "Retry-After", "1"),
		status(200, `{"type":"blog","id":"1","count":0}`))
	start := time.Now()
	if _, err := c.GetLikes(context.Background(), "blog", 1); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 || time.Since(start) < time.Second {
		t.Fatalf("%d calls in %v: want the retry after Retry-After (1 s)", n.Load(), time.Since(start))
	}
	// A context that ends stops the waiting.
	c, _ = scripted(t, status(429, `{"error":{"code":"rate_limited","message":"x"}}`, "Retry-After", "30"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.GetLikes(ctx, "blog", 1); !IsCode(err, RateLimited) {
		t.Fatalf("err %v", err)
	}
}

func TestNonJSONError(t *testing.T) {
	c, _ := scripted(t, status(502, "bad gateway"))
	c.retries = 0
	_, err := c.Me(context.Background())
	if !IsCode(err, "http_502") {
		t.Fatalf("err %v", err)
	}
}

func TestIDs(t *testing.T) {
	var id ID
	for _, in := range []string{`"118339478963093507"`, `118339478963093507`} {
		if err := id.UnmarshalJSON([]byte(in)); err != nil || id != 118339478963093507 {
			t.Fatalf("%s: %d %v", in, id, err)
		}
	}
	if err := id.UnmarshalJSON([]byte(`"x"`)); err == nil {
		t.Fatal("bad id accepted")
	}
	if b, _ := ID(5).MarshalJSON(); string(b) != `"5"` {
		t.Fatalf("%s", b)
	}
}
