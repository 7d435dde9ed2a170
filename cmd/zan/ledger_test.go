package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The fault tests drive likes and unlikes under load, record every answer
// in a ledger, and check afterwards that the service ended where its
// answers said: nothing answered 200 is lost (a like or an unlike),
// nothing appears that nobody asked for, and counts equal likers.

// likeKey is one user's like of one comment.
type likeKey struct{ user, target int }

// user is a signed-in test user; its token is replaced when a session is
// lost (a Redis that came back empty forgets sessions).
type user struct {
	phone string
	id    string
	token atomic.Pointer[string]
}

// ledger is the load and the record of its answers.
type ledger struct {
	users   []*user
	targets int
	nodes   atomic.Pointer[[]string] // base URLs the workers send to
	httpc   *http.Client

	mu sync.Mutex
	// want is the state the last definite answer of each key left: a 200
	// says liked or not; a 503, 429 or 401 says nothing changed. open
	// holds the keys whose last request got no answer (a node killed
	// mid-request, a timeout): either state is right for them. asked holds
	// the keys a like was ever sent for: one liked without is a phantom.
	want, open, asked map[likeKey]bool
	phase             string
	statuses          map[string]map[int]int     // phase -> status (0: no answer) -> n
	sample            map[string]map[int]string  // phase -> status -> one answer
	slowest           map[string]time.Duration   // phase -> the slowest answer
	retryAfter        map[string]bool            // phase -> every 503 had Retry-After
	took              map[string][]time.Duration // phase -> every answer's latency

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newLedger signs users in through base.
func newLedger(t *testing.T, base string, users, targets int) *ledger {
	t.Helper()
	l := &ledger{targets: targets, httpc: &http.Client{Timeout: 5 * time.Second},
		want: map[likeKey]bool{}, open: map[likeKey]bool{}, asked: map[likeKey]bool{},
		statuses: map[string]map[int]int{}, sample: map[string]map[int]string{},
		slowest: map[string]time.Duration{}, retryAfter: map[string]bool{}, took: map[string][]time.Duration{}}
	for range users {
		u := &user{phone: fmt.Sprintf("137%08d", phoneSeq.Add(1))}
		if err := l.login(base, u); err != nil {
			t.Fatal(err)
		}
		l.users = append(l.users, u)
	}
	return l
}

// login signs u in through the dev-code flow.
func (l *ledger) login(base string, u *user) error {
	post := func(path string, body any, v any) error {
		b, _ := json.Marshal(body)
		res, err := l.httpc.Post(base+path, "application/json", strings.NewReader(string(b)))
		if err != nil {
			return err
		}
		defer res.Body.Close()
		rb, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			return fmt.Errorf("POST %s: %d %s", path, res.StatusCode, rb)
		}
		return json.Unmarshal(rb, v)
	}
	var code struct {
		DevCode string `json:"dev_code"`
	}
	if err := post("/api/v1/auth/code", map[string]string{"phone": u.phone}, &code); err != nil {
		return err
	}
	var in struct {
		Token string
		User  struct{ ID string }
	}
	if err := post("/api/v1/auth/login", map[string]string{"phone": u.phone, "code": code.DevCode}, &in); err != nil {
		return err
	}
	u.id = in.User.ID
	u.token.Store(&in.Token)
	return nil
}

// start runs workers until stop: each owns the users w, w+workers, ... so
// the requests of one key are one after another and their answers in
// order. likes is the share of likes (the rest are unlikes).
func (l *ledger) start(workers int, likes float64, phase string, nodes ...string) {
	l.nodes.Store(&nodes)
	l.setPhase(phase)
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			var mine []int
			for u := w; u < len(l.users); u += workers {
				mine = append(mine, u)
			}
			for i := 0; ctx.Err() == nil; i++ {
				ns := *l.nodes.Load()
				node := ns[i%len(ns)]
				k := likeKey{mine[rng.IntN(len(mine))], rng.IntN(l.targets) + 1}
				l.send(ctx, node, k, rng.Float64() < likes)
			}
		}()
	}
}

func (l *ledger) setPhase(p string) {
	l.mu.Lock()
	l.phase = p
	l.mu.Unlock()
}

// stop ends the load; requests cut short by it are not answers.
func (l *ledger) stop() {
	if l.cancel != nil {
		l.cancel()
		l.wg.Wait()
	}
}

