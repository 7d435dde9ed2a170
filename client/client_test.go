package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// These tests pin the protocol rules of the client (what is retried, how
// answers and errors decode) against scripted answers; the calls
// themselves run against the real server in cmd/zan/client_test.go.

type answer func(w http.ResponseWriter, r *http.Request)

// scripted serves the answers in turn, the last one for every later
// request, and counts the requests.
func scripted(t *testing.T, answers ...answer) (*Client, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := min(int(n.Add(1))-1, len(answers)-1)
		answers[i](w, r)
	}))
	t.Cleanup(srv.Close)
	return New(srv.URL, WithRetries(3, time.Millisecond)), &n
}

func status(code int, body string, header ...string) answer {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		w.Write([]byte(body))
	}
}

// hangUp closes the connection without an answer: a network error.
func hangUp(w http.ResponseWriter, r *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

var (
	unavailable = status(503, `{"error":{"code":"unavailable","message":"down"}}`)
	limited     = status(429, `{"error":{"code":"rate_limited","message":"slow down"}}`, "Retry-After", "0")
	liked       = status(200, `{"liked":true,"changed":true,"count":3}`)
)

func TestRetries(t *testing.T) {
	ctx := context.Background()
	like := func(c *Client) error { _, err := c.Like(ctx, "blog", 1); return err }
	cases := []struct {
		name    string
		answers []answer
		call    func(c *Client) error
		calls   int32
		ok      bool
	}{
		{"like retried on 503", []answer{unavailable, unavailable, liked}, like, 3, true},
		{"like retried on 429", []answer{limited, liked}, like, 2, true},
		{"like retried after a hang-up", []answer{hangUp, liked}, like, 2, true},
		{"unlike retried", []answer{unavailable, liked}, func(c *Client) error { _, err := c.Unlike(ctx, "blog", 1); return err }, 2, true},
		{"read retried", []answer{hangUp, status(200, `{"type":"blog","id":"1","count":0}`)},
			func(c *Client) error { _, err := c.GetLikes(ctx, "blog", 1); return err }, 2, true},
		{"logout retried", []answer{unavailable, status(204, "")}, func(c *Client) error { return c.Logout(ctx) }, 2, true},
		{"retries are bounded", []answer{unavailable}, like, 4, false},
		{"order not retried", []answer{unavailable, liked}, func(c *Client) error { _, err := c.Order(ctx, 1); return err }, 1, false},
		{"order not retried after a hang-up", []answer{hangUp, liked}, func(c *Client) error { _, err := c.Order(ctx, 1); return err }, 1, false},
		{"blog post not retried", []answer{unavailable, liked}, func(c *Client) error { _, err := c.CreateBlog(ctx, "t", "c", 0); return err }, 1, false},
		{"login not retried", []answer{limited, liked}, func(c *Client) error { _, err := c.Login(ctx, "13800138000", "123456"); return err }, 1, false},
		{"blog deletion not retried", []answer{hangUp, status(204, "")}, func(c *Client) error { return c.DeleteBlog(ctx, 1) }, 1, false},
		{"client errors not retried", []answer{status(404, `{"error":{"code":"not_found","message":"no"}}`), liked}, like, 1, false},
		{"502 not retried", []answer{status(502, "bad gateway"), liked}, like, 1, false},
		{"undecodable answer not retried", []answer{status(200, `{"liked":`), liked}, like, 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, n := scripted(t, tc.answers...)
			err := tc.call(c)
			if (err == nil) != tc.ok || n.Load() != tc.calls {
				t.Fatalf("err %v after %d calls; want ok=%v after %d", err, n.Load(), tc.ok, tc.calls)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	ctx := context.Background()
	c, n := scripted(t, status(429, `{"error":{"code":"rate_limited","message":"slow down"}}`, "Retry-After", "1"),
		status(200, `{"type":"blog","id":"1","count":0}`))
	start := time.Now()
	if _, err := c.GetLikes(ctx, "blog", 1); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 || time.Since(start) < time.Second {
		t.Fatalf("%d calls in %v: want the retry after Retry-After (1 s)", n.Load(), time.Since(start))
	}

	// Longer than the client waits: the error at once, with the wait in it.
	long := status(429, `{"error":{"code":"rate_limited","message":"x"}}`, "Retry-After", "30")
	c, n = scripted(t, long)
	start = time.Now()
	_, err := c.GetLikes(ctx, "blog", 1)
	var e *Error
	if !errors.As(err, &e) || e.RetryAfter != 30*time.Second || n.Load() != 1 || time.Since(start) > time.Second {
		t.Fatalf("err %v after %d calls in %v", err, n.Load(), time.Since(start))
	}

	// A context that ends before the wait would: no waiting either.
	c, n = scripted(t, status(503, `{"error":{"code":"unavailable","message":"x"}}`, "Retry-After", "2"))
	tctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := c.GetLikes(tctx, "blog", 1); !errors.Is(err, ErrUnavailable) || n.Load() != 1 || time.Since(start) > 400*time.Millisecond {
		t.Fatalf("err %v after %d calls in %v", err, n.Load(), time.Since(start))
	}
}

func TestErrors(t *testing.T) {
	c, _ := scripted(t, status(410, `{"error":{"code":"sold_out","message":"no stock left"}}`))
	_, err := c.Order(context.Background(), 7)
	var e *Error
	if !errors.As(err, &e) || e.Status != 410 || e.Code != SoldOut || e.Message != "no stock left" {
		t.Fatalf("error %#v", err)
	}
	wrapped := fmt.Errorf("ordering: %w", err)
	if !IsCode(wrapped, SoldOut) || !errors.Is(wrapped, ErrSoldOut) || errors.Is(wrapped, ErrConflict) {
		t.Fatalf("%v: IsCode/errors.Is disagree with the code", wrapped)
	}

	// An answer without the API's body (a proxy's) still has a code.
	c, _ = scripted(t, status(502, "bad gateway"))
	if _, err := c.Me(context.Background()); !IsCode(err, "http_502") {
		t.Fatalf("err %v", err)
	}
}

func TestDecoding(t *testing.T) {
	blog := `{"id":"118339478963093507","title":"t","content":"c","shop_id":"9",` +
		`"author":{"id":"118339478963093500","nickname":"n"},"created_at":"2026-11-22T23:19:13.123Z",` +
		`"like_count":2,"liked":true,"top_likers":[{"id":"5","nickname":"a"}]}`
	var auth atomic.Value
	c, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		status(200, `{"items":[`+blog+`],"next_cursor":null}`)(w, r)
	})
	c.SetToken("tok")
	p, err := c.Blogs(context.Background(), true, ListOptions{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	b := p.Items[0]
	want := time.Date(2026, 11, 22, 23, 19, 13, 123e6, time.UTC)
	if len(p.Items) != 1 || p.Next != "" || b.ID != 118339478963093507 || b.Author.ID != 118339478963093500 ||
		b.ShopID == nil || *b.ShopID != 9 || !b.CreatedAt.Equal(want) || b.LikeCount != 2 || !b.Liked || b.TopLikers[0].ID != 5 {
		t.Fatalf("decoded %+v", p)
	}
	if got := auth.Load(); got != "Bearer tok" {
		t.Fatalf("Authorization %q", got)
	}

	// liked is left out for anonymous readers: nil, not false.
	c, _ = scripted(t, status(200, `{"items":[{"type":"blog","id":"1","count":4},{"type":"blog","id":"2","count":0,"liked":false}]}`))
	items, err := c.BatchLikes(context.Background(), []Target{{"blog", 1}, {"blog", 2}})
	if err != nil || len(items) != 2 || items[0].Liked != nil || items[1].Liked == nil || items[0].Count != 4 {
		t.Fatalf("%+v %v", items, err)
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

func TestLogoutOfAnEndedSession(t *testing.T) {
	c, _ := scripted(t, status(401, `{"error":{"code":"unauthorized","message":"session expired"}}`))
	c.SetToken("old")
	if err := c.Logout(context.Background()); err != nil || c.Token() != "" {
		t.Fatalf("err %v, token %q", err, c.Token())
	}
}

func TestStream(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("targets"); got != "blog:1,comment:2" {
			t.Errorf("targets %q", got)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		switch conns.Add(1) {
		case 1: // two counts, then the connection drops
			fmt.Fprint(w, ": hello\n\nretry: 5\n\nevent: count\ndata: {\"type\":\"blog\",\"id\":\"1\",\"count\":3}\n\n"+
				"event: other\ndata: {}\n\nevent: count\ndata: {\"type\":\"comment\",\"id\":\"2\",\"count\":0}\n\n")
		case 2: // the server is full for a moment
			status(503, `{"error":{"code":"unavailable","message":"too many streams"}}`)(w, r)
		default: // the counts again, then a change
			fmt.Fprint(w, "event: count\ndata: {\"type\":\"blog\",\"id\":\"1\",\"count\":3}\n\n")
			w.(http.Flusher).Flush()
			time.Sleep(10 * time.Millisecond)
			fmt.Fprint(w, "event: count\r\ndata: {\"type\":\"blog\",\r\ndata: \"id\":\"1\",\"count\":4}\r\n\r\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	c := New(srv.URL, WithRetries(3, time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for ev, err := range c.Stream(ctx, []Target{{"blog", 1}, {"comment", 2}}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s:%d=%d", ev.Type, ev.ID, ev.Count))
		if len(got) == 4 {
			break
		}
	}
	if strings.Join(got, " ") != "blog:1=3 comment:2=0 blog:1=3 blog:1=4" || conns.Load() != 3 {
		t.Fatalf("events %v over %d connections", got, conns.Load())
	}

	// An error answer that another try would not change ends the stream.
	c2, _ := scripted(t, status(400, `{"error":{"code":"bad_request","message":"too many targets"}}`))
	n := 0
	for _, err := range c2.Stream(ctx, []Target{{"blog", 1}}) {
		n++
		if !errors.Is(err, ErrBadRequest) {
			t.Fatalf("err %v", err)
		}
	}
	if n != 1 {
		t.Fatalf("%d values after a 400", n)
	}
}
