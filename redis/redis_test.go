package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/conformance"
	"github.com/zanlabs/zan/internal/redistest"
)

var (
	freePort     = redistest.FreePort
	startServer  = redistest.Start
	command      = redistest.Command
	startCluster = redistest.Cluster
)

// testAddr returns the shared Redis of ZAN_TEST_REDIS, or skips: plain
// `go test ./...` needs no service.
func testAddr(t testing.TB) string {
	a := os.Getenv("ZAN_TEST_REDIS")
	if a == "" {
		t.Skip("ZAN_TEST_REDIS not set: set it to host:port of a Redis 7 to run the redis tests")
	}
	return a
}

func needServer(t testing.TB) string {
	testAddr(t)
	p, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not on PATH: cannot start a private Redis")
	}
	return p
}

// open connects with a prefix of its own and deletes its keys at cleanup,
// so runs can share one Redis.
func open(t testing.TB, cfg Config) *Client {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	cfg.Prefix = "zantest" + hex.EncodeToString(b)
	c, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.clean(); err != nil {
			t.Errorf("cleaning up %s: %v", cfg.Prefix, err)
		}
		c.Close()
	})
	return c
}

// clean deletes every key of c's prefix, on every node.
func (c *Client) clean() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range c.c.Nodes() {
		var cursor uint64
		for {
			e, err := n.Do(ctx, n.B().Scan().Cursor(cursor).Match("{"+c.prefix+":*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				return err
			}
			if len(e.Elements) > 0 {
				cmds := make(rueidis.Commands, 0, len(e.Elements))
				for _, k := range e.Elements {
					cmds = append(cmds, c.c.B().Unlink().Key(k).Build())
				}
				for _, r := range c.c.DoMulti(ctx, cmds...) {
					if err := r.Error(); err != nil {
						return err
					}
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return nil
}

func suites(t *testing.T, cfg Config) {
	t.Run("LikeState", func(t *testing.T) {
		conformance.TestLikeState(t, func(t *testing.T) zan.LikeState { return open(t, cfg).Likes() })
	})
	t.Run("CodeStore", func(t *testing.T) {
		conformance.TestCodeStore(t, func(t *testing.T) zan.CodeStore { return open(t, cfg).Codes() })
	})
	t.Run("RateLimiter", func(t *testing.T) {
		conformance.TestRateLimiter(t, func(t *testing.T) zan.RateLimiter { return open(t, cfg).Limiter() })
	})
	t.Run("SessionStore", func(t *testing.T) {
		conformance.TestSessionStore(t, func(t *testing.T) zan.SessionStore { return open(t, cfg).Sessions() })
	})
	t.Run("VoucherState", func(t *testing.T) {
		conformance.TestVoucherState(t, func(t *testing.T) zan.VoucherState { return open(t, cfg).Vouchers() })
	})
	t.Run("Cache", func(t *testing.T) {
		conformance.TestCache(t, func(t *testing.T) zan.Cache { return open(t, cfg).Cache() })
	})
	t.Run("BigLoad", func(t *testing.T) { testBigLoad(t, open(t, cfg).Likes()) })
	t.Run("IdleIndex", func(t *testing.T) { testIdleIndex(t, open(t, cfg).Likes()) })
	t.Run("VoucherLoad", func(t *testing.T) { testVoucherLoad(t, open(t, cfg)) })
}

func TestStandalone(t *testing.T) {
	suites(t, Config{Addrs: []string{testAddr(t)}})
}

func TestCluster(t *testing.T) {
	bin := needServer(t)
	start := time.Now()
	addrs := startCluster(t, bin, 3)
	t.Logf("cluster of %d masters up in %v", len(addrs), time.Since(start).Round(time.Millisecond))
	suites(t, Config{Addrs: addrs, Cluster: true})
}

// testBigLoad loads in many chunks (made small here) and reads by SSCAN.
func testBigLoad(t *testing.T, l *Likes) {
	defer func(c, m int) { loadChunk, membersScanAbove = c, m }(loadChunk, membersScanAbove)
	loadChunk, membersScanAbove = 1000, 1000
	ctx := t.Context()
	tg := zan.Target{Type: "blog", ID: 1}
	users := make([]int64, 25_000)
	for i := range users {
		users[i] = int64(i + 1)
	}
	users = append(users, 7, 8) // duplicates must not trip the count check
	if err := l.Load(ctx, tg, users); err != nil {
		t.Fatal(err)
	}
	if err := l.Load(ctx, tg, []int64{1, 2, 3}); err != nil { // a late loader loses
		t.Fatal(err)
	}
	st, err := l.State(ctx, []zan.Target{tg}, 25_000)
	if err != nil || !st[0].Loaded || st[0].Count != 25_000 || !st[0].Liked {
		t.Fatalf("State after a big load: %+v %v", st, err)
	}
	got, ok, err := l.Members(ctx, tg)
	if err != nil || !ok {
		t.Fatalf("Members: %v %v", ok, err)
	}
	slices.Sort(got)
	if !slices.Equal(got, users[:25_000]) {
		t.Fatalf("Members: %d users, want 25000", len(got))
	}
	ch, err := l.Toggle(ctx, tg, 1, false)
	if err != nil || !ch.Changed || ch.Count != 24_999 {
		t.Fatalf("Toggle after a big load: %+v %v", ch, err)
	}
}

// testIdleIndex checks that the index heals: a Toggle on a missing target
// leaves a stale entry, which Idle offers and Evict drops.
func testIdleIndex(t *testing.T, l *Likes) {
	ctx := t.Context()
	tg := zan.Target{Type: "comment", ID: 9}
	if _, err := l.Toggle(ctx, tg, 1, true); err != zan.ErrNotLoaded {
		t.Fatal(err)
	}
	if _, err := l.State(ctx, []zan.Target{{Type: "comment", ID: 10}}, 1); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	idle, err := l.Idle(ctx, future, 100)
	if err != nil || !slices.Equal(idle, []zan.Target{tg}) {
		t.Fatalf("Idle: %v %v, want the stale entry only", idle, err)
	}
	if ok, err := l.Evict(ctx, tg, future); ok || err != nil {
		t.Fatalf("Evict of a stale entry: %v %v", ok, err)
	}
	if idle, _ := l.Idle(ctx, future, 100); len(idle) != 0 {
		t.Fatalf("stale entry survived Evict: %v", idle)
	}
}

// TestFault kills Redis under a client: calls fail fast as unavailable;
// a restarted, empty Redis answers ErrNotLoaded, so the caller reloads.
func TestFault(t *testing.T) {
	bin := needServer(t)
	dir := t.TempDir()
	port := freePort(t, false)
	srv := startServer(t, bin, dir, port)
	// Not open: the private server dies with the test, keys and all.
	c, err := Open(t.Context(), Config{Addrs: []string{"127.0.0.1:" + strconv.Itoa(port)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := c.Likes()
	tg := zan.Target{Type: "blog", ID: 1}
	if err := l.Load(t.Context(), tg, []int64{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Toggle(t.Context(), tg, 2, true); err != nil {
		t.Fatal(err)
	}

	srv.Process.Kill()
	srv.Wait()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err = l.Toggle(ctx, tg, 3, true)
	if zan.ErrorCode(err) != zan.EUnavailable {
		t.Fatalf("Toggle with Redis down: %v, want unavailable", err)
	}
	t.Logf("Toggle with Redis down failed in %v: %v", time.Since(start).Round(time.Microsecond), err)
	if err := c.Ping(ctx); zan.ErrorCode(err) != zan.EUnavailable {
		t.Fatalf("Ping with Redis down: %v", err)
	}

	startServer(t, bin, dir, port)
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err = l.Toggle(t.Context(), tg, 3, true)
		if err == zan.ErrNotLoaded || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != zan.ErrNotLoaded {
		t.Fatalf("Toggle on a restarted, empty Redis: %v, want ErrNotLoaded", err)
	}
	if err := l.Load(t.Context(), tg, []int64{1, 2}); err != nil {
		t.Fatal(err)
	}
	if ch, err := l.Toggle(t.Context(), tg, 3, true); err != nil || ch.Count != 3 {
		t.Fatalf("Toggle after reload: %+v %v", ch, err)
	}
}

// BenchmarkToggle measures likes/s from many goroutines through one client:
// with auto-pipelining concurrent calls share connections and round trips;
// without it each call takes a pooled connection of its own.
func BenchmarkToggle(b *testing.B) {
	addr := testAddr(b)
	for _, bc := range []struct {
		name string
		off  bool
	}{{"pipelined", false}, {"unpipelined", true}} {
		b.Run(bc.name, func(b *testing.B) {
			l := open(b, Config{Addrs: []string{addr}, DisableAutoPipelining: bc.off}).Likes()
			ctx := context.Background()
			const targets = 1000
			for i := range targets {
				if err := l.Load(ctx, zan.Target{Type: "blog", ID: int64(i + 1)}, nil); err != nil {
					b.Fatal(err)
				}
			}
			var seq atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					t := zan.Target{Type: "blog", ID: n%targets + 1}
					if _, err := l.Toggle(ctx, t, n, true); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "likes/s")
		})
	}
}

// BenchmarkLoadMillion measures a Load of one target with a million likers.
func BenchmarkLoadMillion(b *testing.B) {
	l := open(b, Config{Addrs: []string{testAddr(b)}}).Likes()
	users := make([]int64, 1_000_000)
	for i := range users {
		users[i] = int64(i + 1)
	}
	for i := 0; b.Loop(); i++ {
		if err := l.Load(context.Background(), zan.Target{Type: "blog", ID: int64(i + 1)}, users); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBytesPerLike measures what Redis holds per hot like at 1,000,000
// likes (INFO used_memory before and after), spread thin and concentrated.
// Run with -benchtime=1x against a Redis nothing else writes to meanwhile.
func BenchmarkBytesPerLike(b *testing.B) {
	for _, shape := range []struct{ targets, likes int }{{10000, 100}, {100, 10000}} {
		b.Run(fmt.Sprintf("targets=%d", shape.targets), func(b *testing.B) {
			c := open(b, Config{Addrs: []string{testAddr(b)}})
			used := func() int64 {
				s, err := c.c.Do(context.Background(), c.c.B().Info().Section("memory").Build()).ToString()
				if err != nil {
					b.Fatal(err)
				}
				for _, line := range strings.Split(s, "\r\n") {
					if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
						n, _ := strconv.ParseInt(v, 10, 64)
						return n
					}
				}
				b.Fatal("no used_memory in INFO")
				return 0
			}
			for range b.N {
				before := used()
				l := c.Likes()
				users := make([]int64, shape.likes)
				for t := range shape.targets {
					for i := range users {
						users[i] = int64(t*shape.likes+i) + 118339478963093507
					}
					if err := l.Load(context.Background(), zan.Target{Type: "blog", ID: int64(t + 1)}, users); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(used()-before)/float64(shape.targets*shape.likes), "bytes/like")
			}
		})
	}
}

// testVoucherLoad checks what the conformance suite cannot see: a loaded
// buyer set does not keep the staging set's TTL, no staging set outlives
// its load (won, lost or refused), and a staging set that lost members is
// not installed.
func testVoucherLoad(t *testing.T, c *Client) {
	defer func(n int) { loadChunk = n }(loadChunk)
	loadChunk = 1000 // several round trips of several chunks
	ctx := t.Context()
	v := c.Vouchers()
	now := time.Now()
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	sale := func(id, remaining int64, n int) zan.VoucherSale {
		s := zan.VoucherSale{ID: id, Remaining: remaining, BeginAt: now.Add(-time.Hour), EndAt: now.Add(time.Hour)}
		for i := range n {
			s.Buyers = append(s.Buyers, int64(i+1))
		}
		return s
	}
	staging := func(id int64) []string {
		meta, _ := v.keys(id)
		var keys []string
		for _, n := range c.c.Nodes() {
			var cursor uint64
			for {
				e, err := n.Do(ctx, n.B().Scan().Cursor(cursor).Match(meta+":s:*").Count(1000).Build()).AsScanEntry()
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, e.Elements...)
				if cursor = e.Cursor; cursor == 0 {
					break
				}
			}
		}
		return keys
	}

	for _, tc := range []struct {
		name         string
		first, again int // buyers of the winning load, of a late one
	}{
		{"small", 10, 10},
		{"chunked", 20_000, 20_000},
		{"empty", 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := mrand.Int64N(1<<50) + 1
			must(t, v.LoadVoucher(ctx, sale(id, 7, tc.first)))
			must(t, v.LoadVoucher(ctx, sale(id, 99, tc.again)))
			meta, buyers := v.keys(id)
			if n, _, err := v.VoucherRemaining(ctx, id); err != nil || n != 7 {
				t.Fatalf("remaining %d, %v; want the first load's 7", n, err)
			}
			if n, err := c.c.Do(ctx, c.c.B().Scard().Key(buyers).Build()).AsInt64(); err != nil || n != int64(tc.first) {
				t.Fatalf("%d buyers, %v; want %d", n, err, tc.first)
			}
			for _, k := range []string{meta, buyers} {
				// -2 (missing) for the set of a sale without buyers.
				if ttl, err := c.c.Do(ctx, c.c.B().Pttl().Key(k).Build()).AsInt64(); err != nil || (ttl != -1 && !(ttl == -2 && tc.first == 0 && k == buyers)) {
					t.Fatalf("PTTL %s = %d, %v: a loaded sale must not expire", k, ttl, err)
				}
			}
			if left := staging(id); len(left) != 0 {
				t.Fatalf("staging sets left behind: %v", left)
			}
		})
	}

	t.Run("StagingLost", func(t *testing.T) {
		id := mrand.Int64N(1<<50) + 1
		meta, buyers := v.keys(id)
		tmp := meta + ":s:lost"
		must(t, c.c.Do(ctx, c.c.B().Sadd().Key(tmp).Member("1", "2").Build()).Error())
		// Three members were staged; two are there.
		n, err := installLua.run(ctx, c.c, []string{meta, buyers, tmp}, "5", "0", "1", "3").AsInt64()
		if err != nil || n != -1 {
			t.Fatalf("install of a short staging set: %d, %v; want -1", n, err)
		}
		if _, ok, _ := v.VoucherRemaining(ctx, id); ok {
			t.Fatal("a short staging set was installed")
		}
		if left := staging(id); len(left) != 0 {
			t.Fatalf("refused staging set left behind: %v", left)
		}
	})
}

// BenchmarkTakeVoucher measures the flash-sale step (one script) on one
// voucher from many goroutines through one client, every call by another
// user: "taken" while stock lasts, "soldout" once it is gone. One voucher is
// one slot, so this is the ceiling of one sale on one Redis core.
func BenchmarkTakeVoucher(b *testing.B) {
	addr := testAddr(b)
	for _, bc := range []struct {
		name  string
		stock int64
	}{{"taken", 1 << 62}, {"soldout", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			v := open(b, Config{Addrs: []string{addr}}).Vouchers()
			ctx := context.Background()
			now := time.Now()
			if err := v.LoadVoucher(ctx, zan.VoucherSale{ID: 1, Remaining: bc.stock,
				BeginAt: now.Add(-time.Hour), EndAt: now.Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
			var seq atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					if _, _, err := v.TakeVoucher(ctx, 1, n, 118339478963093507+n, now); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "takes/s")
		})
	}
}
