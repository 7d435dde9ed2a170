package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zanlabs/zan"
)

// nextUnread waits up to within for the stream to say want.
func nextUnread(t *testing.T, ch <-chan string, want int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	w := fmt.Sprintf(`{"unread":%d}`, want)
	timeout := time.After(within)
	for {
		select {
		case got := <-ch:
			if got == w {
				return time.Since(start)
			}
		case <-timeout:
			t.Fatalf("the unread stream did not say %s within %v", w, within)
		}
	}
}

// TestNotifications: B likes A's post → A's inbox shows it, unread 1, and
// A's stream says so within a second; the events delivered again change
// nothing; B's unlike before A reads takes the item away; once read,
// toggling the like tells A nothing new. Embedded, and with two nodes of a
// scale-out (liked on one, streamed from the other) when the services are
// given.
func TestNotifications(t *testing.T) {
	for _, mode := range []string{"embedded", "scale-out"} {
		t.Run(mode, func(t *testing.T) {
			var a, b *Main
			if mode == "embedded" {
				a = startServer(t)
				b = a
			} else {
				cfg := scaleOut(t)
				a = startServer(t, cfg)
				b = startServer(t, cfg, func(c *Config) { c.NodeID = 1 })
			}
			testNotifications(t, a, b)
		})
	}
}

func testNotifications(t *testing.T, a, b *Main) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// A spy reader of the like log: what it reads is what the notifier
	// was handed, to be handed to it again.
	spy, err := a.log.Feed(ctx, "test_spy")
	if err != nil {
		t.Fatal(err)
	}
	defer a.log.DropFeed(context.WithoutCancel(ctx), "test_spy")

	author, _ := login(t, baseOf(a))
	liker, likerID := login(t, baseOf(a))
	blog := author.expect(201, "POST", "/api/v1/blogs", map[string]string{"title": "t", "content": "c"}).json(t)["id"].(string)
	anon := newAPI(t, baseOf(a))
	anon.expect(401, "GET", "/api/v1/notifications", nil)

	stream := sseData(t, ctx, baseOf(b)+"/api/v1/notifications/stream?access_token="+author.token, 64)
	nextUnread(t, stream, 0, 5*time.Second)

	author.expect(200, "PUT", "/api/v1/likes/blog/"+blog, nil) // one's own: nothing
	liker.expect(200, "PUT", "/api/v1/likes/blog/"+blog, nil)
	lag := nextUnread(t, stream, 1, time.Second)
	t.Logf("like → unread on the author's stream: %v", lag.Round(time.Millisecond))
	inbox := func() map[string]any { return author.expect(200, "GET", "/api/v1/notifications", nil).json(t) }
	v := inbox()
	items := v["items"].([]any)
	if len(items) != 1 || v["unread"] != float64(1) {
		t.Fatalf("inbox: %v", v)
	}
	it := items[0].(map[string]any)
	actors := it["actors"].([]any)
	if it["kind"] != "like" || it["actor_count"] != float64(1) || it["read"] != false || len(actors) != 1 ||
		actors[0].(map[string]any)["id"] != likerID || it["target"].(map[string]any)["id"] != blog {
		t.Fatalf("item: %v", it)
	}
	if u := author.expect(200, "GET", "/api/v1/notifications/unread", nil).json(t)["unread"]; u != float64(1) {
		t.Fatalf("unread: %v", u)
	}

	// Redelivery: the same events handed to the notifier again.
	var events []zan.Event
	eventually(t, "the spy reads both likes", func() error {
		for p := range spy.Partitions() {
			bt, err := spy.Fetch(ctx, p, 100, 10*time.Millisecond)
			if err != nil {
				return err
			}
			events = append(events, bt.Events...)
			if bt.Ack != nil {
				bt.Ack(ctx)
			}
		}
		if len(events) < 2 {
			return fmt.Errorf("%d events", len(events))
		}
		return nil
	})
	for range 2 {
		if err := a.notify.Apply(ctx, events); err != nil {
			t.Fatal(err)
		}
	}
	if v := inbox(); len(v["items"].([]any)) != 1 || v["unread"] != float64(1) ||
		v["items"].([]any)[0].(map[string]any)["actor_count"] != float64(1) {
		t.Fatalf("inbox after a redelivery: %v", v)
	}

	// An unlike before it is read takes it away.
	liker.expect(200, "DELETE", "/api/v1/likes/blog/"+blog, nil)
	nextUnread(t, stream, 0, time.Second)
	if v := inbox(); len(v["items"].([]any)) != 0 || v["unread"] != float64(0) {
		t.Fatalf("inbox after the unlike: %v", v)
	}

	// Read, then toggled: nothing new.
	liker.expect(200, "PUT", "/api/v1/likes/blog/"+blog, nil)
	nextUnread(t, stream, 1, time.Second)
	id := inbox()["items"].([]any)[0].(map[string]any)["id"].(string)
	author.expect(204, "POST", "/api/v1/notifications/read", map[string]any{"ids": []string{id}})
	nextUnread(t, stream, 0, time.Second)
	liker.expect(200, "DELETE", "/api/v1/likes/blog/"+blog, nil)
	liker.expect(200, "PUT", "/api/v1/likes/blog/"+blog, nil)
	author.expect(400, "POST", "/api/v1/notifications/read", map[string]any{})
	eventually(t, "the notifier past the toggles", func() error {
		wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		f, err := a.log.Feed(wctx, "notify")
		if err != nil {
			return err
		}
		return f.WaitApplied(wctx)
	})
	if v := inbox(); len(v["items"].([]any)) != 1 || v["unread"] != float64(0) ||
		v["items"].([]any)[0].(map[string]any)["read"] != true {
		t.Fatalf("inbox after toggling a read like: %v", v)
	}
}