// send likes or unlikes k through node and records the answer.
func (l *ledger) send(ctx context.Context, node string, k likeKey, like bool) {
	u := l.users[k.user]
	method := "PUT"
	if !like {
		method = "DELETE"
	}
	l.mu.Lock()
	phase := l.phase
	if like {
		l.asked[k] = true
	}
	l.mu.Unlock()
	req, _ := http.NewRequestWithContext(ctx, method, fmt.Sprintf("%s/api/v1/likes/comment/%d", node, k.target), nil)
	req.Header.Set("Authorization", "Bearer "+*u.token.Load())
	start := time.Now()
	status, body, retryAfter := 0, "", ""
	res, err := l.httpc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			// Cut short by stop: it may have been carried out, so it is
			// open, but it is not an answer.
			l.mu.Lock()
			l.open[k] = true
			l.mu.Unlock()
			return
		}
		body = err.Error()
	} else {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		res.Body.Close()
		status, body, retryAfter = res.StatusCode, string(b), res.Header.Get("Retry-After")
	}
	took := time.Since(start)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch status {
	case 200:
		var v struct{ Liked bool }
		if json.Unmarshal([]byte(body), &v) == nil {
			l.want[k] = v.Liked
			delete(l.open, k)
		} else {
			l.open[k] = true
		}
	case 0:
		l.open[k] = true
	case 401:
		go l.login(node, u) // the session was lost: sign in again
	}
	if l.statuses[phase] == nil {
		l.statuses[phase], l.sample[phase] = map[int]int{}, map[int]string{}
		l.retryAfter[phase] = true
	}
	l.statuses[phase][status]++
	if _, ok := l.sample[phase][status]; !ok {
		l.sample[phase][status] = strings.TrimSpace(body)
	}
	l.slowest[phase] = max(l.slowest[phase], took)
	l.took[phase] = append(l.took[phase], took)
	if status == 503 && retryAfter == "" {
		l.retryAfter[phase] = false
	}
}

// counts returns the answers 200 and the others of a phase.
func (l *ledger) counts(phase string) (ok, other int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for st, n := range l.statuses[phase] {
		if st == 200 {
			ok += n
		} else {
			other += n
		}
	}
	return ok, other
}

// report logs each phase's answers and its slowest answer.
func (l *ledger) report(t *testing.T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var phases []string
	for p := range l.statuses {
		phases = append(phases, p)
	}
	sort.Strings(phases)
	for _, p := range phases {
		var parts []string
		for st, n := range l.statuses[p] {
			s := fmt.Sprintf("%d×%d", n, st)
			if st != 200 {
				s += fmt.Sprintf(" (e.g. %.120q)", l.sample[p][st])
			}
			parts = append(parts, s)
		}
		sort.Strings(parts)
		t.Logf("%s: %s; slowest answer %v", p, strings.Join(parts, ", "), l.slowest[p].Round(time.Millisecond))
	}
	t.Logf("%d keys answered, %d open (no answer)", len(l.want), len(l.open))
}

// quantile is the q-quantile (0-1) of the latencies of phase's answers.
func (l *ledger) quantile(phase string, q float64) time.Duration {
	l.mu.Lock()
	ds := slices.Clone(l.took[phase])
	l.mu.Unlock()
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(q*float64(len(ds))))]
}

// failFast fails the test if an answer of phase took longer than d or a
// 503 came without Retry-After.
func (l *ledger) failFast(t *testing.T, phase string, d time.Duration) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.slowest[phase] > d {
		t.Errorf("%s: an answer took %v, want at most %v (fail fast)", phase, l.slowest[phase].Round(time.Millisecond), d)
	}
	if !l.retryAfter[phase] {
		t.Errorf("%s: a 503 without Retry-After", phase)
	}
}

// verdict is what a check of the ledger found.
type verdict struct {
	lostLikes, lostUnlikes, phantoms []likeKey
	countDrift                       []string
	storeDrift                       []string
}

func (v verdict) ok() bool {
	return len(v.lostLikes)+len(v.lostUnlikes)+len(v.phantoms)+len(v.countDrift)+len(v.storeDrift) == 0
}

func (v verdict) String() string {
	eg := func(ks []likeKey) string {
		var s []string
		for _, k := range ks[:min(3, len(ks))] {
			s = append(s, fmt.Sprintf("user#%d/comment %d", k.user, k.target))
		}
		return strings.Join(s, " ")
	}
	return fmt.Sprintf("%d lost likes (%s), %d lost unlikes (%s), %d phantoms (%s), %d counts off (%s), %d store drifts (%s)",
		len(v.lostLikes), eg(v.lostLikes), len(v.lostUnlikes), eg(v.lostUnlikes), len(v.phantoms), eg(v.phantoms),
		len(v.countDrift), strings.Join(v.countDrift[:min(3, len(v.countDrift))], " "),
		len(v.storeDrift), strings.Join(v.storeDrift[:min(3, len(v.storeDrift))], " "))
}

