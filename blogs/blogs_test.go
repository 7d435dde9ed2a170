package blogs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/internal/zantest"
	"github.com/zanlabs/zan/likes"
	"github.com/zanlabs/zan/memory"
	"github.com/zanlabs/zan/persist"
)

func newService(t *testing.T, cfg Config) (*Service, *likes.Service, zan.EventLog, int64) {
	t.Helper()
	db, log := zantest.Store(t), zantest.Log(t, 2)
	lim := memory.NewLimiter()
	lk := likes.New(likes.Config{}, memory.NewLikes(), log, db, lim, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		persist.New(persist.Config{MaxWait: 5 * time.Millisecond}, log, db, nil).Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done; lim.Close() })
	u, err := db.EnsureUser(t.Context(), zan.User{ID: 1, Phone: "13800138000", Nickname: "ann", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Photos = db
	return New(cfg, db, db, lk, lim, zan.NewIDGen(0)), lk, log, u.ID
}

func TestCreateValidation(t *testing.T) {
	s, _, _, author := newService(t, Config{Limit: zan.Limit{Rate: 100, Burst: 100}})
	tests := []struct {
		name           string
		title, content string
		shop           int64
		code           string
		key            string
	}{
		{"ok", "hello", "world", 0, "", ""},
		{"ok with shop", "hello", "world", 9, "", ""},
		{"100 runes", strings.Repeat("好", 100), "x", 0, "", ""},
		{"empty title", "", "x", 0, zan.EBadRequest, ""},
		{"blank title", "   ", "x", 0, zan.EBadRequest, ""},
		{"title too long", strings.Repeat("好", 101), "x", 0, zan.EBadRequest, ""},
		{"empty content", "t", "", 0, zan.EBadRequest, ""},
		{"blank content", "t", " \n ", 0, zan.EBadRequest, ""},
		{"content too long", "t", strings.Repeat("a", 20001), 0, zan.EBadRequest, ""},
		{"negative shop", "t", "x", -1, zan.EBadRequest, ""},
		{"client key", "t", "x", 0, "", "6f1c0e1a-5b7d-4f7e-9a51-2f0b9c1d3e4a"},
		{"client key with a space", "t", "x", 0, zan.EBadRequest, "a b"},
		{"client key too long", "t", "x", 0, zan.EBadRequest, strings.Repeat("k", 65)},
		{"client key not ASCII", "t", "x", 0, zan.EBadRequest, "键"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, _, err := s.Create(t.Context(), author, tc.title, tc.content, tc.shop, tc.key, nil)
			if got := zan.ErrorCode(err); got != tc.code {
				t.Fatalf("code %q, want %q (%v)", got, tc.code, err)
			}
			if err == nil && (v.ID == 0 || v.Author.Nickname != "ann") {
				t.Fatalf("view: %+v", v)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	s, _, _, author := newService(t, Config{Limit: zan.Limit{Rate: 0.01, Burst: 2}})
	for range 2 {
		if _, _, err := s.Create(t.Context(), author, "t", "c", 0, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Create(t.Context(), author, "t", "c", 0, "", nil); zan.ErrorCode(err) != zan.ERateLimited {
		t.Fatalf("third blog: %v", err)
	}
}

func TestGetDeleteList(t *testing.T) {
	s, lk, log, author := newService(t, Config{Limit: zan.Limit{Rate: 100, Burst: 100}})
	ctx := t.Context()
	var ids []int64
	for i := range 3 {
		v, _, err := s.Create(ctx, author, "t", "c", 0, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
		for u := int64(1); u <= int64(i); u++ { // blog i gets i likes
			if _, err := lk.Toggle(ctx, 100+u, zan.Target{Type: TargetType, ID: v.ID}, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := log.WaitApplied(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := s.Get(ctx, ids[2], 101)
	if err != nil || v.LikeCount != 2 || !v.Liked || len(v.TopLikers) != 2 || v.TopLikers[0].ID != 101 {
		t.Fatalf("get: %+v %v", v, err)
	}
	hot, err := s.List(ctx, zan.BlogFilter{Sort: zan.BlogsHot}, 0)
	if err != nil || len(hot.Items) != 3 || hot.Items[0].ID != ids[2] || hot.Items[2].ID != ids[0] {
		t.Fatalf("hot: %+v %v", hot, err)
	}
	page, err := s.List(ctx, zan.BlogFilter{AuthorID: author, Limit: 2}, 0)
	if err != nil || len(page.Items) != 2 || page.Items[0].ID != ids[2] || page.Next == nil {
		t.Fatalf("new, page 1: %+v %v", page, err)
	}
	if _, err := s.List(ctx, zan.BlogFilter{Limit: 101}, 0); zan.ErrorCode(err) != zan.EBadRequest {
		t.Fatalf("limit 101: %v", err)
	}
	if err := s.Delete(ctx, ids[0], 999); zan.ErrorCode(err) != zan.EForbidden {
		t.Fatalf("delete by another user: %v", err)
	}
	if err := s.Delete(ctx, ids[0], author); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, ids[0], 0); zan.ErrorCode(err) != zan.ENotFound {
		t.Fatalf("get after delete: %v", err)
	}
	if err := s.Delete(ctx, ids[0], author); zan.ErrorCode(err) != zan.ENotFound {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestCreateOncePerKey(t *testing.T) {
	s, _, _, author := newService(t, Config{Limit: zan.Limit{Rate: 0.01, Burst: 1}})
	ctx := t.Context()
	first, created, err := s.Create(ctx, author, "t", "c", 0, "k1", nil)
	if err != nil || !created {
		t.Fatalf("first: %v %v", created, err)
	}
	// Repeats return the first blog, even past the rate limit and with
	// other text: the key, not the text, names the submit.
	for _, title := range []string{"t", "other"} {
		again, created, err := s.Create(ctx, author, title, "c", 0, "k1", nil)
		if err != nil || created || again.ID != first.ID || again.Title != "t" || again.Author.Nickname != "ann" {
			t.Fatalf("repeat: %+v %v %v", again, created, err)
		}
	}
	page, err := s.List(ctx, zan.BlogFilter{AuthorID: author}, 0)
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("blogs: %+v %v", page, err)
	}
}

func TestUpdate(t *testing.T) {
	s, _, _, author := newService(t, Config{Limit: zan.Limit{Rate: 100, Burst: 100}})
	ctx := t.Context()
	v, _, err := s.Create(ctx, author, "t", "c", 0, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, title, content string
		user                 int64
		code                 string
		wantTitle, wantText  string
	}{
		{"title only", " new ", "", author, "", "new", "c"},
		{"content only", "", "text", author, "", "new", "text"},
		{"both", "a", "b", author, "", "a", "b"},
		{"another user", "x", "y", 999, zan.EForbidden, "a", "b"},
		{"blank title", "  ", "y", author, zan.EBadRequest, "a", "b"},
		{"title too long", strings.Repeat("好", 101), "", author, zan.EBadRequest, "a", "b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Update(ctx, v.ID, tc.user, tc.title, tc.content, nil)
			if got := zan.ErrorCode(err); got != tc.code {
				t.Fatalf("code %q, want %q (%v)", got, tc.code, err)
			}
			got, err := s.Get(ctx, v.ID, 0)
			if err != nil || got.Title != tc.wantTitle || got.Content != tc.wantText {
				t.Fatalf("after: %q %q %v", got.Title, got.Content, err)
			}
		})
	}
	if _, err := s.Update(ctx, v.ID+1000, author, "t", "c", nil); zan.ErrorCode(err) != zan.ENotFound {
		t.Fatalf("missing blog: %v", err)
	}
}
