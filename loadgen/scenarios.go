package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zanlabs/zan/client"
)

// churnTargets is how many targets the like/unlike churn works on: few, so
// that users meet on them and the consistency check covers them all.
const churnTargets = 200

func (r *Runner) scenario(ctx context.Context, name string) (*Result, error) {
	u := r.cfg.URL + "/api/v1/likes/"
	n := r.cfg.Targets
	switch name {
	case "seq-writes":
		return r.measure(ctx, name, 1, func(ctx context.Context, w *worker) int {
			st, _ := w.do(ctx, "PUT", u+w.target(n), w.token())
			return st
		}), nil
	case "writes":
		return r.measure(ctx, name, r.cfg.Conns, func(ctx context.Context, w *worker) int {
			st, _ := w.do(ctx, "PUT", u+w.target(n), w.token())
			return st
		}), nil
	case "counts":
		return r.measure(ctx, name, r.cfg.Conns, func(ctx context.Context, w *worker) int {
			st, _ := w.do(ctx, "GET", u+w.target(n), "")
			return st
		}), nil
	case "has-liked":
		return r.measure(ctx, name, r.cfg.Conns, func(ctx context.Context, w *worker) int {
			st, _ := w.do(ctx, "GET", u+w.target(n), w.token())
			return st
		}), nil
	case "batch":
		return r.measure(ctx, name, r.cfg.Conns, func(ctx context.Context, w *worker) int {
			var b strings.Builder
			b.WriteString(r.cfg.URL + "/api/v1/likes?targets=")
			for i := range r.cfg.Batch {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString("comment:" + strconv.FormatInt(r.base+1+w.rnd.Int64N(int64(n)), 10))
			}
			st, _ := w.do(ctx, "GET", b.String(), w.token())
			return st
		}), nil
	case "zipf":
		return r.measure(ctx, name, r.cfg.Conns, func(ctx context.Context, w *worker) int {
			id := r.base + 1 + int64(w.zipf.Uint64())
			st, _ := w.do(ctx, "PUT", u+"comment/"+strconv.FormatInt(id, 10), w.token())
			return st
		}), nil
	case "churn":
		// A base of its own, so that earlier scenarios' likes do not count.
		base := r.base + int64(r.cfg.Targets) + 1
		res := r.measure(ctx, name, r.cfg.Conns, func(ctx context.Context, w *worker) int {
			method := "PUT"
			if w.rnd.IntN(2) == 0 {
				method = "DELETE"
			}
			st, _ := w.do(ctx, method, u+"comment/"+strconv.FormatInt(base+w.rnd.Int64N(churnTargets), 10), w.token())
			return st
		})
		res.Check = r.checkCounts(ctx, base)
		return res, nil
	case "flash":
		return r.flash(ctx)
	case "blog-likes":
		blogs, err := r.writeBlogs(ctx)
		if err != nil {
			return nil, err
		}
		return r.measure(ctx, name, r.cfg.Conns, func(ctx context.Context, w *worker) int {
			method := "PUT"
			if w.rnd.IntN(2) == 0 {
				method = "DELETE"
			}
			st, _ := w.do(ctx, method, u+"blog/"+strconv.FormatInt(blogs[w.rnd.IntN(len(blogs))], 10), w.token())
			return st
		}), nil
	}
	return nil, fmt.Errorf("unknown scenario")
}

// writeBlogs has every user write a blog and returns their ids.
func (r *Runner) writeBlogs(ctx context.Context) ([]int64, error) {
	ids := make([]int64, len(r.tokens))
	var wg sync.WaitGroup
	errs := make(chan error, len(r.tokens))
	sem := make(chan struct{}, 16)
	for i, tok := range r.tokens {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			b, err := r.api(tok).CreateBlog(ctx, "bench", "a post to be liked", 0)
			if err != nil {
				errs <- fmt.Errorf("writing a blog: %w", err)
				return
			}
			ids[i] = int64(b.ID)
		}()
	}
	wg.Wait()
	close(errs)
	return ids, <-errs
}