// check reads every user's view of every target through base and, with db,
// the store's rows and counts, and compares them with the ledger.
func (l *ledger) check(base string, db *sql.DB, table string) (verdict, error) {
	var v verdict
	ids := make([]int, l.targets)
	for i := range ids {
		ids[i] = i + 1
	}
	likers := map[int]int64{} // target -> users liking it, as the API says
	counts := map[int]int64{}
	l.mu.Lock()
	defer l.mu.Unlock()
	for ui, u := range l.users {
		c, liked, err := batchGet(base, *u.token.Load(), ids)
		if err != nil {
			return v, err
		}
		for _, id := range ids {
			k := likeKey{ui, id}
			counts[id] = c[id]
			if liked[id] {
				likers[id]++
			}
			switch {
			case liked[id] && !l.asked[k]:
				v.phantoms = append(v.phantoms, k)
			case l.open[k]:
			case l.want[k] && !liked[id]:
				v.lostLikes = append(v.lostLikes, k)
			case !l.want[k] && liked[id]:
				v.lostUnlikes = append(v.lostUnlikes, k)
			}
		}
	}
	for _, id := range ids {
		if counts[id] != likers[id] {
			v.countDrift = append(v.countDrift, fmt.Sprintf("comment/%d:%d≠%d", id, counts[id], likers[id]))
		}
	}
	if db == nil {
		return v, nil
	}
	// The store: its rows are the record, and its counts theirs.
	byID := map[string]int{}
	for ui, u := range l.users {
		byID[u.id] = ui
	}
	rows, err := db.Query(`SELECT target_id, user_id FROM ` + table + `likes WHERE target_type = 'comment' AND liked = 1`)
	if err != nil {
		return v, err
	}
	stored := map[int]int64{}
	for rows.Next() {
		var id int
		var uid int64
		if err := rows.Scan(&id, &uid); err != nil {
			rows.Close()
			return v, err
		}
		stored[id]++
		ui, ok := byID[strconv.FormatInt(uid, 10)]
		k := likeKey{ui, id}
		if !ok || !l.asked[k] {
			v.storeDrift = append(v.storeDrift, fmt.Sprintf("phantom row %d/%d", uid, id))
		} else if !l.open[k] && !l.want[k] {
			v.storeDrift = append(v.storeDrift, fmt.Sprintf("unliked row liked %d/%d", uid, id))
		}
	}
	rows.Close()
	for _, id := range ids {
		if stored[id] != likers[id] {
			v.storeDrift = append(v.storeDrift, fmt.Sprintf("comment/%d: %d rows, %d likers read", id, stored[id], likers[id]))
		}
	}
	var bad int
	if err := db.QueryRow(`SELECT COUNT(*) FROM ` + table + `like_counts c WHERE c.count <> (SELECT COUNT(*) FROM ` + table +
		`likes l WHERE l.target_type = c.target_type AND l.target_id = c.target_id AND l.liked = 1)`).Scan(&bad); err != nil {
		return v, err
	}
	if bad > 0 {
		v.storeDrift = append(v.storeDrift, fmt.Sprintf("%d stored counts not their rows'", bad))
	}
	return v, nil
}

// converge checks the ledger until it holds or within passes, and returns
// how long that took; it fails the test with what is off.
func (l *ledger) converge(t *testing.T, base string, db *sql.DB, table string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		v, err := l.check(base, db, table)
		if err == nil && v.ok() {
			took := time.Since(start)
			t.Logf("converged %v after the load stopped", took.Round(time.Millisecond))
			return took
		}
		if time.Since(start) > within {
			if err != nil {
				t.Fatalf("not converged %v after the load stopped: %v", within, err)
			}
			t.Fatalf("not converged %v after the load stopped: %v", within, v)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// getJSON GETs base+path into v; any status but 200 is an error.
func getJSON(base, path, token string, v any) error {
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return fmt.Errorf("GET %s: %d: %s", path, res.StatusCode, b)
	}
	return json.Unmarshal(b, v)
}

// batchGet reads count and liked of comments ids through the batch call,
// as token's user ("" for anonymous).
func batchGet(base, token string, ids []int) (map[int]int64, map[int]bool, error) {
	counts, liked := map[int]int64{}, map[int]bool{}
	for ids := range slices.Chunk(ids, 200) {
		var ts []string
		for _, id := range ids {
			ts = append(ts, "comment:"+strconv.Itoa(id))
		}
		var v struct {
			Items []struct {
				Count int64 `json:"count"`
				Liked *bool `json:"liked"`
			}
		}
		if err := getJSON(base, "/api/v1/likes?targets="+strings.Join(ts, ","), token, &v); err != nil {
			return nil, nil, err
		}
		if len(v.Items) != len(ids) {
			return nil, nil, fmt.Errorf("batch of %d targets answered %d items", len(ids), len(v.Items))
		}
		for i, it := range v.Items {
			counts[ids[i]] = it.Count
			liked[ids[i]] = it.Liked != nil && *it.Liked
		}
	}
	return counts, liked, nil
}

// noDeadLetters fails the test if base's dead-letter stream holds anything.
func noDeadLetters(t *testing.T, base, adminToken string) {
	t.Helper()
	var v struct{ Items []json.RawMessage }
	if err := getJSON(base, "/api/v1/admin/dlq?limit=10", adminToken, &v); err != nil {
		t.Fatalf("dead letters: %v", err)
	}
	if len(v.Items) != 0 {
		t.Errorf("%d dead letters, want none; first: %s", len(v.Items), v.Items[0])
	}
}
