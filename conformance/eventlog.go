package conformance

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zanlabs/zan"
)

// TestEventLog runs the event-log suite. open returns a fresh, empty log
// and arranges for it to be closed when t ends.
func TestEventLog(t *testing.T, open func(t *testing.T) zan.EventLog) {
	var seq int64
	var mu sync.Mutex
	newEvent := func(tg zan.Target, user int64) zan.Event {
		mu.Lock()
		seq++
		n := seq
		mu.Unlock()
		return zan.Event{
			ID: unique("ev") + fmt.Sprint(n), Op: zan.OpLike, Target: tg, User: user,
			At: time.Now().UnixMicro() + n,
		}
	}
	target := func() zan.Target { return zan.Target{Type: "blog", ID: uniqueID()} }

	// fetchAll drains every partition until wait passes with nothing new.
	fetchAll := func(t *testing.T, l zan.EventLog, wait time.Duration) []zan.Event {
		t.Helper()
		var out []zan.Event
		for {
			got := 0
			for p := 0; p < l.Partitions(); p++ {
				b, err := l.Fetch(t.Context(), p, 1000, wait)
				if err != nil {
					t.Fatalf("Fetch(%d): %v", p, err)
				}
				out = append(out, b.Events...)
				got += len(b.Events)
				if b.Ack != nil {
					if err := b.Ack(t.Context()); err != nil {
						t.Fatalf("Ack: %v", err)
					}
				}
			}
			if got == 0 {
				return out
			}
		}
	}

	// fetchPart fetches one batch of the target's partition, failing unless
	// it holds want events.
	fetchPart := func(t *testing.T, l zan.EventLog, tg zan.Target, want int) zan.Batch {
		t.Helper()
		for p := 0; p < l.Partitions(); p++ {
			b, err := l.Fetch(t.Context(), p, 1000, 200*time.Millisecond)
			if err != nil {
				t.Fatalf("Fetch(%d): %v", p, err)
			}
			if len(b.Events) > 0 {
				if b.Events[0].Target != tg {
					t.Fatalf("partition %d: got target %v, want %v", p, b.Events[0].Target, tg)
				}
				if len(b.Events) != want {
					t.Fatalf("partition %d: %d events, want %d", p, len(b.Events), want)
				}
				return b
			}
		}
		t.Fatalf("no partition holds the events of %v", tg)
		return zan.Batch{}
	}

	t.Run("PublishFetch", func(t *testing.T) {
		l := open(t)
		if l.Partitions() <= 0 {
			t.Fatalf("Partitions() = %d", l.Partitions())
		}
		tg := target()
		ev := newEvent(tg, 7)
		ev.Op = zan.OpUnlike
		if err := l.Publish(t.Context(), ev); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		b := fetchPart(t, l, tg, 1)
		if b.Events[0] != ev {
			t.Fatalf("fetched %+v, want %+v", b.Events[0], ev)
		}
		if b.Lag < 0 || b.Lag > time.Minute {
			t.Fatalf("Lag = %v", b.Lag)
		}
		if err := b.Ack(t.Context()); err != nil {
			t.Fatalf("Ack: %v", err)
		}
		if got := fetchAll(t, l, 50*time.Millisecond); len(got) != 0 {
			t.Fatalf("after ack, fetched again: %+v", got)
		}
	})

	t.Run("Dedup", func(t *testing.T) {
		l := open(t)
		tg := target()
		ev := newEvent(tg, 1)
		for range 3 {
			if err := l.Publish(t.Context(), ev); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
		if got := fetchAll(t, l, 100*time.Millisecond); len(got) != 1 || got[0] != ev {
			t.Fatalf("fetched %+v, want just %+v", got, ev)
		}
	})

	t.Run("FetchEmpty", func(t *testing.T) {
		l := open(t)
		start := time.Now()
		b, err := l.Fetch(t.Context(), 0, 10, 100*time.Millisecond)
		if err != nil || len(b.Events) != 0 {
			t.Fatalf("Fetch on an empty log: %+v, %v", b, err)
		}
		if d := time.Since(start); d < 50*time.Millisecond || d > 3*time.Second {
			t.Fatalf("Fetch on an empty log took %v, want about the wait", d)
		}
		b, err = l.Fetch(t.Context(), 0, 10, 0)
		if err != nil || len(b.Events) != 0 {
			t.Fatalf("Fetch without waiting on an empty log: %+v, %v", b, err)
		}
	})

	t.Run("WaitApplied", func(t *testing.T) {
		l := open(t)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		if err := l.WaitApplied(ctx); err != nil {
			t.Fatalf("WaitApplied on an empty log: %v", err)
		}
		tg := target()
		for i := range 3 {
			if err := l.Publish(t.Context(), newEvent(tg, int64(i+1))); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
		short, cancel2 := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel2()
		if err := l.WaitApplied(short); err == nil {
			t.Fatal("WaitApplied returned with events not fetched")
		}
		b := fetchPart(t, l, tg, 3)
		// Fetched but not acked: still not applied.
		short, cancel3 := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel3()
		if err := l.WaitApplied(short); err == nil {
			t.Fatal("WaitApplied returned with events fetched but not acked")
		}
		done := make(chan error, 1)
		go func() { done <- l.WaitApplied(ctx) }()
		select {
		case err := <-done:
			t.Fatalf("WaitApplied returned before the ack: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if err := b.Ack(t.Context()); err != nil {
			t.Fatalf("Ack: %v", err)
		}
		if err := <-done; err != nil {
			t.Fatalf("WaitApplied after the ack: %v", err)
		}
		if err := l.WaitApplied(ctx); err != nil {
			t.Fatalf("WaitApplied once applied: %v", err)
		}
	})

	t.Run("WaitAppliedOutOfOrder", func(t *testing.T) {
		l := open(t)
		// Two events fetched one at a time; the later one acked first must
		// not release the wait.
		tg := target()
		for i := range 2 {
			if err := l.Publish(t.Context(), newEvent(tg, int64(i+1))); err != nil {
				t.Fatal(err)
			}
		}
		var bs []zan.Batch
		for p := 0; p < l.Partitions() && len(bs) < 2; p++ {
			for len(bs) < 2 {
				x, err := l.Fetch(t.Context(), p, 1, 20*time.Millisecond)
				if err != nil {
					t.Fatal(err)
				}
				if len(x.Events) == 0 {
					break
				}
				bs = append(bs, x)
			}
		}
		if len(bs) != 2 || len(bs[0].Events) != 1 || len(bs[1].Events) != 1 || bs[0].Events[0].User != 1 {
			t.Fatalf("fetched %+v, want the two events one by one", bs)
		}
		if err := bs[1].Ack(t.Context()); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if err := l.WaitApplied(short); err == nil {
			t.Fatal("WaitApplied returned with the earlier event not acked")
		}
		if err := bs[0].Ack(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel2 := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel2()
		if err := l.WaitApplied(ctx); err != nil {
			t.Fatalf("WaitApplied: %v", err)
		}
	})

	t.Run("Order", func(t *testing.T) {
		l := open(t)
		tg := target()
		var want []zan.Event
		for i := range 50 {
			ev := newEvent(tg, int64(i%5+1))
			if i%2 == 1 {
				ev.Op = zan.OpUnlike
			}
			want = append(want, ev)
			if err := l.Publish(t.Context(), ev); err != nil {
				t.Fatal(err)
			}
		}
		got := fetchAll(t, l, 50*time.Millisecond)
		if !slices.Equal(got, want) {
			t.Fatalf("fetched %d events out of order or changed, want the %d published", len(got), len(want))
		}
	})

	t.Run("DeadLetters", func(t *testing.T) {
		l := open(t)
		if ds, err := l.DeadLetters(t.Context(), 10); err != nil || len(ds) != 0 {
			t.Fatalf("DeadLetters of a fresh log: %+v, %v", ds, err)
		}
		if n, err := l.Replay(t.Context(), nil); err != nil || n != 0 {
			t.Fatalf("Replay of an empty DLQ: %d, %v", n, err)
		}
		tg := target()
		evs := []zan.Event{newEvent(tg, 1), newEvent(tg, 2), newEvent(tg, 3)}
		if err := l.DeadLetter(t.Context(), evs[:2], "store says no"); err != nil {
			t.Fatalf("DeadLetter: %v", err)
		}
		if err := l.DeadLetter(t.Context(), evs[2:], "other"); err != nil {
			t.Fatalf("DeadLetter: %v", err)
		}
		ds, err := l.DeadLetters(t.Context(), 10)
		if err != nil || len(ds) != 3 {
			t.Fatalf("DeadLetters: %d, %v; want 3", len(ds), err)
		}
		for i, d := range ds {
			if d.Event == nil || *d.Event != evs[i] {
				t.Fatalf("dead letter %d: %+v, want %+v", i, d.Event, evs[i])
			}
			wantReason := "store says no"
			if i == 2 {
				wantReason = "other"
			}
			if d.Reason != wantReason || len(d.Raw) == 0 || d.At.IsZero() || time.Since(d.At) > time.Minute {
				t.Fatalf("dead letter %d: %+v", i, d)
			}
			if i > 0 && d.Seq <= ds[i-1].Seq {
				t.Fatalf("dead letters not oldest first: %+v", ds)
			}
		}
		if lim, err := l.DeadLetters(t.Context(), 2); err != nil || len(lim) != 2 || lim[0].Seq != ds[0].Seq {
			t.Fatalf("DeadLetters(2): %+v, %v", lim, err)
		}

		// A subset by sequence; unknown sequences are ignored.
		n, err := l.Replay(t.Context(), []uint64{ds[1].Seq, 99999})
		if err != nil || n != 1 {
			t.Fatalf("Replay(subset): %d, %v; want 1", n, err)
		}
		left, err := l.DeadLetters(t.Context(), 10)
		if err != nil || len(left) != 2 || left[0].Seq != ds[0].Seq || left[1].Seq != ds[2].Seq {
			t.Fatalf("after Replay(subset): %+v, %v", left, err)
		}
		if got := fetchAll(t, l, 100*time.Millisecond); len(got) != 1 || got[0] != evs[1] {
			t.Fatalf("replayed subset fetched as %+v, want %+v", got, evs[1])
		}

		// All of them, though the originals' ids are in the dedup window:
		// publish one of them first.
		if err := l.Publish(t.Context(), evs[0]); err != nil {
			t.Fatal(err)
		}
		n, err = l.Replay(t.Context(), nil)
		if err != nil || n != 2 {
			t.Fatalf("Replay(all): %d, %v; want 2", n, err)
		}
		if left, err := l.DeadLetters(t.Context(), 10); err != nil || len(left) != 0 {
			t.Fatalf("after Replay(all): %+v, %v", left, err)
		}
		got := fetchAll(t, l, 100*time.Millisecond)
		want := []zan.Event{evs[0], evs[0], evs[2]}
		if !slices.Equal(got, want) {
			t.Fatalf("replayed all fetched as %+v, want %+v", got, want)
		}
	})

	t.Run("Ping", func(t *testing.T) {
		l := open(t)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		if err := l.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		l := open(t)
		const workers, each = 50, 100
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		want := make(map[string]bool)
		evs := make([][]zan.Event, workers)
		for w := range evs {
			tg := target()
			for i := range each {
				ev := newEvent(tg, int64(i+1))
				evs[w] = append(evs[w], ev)
				want[ev.ID] = true
			}
		}
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, ev := range evs[w] {
					if err := l.Publish(t.Context(), ev); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		// Fetch concurrently, one goroutine per partition, as the
		// persister does.
		var fmu sync.Mutex
		seen := make(map[string]int)
		var fg sync.WaitGroup
		stop := make(chan struct{})
		for p := 0; p < l.Partitions(); p++ {
			fg.Add(1)
			go func() {
				defer fg.Done()
				for {
					b, err := l.Fetch(t.Context(), p, 500, 50*time.Millisecond)
					if err != nil {
						errs <- err
						return
					}
					fmu.Lock()
					for _, ev := range b.Events {
						seen[ev.ID]++
					}
					fmu.Unlock()
					if b.Ack != nil {
						if err := b.Ack(t.Context()); err != nil {
							errs <- err
							return
						}
					}
					if len(b.Events) == 0 {
						select {
						case <-stop:
							return
						default:
						}
					}
				}
			}()
		}
		wg.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		if err := l.WaitApplied(ctx); err != nil {
			t.Fatalf("WaitApplied: %v", err)
		}
		close(stop)
		fg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(seen) != len(want) {
			t.Fatalf("fetched %d distinct events, want %d", len(seen), len(want))
		}
		for id, n := range seen {
			if !want[id] || n != 1 {
				t.Fatalf("event %s fetched %d times (published: %v)", id, n, want[id])
			}
		}
	})

	t.Run("Feeds", func(t *testing.T) {
		l := open(t)
		tg := target()
		pub := func(user int64) zan.Event {
			ev := newEvent(tg, user)
			if err := l.Publish(t.Context(), ev); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			return ev
		}
		first := pub(1)
		// The persister applies the first event before the feed exists: a
		// new feed still starts at the oldest event the log keeps, which
		// may or may not be that one, and includes everything after.
		if got := fetchAll(t, l, 100*time.Millisecond); len(got) != 1 || got[0].ID != first.ID {
			t.Fatalf("persister fetched %+v", got)
		}
		f, err := l.Feed(t.Context(), "conf")
		if err != nil {
			t.Fatalf("Feed: %v", err)
		}
		second := pub(2)
		// Both readers get the second event, each once, in its own time.
		got := fetchAll(t, l, 100*time.Millisecond)
		if len(got) != 1 || got[0].ID != second.ID {
			t.Fatalf("persister fetched %+v, want only the second event", got)
		}
		short, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if err := f.WaitApplied(short); err == nil {
			t.Fatal("the feed's WaitApplied returned before the feed took anything")
		}
		seen := map[string]bool{}
		var batches []zan.Batch
		for p := 0; p < f.Partitions(); p++ {
			b, err := f.Fetch(t.Context(), p, 100, 100*time.Millisecond)
			if err != nil {
				t.Fatalf("feed Fetch: %v", err)
			}
			for _, ev := range b.Events {
				seen[ev.ID] = true
			}
			if b.Ack != nil {
				batches = append(batches, b)
			}
		}
		if !seen[second.ID] {
			t.Fatalf("the feed did not get the event published after it opened: %v", seen)
		}
		for _, b := range batches {
			if err := b.Ack(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel2 := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel2()
		if err := f.WaitApplied(ctx); err != nil {
			t.Fatalf("feed WaitApplied after its acks: %v", err)
		}
		// Opening it again (another node) continues where it was.
		again, err := l.Feed(t.Context(), "conf")
		if err != nil {
			t.Fatal(err)
		}
		for p := 0; p < again.Partitions(); p++ {
			b, err := again.Fetch(t.Context(), p, 100, 50*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Events) > 0 {
				t.Fatalf("a reopened feed fetched %+v again", b.Events)
			}
		}
		if err := l.DropFeed(t.Context(), "conf"); err != nil {
			t.Fatalf("DropFeed: %v", err)
		}
		if _, err := l.Feed(t.Context(), "no/such name"); zan.ErrorCode(err) != zan.EBadRequest {
			t.Fatalf("Feed with a bad name: %v, want bad_request", err)
		}
	})
}
