package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	mrand "math/rand/v2"
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
	"github.com/zanlabs/zan/internal/testenv"
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
	return testenv.RedisAddr(t)
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
	t.Run("LimitedToggle", func(t *testing.T) { testLimitedToggle(t, open(t, cfg)) })
	t.Run("Buckets", func(t *testing.T) { testBuckets(t, func(t *testing.T) *Likes { return open(t, cfg).Likes() }) })
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
	defer func(c, m, v int) { loadChunk, membersScanAbove, moveChunk = c, m, v }(loadChunk, membersScanAbove, moveChunk)
	loadChunk, membersScanAbove, moveChunk = 1000, 1000, 50 // 256 buckets: six moves
	ctx := t.Context()
	tg := zan.Target{Type: "blog", ID: 1}
	users := make([]int64, 25_000)
	for i := range users {
		users[i] = int64(i + 1)
	}
	users = append(users, 7, 8) // duplicates must not trip the count check
	if err := l.Load(ctx, tg, users, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.Load(ctx, tg, []int64{1, 2, 3}, 0); err != nil { // a late loader loses
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
	ch, err := l.Toggle(ctx, tg, 1, false, testID())
	if err != nil || !ch.Changed || ch.Count != 24_999 {
		t.Fatalf("Toggle after a big load: %+v %v", ch, err)
	}
}

// testIdleIndex checks that the index heals: a Toggle on a missing target
// leaves a stale entry, which Idle offers and Evict drops.
func testIdleIndex(t *testing.T, l *Likes) {
	ctx := t.Context()
	tg := zan.Target{Type: "comment", ID: 9}
	if _, err := l.Toggle(ctx, tg, 1, true, testID()); err != zan.ErrNotLoaded {
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
	if err := l.Load(t.Context(), tg, []int64{1}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Toggle(t.Context(), tg, 2, true, testID()); err != nil {
		t.Fatal(err)
	}

	srv.Process.Kill()
	srv.Wait()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err = l.Toggle(ctx, tg, 3, true, testID())
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
		_, err = l.Toggle(t.Context(), tg, 3, true, testID())
		if err == zan.ErrNotLoaded || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != zan.ErrNotLoaded {
		t.Fatalf("Toggle on a restarted, empty Redis: %v, want ErrNotLoaded", err)
	}
	if err := l.Load(t.Context(), tg, []int64{1, 2}, 0); err != nil {
		t.Fatal(err)
	}
	if ch, err := l.Toggle(t.Context(), tg, 3, true, testID()); err != nil || ch.Count != 3 {
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
				if err := l.Load(ctx, zan.Target{Type: "blog", ID: int64(i + 1)}, nil, 0); err != nil {
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
					if _, err := l.Toggle(ctx, t, n, true, testID()); err != nil {
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
		if err := l.Load(context.Background(), zan.Target{Type: "blog", ID: int64(i + 1)}, users, 0); err != nil {
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
					if err := l.Load(context.Background(), zan.Target{Type: "blog", ID: int64(t + 1)}, users, 0); err != nil {
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
	conformance.BenchmarkTakeVoucher(b, func(b *testing.B) zan.VoucherState {
		return open(b, Config{Addrs: []string{addr}}).Vouchers()
	}, 32)
}

// layout reads a target's count and bucket layout straight from its hash.
func layout(t *testing.T, l *Likes, tg zan.Target) (n, lv, sp int64) {
	t.Helper()
	a, err := l.c.c.Do(t.Context(), l.c.c.B().Hmget().Key(l.key(tg)).Field("n", "lv", "sp").Build()).ToArray()
	if err != nil || len(a) != 3 {
		t.Fatalf("HMGET layout: %v %v", a, err)
	}
	v := make([]int64, 3)
	for i := range a {
		if v[i], err = a[i].AsInt64(); err != nil {
			t.Fatalf("layout field %d: %v", i, err)
		}
	}
	return v[0], v[1], v[2]
}

// checkBuckets checks that every bucket of tg is an intset of at most 512
// members, that they hold n members in all, that each member is in the
// bucket the layout says, and that there is no bucket past the layout.
// It returns the number of buckets.
func checkBuckets(t *testing.T, l *Likes, tg zan.Target) int {
	t.Helper()
	ctx, c := t.Context(), l.c.c
	n, lv, sp := layout(t, l, tg)
	nb := 1<<lv + int(sp)
	var sum int64
	for b := range nb + 1 {
		key := bucketKey(l.key(tg), b)
		enc, err := c.Do(ctx, c.B().ObjectEncoding().Key(key).Build()).ToString()
		if rueidis.IsRedisNil(err) {
			continue // an empty bucket has no set
		}
		if err != nil {
			t.Fatal(err)
		}
		if b == nb {
			t.Fatalf("bucket %d exists past the layout (lv %d, sp %d)", b, lv, sp)
		}
		ms, err := c.Do(ctx, c.B().Smembers().Key(key).Build()).AsStrSlice()
		if err != nil {
			t.Fatal(err)
		}
		if enc != "intset" || len(ms) > 512 {
			t.Fatalf("bucket %d of %d: %s of %d members, want an intset of <= 512", b, nb, enc, len(ms))
		}
		for _, m := range ms {
			u, _ := strconv.ParseInt(m, 10, 64)
			if w := bucketOf(userHash(u), int(lv), int(sp)); w != b {
				t.Fatalf("user %d in bucket %d, belongs in %d", u, b, w)
			}
		}
		sum += int64(len(ms))
	}
	if sum != n {
		t.Fatalf("buckets hold %d members, n says %d", sum, n)
	}
	return nb
}

// checkMembers compares State and Members with the model.
func checkMembers(t *testing.T, l *Likes, tg zan.Target, model map[int64]bool) {
	t.Helper()
	st, err := l.State(t.Context(), []zan.Target{tg}, 0)
	if err != nil || !st[0].Loaded || st[0].Count != int64(len(model)) {
		t.Fatalf("State: %+v %v, want count %d", st, err, len(model))
	}
	got, ok, err := l.Members(t.Context(), tg)
	if err != nil || !ok {
		t.Fatalf("Members: %v %v", ok, err)
	}
	want := make([]int64, 0, len(model))
	for u := range model {
		want = append(want, u)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Members: %d users, want %d (first difference near %v)", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []int64) []int64 {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return []int64{a[i], b[i]}
		}
	}
	return nil
}

// snowflake returns ids shaped like zan.IDGen's at a low rate: sequence 0,
// of one node, so their low 12 bits are all 0.
func snowflake(r *mrand.Rand, n int, node int64) []int64 {
	ids := make([]int64, n)
	ms := int64(1_000_000_000)
	for i := range ids {
		ms += 1 + r.Int64N(5000)
		ids[i] = ms<<22 | node<<12
	}
	return ids
}

// testBuckets checks what the conformance suite cannot see of the bucketed
// layout: splits, encodings, Load's layout, and the upgrade from one set.
func testBuckets(t *testing.T, open func(t *testing.T) *Likes) {
	t.Run("HashAgrees", func(t *testing.T) {
		l := open(t)
		ids := []int64{1, 2, 9, 10, 99, 12345, 1<<53 + 1, 1<<62 - 1, 1 << 62, 1<<62 + 1, 1<<63 - 1, -1, -(1 << 62), math.MinInt64, 4294967291, 4294967290, 4294967292, 999999, 1000000, 1000001}
		r := mrand.New(mrand.NewPCG(1, 2))
		ids = append(ids, snowflake(r, 50, 3)...)
		for range 50 {
			ids = append(ids, r.Int64(), r.Int64N(1<<40), 1<<62-r.Int64N(1<<30))
		}
		args := make([]string, len(ids))
		for i, u := range ids {
			args[i] = strconv.FormatInt(u, 10)
		}
		s := newScript(likesLua + growLua + `
local out = {}
for i, s in ipairs(ARGV) do out[i] = fmt(uhash(s)) .. ' ' .. string.sub(bkey("", uhash(s), 5, 7), 3) end
return out`)
		got, err := s.run(t.Context(), l.c.c, []string{l.key(zan.Target{Type: "blog", ID: 1})}, args...).AsStrSlice()
		if err != nil {
			t.Fatal(err)
		}
		for i, u := range ids {
			h := userHash(u)
			if want := fmt.Sprintf("%d %d", h, bucketOf(h, 5, 7)); got[i] != want {
				t.Fatalf("user %d: Lua says %s, Go %s", u, got[i], want)
			}
		}
	})

	t.Run("Splits", func(t *testing.T) {
		// 20,000 toggles on one target from nothing, checked against a
		// model: likes of new users (small ids, ids near 2^62, snowflake
		// ids), unlikes, re-likes, repeats and undos.
		l := open(t)
		ctx := t.Context()
		tg := zan.Target{Type: "blog", ID: mrand.Int64N(1<<40) + 1}
		if err := l.Load(ctx, tg, nil, 0); err != nil {
			t.Fatal(err)
		}
		r := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 7))
		model := map[int64]bool{}
		var members, gone []int64 // likers (may hold stale entries), unliked users
		fresh := func() int64 {
			switch r.IntN(4) {
			case 0:
				return 1 + r.Int64N(1_000_000)
			case 1:
				return 1<<62 - r.Int64N(1<<20)
			case 2:
				return 1<<62 + r.Int64N(1<<20)
			}
			return snowflake(r, 1, 3)[0] + r.Int64N(1<<30)<<22
		}
		pick := func(s []int64) int64 { return s[r.IntN(len(s))] }
		splitsSeen := 0
		for step := range 20_000 {
			var user int64
			var like bool
			switch p := r.IntN(100); {
			case p < 65 || len(members) == 0:
				user, like = fresh(), true
			case p < 82:
				user, like = pick(members), false
			case p < 92 && len(gone) > 0:
				user, like = pick(gone), true
			case p < 96:
				user, like = pick(members), true // maybe a repeat
			default:
				user, like = fresh(), false // never liked
			}
			id := testID()
			ch, err := l.Toggle(ctx, tg, user, like, id)
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			changed := model[user] != like
			if like {
				model[user] = true
				if changed {
					members = append(members, user)
				}
			} else {
				delete(model, user)
				if changed {
					gone = append(gone, user)
				}
			}
			if ch.Changed != changed || ch.Count != int64(len(model)) {
				t.Fatalf("step %d: toggle of %d to %v: %+v, want changed=%v count=%d", step, user, like, ch, changed, len(model))
			}
			if changed && r.IntN(50) == 0 { // undo now and then
				if u, err := l.Undo(ctx, tg, user, like, id); err != nil || !u.Changed {
					t.Fatalf("undo: %+v %v", u, err)
				}
				if like {
					delete(model, user)
				} else {
					model[user] = true
					members = append(members, user)
				}
			}
			if step%1000 == 999 {
				u := pick(members)
				st, err := l.State(ctx, []zan.Target{tg}, u)
				if err != nil || st[0].Count != int64(len(model)) || st[0].Liked != model[u] {
					t.Fatalf("step %d: State for %d: %+v %v, want count %d liked %v", step, u, st, err, len(model), model[u])
				}
				if _, lv, sp := layout(t, l, tg); int(1<<lv+sp) > splitsSeen {
					splitsSeen = int(1<<lv + sp)
				}
			}
		}
		checkMembers(t, l, tg, model)
		nb := checkBuckets(t, l, tg)
		if want := (len(model) + splitFill - 1) / splitFill; nb < want {
			t.Fatalf("%d buckets for %d likers, want at least %d", nb, len(model), want)
		}
		t.Logf("%d likers in %d buckets", len(model), nb)
	})

	t.Run("LoadThenToggle", func(t *testing.T) {
		l := open(t)
		ctx := t.Context()
		r := mrand.New(mrand.NewPCG(3, 4))
		for _, size := range []int{100_000, 4_000} { // chunked, then one script
			tg := zan.Target{Type: "blog", ID: mrand.Int64N(1<<40) + 1}
			users := snowflake(r, size, 3)
			if err := l.Load(ctx, tg, append(users, users[:10]...), 0); err != nil { // duplicates too
				t.Fatal(err)
			}
			if n, lv, sp := layout(t, l, tg); n != int64(size) || lv != int64(loadLevel(size+10)) || sp != 0 {
				t.Fatalf("after a Load of %d: n %d lv %d sp %d", size, n, lv, sp)
			}
			checkBuckets(t, l, tg)
			model := map[int64]bool{}
			for _, u := range users {
				model[u] = true
			}
			checkMembers(t, l, tg, model)
			// Enough new likes to split a 4,000 after its Load (32 buckets
			// fill at 6,400), and unlikes of loaded users.
			more := snowflake(r, 4_000, 4) // another node: new users
			for i, u := range more {
				like := true
				if i%8 == 7 {
					u, like = users[i], false
				}
				ch, err := l.Toggle(ctx, tg, u, like, testID())
				if err != nil || !ch.Changed {
					t.Fatalf("toggle %d of %d: %+v %v", i, u, ch, err)
				}
				if like {
					model[u] = true
				} else {
					delete(model, u)
				}
				if ch.Count != int64(len(model)) {
					t.Fatalf("toggle %d: count %d, want %d", i, ch.Count, len(model))
				}
			}
			checkMembers(t, l, tg, model)
			nb := checkBuckets(t, l, tg)
			if size == 4_000 && nb <= 32 {
				t.Fatalf("no split after Load of 4,000 and %d likes: %d buckets", len(model), nb)
			}
		}
	})

	t.Run("Upgrade", func(t *testing.T) {
		// A target of the former layout: a hash without "n" and one set.
		l := open(t)
		ctx, c := t.Context(), l.c.c
		old := func(tg zan.Target) {
			meta := l.key(tg)
			now := strconv.FormatInt(time.Now().UnixMicro(), 10)
			for _, cmd := range []rueidis.Completed{
				c.B().Hset().Key(meta).FieldValue().FieldValue("at", now).FieldValue("used", now).FieldValue("p2", now).Build(),
				c.B().Sadd().Key(meta+":u").Member("1", "2", "3").Build(),
			} {
				if err := c.Do(ctx, cmd).Error(); err != nil {
					t.Fatal(err)
				}
			}
		}
		exists := func(keys ...string) int64 {
			n, err := c.Do(ctx, c.B().Exists().Key(keys...).Build()).AsInt64()
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		tg := zan.Target{Type: "blog", ID: mrand.Int64N(1<<40) + 1}
		old(tg)
		if st, err := l.State(ctx, []zan.Target{tg}, 1); err != nil || st[0].Loaded || st[0].Count != 0 || st[0].Liked {
			t.Fatalf("State of the former layout: %+v %v, want not loaded", st, err)
		}
		if _, err := l.Toggle(ctx, tg, 4, true, testID()); err != zan.ErrNotLoaded {
			t.Fatalf("Toggle on the former layout: %v, want ErrNotLoaded", err)
		}
		if _, ok, err := l.Members(ctx, tg); ok || err != nil {
			t.Fatalf("Members of the former layout: %v %v", ok, err)
		}
		if in, err := l.Inspect(ctx, []zan.Target{tg}, 1<<62); err != nil || in[0].Loaded {
			t.Fatalf("Inspect of the former layout: %+v %v", in, err)
		}
		if u, err := l.Undo(ctx, tg, 1, false, "never"); err != nil || u.Changed {
			t.Fatal(u, err)
		}
		if err := l.Load(ctx, tg, []int64{1, 9}, 0); err != nil {
			t.Fatal(err)
		}
		if exists(l.key(tg)+":u") != 0 {
			t.Fatal("Load left the former set behind")
		}
		if in, _ := l.Inspect(ctx, []zan.Target{tg}, 1<<62); in[0].Unconfirmed != 0 {
			t.Fatalf("Load kept the former hash's pending marks: %+v", in)
		}
		checkMembers(t, l, tg, map[int64]bool{1: true, 9: true})
		if ch, err := l.Toggle(ctx, tg, 2, true, testID()); err != nil || !ch.Changed || ch.Count != 3 {
			t.Fatalf("Toggle after the reload: %+v %v", ch, err)
		}

		// A big Load (chunked) replaces the former layout too.
		defer func(n int) { loadChunk = n }(loadChunk)
		loadChunk = 100
		big := zan.Target{Type: "blog", ID: tg.ID + 1}
		old(big)
		users := make([]int64, 1000)
		model := map[int64]bool{}
		for i := range users {
			users[i] = int64(i + 10)
			model[users[i]] = true
		}
		if err := l.Load(ctx, big, users, 0); err != nil {
			t.Fatal(err)
		}
		if exists(l.key(big)+":u") != 0 {
			t.Fatal("a chunked Load left the former set behind")
		}
		checkMembers(t, l, big, model)
		checkBuckets(t, l, big)

		// Evict of the former layout reports it missing and removes it.
		gone := zan.Target{Type: "blog", ID: tg.ID + 2}
		old(gone)
		if ok, err := l.Evict(ctx, gone, time.Now().Add(-time.Hour)); ok || err != nil {
			t.Fatalf("Evict of the former layout: %v %v", ok, err)
		}
		if exists(l.key(gone), l.key(gone)+":u") != 0 {
			t.Fatal("Evict left the former layout behind")
		}
	})

	t.Run("EvictBuckets", func(t *testing.T) {
		l := open(t)
		ctx := t.Context()
		tg := zan.Target{Type: "blog", ID: mrand.Int64N(1<<40) + 1}
		users := make([]int64, 3000)
		for i := range users {
			users[i] = int64(i + 1)
		}
		if err := l.Load(ctx, tg, users, 0); err != nil {
			t.Fatal(err)
		}
		if ok, err := l.Evict(ctx, tg, time.Now().Add(time.Hour)); !ok || err != nil {
			t.Fatalf("Evict: %v %v", ok, err)
		}
		for _, n := range l.c.c.Nodes() {
			var cursor uint64
			for {
				e, err := n.Do(ctx, n.B().Scan().Cursor(cursor).Match(l.key(tg)+"*").Count(1000).Build()).AsScanEntry()
				if err != nil {
					t.Fatal(err)
				}
				if len(e.Elements) > 0 {
					t.Fatalf("Evict left %v", e.Elements)
				}
				if cursor = e.Cursor; cursor == 0 {
					break
				}
			}
		}
	})
}

// TestUserHashSpread: buckets stay even for the id shapes users have
// (sequential, strided by a power of two, snowflake, near 2^62), which
// u mod 2^lv, or |u| mod a prime alone, would crowd into few buckets.
func TestUserHashSpread(t *testing.T) {
	r := mrand.New(mrand.NewPCG(5, 6))
	flakes := snowflake(r, 100_000, 3)
	for name, id := range map[string]func(i int) int64{
		"sequential": func(i int) int64 { return int64(i) + 1 },
		"stride8":    func(i int) int64 { return int64(i)*8 + 3 },
		"stride1000": func(i int) int64 { return int64(i)*1000 + 7 },
		"stride4096": func(i int) int64 { return int64(i)*4096 + 1 },
		"stride2^22": func(i int) int64 { return int64(i) << 22 },
		"near2^62":   func(i int) int64 { return 1<<62 + int64(i)*1000 },
		"snowflake":  func(i int) int64 { return flakes[i] },
	} {
		const n, lv = 100_000, 9
		cnt := make([]int, 1<<lv)
		for i := range n {
			cnt[bucketOf(userHash(id(i)), lv, 0)]++
		}
		if mx := slices.Max(cnt); mx > n>>lv*13/10 {
			t.Errorf("%s: fullest bucket %d, mean %d", name, mx, n>>lv)
		}
	}
}