// checkCounts waits (up to 30 s) until every churn target's count, from the
// hot state, equals the number of its likers listed from the store: the
// persister drained and nothing drifted.
func (r *Runner) checkCounts(ctx context.Context, base int64) string {
	deadline := time.Now().Add(30 * time.Second)
	var bad string
	for {
		bad = ""
		c := r.api("")
		for i := int64(0); i < churnTargets && bad == ""; i++ {
			id := base + i
			l, err := c.GetLikes(ctx, "comment", id)
			if err != nil {
				return "failed: " + err.Error()
			}
			listed, q := int64(0), client.LikeQuery{ListOptions: client.ListOptions{Limit: 100}}
			for {
				p, err := c.Likers(ctx, "comment", id, q)
				if err != nil {
					return "failed: " + err.Error()
				}
				listed += int64(len(p.Items))
				if p.Next == "" {
					break
				}
				q.Cursor = p.Next
			}
			if listed != l.Count {
				bad = fmt.Sprintf("comment/%d: count %d, %d likers in the store", id, l.Count, listed)
			}
		}
		if bad == "" {
			return fmt.Sprintf("ok: %d targets, every count equals its likers in the store", churnTargets)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "FAILED: " + bad
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// flash runs a flash sale: a shop and a voucher of Stock units (admin
// token needed), then order attempts from every user; it checks that no
// more than Stock orders were accepted, none twice for a user, and that the
// voucher's remaining stock says the same.
func (r *Runner) flash(ctx context.Context) (*Result, error) {
	if r.cfg.AdminToken == "" {
		return nil, fmt.Errorf("the flash sale needs --admin-token (the server's)")
	}
	admin := r.api(r.cfg.AdminToken)
	name, typ, x, y := "Bench Noodle House", "food", 120.15, 30.27
	shop, err := admin.CreateShop(ctx, client.ShopInput{Name: &name, Type: &typ, X: &x, Y: &y})
	if err != nil {
		return nil, err
	}
	now := time.Now()
	v, err := admin.CreateVoucher(ctx, int64(shop.ID), "bench", r.cfg.Stock, now.Add(-time.Second), now.Add(time.Hour))
	if err != nil {
		return nil, err
	}
	var (
		mu      sync.Mutex
		winners = map[string]string{} // token → order id
		twice   atomic.Int64
	)
	url := r.cfg.URL + "/api/v1/vouchers/" + strconv.FormatInt(int64(v.ID), 10) + "/orders"
	res := r.measure(ctx, "flash", r.cfg.Conns, func(ctx context.Context, w *worker) int {
		tok := w.token()
		st, body := w.do(ctx, "POST", url, tok)
		switch st {
		case http.StatusAccepted:
			var o struct {
				OrderID string `json:"order_id"`
			}
			_ = json.Unmarshal(body, &o)
			mu.Lock()
			// The same order again is the answer to a retry while the first
			// was in flight; another order would be a second unit.
			if prev, ok := winners[tok]; ok && prev != o.OrderID {
				twice.Add(1)
			}
			winners[tok] = o.OrderID
			mu.Unlock()
			return st
		case http.StatusConflict, http.StatusGone:
			return http.StatusOK // the sale's normal answers, not errors
		}
		return st
	})
	got, err := r.api("").Voucher(ctx, int64(v.ID))
	if err != nil {
		res.Check = "failed: " + err.Error()
		return res, nil
	}
	n := int64(len(winners))
	switch {
	case n > r.cfg.Stock:
		res.Check = fmt.Sprintf("FAILED: %d orders accepted for %d units", n, r.cfg.Stock)
	case twice.Load() > 0:
		res.Check = fmt.Sprintf("FAILED: %d users won twice", twice.Load())
	case got.Remaining != r.cfg.Stock-n:
		res.Check = fmt.Sprintf("FAILED: %d accepted but %d of %d remaining", n, got.Remaining, r.cfg.Stock)
	default:
		res.Check = fmt.Sprintf("ok: %d of %d units sold, no user twice, remaining %d", n, r.cfg.Stock, got.Remaining)
	}
	return res, nil
}

// baseline measures a bare net/http handler answering a small JSON body,
// in this process, with conns connections (once per connection count).
func (r *Runner) baseline(ctx context.Context, conns int) (*Result, error) {
	if b, ok := r.bases[conns]; ok {
		return b, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	body := []byte(`{"liked":true,"changed":true,"count":1}`)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	defer srv.Close()
	url := "http://" + l.Addr().String() + "/"
	// The bare server runs in this process, so its cost is this process's.
	if r.probe != nil {
		saved := r.probe
		r.probe = selfProbe()
		defer func() { r.probe = saved }()
	}
	b := r.measure(ctx, "baseline", conns, func(ctx context.Context, w *worker) int {
		st, _ := w.do(ctx, "GET", url, "")
		return st
	})
	r.bases[conns] = b
	return b, nil
}
