package likes

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/testenv"
	"github.com/zanlabs/zan/internal/zantest"
	"github.com/zanlabs/zan/memory"
	"github.com/zanlabs/zan/persist"
	"github.com/zanlabs/zan/redis"
)

// openRedis opens ZAN_TEST_REDIS (or skips) under a prefix of its own,
// closed when the test ends.
func openRedis(t testing.TB) *redis.Client {
	t.Helper()
	b := make([]byte, 6)
	crand.Read(b)
	rc, err := redis.Open(context.Background(), redis.Config{Addrs: []string{testenv.RedisAddr(t)}, Prefix: "zantest" + hex.EncodeToString(b)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	return rc
}

// TestClientsHangingUp: clients that give up at any moment (a cancelled
// request) must not leave the hot state and the store apart. A Redis
// script cancelled on the client may still have run on the server; the
// write path therefore does not follow the client's cancellation once it
// reached the hot state. Against Redis, where it matters.
func TestClientsHangingUp(t *testing.T) {
	hot := openRedis(t).Likes()
	db, log := zantest.Store(t), zantest.Log(t, 2)
	lim := memory.NewLimiter()
	defer lim.Close()
	svc := New(Config{Limit: zan.Limit{Rate: 1e9, Burst: 1e9}}, hot, log, db, lim, nil)
	pctx, cancel := context.WithCancel(context.Background())
	var pwg sync.WaitGroup
	pwg.Add(1)
	go func() {
		defer pwg.Done()
		persist.New(persist.Config{MaxWait: 10 * time.Millisecond}, log, db, nil).Run(pctx)
	}()
	defer func() { cancel(); pwg.Wait() }()

	targets := make([]zan.Target, 20)
	for i := range targets {
		targets[i] = zan.Target{Type: "comment", ID: int64(i + 1)}
	}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 150 {
				// Give up after 0-300 µs: often while the script is in flight.
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(r.IntN(300))*time.Microsecond)
				_, _ = svc.Toggle(ctx, int64(1+r.IntN(50)), targets[r.IntN(len(targets))], r.IntN(2) == 0)
				cancel()
			}
		}()
	}
	wg.Wait()
	ctx, c2 := context.WithTimeout(t.Context(), 30*time.Second)
	defer c2()
	if err := log.WaitApplied(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		hotUsers, ok, err := hot.Members(t.Context(), tg)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			continue // never loaded: every toggle was cut before the hot state
		}
		var stored []int64
		if err := db.ScanLikers(t.Context(), tg, func(u []int64) error { stored = append(stored, u...); return nil }); err != nil {
			t.Fatal(err)
		}
		slices.Sort(hotUsers)
		slices.Sort(stored)
		if !slices.Equal(hotUsers, stored) {
			t.Errorf("%s: hot state %v, store %v", tg, hotUsers, stored)
		}
	}
}
