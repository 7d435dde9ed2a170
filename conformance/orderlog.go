package conformance

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zanlabs/zan"
)

// OrderLog is what the order suite needs of an event log: the order queue
// and the notifier, which ride the same connection.
type OrderLog interface {
	zan.OrderLog
	zan.Notifier
}

// TestOrderLog runs the order-log and notifier suite. open returns an empty
// log of its own.
func TestOrderLog(t *testing.T, open func(t *testing.T) OrderLog) {
	order := func(id int64) zan.VoucherOrder {
		return zan.VoucherOrder{ID: id, VoucherID: 7, UserID: id + 100, Status: zan.OrderPending,
			CreatedAt: time.UnixMicro(time.Now().UnixMicro()).UTC()}
	}
	drain := func(t *testing.T, l OrderLog) []zan.VoucherOrder {
		t.Helper()
		var out []zan.VoucherOrder
		for {
			b, err := l.FetchOrders(t.Context(), 100, 200*time.Millisecond)
			if err != nil {
				t.Fatalf("FetchOrders: %v", err)
			}
			if b.Ack == nil {
				return out
			}
			out = append(out, b.Orders...)
			if err := b.Ack(t.Context()); err != nil {
				t.Fatalf("Ack: %v", err)
			}
		}
	}

	t.Run("PublishFetchAck", func(t *testing.T) {
		l := open(t)
		var want []zan.VoucherOrder
		for i := int64(1); i <= 25; i++ {
			o := order(i)
			want = append(want, o)
			if err := l.PublishOrder(t.Context(), o); err != nil {
				t.Fatal(err)
			}
		}
		// A retried publish is stored once.
		if err := l.PublishOrder(t.Context(), want[3]); err != nil {
			t.Fatal(err)
		}
		got := drain(t, l)
		slices.SortFunc(got, func(a, b zan.VoucherOrder) int { return int(a.ID - b.ID) })
		if !slices.Equal(got, want) {
			t.Fatalf("fetched %v, want %v", got, want)
		}
		if err := l.WaitOrdersApplied(t.Context()); err != nil {
			t.Fatalf("WaitOrdersApplied after every ack: %v", err)
		}
	})

	t.Run("NakRedelivers", func(t *testing.T) {
		l := open(t)
		if err := l.PublishOrder(t.Context(), order(1)); err != nil {
			t.Fatal(err)
		}
		b, err := l.FetchOrders(t.Context(), 10, time.Second)
		if err != nil || len(b.Orders) != 1 {
			t.Fatalf("first fetch: %v, %v", b.Orders, err)
		}
		b.Nak()
		if got := drain(t, l); len(got) != 1 || got[0].ID != 1 {
			t.Fatalf("after a nak: %v", got)
		}
	})

	t.Run("WaitOrdersAppliedWaits", func(t *testing.T) {
		l := open(t)
		if err := l.PublishOrder(t.Context(), order(1)); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- l.WaitOrdersApplied(t.Context()) }()
		select {
		case err := <-done:
			t.Fatalf("WaitOrdersApplied returned %v before the order was acked", err)
		case <-time.After(200 * time.Millisecond):
		}
		drain(t, l)
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("WaitOrdersApplied still waits after the ack")
		}
	})

	t.Run("Notify", func(t *testing.T) {
		l := open(t)
		var mu sync.Mutex
		var got []string
		stop, err := l.Subscribe("shop", func(b []byte) {
			mu.Lock()
			got = append(got, string(b))
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		if _, err := l.Subscribe("bad.topic", func([]byte) {}); err == nil {
			t.Fatal("a topic with a dot was accepted")
		}
		// A subscription is live once the server has it; notify until the
		// first message arrives, then check the next ones arrive in order.
		deadline := time.Now().Add(5 * time.Second)
		for {
			_ = l.Notify(t.Context(), "shop", []byte("ping"))
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no notification arrived")
			}
			time.Sleep(10 * time.Millisecond)
		}
		for _, m := range []string{"a", "b", "c"} {
			if err := l.Notify(t.Context(), "shop", []byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		for {
			mu.Lock()
			tail := slices.Clone(got)
			mu.Unlock()
			if i := slices.Index(tail, "a"); i >= 0 && len(tail) >= i+3 {
				if !slices.Equal(tail[i:i+3], []string{"a", "b", "c"}) {
					t.Fatalf("notifications out of order: %v", tail)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("notifications missing: %v", tail)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
