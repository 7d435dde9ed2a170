package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zanlabs/zan/metrics"
	"github.com/zanlabs/zan/migrate"
)

// rowLoad writes the tables other than likes through every node during
// an online migration: it signs new users in, each of whom orders once
// from a flash-sale voucher, writes blogs and renames itself. Every
// answer is recorded per phase, and what was acknowledged is checked
// against the destination afterwards.
type rowLoad struct {
	bases   []string
	voucher string
	stock   int
	httpc   *http.Client

	mu     sync.Mutex
	phase  string
	status map[string]map[string]int // phase -> "op status" -> n
	took   map[string][]time.Duration
	first  map[string]string
	// A request cut short by stop may have been done without its answer:
	// what was asked is recorded before, what was acknowledged after.
	asked    map[string]bool     // phones signed in with, blog titles, nicknames
	users    map[string]bool     // signed in: user id
	names    map[string][]string // user id -> last nickname acknowledged, then those asked after it
	namedIn  map[string]string   // user id -> phase of the last rename acknowledged
	signedIn map[string]string   // user id -> phase it signed in
	blogs    map[string]string   // blog id -> title
	orders   map[string]string   // order id -> user id
	refused  int                 // orders answered sold out (410) or not yet (425)
	phoneSeq int

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// rowOp is one request's answer.
type rowOp struct {
	status int
	body   map[string]any
}

func newRowLoad(t *testing.T, bases []string, stock int) *rowLoad {
	t.Helper()
	admin := newAPI(t, bases[0])
	admin.token = "admin-secret"
	shop := admin.expect(201, "POST", "/api/v1/shops", map[string]any{"name": "Migration Cafe", "type": "cafe", "x": 120.1, "y": 30.2}).json(t)["id"].(string)
	now := time.Now().UTC()
	voucher := admin.expect(201, "POST", "/api/v1/vouchers", map[string]any{"shop_id": shop, "title": "flash", "stock": stock,
		"begin_at": now.Add(-time.Second).Format(time.RFC3339), "end_at": now.Add(time.Hour).Format(time.RFC3339)}).json(t)["id"].(string)
	return &rowLoad{bases: bases, voucher: voucher, stock: stock, httpc: &http.Client{Timeout: 10 * time.Second},
		status: map[string]map[string]int{}, took: map[string][]time.Duration{}, first: map[string]string{},
		asked: map[string]bool{}, users: map[string]bool{}, names: map[string][]string{}, namedIn: map[string]string{}, signedIn: map[string]string{}, blogs: map[string]string{}, orders: map[string]string{}}
}

func (r *rowLoad) setPhase(p string) { r.mu.Lock(); r.phase = p; r.mu.Unlock() }

// call makes one request and records its answer under op in the phase.
func (r *rowLoad) call(ctx context.Context, op, base, method, path, token string, body any) (rowOp, bool) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctx, method, base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	res, err := r.httpc.Do(req)
	if ctx.Err() != nil {
		return rowOp{}, false
	}
	var out rowOp
	if err == nil {
		out.status = res.StatusCode
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		json.Unmarshal(b, &out.body)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status[r.phase] == nil {
		r.status[r.phase] = map[string]int{}
	}
	key := fmt.Sprintf("%s %d", op, out.status)
	r.status[r.phase][key]++
	r.took[r.phase] = append(r.took[r.phase], time.Since(start))
	if !r.expected(op, out.status) && r.first[r.phase] == "" {
		r.first[r.phase] = fmt.Sprintf("%s %s: %d %v %v", method, path, out.status, err, out.body)
	}
	return out, true
}

// expected reports whether status is an answer op may give: orders may
// be refused, being sold out or made twice.
func (r *rowLoad) expected(op string, status int) bool {
	switch op {
	case "order":
		return status == 202 || status == 410 || status == 409
	case "blog":
		return status == 201 || status == 200
	}
	return status == 200
}

// start runs workers until stop; each owns the users it signs in.
func (r *rowLoad) start(workers int) {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for w := range workers {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			var mine []struct{ id, token string }
			for i := 0; ctx.Err() == nil; i++ {
				base := r.bases[(i+w)%len(r.bases)]
				if i%3 == 0 || len(mine) == 0 {
					r.mu.Lock()
					r.phoneSeq++
					phone := fmt.Sprintf("136%02d%06d", w, r.phoneSeq)
					r.asked[phone] = true
					r.mu.Unlock()
					c, ok := r.call(ctx, "code", base, "POST", "/api/v1/auth/code", "", map[string]string{"phone": phone})
					if !ok || c.status != 200 {
						continue
					}
					in, ok := r.call(ctx, "signin", base, "POST", "/api/v1/auth/login", "", map[string]string{"phone": phone, "code": c.body["dev_code"].(string)})
					if !ok || in.status != 200 {
						continue
					}
					id := in.body["user"].(map[string]any)["id"].(string)
					tok := in.body["token"].(string)
					mine = append(mine, struct{ id, token string }{id, tok})
					r.mu.Lock()
					r.users[id] = true
					r.signedIn[id] = r.phase
					r.mu.Unlock()
					// The new user orders once from the flash sale.
					o, ok := r.call(ctx, "order", r.bases[(i+w+1)%len(r.bases)], "POST", "/api/v1/vouchers/"+r.voucher+"/orders", tok, nil)
					if ok {
						r.mu.Lock()
						if o.status == 202 {
							r.orders[o.body["order_id"].(string)] = id
						} else if o.status == 410 {
							r.refused++
						}
						r.mu.Unlock()
					}
					continue
				}
				u := mine[i%len(mine)]
				if i%3 == 1 {
					title := fmt.Sprintf("b-%d-%d", w, i)
					r.mu.Lock()
					r.asked[title] = true
					r.mu.Unlock()
					b, ok := r.call(ctx, "blog", base, "POST", "/api/v1/blogs", u.token, map[string]any{"title": title, "content": "c"})
					if ok && (b.status == 201 || b.status == 200) {
						r.mu.Lock()
						r.blogs[b.body["id"].(string)] = title
						r.mu.Unlock()
					}
					continue
				}
				name := fmt.Sprintf("n-%d-%d", w, i)
				r.mu.Lock()
				r.names[u.id] = append(r.names[u.id], name)
				r.mu.Unlock()
				p, ok := r.call(ctx, "rename", base, "PATCH", "/api/v1/me", u.token, map[string]any{"nickname": name})
				if ok && p.status == 200 {
					r.mu.Lock()
					r.names[u.id] = []string{name}
					r.namedIn[u.id] = r.phase
					r.mu.Unlock()
				}
			}
		}()
	}
}

