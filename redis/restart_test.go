package redis

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/zantest"
	"github.com/zanlabs/zan/likes"
	"github.com/zanlabs/zan/persist"
)

// TestRestartedEmpty: Redis comes back empty while a like is still in the
// log and not in the store. The like service sees the new epoch and loads
// only after the persister applied the log, so the like is not hidden.
func TestRestartedEmpty(t *testing.T) {
	bin := needServer(t)
	dir, port := t.TempDir(), freePort(t, false)
	srv := startServer(t, bin, dir, port)
	c, err := Open(t.Context(), Config{Addrs: []string{"127.0.0.1:" + strconv.Itoa(port)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	store, log := zantest.Store(t), zantest.Log(t, 2)
	svc := likes.New(likes.Config{}, c.Likes(), log, store, c.Limiter(), nil)
	p := persist.New(persist.Config{MaxWait: 5 * time.Millisecond}, log, store, nil)
	ctx := t.Context()

	// Loads have caught up once: the service no longer waits.
	tg := zan.Target{Type: "comment", ID: 1}
	if _, err := svc.Toggle(ctx, 1, tg, true); err != nil {
		t.Fatal(err)
	}
	if err := p.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	// A second like stays in the log: no persister runs now.
	if _, err := svc.Toggle(ctx, 2, tg, true); err != nil {
		t.Fatal(err)
	}

	srv.Process.Kill()
	srv.Wait()
	startServer(t, bin, dir, port)

	// The persister comes back a little later than the readers.
	go func() {
		time.Sleep(200 * time.Millisecond)
		p.Drain(context.WithoutCancel(ctx))
	}()
	var items []likes.Item
	deadline := time.Now().Add(5 * time.Second)
	for {
		items, err = svc.Get(ctx, []zan.Target{tg}, 2)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the client reconnecting
	}
	if err != nil {
		t.Fatal(err)
	}
	if items[0].Count != 2 || !items[0].Liked {
		t.Fatalf("after Redis restarted empty: %+v, want both likes", items[0])
	}
}
