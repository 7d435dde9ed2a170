package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
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
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zanlabs/zan/internal/mariadbtest"
)

// dbOutage is how long TestMariaDBDownUnderLoad keeps liking with the store
// down. The issue asks for 30 s; 5 s keeps CI fast and already outlasts the
// persister's longest retry backoff (5 s). For the full run:
//
//	go test -run TestMariaDBDownUnderLoad ./cmd/zan -args -db-outage=30s
var dbOutage = flag.Duration("db-outage", 5*time.Second, "TestMariaDBDownUnderLoad: how long the store stays down under load")

// convergeWithin bounds how long the fault tests wait for every
// acknowledged like to reach the store.
const convergeWithin = 60 * time.Second

type likeKey struct{ user, target int }

type ack struct {
	node string
	at   time.Time
}

// likeLoad likes random comments as random users from concurrent workers,
// and records every like answered 200, and every answer, by phase (the
// phase when the request was sent).
type likeLoad struct {
	clients []*api
	targets int
	nodes   atomic.Pointer[[]string] // base URLs the workers send to

	mu       sync.Mutex
	phase    string
	acked    map[likeKey]bool
	first    map[likeKey]ack           // the first 200 of each like
	byNode   map[string]int            // likes answered 200, by node
	statuses map[string]map[int]int    // phase -> status (0: no answer) -> n
	sample   map[string]map[int]string // phase -> status -> one answer

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startLikeLoad(clients []*api, targets, workers int, phase string, nodes ...string) *likeLoad {
	l := &likeLoad{clients: clients, targets: targets, phase: phase, acked: map[likeKey]bool{}, first: map[likeKey]ack{},
		byNode: map[string]int{}, statuses: map[string]map[int]int{}, sample: map[string]map[int]string{}}
	l.nodes.Store(&nodes)
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	httpc := &http.Client{Timeout: 5 * time.Second}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for ctx.Err() == nil {
				// The phase first: a phase is set after the nodes it uses.
				l.mu.Lock()
				phase := l.phase
				l.mu.Unlock()
				ns := *l.nodes.Load()
				node := ns[w%len(ns)]
				k := likeKey{rng.IntN(len(clients)), rng.IntN(targets) + 1}
				req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/api/v1/likes/comment/%d", node, k.target), nil)
				req.Header.Set("Authorization", "Bearer "+clients[k.user].token)
				status, body := 0, ""
				res, err := httpc.Do(req)
				if err != nil {
					body = err.Error()
				} else {
					b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
					res.Body.Close()
					status, body = res.StatusCode, string(b)
				}
				if ctx.Err() != nil && status != 200 {
					return // cut short by stop: not an answer
				}
				l.mu.Lock()
				if status == 200 {
					if !l.acked[k] {
						l.first[k] = ack{node, time.Now()}
					}
					l.acked[k] = true
					l.byNode[node]++
				}
				if l.statuses[phase] == nil {
					l.statuses[phase], l.sample[phase] = map[int]int{}, map[int]string{}
				}
				l.statuses[phase][status]++
				if _, ok := l.sample[phase][status]; !ok {
					l.sample[phase][status] = body
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *likeLoad) setPhase(p string) {
	l.mu.Lock()
	l.phase = p
	l.mu.Unlock()
}

func (l *likeLoad) stop() {
	l.cancel()
	l.wg.Wait()
}

// ok and refused are the answers 200 and the others of a phase.
func (l *likeLoad) counts(phase string) (ok, refused int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for st, n := range l.statuses[phase] {
		if st == 200 {
			ok += n
		} else {
			refused += n
		}
	}
	return ok, refused
}

func (l *likeLoad) describe(phase string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var parts []string
	for st, n := range l.statuses[phase] {
		s := fmt.Sprintf("%d×%d", n, st)
		if st != 200 {
			s += fmt.Sprintf(" (e.g. %q)", strings.TrimSpace(l.sample[phase][st]))
		}
		parts = append(parts, s)
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
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

type batchItems struct {
	Items []struct {
		ID    string `json:"id"`
		Count int64  `json:"count"`
		Liked *bool  `json:"liked"`
	}
}

// batchGet reads count and liked of comments ids through the batch call,
// as token's user ("" for anonymous).
func batchGet(base, token string, ids []int) (map[int]int64, map[int]bool, error) {
	counts, liked := map[int]int64{}, map[int]bool{}
	for len(ids) > 0 {
		n := min(len(ids), 200)
		var ts []string
		for _, id := range ids[:n] {
			ts = append(ts, "comment:"+strconv.Itoa(id))
		}
		var v batchItems
		if err := getJSON(base, "/api/v1/likes?targets="+strings.Join(ts, ","), token, &v); err != nil {
			return nil, nil, err
		}
		if len(v.Items) != n {
			return nil, nil, fmt.Errorf("batch of %d targets answered %d items", n, len(v.Items))
		}
		for i, it := range v.Items {
			counts[ids[i]] = it.Count
			liked[ids[i]] = it.Liked != nil && *it.Liked
		}
		ids = ids[n:]
	}
	return counts, liked, nil
}

// likers lists every liker of comment id, page by page.
func likers(base string, id int) (map[string]bool, error) {
	out := map[string]bool{}
	cursor := ""
	for {
		var p struct {
			Items []struct {
				UserID string `json:"user_id"`
			}
			NextCursor *string `json:"next_cursor"`
		}
		if err := getJSON(base, fmt.Sprintf("/api/v1/likes/comment/%d/users?limit=100&cursor=%s", id, cursor), "", &p); err != nil {
			return nil, err
		}
		for _, it := range p.Items {
			if out[it.UserID] {
				return nil, fmt.Errorf("comment/%d: liker %s listed twice", id, it.UserID)
			}
			out[it.UserID] = true
		}
		if p.NextCursor == nil {
			return out, nil
		}
		cursor = *p.NextCursor
	}
}

// awaitConverged waits until, read through base, every like load
// acknowledged is liked for its user and listed among its target's likers,
// and every target's count equals its number of likers. It returns how long
// that took, or fails the test after within, saying which likes are missing,
// which node acknowledged them and when, relative to fault.
func awaitConverged(t *testing.T, base string, load *likeLoad, uids []string, fault time.Time, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	want := map[int][]int{} // target -> users acknowledged
	perUser := map[int][]int{}
	for k := range load.acked {
		want[k.target] = append(want[k.target], k.user)
		perUser[k.user] = append(perUser[k.user], k.target)
	}
	pending := map[int]bool{}
	for id := 1; id <= load.targets; id++ {
		pending[id] = true
	}
	usersLeft := map[int]bool{}
	for u := range perUser {
		usersLeft[u] = true
	}
	for {
		var errs []error
		var missing []likeKey
		// Liked for the user: from the hot state, at once.
		for u := range usersLeft {
			_, liked, err := batchGet(base, load.clients[u].token, perUser[u])
			if err != nil {
				errs = append(errs, err)
				break
			}
			var lost []int
			for _, id := range perUser[u] {
				if !liked[id] {
					lost = append(lost, id)
				}
			}
			if len(lost) > 0 {
				slices.Sort(lost)
				errs = append(errs, fmt.Errorf("user %s: acknowledged likes of comments %v not liked", uids[u], lost))
				continue
			}
			delete(usersLeft, u)
		}
		// Listed and counted: the listing comes from the store.
		ids := make([]int, 0, len(pending))
		for id := range pending {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		counts, _, err := batchGet(base, "", ids)
		if err != nil {
			errs = append(errs, err)
			ids = nil
		}
		for _, id := range ids {
			ls, err := likers(base, id)
			if err != nil {
				errs = append(errs, err)
				break
			}
			var absent []likeKey
			for _, u := range want[id] {
				if !ls[uids[u]] {
					absent = append(absent, likeKey{u, id})
				}
			}
			switch {
			case len(absent) > 0:
				missing = append(missing, absent...)
				if len(errs) < 3 {
					errs = append(errs, fmt.Errorf("comment/%d: %d of %d acknowledged likers not listed; count %d, %d listed",
						id, len(absent), len(want[id]), counts[id], len(ls)))
				}
			case counts[id] != int64(len(ls)):
				if len(errs) < 3 {
					errs = append(errs, fmt.Errorf("comment/%d: count %d, %d likers listed", id, counts[id], len(ls)))
				}
			default:
				delete(pending, id)
			}
		}
		if len(errs) == 0 && len(pending) == 0 && len(usersLeft) == 0 {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Errorf("not converged %v after the fault's end: %d of %d targets off, %d users with likes not liked; %v",
				within, len(pending), load.targets, len(usersLeft), errors.Join(errs...))
			if len(missing) > 0 {
				t.Errorf("%d acknowledged likes missing from the listings: %s", len(missing), load.explain(missing, uids, fault))
			}
			t.FailNow()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// explain says which node acknowledged the likes ks, and when relative to
// fault.
func (l *likeLoad) explain(ks []likeKey, uids []string, fault time.Time) string {
	byNode := map[string][]time.Duration{}
	for _, k := range ks {
		a := l.first[k]
		byNode[a.node] = append(byNode[a.node], a.at.Sub(fault))
	}
	var parts []string
	for node, ds := range byNode {
		slices.Sort(ds)
		parts = append(parts, fmt.Sprintf("%d acknowledged by %s between %v and %v after the fault",
			len(ds), node, ds[0].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond)))
	}
	sort.Strings(parts)
	var eg []string
	for _, k := range ks[:min(len(ks), 5)] {
		eg = append(eg, fmt.Sprintf("user %s on comment/%d", uids[k.user], k.target))
	}
	return strings.Join(parts, "; ") + " (e.g. " + strings.Join(eg, ", ") + ")"
}

// noDeadLetters fails the test if base's dead-letter stream holds anything.
func noDeadLetters(t *testing.T, base string) {
	t.Helper()
	var v struct{ Items []json.RawMessage }
	if err := getJSON(base, "/api/v1/admin/dlq?limit=10", "admin-secret", &v); err != nil {
		t.Fatalf("dead letters: %v", err)
	}
	if len(v.Items) != 0 {
		t.Errorf("%d dead letters, want none; first: %s", len(v.Items), v.Items[0])
	}
}

// TestMariaDBDownUnderLoad kills the store (a private MariaDB, SIGKILL)
// under concurrent likes: likes go on being accepted (the write path is the
// hot state and the event log; the store is written behind), and once the
// store is back every acknowledged like reaches it, counts equal likers,
// and nothing is dead-lettered.
func TestMariaDBDownUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private mariadbd")
	}
	db := mariadbtest.Start(t) // its cleanup runs after the server's
	m := startServer(t, func(c *Config) {
		c.DBURL = "mysql://" + db.DSN()
		c.LikeRate, c.LikeBurst = 1e6, 1_000_000
	})
	base := baseURL(m)

	const users, targets, workers = 20, 300, 8
	clients := make([]*api, users)
	uids := make([]string, users)
	for i := range clients {
		clients[i], uids[i] = login(t, base) // sessions live in the store: before the outage
	}
	// Loaded into the hot state while the store is up: a like of a target
	// not in it must read the store first. (Reading a target nobody liked
	// does not load it: reads cost the hot state nothing.)
	for i := range targets {
		clients[0].expect(200, "PUT", "/api/v1/likes/comment/"+strconv.Itoa(i+1), nil)
	}

	load := startLikeLoad(clients, targets, workers, "store up", base)
	defer load.stop()
	time.Sleep(time.Second)
	load.setPhase("store down")
	db.Kill()
	killed := time.Now()
	time.Sleep(*dbOutage)
	load.stop()
	down := time.Since(killed)

	upOK, upRefused := load.counts("store up")
	downOK, downRefused := load.counts("store down")
	t.Logf("store up: %s", load.describe("store up"))
	t.Logf("store down for %v: %s", down.Round(time.Millisecond), load.describe("store down"))
	t.Logf("%d distinct likes acknowledged", len(load.acked))
	// A like sent just before the kill may be refused: it counts as sent
	// with the store up.
	if upOK == 0 || upRefused > workers {
		t.Errorf("with the store up: %d likes accepted, %d refused; want all accepted", upOK, upRefused)
	}
	if downOK == 0 || downRefused > 0 {
		t.Errorf("with the store down: %d likes accepted, %d refused; want all accepted (the store is written behind)", downOK, downRefused)
	}

	restart := time.Now()
	db.Restart(t)
	t.Logf("MariaDB restarted in %v", time.Since(restart).Round(time.Millisecond))
	took := awaitConverged(t, base, load, uids, killed, convergeWithin)
	t.Logf("converged %v after the store came back (outage %v)", took.Round(time.Millisecond), down.Round(time.Millisecond))
	noDeadLetters(t, base)
}

// TestScaleOutNodeKilled runs two `zan serve` nodes on the machine's Redis,
// NATS and MariaDB, likes through both under load, kills node 1 with
// SIGKILL mid-load and goes on through node 2: every like acknowledged by
// either node ends up liked, listed and counted, read through node 2.
// Batches node 1 had fetched but not applied come back to node 2's
// persister after the consumers' AckWait (5 s). Likes node 1 made in Redis
// but never published are published by node 2 when a retry meets them
// (this test found that bug: such a retry was answered 200 with no event).
func TestScaleOutNodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs zan as child processes")
	}
	var c Config
	scaleOut(t)(&c) // skips without the services; its cleanup runs after the nodes'
	flags := func(node int) []string {
		return []string{"--redis", c.RedisURL, "--nats", c.NATSURL, "--db", c.DBURL, "--name", c.Name,
			"--node-id", strconv.Itoa(node), "--admin-token", "admin-secret", "--batch-wait", "10ms",
			// A like node 1 made in Redis but never published (killed
			// between the two, its client got no answer) shows in the hot
			// count until reconciliation publishes it, 5 publish timeouts
			// (here 5 s) after it was made.
			"--reconcile-every", "2s", "--publish-timeout", "1s"}
	}
	n1 := startChild(t, t.TempDir(), freeAddr(t), flags(1)...)
	n2 := startChild(t, t.TempDir(), freeAddr(t), flags(2)...)
	b1, b2 := "http://"+n1.addr, "http://"+n2.addr

	const users, targets, workers = 20, 300, 8
	clients := make([]*api, users)
	uids := make([]string, users)
	for i := range clients {
		clients[i], uids[i] = login(t, []string{b1, b2}[i%2]) // sessions are shared
	}

	load := startLikeLoad(clients, targets, workers, "both nodes", b1, b2)
	defer load.stop()
	time.Sleep(1500 * time.Millisecond)
	load.nodes.Store(&[]string{b2})
	load.setPhase("node 2 alone")
	if err := n1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = n1.cmd.Wait()
	killed := time.Now()
	time.Sleep(3 * time.Second)
	load.stop()

	t.Logf("both nodes: %s", load.describe("both nodes"))
	t.Logf("node 2 alone: %s", load.describe("node 2 alone"))
	t.Logf("%d distinct likes acknowledged; %d answers 200 from node 1, %d from node 2",
		len(load.acked), load.byNode[b1], load.byNode[b2])
	if load.byNode[b1] == 0 {
		t.Fatal("node 1 acknowledged no like before the kill")
	}
	if ok, refused := load.counts("node 2 alone"); ok == 0 || refused > 0 {
		t.Errorf("node 2 after node 1 died: %d likes accepted, %d refused; want all accepted", ok, refused)
	}

	t.Cleanup(func() {
		if t.Failed() {
			dumpLog(t, c.NATSURL, c.Name)
		}
	})
	took := awaitConverged(t, b2, load, uids, killed, convergeWithin)
	t.Logf("converged through node 2 %v after the load stopped, %v after node 1 was killed",
		took.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	noDeadLetters(t, b2)
}

// dumpLog logs the state of a deployment's like stream and its consumers,
// to tell a message never published from one delivered and never
// acknowledged.
func dumpLog(t *testing.T, url, name string) {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Logf("dump: %v", err)
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, strings.ToUpper(name)+"_LIKE_EVENTS")
	if err != nil {
		t.Logf("dump: %v", err)
		return
	}
	info, _ := s.Info(ctx)
	t.Logf("stream: msgs=%d first=%d last=%d", info.State.Msgs, info.State.FirstSeq, info.State.LastSeq)
	for ci := range s.ListConsumers(ctx).Info() {
		t.Logf("consumer %s: pending=%d ack_pending=%d redelivered=%d waiting=%d delivered=%d ack_floor=%d",
			ci.Name, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.NumWaiting, ci.Delivered.Stream, ci.AckFloor.Stream)
	}
	if info.State.Msgs > 0 && info.State.Msgs <= 10 {
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
			if m, err := s.GetMsg(ctx, seq); err == nil {
				t.Logf("seq %d %s %s", seq, m.Subject, m.Data)
			}
		}
	}
}
