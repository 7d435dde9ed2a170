package conformance

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/zanlabs/zan"
)

func testWebhooks(t *testing.T, s zan.Store) {
	ctx := t.Context()
	now := time.UnixMicro(t0).UTC()
	a := zan.Webhook{ID: 11, URL: "https://a.example/hook?x=1", Secret: "0123456789abcdef", Events: []zan.Op{zan.OpLike, zan.OpUnlike}, CreatedAt: now}
	b := zan.Webhook{ID: 12, URL: "http://b.example/", Secret: "fedcba9876543210", Events: []zan.Op{zan.OpUnlike}, CreatedAt: now.Add(time.Second)}
	for _, w := range []zan.Webhook{b, a} {
		if err := s.CreateWebhook(ctx, w); err != nil {
			t.Fatalf("CreateWebhook: %v", err)
		}
	}
	got, err := s.Webhooks(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("Webhooks: %+v, %v", got, err)
	}
	for i, want := range []zan.Webhook{a, b} {
		w := got[i]
		if w.ID != want.ID || w.URL != want.URL || w.Secret != want.Secret || !slices.Equal(w.Events, want.Events) || !w.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("Webhooks[%d] = %+v, want %+v", i, w, want)
		}
	}

	ev := func(id string, at int64) zan.Event {
		return zan.Event{ID: id, Op: zan.OpLike, Target: zan.Target{Type: "blog", ID: 5}, User: 9, At: t0 + at}
	}
	ep := strconv.FormatInt(a.ID, 10)
	dead := []zan.WebhookDead{
		{Endpoint: ep, Event: ev("e2", 2), Reason: "answered 503", At: now.Add(2 * time.Second)},
		{Endpoint: ep, Event: ev("e1", 1), Reason: "refused", At: now.Add(time.Second)},
		{Endpoint: "static0abc12", Event: ev("e1", 1), Reason: "refused", At: now},
	}
	if err := s.AddWebhookDead(ctx, dead); err != nil {
		t.Fatalf("AddWebhookDead: %v", err)
	}
	// A redelivered batch dead-lettered again is kept once.
	if err := s.AddWebhookDead(ctx, dead[:1]); err != nil {
		t.Fatalf("AddWebhookDead again: %v", err)
	}
	list := func(endpoint string, limit int) []string {
		t.Helper()
		ds, err := s.WebhookDeadLetters(ctx, endpoint, limit)
		if err != nil {
			t.Fatalf("WebhookDeadLetters: %v", err)
		}
		var ids []string
		for _, d := range ds {
			ids = append(ids, d.Event.ID)
			if d.Endpoint != endpoint {
				t.Errorf("dead letter of %q listed for %q", d.Endpoint, endpoint)
			}
		}
		return ids
	}
	if ids := list(ep, 10); !slices.Equal(ids, []string{"e1", "e2"}) {
		t.Fatalf("dead letters of %s: %v, want e1 e2 (oldest first)", ep, ids)
	}
	if ids := list(ep, 1); !slices.Equal(ids, []string{"e1"}) {
		t.Fatalf("limit 1: %v", ids)
	}
	ds, _ := s.WebhookDeadLetters(ctx, ep, 10)
	if d := ds[1]; d.Event != dead[0].Event || d.Reason != "answered 503" || !d.At.Equal(dead[0].At) {
		t.Errorf("dead letter read back %+v, want %+v", d, dead[0])
	}
	if err := s.DeleteWebhookDead(ctx, ep, []string{"e1", "missing"}); err != nil {
		t.Fatalf("DeleteWebhookDead: %v", err)
	}
	if ids := list(ep, 10); !slices.Equal(ids, []string{"e2"}) {
		t.Fatalf("after deleting e1: %v", ids)
	}

	if err := s.DeleteWebhook(ctx, a.ID); err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
	if err := s.DeleteWebhook(ctx, a.ID); zan.ErrorCode(err) != zan.ENotFound {
		t.Fatalf("DeleteWebhook again: %v, want not found", err)
	}
	if ids := list(ep, 10); len(ids) != 0 {
		t.Fatalf("dead letters outlived their webhook: %v", ids)
	}
	if ids := list("static0abc12", 10); !slices.Equal(ids, []string{"e1"}) {
		t.Fatalf("another endpoint's dead letters: %v", ids)
	}
	if got, err := s.Webhooks(ctx); err != nil || len(got) != 1 || got[0].ID != b.ID {
		t.Fatalf("Webhooks after delete: %+v, %v", got, err)
	}
}