func (r *rowLoad) stop() { r.cancel(); r.wg.Wait() }

// counts returns the answers of phase that were expected and the others.
func (r *rowLoad) counts(p string) (ok, other int, sample string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, n := range r.status[p] {
		var op string
		var st int
		fmt.Sscanf(k, "%s %d", &op, &st)
		if r.expected(op, st) {
			ok += n
		} else {
			other += n
		}
	}
	return ok, other, r.first[p]
}

func (r *rowLoad) quantile(p string, q float64) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := &ledger{took: map[string][]time.Duration{p: r.took[p]}}
	return l.quantile(p, q)
}

// check compares what was acknowledged with the rows of db (tables
// prefixed by prefix): every user, last nickname, blog and order is
// there, nothing else of the load is, and the voucher sold no more than
// its stock, its remaining stock matching its orders.
func (r *rowLoad) check(t *testing.T, db *sql.DB, prefix string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := func(q string, args ...any) []string {
		t.Helper()
		rows, err := db.Query(q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	sorted := func(s []string) []string { slices.Sort(s); return s }
	// Users: every one acknowledged is there, and every one there was
	// asked for.
	stored := map[string]bool{}
	for _, row := range ids(`SELECT CONCAT(CAST(id AS CHAR), ' ', phone) FROM ` + prefix + `users WHERE phone LIKE '136%'`) {
		var id, phone string
		fmt.Sscan(row, &id, &phone)
		stored[id] = true
		if !r.asked[phone] {
			t.Errorf("user %s (%s): nobody signed in with it", id, phone)
		}
	}
	for id := range r.users {
		if !stored[id] {
			t.Errorf("user %s: signed in, not stored", id)
		}
	}
	for id, names := range r.names {
		// Never renamed as acknowledged (a rename cut short by stop): the
		// nickname it signed in with is as right as the one asked for.
		first := r.namedIn[id] == ""
		if got := ids(`SELECT nickname FROM `+prefix+`users WHERE id = ?`, id); len(got) != 1 ||
			!slices.Contains(names, got[0]) && !(first && strings.HasPrefix(got[0], "user_")) {
			t.Errorf("user %s (signed in in %q): nickname %v, acknowledged in %q (or asked after) %v", id, r.signedIn[id], got, r.namedIn[id], names)
		}
	}
	want := map[string]bool{}
	for id, title := range r.blogs {
		want[id] = true
		if got := ids(`SELECT title FROM `+prefix+`blogs WHERE id = ?`, id); len(got) != 1 || got[0] != title {
			t.Errorf("blog %s: title %v, acknowledged %q", id, got, title)
		}
	}
	for _, title := range ids(`SELECT title FROM ` + prefix + `blogs WHERE title LIKE 'b-%'`) {
		if !r.asked[title] {
			t.Errorf("blog %q: nobody wrote it", title)
		}
	}
	want = map[string]bool{}
	for id := range r.orders {
		want[id] = true
	}
	// Orders: every one acknowledged is there (once applied), each of a
	// user who asked, and no more than the stock; the stock remaining
	// is what they left.
	var got []string
	within(t, "orders applied", time.Minute, func() error {
		got = sorted(ids(`SELECT CAST(id AS CHAR) FROM `+prefix+`orders WHERE voucher_id = ?`, r.voucher))
		for id := range want {
			if !slices.Contains(got, id) {
				return fmt.Errorf("order %s: acknowledged, not stored (%d stored, %d acknowledged)", id, len(got), len(want))
			}
		}
		return nil
	})
	for _, u := range ids(`SELECT CAST(user_id AS CHAR) FROM `+prefix+`orders WHERE voucher_id = ?`, r.voucher) {
		if !stored[u] {
			t.Errorf("an order of user %s, who did not sign in here", u)
		}
	}
	if len(got) > r.stock || r.refused > 0 && len(got) != r.stock {
		t.Errorf("flash sale: %d orders stored (%d acknowledged), %d refused, stock %d", len(got), len(r.orders), r.refused, r.stock)
	}
	if rem := ids(`SELECT CAST(remaining AS CHAR) FROM `+prefix+`vouchers WHERE id = ?`, r.voucher); len(rem) != 1 || rem[0] != fmt.Sprint(r.stock-len(got)) {
		t.Errorf("voucher remaining %v, want %d", rem, r.stock-len(got))
	}
	t.Logf("rows acknowledged: %d users, %d renamed, %d blogs, %d orders (%d refused, stock %d)",
		len(r.users), len(r.names), len(r.blogs), len(r.orders), r.refused, r.stock)
}

// tablesEqual fails unless every table other than likes holds the same
// rows in both stores, differences in flight aside (a sweep's drift).
func tablesEqual(t *testing.T, src, dst migrate.RowStore, phase migrate.Phase) {
	t.Helper()
	sw, err := migrate.NewSwitch(t.Context(), nil, "check", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []migrate.Phase{migrate.PhaseMirror, migrate.PhaseReads, migrate.PhaseWrites} {
		if p == migrate.PhaseWrites && phase != migrate.PhaseWrites {
			break
		}
		if _, err := sw.Set(t.Context(), p, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A check repairs nothing: Drift counts what stayed different over
	// three looks. A row copy that failed under load (counted) is the
	// nodes' sweep's to repair, every --verify-every: the check waits for
	// it.
	s := &migrate.Sweeper{Router: migrate.NewRouter(src, dst, sw), Batch: 1000}
	var rep *migrate.SweepReport
	start := time.Now()
	within(t, "tables equal in both stores", 30*time.Second, func() error {
		if rep = s.Check(t.Context()); rep.Error != "" || rep.Drift != 0 || rep.Rows == 0 {
			return fmt.Errorf("tables differ between the stores: %+v", rep)
		}
		return nil
	})
	t.Logf("tables other than likes: %d rows equal in both stores after %v (%d row copies failed under load, left to the sweep)",
		rep.Rows, time.Since(start).Round(time.Millisecond), int(testutil.ToFloat64(metrics.MigrationRowCopies.WithLabelValues("failed"))))
}
