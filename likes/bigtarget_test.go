package likes

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/testenv"
	"github.com/zanlabs/zan/internal/zantest"
	"github.com/zanlabs/zan/mysql"
	"github.com/zanlabs/zan/persist"
)

// BenchmarkBigTarget: one target with ten million likers (ZAN_BENCH_LIKERS
// to change it) in MariaDB, against targets of ten, in scale-out's parts
// (Redis hot state, MariaDB store, JetStream log). It reports how long the
// big target takes to load, what its load does to the toggles of other
// targets meanwhile (p99 before, during, after), and the p99 of has-liked
// and of the first likers page for the big target and a small one. It runs
// its phases once, whatever b.N: `go test -run '^$' -bench BigTarget
// -benchtime 1x ./likes/`. The likers are written into MariaDB with its
// sequence tables (INSERT ... SELECT FROM seq_1_to_N), not through the API,
// so the setup takes a minute or two, not hours.
func BenchmarkBigTarget(b *testing.B) {
	n := 10_000_000
	if v := os.Getenv("ZAN_BENCH_LIKERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10 {
			b.Fatalf("ZAN_BENCH_LIKERS=%q: want a count ≥ 10", v)
		}
	}
	dsn := testenv.FreshMySQL(b)
	ctx := context.Background()
	db, err := mysql.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	big, small := zan.Target{Type: "comment", ID: 1}, zan.Target{Type: "comment", ID: 2}
	start := time.Now()
	fill(b, dsn, big, n)
	fill(b, dsn, small, 10)
	b.Logf("%d likers written to MariaDB in %v", n, time.Since(start).Round(time.Second))

	rc := openRedis(b)
	log := zantest.Log(b, 2)
	svc := New(Config{Limit: zan.Limit{Rate: 1e9, Burst: 1e9}, Wait: 10 * time.Minute, L1TTL: time.Nanosecond},
		rc.Likes(), log, db, nil, nil)
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); svc.Run(rctx) }()
	go func() {
		defer wg.Done()
		persist.New(persist.Config{MaxWait: 10 * time.Millisecond}, log, db, nil).Run(rctx)
	}()
	defer func() { cancel(); wg.Wait() }()

	// Others: 64 targets liked all along by 8 writers; their latency is
	// recorded per phase.
	const others = 64
	phase := atomic.Int32{}
	hists := [3]*hdrhistogram.Histogram{newHist(), newHist(), newHist()}
	var failed [3]atomic.Int64
	var mu sync.Mutex
	stop := make(chan struct{})
	var writers sync.WaitGroup
	for w := range 8 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				tg := zan.Target{Type: "comment", ID: int64(100 + r.IntN(others))}
				t0 := time.Now()
				if _, err := svc.Toggle(ctx, int64(1+r.IntN(1000)), tg, r.IntN(2) == 0); err != nil {
					failed[phase.Load()].Add(1)
					b.Log(err)
					continue
				}
				d := time.Since(t0)
				mu.Lock()
				hists[phase.Load()].RecordValue(d.Microseconds())
				mu.Unlock()
			}
		}()
	}
	time.Sleep(3 * time.Second) // before

	phase.Store(1)
	t0 := time.Now()
	if _, err := svc.Toggle(ctx, int64(n+1), big, true); err != nil { // loads the big target
		b.Fatal(err)
	}
	loadTime := time.Since(t0)
	phase.Store(2)
	time.Sleep(3 * time.Second) // after
	close(stop)
	writers.Wait()

	// The reads alternate between the two targets, so that the machine's
	// other load weighs on both alike.
	type reader struct {
		t      zan.Target
		likers int
		liked  *hdrhistogram.Histogram
		page   *hdrhistogram.Histogram
	}
	rs := []reader{{big, n, newHist(), newHist()}, {small, 10, newHist(), newHist()}}
	r := rand.New(rand.NewPCG(1, 9))
	for range 2000 {
		for _, rd := range rs {
			t0 := time.Now()
			items, err := svc.Get(ctx, []zan.Target{rd.t}, int64(1+r.IntN(rd.likers)))
			if err != nil || !items[0].Liked {
				b.Fatalf("has-liked %v: %+v %v", rd.t, items, err)
			}
			rd.liked.RecordValue(time.Since(t0).Microseconds())
			t0 = time.Now()
			p, err := svc.Likers(ctx, rd.t, zan.LikeQuery{Limit: 20, Order: zan.Earliest})
			if err != nil || len(p.Items) == 0 {
				b.Fatalf("first likers %v: %d %v", rd.t, len(p.Items), err)
			}
			rd.page.RecordValue(time.Since(t0).Microseconds())
		}
	}
	bigLiked, bigPage := pct(rs[0].liked), pct(rs[0].page)
	smallLiked, smallPage := pct(rs[1].liked), pct(rs[1].page)

	b.ReportMetric(loadTime.Seconds(), "load-s")
	b.ReportMetric(float64(pct(hists[0]).Microseconds()), "others-p99-before-µs")
	b.ReportMetric(float64(pct(hists[1]).Microseconds()), "others-p99-during-µs")
	b.ReportMetric(float64(pct(hists[2]).Microseconds()), "others-p99-after-µs")
	b.ReportMetric(float64(bigLiked.Microseconds()), "big-hasliked-p99-µs")
	b.ReportMetric(float64(smallLiked.Microseconds()), "small-hasliked-p99-µs")
	b.ReportMetric(float64(bigPage.Microseconds()), "big-first20-p99-µs")
	b.ReportMetric(float64(smallPage.Microseconds()), "small-first20-p99-µs")
	b.Logf("load of %d likers: %v; other targets' toggles: p99 %v before (%d, %d failed), %v during (%d, %d failed), %v after (%d, %d failed)",
		n, loadTime.Round(time.Millisecond), pct(hists[0]), hists[0].TotalCount(), failed[0].Load(),
		pct(hists[1]), hists[1].TotalCount(), failed[1].Load(), pct(hists[2]), hists[2].TotalCount(), failed[2].Load())
	b.ReportMetric(float64(failed[1].Load()), "others-failed-during")
	b.Logf("p99 has-liked: big %v, small %v; first 20 likers: big %v, small %v", bigLiked, smallLiked, bigPage, smallPage)
}

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 3)
}

func pct(h *hdrhistogram.Histogram) time.Duration {
	return time.Duration(h.ValueAtQuantile(99)) * time.Microsecond
}

// fill writes n likers of t straight into MariaDB (users 1..n, liked in
// that order one microsecond apart), and t's count, in transactions of a
// million rows.
func fill(b *testing.B, dsn string, t zan.Target, n int) {
	sqlDB, err := sql.Open("mysql", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer sqlDB.Close()
	base := time.Now().Add(-time.Hour).UnixMicro()
	for lo := 0; lo < n; lo += 1_000_000 {
		hi := min(lo+1_000_000, n)
		q := fmt.Sprintf(`INSERT INTO zan_likes (target_type, target_id, user_id, liked, liked_at, changed_at)
			SELECT ?, ?, seq, 1, ? + seq, ? + seq FROM seq_%d_to_%d`, lo+1, hi)
		if _, err := sqlDB.Exec(q, t.Type, t.ID, base, base); err != nil {
			b.Fatalf("filling %v (MariaDB's sequence tables are needed): %v", t, err)
		}
	}
	if _, err := sqlDB.Exec(`INSERT INTO zan_like_counts (target_type, target_id, count) VALUES (?, ?, ?)`,
		t.Type, t.ID, n); err != nil {
		b.Fatal(err)
	}
}
