package notify

import (
	"context"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/zantest"
)

// The notifier runs against the real embedded adapters: an SQLite store
// and an embedded JetStream log, whose persister is never run, so the
// notifier is seen to need nothing of it.

// eventually waits (up to 10 s) for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNotifier(t *testing.T) {
	ctx := t.Context()
	db, log := zantest.Store(t), zantest.Log(t, 2)
	const author, liker = 1, 2
	for _, u := range []zan.User{{ID: author, Phone: "+8613800000001", Nickname: "author"}, {ID: liker, Phone: "+8613800000002", Nickname: "liker"}} {
		if _, err := db.EnsureUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	blog := zan.Target{Type: TargetType, ID: 100}
	if _, err := db.CreateBlog(ctx, zan.Blog{ID: blog.ID, AuthorID: author, Title: "t", Content: "c", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s := New(Config{}, log, db, log, zan.NewIDGen(1), nil)
	hub := NewHub(log)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { s.Run(rctx); done <- struct{}{} }()
	go func() { hub.Run(rctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	sub, err := hub.Subscribe(author)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	now := time.Now().UnixMicro()
	events := []zan.Event{
		{ID: "own", Op: zan.OpLike, Target: blog, User: author, At: now},
		{ID: "other-type", Op: zan.OpLike, Target: zan.Target{Type: "comment", ID: blog.ID}, User: liker, At: now + 1},
		{ID: "like", Op: zan.OpLike, Target: blog, User: liker, At: now + 2},
	}
	for _, ev := range events {
		if err := log.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	unread := func(want int64) func() bool {
		return func() bool { n, err := s.Unread(ctx, author); return err == nil && n == want }
	}
	eventually(t, "the like in the author's inbox", unread(1))
	select {
	case <-sub.C:
	case <-time.After(10 * time.Second):
		t.Fatal("the author's stream was not woken")
	}
	p, err := s.Inbox(ctx, author, 0, nil)
	if err != nil || len(p.Items) != 1 || p.Unread != 1 {
		t.Fatalf("Inbox: %+v, %v", p, err)
	}
	it := p.Items[0]
	if it.Target != blog || it.ActorCount != 1 || len(it.ActorUsers) != 1 || it.ActorUsers[0].Nickname != "liker" || it.Read {
		t.Fatalf("item: %+v", it)
	}
	if n, _ := s.Unread(ctx, liker); n != 0 {
		t.Fatalf("the liker's unread: %d", n)
	}

	// A redelivery changes nothing; an unlike before reading takes it back.
	if err := s.Apply(ctx, events); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Inbox(ctx, author, 0, nil); len(p.Items) != 1 || p.Items[0].ActorCount != 1 || p.Unread != 1 {
		t.Fatalf("after a redelivery: %+v", p)
	}
	if err := log.Publish(ctx, zan.Event{ID: "unlike", Op: zan.OpUnlike, Target: blog, User: liker, At: now + 3}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the unlike taking the item back", unread(0))
	if p, _ := s.Inbox(ctx, author, 0, nil); len(p.Items) != 0 {
		t.Fatalf("after the unlike: %+v", p)
	}

	// Reading.
	if err := log.Publish(ctx, zan.Event{ID: "relike", Op: zan.OpLike, Target: blog, User: liker, At: now + 4}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the like again", unread(1))
	if err := s.MarkRead(ctx, author, nil, true); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Unread(ctx, author); n != 0 {
		t.Fatalf("unread after reading all: %d", n)
	}
	if err := s.MarkRead(ctx, author, nil, false); zan.ErrorCode(err) != zan.EBadRequest {
		t.Fatalf("MarkRead of nothing: %v", err)
	}
	if _, err := s.Inbox(ctx, author, MaxLimit+1, nil); zan.ErrorCode(err) != zan.EBadRequest {
		t.Fatalf("Inbox over the limit: %v", err)
	}
}
