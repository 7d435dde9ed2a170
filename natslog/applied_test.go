package natslog

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zanlabs/zan"
)

// drain fetches and acks every partition of r until a round brings nothing.
func drain(t *testing.T, r zan.EventFeed) int {
	t.Helper()
	n := 0
	for {
		got := 0
		for p := range r.Partitions() {
			b, err := r.Fetch(t.Context(), p, 1000, 50*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			got += len(b.Events)
			if b.Ack != nil {
				if err := b.Ack(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
		}
		if got == 0 {
			return n
		}
		n += got
	}
}

func msgs(t *testing.T, s jetstream.Stream) uint64 {
	t.Helper()
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func publishN(t *testing.T, l *Log, prefix string, n int) {
	t.Helper()
	for i := range n {
		if err := l.Publish(t.Context(), event(fmt.Sprintf("%s%d", prefix, i), zan.Target{Type: "blog", ID: int64(i + 1)})); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAppliedGoesByTheConsumers: acknowledged events that the stream still
// holds (as after a crash lost their removal) neither hold up WaitApplied
// nor stay: the trimmer removes them; what a feed has not acknowledged
// stays until it has, unless the feed is too far behind.
func TestAppliedGoesByTheConsumers(t *testing.T) {
	l := openEmbedded(t, t.TempDir())
	f, err := l.Feed(t.Context(), "slow")
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, l, "a", 100)
	if n := drain(t, l); n != 100 {
		t.Fatalf("persister fetched %d of 100", n)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := l.WaitApplied(ctx); err != nil {
		t.Fatalf("WaitApplied with every event acknowledged but still in the stream: %v", err)
	}
	if n := msgs(t, l.likes); n != 100 {
		t.Fatalf("stream holds %d messages before trimming, want 100", n)
	}
	l.trimAll()
	if n := msgs(t, l.likes); n != 100 {
		t.Fatalf("trimmed to %d messages while a feed had not read them, want 100", n)
	}
	if n := drain(t, f); n != 100 {
		t.Fatalf("feed fetched %d of 100", n)
	}
	l.trimAll()
	if n := msgs(t, l.likes); n != 0 {
		t.Fatalf("stream holds %d messages after every reader acknowledged them, want 0", n)
	}

	// A feed further behind than FeedBacklog no longer holds the log.
	l.cfg.FeedBacklog = 10
	publishN(t, l, "b", 50)
	if n := drain(t, l); n != 50 {
		t.Fatalf("persister fetched %d of 50", n)
	}
	l.trimAll()
	if n := msgs(t, l.likes); n != 0 {
		t.Fatalf("a feed 50 behind (backlog bound 10) kept %d messages", n)
	}
	if err := l.WaitApplied(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeFromWorkQueue: the events left in an earlier version's
// work-queue stream reach the persister after the upgrade, and the old
// stream is gone.
func TestUpgradeFromWorkQueue(t *testing.T) {
	dir := t.TempDir()
	l := openEmbedded(t, dir)
	old, err := l.js.CreateStream(t.Context(), jetstream.StreamConfig{
		Name: "ZAN_LIKES", Subjects: []string{"zan.likes.*"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		ev := event(fmt.Sprintf("old%d", i), zan.Target{Type: "blog", ID: int64(i + 1)})
		subj := fmt.Sprintf("zan.likes.%d", i%8)
		if _, err := l.js.Publish(t.Context(), subj, ev.AppendJSON(nil)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.js.Publish(t.Context(), "zan.likes.3", []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	_ = old
	l.Close()

	l = openEmbedded(t, dir)
	if _, err := l.js.Stream(t.Context(), "ZAN_LIKES"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("the earlier stream is still there: %v", err)
	}
	if n := drain(t, l); n != 30 {
		t.Fatalf("persister fetched %d of the 30 earlier events", n)
	}
	ds, err := l.DeadLetters(t.Context(), 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("dead letters: %v %v, want the malformed message", ds, err)
	}
}
