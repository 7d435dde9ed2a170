package conformance

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zanlabs/zan"
)

// t0 is an arbitrary moment, in Unix microseconds, that like times count from.
const t0 int64 = 1_763_856_000_000_000

// TestStore runs the store suite. open returns a fresh, empty store; each
// subtest opens its own and closes it when done.
func TestStore(t *testing.T, open func(t *testing.T) zan.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s zan.Store)
	}{
		{"Ping", testPing},
		{"Users", testUsers},
		{"Users/Avatar", testAvatar},
		{"Identities", testIdentities},
		{"Identities/Concurrent", testIdentitiesConcurrent},
		{"Sessions", testSessions},
		{"Blogs/Get", testBlogsGet},
		{"Blogs/Keys", testBlogsKeys},
		{"Blogs/Update", testBlogsUpdate},
		{"Blogs/New", testBlogsNew},
		{"Blogs/Hot", testBlogsHot},
		{"Photos", testPhotos},
		{"ApplyLikes/LikeUnlike", testApplyLikeUnlike},
		{"ApplyLikes/OneBatchOrder", testApplyOneBatchOrder},
		{"ApplyLikes/LateOlderLike", testApplyLateOlderLike},
		{"ApplyLikes/Kept", testApplyKept},
		{"ApplyLikes/Duplicates", testApplyDuplicates},
		{"ApplyLikes/Many", testApplyMany},
		{"ApplyLikes/Model", testApplyModel},
		{"ApplyLikes/Relike", testApplyRelike},
		{"LikeCounts", testLikeCounts},
		{"Likers/Order", testLikersOrder},
		{"Likers/Bounds", testLikersBounds},
		{"Likers/Paging", testLikersPaging},
		{"Likers/PagingWhileLiking", testLikersPagingWhileLiking},
		{"UserLikes", testUserLikes},
		{"ScanLikers", testScanLikers},
		{"CommonLikers", testCommonLikers},
		{"RecountLikes", testRecountLikes},
		{"Shops/GetUpdate", testShopsGetUpdate},
		{"Shops/Search", testShopsSearch},
		{"Shops/SearchCJK", testShopsSearchCJK},
		{"Shops/Nearby", testShopsNearby},
		{"Vouchers", testVouchers},
		{"ApplyOrders/Outcomes", testApplyOrders},
		{"ApplyOrders/Concurrent", testApplyOrdersConcurrent},
		{"UserOrders", testUserOrders},
		{"Notifications/Aggregate", testNotificationsAggregate},
		{"Notifications/Read", testNotificationsRead},
		{"Notifications/Paging", testNotificationsPaging},
		{"Notifications/PruneSteps", testNotificationsPruneSteps},
		{"Notifications/Concurrent", testNotificationsConcurrent},
		{"Notifications/Batched", testNotificationsBatched},
		{"Webhooks", testWebhooks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

func testPing(t *testing.T, s zan.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// micro returns us as a UTC time, the form stores give times back in.
func micro(us int64) time.Time { return time.UnixMicro(us).UTC() }

// now is the current time at the stores' microsecond precision.
func now() time.Time { return micro(time.Now().UnixMicro()) }

func testUsers(t *testing.T, s zan.Store) {
	ctx := t.Context()
	u1 := zan.User{ID: 1, Phone: "+8613800000001", Nickname: "first", CreatedAt: micro(t0)}
	got, err := s.EnsureUser(ctx, u1)
	if err != nil || !sameUser(got, u1) {
		t.Fatalf("EnsureUser new: %+v, %v; want %+v", got, err, u1)
	}
	again := zan.User{ID: 2, Phone: u1.Phone, Nickname: "second", CreatedAt: micro(t0 + 1)}
	got, err = s.EnsureUser(ctx, again)
	if err != nil || !sameUser(got, u1) {
		t.Fatalf("EnsureUser known phone: %+v, %v; want the first %+v", got, err, u1)
	}
	if _, err := s.User(ctx, 2); !zan.IsNotFound(err) {
		t.Fatalf("User of the id that lost the race: %v, want not_found", err)
	}
	u3 := zan.User{ID: 3, Phone: "+8613800000003", Nickname: "third", CreatedAt: micro(t0 + 2)}
	if _, err := s.EnsureUser(ctx, u3); err != nil {
		t.Fatal(err)
	}
	got, err = s.User(ctx, 1)
	if err != nil || !sameUser(got, u1) {
		t.Fatalf("User(1): %+v, %v", got, err)
	}
	if _, err := s.User(ctx, 999); zan.ErrorCode(err) != zan.ENotFound {
		t.Fatalf("User(999): %v, want not_found", err)
	}
	m, err := s.Users(ctx, []int64{3, 999, 1})
	if err != nil || len(m) != 2 || !sameUser(m[1], u1) || !sameUser(m[3], u3) {
		t.Fatalf("Users: %+v, %v", m, err)
	}
	m, err = s.Users(ctx, nil)
	if err != nil || len(m) != 0 {
		t.Fatalf("Users(nil): %+v, %v", m, err)
	}

	for _, name := range []string{"兰州 拉面 🍜", "first"} { // the same name again is no error
		if err := s.SetNickname(ctx, 1, name); err != nil {
			t.Fatalf("SetNickname(%q): %v", name, err)
		}
		if got, err := s.User(ctx, 1); err != nil || got.Nickname != name || got.Phone != u1.Phone {
			t.Fatalf("User after SetNickname(%q): %+v, %v", name, got, err)
		}
	}
	if err := s.SetNickname(ctx, 999, "x"); !zan.IsNotFound(err) {
		t.Fatalf("SetNickname(missing): %v, want not_found", err)
	}
}

func sameUser(a, b zan.User) bool {
	return a.ID == b.ID && a.Phone == b.Phone && a.Nickname == b.Nickname && a.CreatedAt.Equal(b.CreatedAt)
}

func hash(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func testSessions(t *testing.T, s zan.Store) {
	ctx := t.Context()
	n := now()
	live := zan.Session{TokenHash: hash("live"), UserID: 1, ExpiresAt: n.Add(time.Hour)}
	for _, ss := range []zan.Session{
		live,
		{TokenHash: hash("expired1"), UserID: 2, ExpiresAt: n.Add(-time.Hour)},
		{TokenHash: hash("expired2"), UserID: 3, ExpiresAt: n.Add(-2 * time.Hour)},
	} {
		if err := s.CreateSession(ctx, ss); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	got, err := s.Session(ctx, live.TokenHash)
	if err != nil || got.UserID != 1 || got.TokenHash != live.TokenHash || !got.ExpiresAt.Equal(live.ExpiresAt) {
		t.Fatalf("Session: %+v, %v; want %+v", got, err, live)
	}
	for _, h := range []string{"missing", "expired1"} {
		if _, err := s.Session(ctx, hash(h)); !zan.IsNotFound(err) {
			t.Fatalf("Session(%s): %v, want not_found", h, err)
		}
	}

	// Touching into the past expires it; touching forward revives it.
	if err := s.TouchSession(ctx, live.TokenHash, n.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, live.TokenHash); !zan.IsNotFound(err) {
		t.Fatalf("Session after touching into the past: %v, want not_found", err)
	}
	later := n.Add(2 * time.Hour)
	if err := s.TouchSession(ctx, live.TokenHash, later); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Session(ctx, live.TokenHash); err != nil || !got.ExpiresAt.Equal(later) {
		t.Fatalf("Session after touch: %+v, %v; want expiry %v", got, err, later)
	}
	if err := s.TouchSession(ctx, hash("missing"), later); err != nil {
		t.Fatalf("TouchSession(missing): %v", err)
	}

	deleted, err := s.DeleteExpiredSessions(ctx, n)
	if err != nil || deleted != 2 {
		t.Fatalf("DeleteExpiredSessions: %d, %v; want 2", deleted, err)
	}
	if deleted, err := s.DeleteExpiredSessions(ctx, n); err != nil || deleted != 0 {
		t.Fatalf("DeleteExpiredSessions again: %d, %v; want 0", deleted, err)
	}
	if _, err := s.Session(ctx, live.TokenHash); err != nil {
		t.Fatalf("live session after DeleteExpiredSessions: %v", err)
	}
	if err := s.DeleteSession(ctx, live.TokenHash); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, live.TokenHash); !zan.IsNotFound(err) {
		t.Fatalf("Session after delete: %v, want not_found", err)
	}
	if err := s.DeleteSession(ctx, live.TokenHash); err != nil {
		t.Fatalf("DeleteSession twice: %v", err)
	}
}

// blogAuthor spreads blogs over two authors: 1 writes every third one.
func blogAuthor(id int64) int64 {
	if id%3 == 0 {
		return 1
	}
	return 2
}

// createBlogs creates blogs 1..n.
func createBlogs(t *testing.T, s zan.Store, n int64) {
	t.Helper()
	for id := int64(1); id <= n; id++ {
		b := zan.Blog{ID: id, AuthorID: blogAuthor(id), Title: "title " + strconv.FormatInt(id, 10),
			Content: "content", ShopID: id % 2, CreatedAt: micro(t0 + id)}
		if _, err := s.CreateBlog(t.Context(), b); err != nil {
			t.Fatalf("CreateBlog(%d): %v", id, err)
		}
	}
}

func testBlogsGet(t *testing.T, s zan.Store) {
	ctx := t.Context()
	want := zan.Blog{ID: 42, AuthorID: 7, Title: "Hotpot", Content: "Spicy, 火锅", ShopID: 9, CreatedAt: micro(t0)}
	if stored, err := s.CreateBlog(ctx, want); err != nil || stored.ID != want.ID {
		t.Fatalf("CreateBlog: %+v, %v", stored, err)
	}
	got, err := s.Blog(ctx, 42)
	if err != nil || got.ID != want.ID || got.AuthorID != want.AuthorID || got.Title != want.Title ||
		got.Content != want.Content || got.ShopID != want.ShopID || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("Blog: %+v, %v; want %+v", got, err, want)
	}
	if _, err := s.Blog(ctx, 43); !zan.IsNotFound(err) {
		t.Fatalf("Blog(missing): %v, want not_found", err)
	}
	if titles, err := s.BlogTitles(ctx, []int64{42, 43}); err != nil || len(titles) != 1 || titles[42] != "Hotpot" {
		t.Fatalf("BlogTitles: %v, %v; want only 42's", titles, err)
	}
	if err := s.DeleteBlog(ctx, 42); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Blog(ctx, 42); !zan.IsNotFound(err) {
		t.Fatalf("Blog after delete: %v, want not_found", err)
	}
	if err := s.DeleteBlog(ctx, 42); err != nil {
		t.Fatalf("DeleteBlog twice: %v", err)
	}
}

// testBlogsKeys: one (author, client key) is one blog, also under racing
// creates; another author's same key, and blogs without keys, are apart.
func testBlogsKeys(t *testing.T, s zan.Store) {
	ctx := t.Context()
	b := zan.Blog{ID: 1, AuthorID: 7, Title: "first", Content: "c", CreatedAt: micro(t0), ClientKey: "k"}
	if got, err := s.CreateBlog(ctx, b); err != nil || got.ID != 1 || got.Title != "first" {
		t.Fatalf("CreateBlog: %+v, %v", got, err)
	}
	again := zan.Blog{ID: 2, AuthorID: 7, Title: "second", Content: "c", CreatedAt: micro(t0 + 1), ClientKey: "k"}
	if got, err := s.CreateBlog(ctx, again); err != nil || got.ID != 1 || got.Title != "first" || !got.CreatedAt.Equal(b.CreatedAt) {
		t.Fatalf("CreateBlog with a used key: %+v, %v; want blog 1", got, err)
	}
	if _, err := s.Blog(ctx, 2); !zan.IsNotFound(err) {
		t.Fatalf("Blog(2) after a repeated key: %v, want not_found", err)
	}
	if got, err := s.BlogByKey(ctx, 7, "k"); err != nil || got.ID != 1 {
		t.Fatalf("BlogByKey: %+v, %v", got, err)
	}
	for _, miss := range []struct {
		author int64
		key    string
	}{{8, "k"}, {7, "K"}, {7, "other"}} {
		if _, err := s.BlogByKey(ctx, miss.author, miss.key); !zan.IsNotFound(err) {
			t.Fatalf("BlogByKey(%d, %q): %v, want not_found", miss.author, miss.key, err)
		}
	}
	other := zan.Blog{ID: 3, AuthorID: 8, Title: "t", Content: "c", CreatedAt: micro(t0), ClientKey: "k"}
	if got, err := s.CreateBlog(ctx, other); err != nil || got.ID != 3 {
		t.Fatalf("another author's key: %+v, %v", got, err)
	}
	for id := int64(4); id <= 5; id++ { // no key: no clash
		if got, err := s.CreateBlog(ctx, zan.Blog{ID: id, AuthorID: 7, Title: "t", Content: "c", CreatedAt: micro(t0)}); err != nil || got.ID != id {
			t.Fatalf("CreateBlog without a key: %+v, %v", got, err)
		}
	}

	// Racing submits of one key: every one answers the same blog.
	var wg sync.WaitGroup
	got := make([]int64, 8)
	errs := make([]error, len(got))
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := s.CreateBlog(ctx, zan.Blog{ID: 100 + int64(i), AuthorID: 9, Title: "t", Content: "c", CreatedAt: micro(t0), ClientKey: "race"})
			got[i], errs[i] = b.ID, err
		}()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i] != got[0] {
			t.Fatalf("racing creates: %v %v", got, errs)
		}
	}
	ids, _ := allBlogs(t, s, zan.BlogFilter{AuthorID: 9, Limit: 10})
	if len(ids) != 1 {
		t.Fatalf("racing creates made %v", ids)
	}
}

func testBlogsUpdate(t *testing.T, s zan.Store) {
	ctx := t.Context()
	b := zan.Blog{ID: 1, AuthorID: 7, Title: "t", Content: "c", ShopID: 3, CreatedAt: micro(t0)}
	if _, err := s.CreateBlog(ctx, b); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the same values again are no error
		if err := s.UpdateBlog(ctx, zan.Blog{ID: 1, Title: "新的", Content: "改过 ✓"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Blog(ctx, 1)
	if err != nil || got.Title != "新的" || got.Content != "改过 ✓" || got.AuthorID != 7 || got.ShopID != 3 || !got.CreatedAt.Equal(b.CreatedAt) {
		t.Fatalf("Blog after UpdateBlog: %+v, %v", got, err)
	}
	if err := s.UpdateBlog(ctx, zan.Blog{ID: 2, Title: "t", Content: "c"}); !zan.IsNotFound(err) {
		t.Fatalf("UpdateBlog(missing): %v, want not_found", err)
	}
}

// allBlogs pages through f, checking every page, and returns the ids and
// scores in order.
func allBlogs(t *testing.T, s zan.Store, f zan.BlogFilter) (ids, scores []int64) {
	t.Helper()
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("Blogs: paging does not end")
		}
		p, err := s.Blogs(t.Context(), f)
		if err != nil {
			t.Fatalf("Blogs(%+v): %v", f, err)
		}
		if len(p.Blogs) > f.Limit {
			t.Fatalf("Blogs: %d blogs, limit %d", len(p.Blogs), f.Limit)
		}
		if f.Sort == zan.BlogsHot && len(p.Scores) != len(p.Blogs) {
			t.Fatalf("Blogs hot: %d scores for %d blogs", len(p.Scores), len(p.Blogs))
		}
		if f.Sort == zan.BlogsNew && p.Scores != nil {
			t.Fatalf("Blogs new: scores %v, want nil", p.Scores)
		}
		for i, b := range p.Blogs {
			if f.AuthorID != 0 && b.AuthorID != f.AuthorID {
				t.Fatalf("Blogs by %d: blog %d by %d", f.AuthorID, b.ID, b.AuthorID)
			}
			ids = append(ids, b.ID)
			if f.Sort == zan.BlogsHot {
				scores = append(scores, p.Scores[i])
			}
		}
		if p.Next == nil {
			return ids, scores
		}
		if len(p.Blogs) != f.Limit {
			t.Fatalf("Blogs: short page of %d (limit %d) with a next cursor", len(p.Blogs), f.Limit)
		}
		f.After = p.Next
	}
}

func descending(from, to int64, keep func(int64) bool) []int64 {
	var ids []int64
	for id := from; id >= to; id-- {
		if keep == nil || keep(id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func testBlogsNew(t *testing.T, s zan.Store) {
	createBlogs(t, s, 25)
	if err := s.DeleteBlog(t.Context(), 25); err != nil {
		t.Fatal(err)
	}
	byAuthor1 := func(id int64) bool { return blogAuthor(id) == 1 }
	for _, tc := range []struct {
		author int64
		limit  int
		want   []int64
	}{
		{0, 7, descending(24, 1, nil)},
		{0, 1, descending(24, 1, nil)},
		{0, 24, descending(24, 1, nil)},
		{0, 100, descending(24, 1, nil)},
		{1, 3, descending(24, 1, byAuthor1)},
		{1, 8, descending(24, 1, byAuthor1)},
		{3, 5, nil},
	} {
		ids, _ := allBlogs(t, s, zan.BlogFilter{AuthorID: tc.author, Sort: zan.BlogsNew, Limit: tc.limit})
		if !slices.Equal(ids, tc.want) {
			t.Errorf("Blogs new author=%d limit=%d: %v, want %v", tc.author, tc.limit, ids, tc.want)
		}
	}
}

func testBlogsHot(t *testing.T, s zan.Store) {
	createBlogs(t, s, 24)
	blog := func(id int64) zan.Target { return zan.Target{Type: "blog", ID: id} }
	var evs []zan.Event
	add := func(op zan.Op, tg zan.Target, user, at int64) {
		evs = append(evs, zan.Event{ID: fmt.Sprint("e", len(evs)), Op: op, Target: tg, User: user, At: at})
	}
	for u := int64(1); u <= 3; u++ {
		add(zan.OpLike, blog(3), u, t0+u)
	}
	for u := int64(1); u <= 2; u++ {
		add(zan.OpLike, blog(7), u, t0+u)
		add(zan.OpLike, blog(10), u, t0+10+u)
	}
	for u := int64(10); u < 15; u++ { // before HotSince: not counted
		add(zan.OpLike, blog(7), u, t0-u)
	}
	add(zan.OpLike, blog(12), 1, t0)                              // exactly HotSince: counted
	add(zan.OpUnlike, blog(24), 1, t0+5)                          // an unlike is no like
	add(zan.OpLike, zan.Target{Type: "comment", ID: 24}, 1, t0+5) // another type
	add(zan.OpLike, blog(99), 1, t0+5)                            // no such blog
	if _, err := s.ApplyLikes(t.Context(), evs); err != nil {
		t.Fatal(err)
	}

	zeroes := func(author int64) (ids, scores []int64) {
		for id := int64(24); id >= 1; id-- {
			if id == 3 || id == 7 || id == 10 || id == 12 || author != 0 && blogAuthor(id) != author {
				continue
			}
			ids, scores = append(ids, id), append(scores, 0)
		}
		return ids, scores
	}
	allIDs, allScores := zeroes(0)
	a1IDs, a1Scores := zeroes(1)
	for _, tc := range []struct {
		author     int64
		limit      int
		ids        []int64
		scores     []int64
		hotSinceUs int64
	}{
		// Ties on score go by id, descending: 10 before 7.
		{0, 5, append([]int64{3, 10, 7, 12}, allIDs...), append([]int64{3, 2, 2, 1}, allScores...), t0},
		{0, 2, append([]int64{3, 10, 7, 12}, allIDs...), append([]int64{3, 2, 2, 1}, allScores...), t0},
		{0, 100, append([]int64{3, 10, 7, 12}, allIDs...), append([]int64{3, 2, 2, 1}, allScores...), t0},
		{1, 3, append([]int64{3, 12}, a1IDs...), append([]int64{3, 1}, a1Scores...), t0},
		// An earlier HotSince takes in the old likes of 7.
		{0, 4, append([]int64{7, 3, 10, 12}, allIDs...), append([]int64{7, 3, 2, 1}, allScores...), t0 - 100},
	} {
		ids, scores := allBlogs(t, s, zan.BlogFilter{AuthorID: tc.author, Sort: zan.BlogsHot, HotSince: micro(tc.hotSinceUs), Limit: tc.limit})
		if !slices.Equal(ids, tc.ids) || !slices.Equal(scores, tc.scores) {
			t.Errorf("Blogs hot author=%d limit=%d since=%d:\n ids %v scores %v\nwant %v scores %v",
				tc.author, tc.limit, tc.hotSinceUs-t0, ids, scores, tc.ids, tc.scores)
		}
	}
}

var blog1 = zan.Target{Type: "blog", ID: 1}

// ev returns an event with an id unique enough for the suite.
func ev(op zan.Op, tg zan.Target, user, at int64) zan.Event {
	return zan.Event{ID: fmt.Sprintf("%s-%s-%d-%d", op, tg, user, at), Op: op, Target: tg, User: user, At: at}
}

func like(tg zan.Target, user, at int64) zan.Event   { return ev(zan.OpLike, tg, user, at) }
func unlike(tg zan.Target, user, at int64) zan.Event { return ev(zan.OpUnlike, tg, user, at) }

func apply(t *testing.T, s zan.Store, evs ...zan.Event) zan.ApplyResult {
	t.Helper()
	r, err := s.ApplyLikes(t.Context(), evs)
	if err != nil {
		t.Fatalf("ApplyLikes: %v", err)
	}
	return r
}

func checkApply(t *testing.T, s zan.Store, want zan.ApplyResult, evs ...zan.Event) {
	t.Helper()
	if got := apply(t, s, evs...); got != want {
		t.Fatalf("ApplyLikes: %+v, want %+v", got, want)
	}
}

func checkState(t *testing.T, s zan.Store, tg zan.Target, user int64, count int64, liked bool) {
	t.Helper()
	counts, err := s.LikeCounts(t.Context(), []zan.Target{tg})
	if err != nil || len(counts) != 1 || counts[0] != count {
		t.Fatalf("LikeCounts(%v): %v, %v; want %d", tg, counts, err, count)
	}
	l, err := s.Liked(t.Context(), []zan.Target{tg}, user)
	if err != nil || len(l) != 1 || l[0] != liked {
		t.Fatalf("Liked(%v, %d): %v, %v; want %v", tg, user, l, err, liked)
	}
}

func testApplyLikeUnlike(t *testing.T, s zan.Store) {
	if r, err := s.ApplyLikes(t.Context(), nil); err != nil || r != (zan.ApplyResult{}) {
		t.Fatalf("ApplyLikes(nil): %+v, %v", r, err)
	}
	l := like(blog1, 7, t0)
	checkApply(t, s, zan.ApplyResult{Changed: 1}, l)
	checkState(t, s, blog1, 7, 1, true)
	checkState(t, s, blog1, 8, 1, false)
	// Redelivery changes nothing.
	checkApply(t, s, zan.ApplyResult{Stale: 1}, l)
	checkState(t, s, blog1, 7, 1, true)

	checkApply(t, s, zan.ApplyResult{Changed: 1}, unlike(blog1, 7, t0+1))
	checkState(t, s, blog1, 7, 0, false)
	p, err := s.Likers(t.Context(), blog1, zan.LikeQuery{Limit: 10})
	if err != nil || len(p.Items) != 0 || p.Next != nil {
		t.Fatalf("Likers after unlike: %+v, %v", p, err)
	}
	checkApply(t, s, zan.ApplyResult{Changed: 1}, like(blog1, 7, t0+2))
	checkState(t, s, blog1, 7, 1, true)
}

func testApplyOneBatchOrder(t *testing.T, s zan.Store) {
	for i, tc := range []struct {
		evs   []zan.Event
		want  zan.ApplyResult
		liked bool
	}{
		{[]zan.Event{like(blog1, 1, t0+1), unlike(blog1, 1, t0+2)}, zan.ApplyResult{Stale: 1}, false},
		{[]zan.Event{unlike(blog1, 1, t0+2), like(blog1, 1, t0+1)}, zan.ApplyResult{Stale: 1}, false},
		{[]zan.Event{like(blog1, 1, t0+2), unlike(blog1, 1, t0+1)}, zan.ApplyResult{Changed: 1, Stale: 1}, true},
		{[]zan.Event{unlike(blog1, 1, t0+1), like(blog1, 1, t0+2)}, zan.ApplyResult{Changed: 1, Stale: 1}, true},
		{[]zan.Event{unlike(blog1, 1, t0+1), like(blog1, 1, t0+3), unlike(blog1, 1, t0+2)}, zan.ApplyResult{Changed: 1, Stale: 2}, true},
		// Equal times: the greater event id wins, whatever the arrival order.
		{[]zan.Event{{ID: "b", Op: zan.OpLike, Target: blog1, User: 1, At: t0}, {ID: "a", Op: zan.OpUnlike, Target: blog1, User: 1, At: t0}},
			zan.ApplyResult{Changed: 1, Stale: 1}, true},
		{[]zan.Event{{ID: "a", Op: zan.OpUnlike, Target: blog1, User: 1, At: t0}, {ID: "b", Op: zan.OpLike, Target: blog1, User: 1, At: t0}},
			zan.ApplyResult{Changed: 1, Stale: 1}, true},
	} {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			// Each case on its own target, so one store serves all.
			tg := zan.Target{Type: "blog", ID: int64(100 + i)}
			evs := slices.Clone(tc.evs)
			for j := range evs {
				evs[j].Target = tg
			}
			checkApply(t, s, tc.want, evs...)
			count := int64(0)
			if tc.liked {
				count = 1
			}
			checkState(t, s, tg, 1, count, tc.liked)
			// Again: all stale, nothing changes.
			checkApply(t, s, zan.ApplyResult{Stale: len(evs)}, evs...)
			checkState(t, s, tg, 1, count, tc.liked)
		})
	}
}

// testApplyKept: a kept event (an answer "changed":false) confirms what the
// row holds without moving its like time, orders like any change (an older
// event arriving later is stale), and sets a row that disagrees (a hot
// state that was older than it knew) to what the client was told.
func testApplyKept(t *testing.T, s zan.Store) {
	kept := func(e zan.Event) zan.Event { e.Kept = true; e.ID += "-kept"; return e }
	checkApply(t, s, zan.ApplyResult{Changed: 1}, like(blog1, 1, t0+1))
	checkApply(t, s, zan.ApplyResult{}, kept(like(blog1, 1, t0+5)))
	checkState(t, s, blog1, 1, 1, true)
	p, err := s.Likers(t.Context(), blog1, zan.LikeQuery{Limit: 10})
	if err != nil || len(p.Items) != 1 || p.Items[0].LikedAt.UnixMicro() != t0+1 {
		t.Fatalf("Likers after a kept like: %+v, %v; want liked at t0+1", p, err)
	}
	// An unlike older than the kept like but newer than the like: stale.
	checkApply(t, s, zan.ApplyResult{Stale: 1}, unlike(blog1, 1, t0+3))
	checkState(t, s, blog1, 1, 1, true)
	// A kept like over an unlike (or no row): the row follows the answer.
	checkApply(t, s, zan.ApplyResult{Changed: 1}, unlike(blog1, 1, t0+6))
	checkApply(t, s, zan.ApplyResult{Changed: 1}, kept(like(blog1, 1, t0+7)))
	checkApply(t, s, zan.ApplyResult{Changed: 1}, kept(like(blog1, 2, t0+7)))
	checkState(t, s, blog1, 2, 2, true)
	checkApply(t, s, zan.ApplyResult{Changed: 1}, kept(unlike(blog1, 2, t0+8)))
	checkState(t, s, blog1, 2, 1, false)
	// The last change counts unliked rows too.
	if at, err := s.LastLikeChange(t.Context(), blog1); err != nil || at != t0+8 {
		t.Fatalf("LastLikeChange: %d, %v; want %d", at, err, t0+8)
	}
	if at, err := s.LastLikeChange(t.Context(), zan.Target{Type: "blog", ID: 999_999}); err != nil || at != 0 {
		t.Fatalf("LastLikeChange of a target without rows: %d, %v", at, err)
	}
	ss, ok := s.(zan.LikeSummaryStore)
	if !ok {
		return
	}
	// A target with only a tombstone has rows (its last change matters to
	// a load) and no count.
	tomb := zan.Target{Type: "blog", ID: 999_998}
	none := zan.Target{Type: "blog", ID: 999_999}
	checkApply(t, s, zan.ApplyResult{}, unlike(tomb, 3, t0+9))
	want := map[zan.Target]zan.LikeSummary{blog1: {Count: 1, Rows: true}, tomb: {Rows: true}, none: {}}
	// Lists of every length up to and past one query's chunk, types mixed.
	for _, n := range []int{1, 2, 8, 9, 64, 65, 130} {
		var ts []zan.Target
		for i := range n {
			ts = append(ts, []zan.Target{blog1, tomb, none, {Type: "comment", ID: int64(i + 1)}}[i%4])
		}
		got, err := ss.LikeSummaries(t.Context(), ts)
		if err != nil || len(got) != n {
			t.Fatalf("LikeSummaries of %d: %d, %v", n, len(got), err)
		}
		for i, tg := range ts {
			if got[i] != want[tg] {
				t.Fatalf("LikeSummaries of %d: [%d] %v = %+v; want %+v", n, i, tg, got[i], want[tg])
			}
		}
	}
}

func testApplyLateOlderLike(t *testing.T, s zan.Store) {
	// An unlike of a row never seen, then the like it undid, delivered late.
	checkApply(t, s, zan.ApplyResult{}, unlike(blog1, 1, t0+5))
	checkApply(t, s, zan.ApplyResult{Stale: 1}, like(blog1, 1, t0+3))
	checkState(t, s, blog1, 1, 0, false)

	// The same after a like: the unlike wins over an older like.
	checkApply(t, s, zan.ApplyResult{Changed: 1}, like(blog1, 2, t0+1))
	checkApply(t, s, zan.ApplyResult{Changed: 1}, unlike(blog1, 2, t0+5))
	checkApply(t, s, zan.ApplyResult{Stale: 1}, like(blog1, 2, t0+3))
	checkState(t, s, blog1, 2, 0, false)

	// And an older unlike does not undo a newer like.
	checkApply(t, s, zan.ApplyResult{Changed: 1}, like(blog1, 3, t0+5))
	checkApply(t, s, zan.ApplyResult{Stale: 1}, unlike(blog1, 3, t0+4))
	checkState(t, s, blog1, 3, 1, true)
}

func testApplyDuplicates(t *testing.T, s zan.Store) {
	l := like(blog1, 1, t0)
	checkApply(t, s, zan.ApplyResult{Changed: 2, Stale: 3}, l, l, like(blog1, 2, t0), l, l)
	checkState(t, s, blog1, 1, 2, true)
	checkApply(t, s, zan.ApplyResult{Stale: 2}, l, l)
	checkState(t, s, blog1, 1, 2, true)
}

func testApplyMany(t *testing.T, s zan.Store) {
	// The same ids under two types are different targets.
	var targets []zan.Target
	for _, typ := range []string{"blog", "comment"} {
		for id := int64(1); id <= 5; id++ {
			targets = append(targets, zan.Target{Type: typ, ID: id})
		}
	}
	const users = 200
	var evs []zan.Event
	want := make([]int64, len(targets))
	changed, stale := 0, 0
	for i, tg := range targets {
		for u := int64(1); u <= users; u++ {
			if (u+int64(i))%3 == 0 {
				continue
			}
			evs = append(evs, like(tg, u, t0+u))
			if u%7 == 0 {
				// Collapsed in the batch: the like is stale and the
				// unlike leaves a row that never liked.
				evs = append(evs, unlike(tg, u, t0+1000+u))
				stale++
				continue
			}
			want[i]++
			changed++
		}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	if r := apply(t, s, evs...); r != (zan.ApplyResult{Changed: changed, Stale: stale}) {
		t.Fatalf("ApplyLikes: %+v, want %d changed, %d stale", r, changed, stale)
	}
	counts, err := s.LikeCounts(t.Context(), targets)
	if err != nil || !slices.Equal(counts, want) {
		t.Fatalf("LikeCounts: %v, %v; want %v", counts, err, want)
	}
	r := apply(t, s, evs...)
	if r.Changed != 0 || r.Stale != len(evs) {
		t.Fatalf("ApplyLikes again: %+v, want all %d stale", r, len(evs))
	}
	counts, err = s.LikeCounts(t.Context(), targets)
	if err != nil || !slices.Equal(counts, want) {
		t.Fatalf("LikeCounts after reapplying: %v, %v; want %v", counts, err, want)
	}
}

// model is the reference semantics of ApplyLikes.
type model struct {
	rows map[modelKey]modelRow
}

type modelKey struct {
	t    zan.Target
	user int64
}

type modelRow struct {
	liked            bool
	likedAt, changed int64
}

func (m *model) apply(evs []zan.Event) (zan.ApplyResult, map[zan.Target]int64) {
	var r zan.ApplyResult
	last := make(map[modelKey]zan.Event)
	for _, e := range evs {
		k := modelKey{e.Target, e.User}
		cur, ok := last[k]
		if !ok {
			last[k] = e
			continue
		}
		r.Stale++
		if e.At > cur.At || e.At == cur.At && e.ID > cur.ID {
			last[k] = e
		}
	}
	delta := make(map[zan.Target]int64)
	for k, e := range last {
		row, ok := m.rows[k]
		if ok && e.At <= row.changed {
			r.Stale++
			continue
		}
		nr := modelRow{liked: e.Liked(), likedAt: row.likedAt, changed: e.At}
		if e.Liked() || !ok {
			nr.likedAt = e.At
		}
		m.rows[k] = nr
		if nr.liked != row.liked {
			r.Changed++
			if nr.liked {
				delta[k.t]++
			} else {
				delta[k.t]--
			}
		}
	}
	return r, delta
}

func testApplyModel(t *testing.T, s zan.Store) {
	rng := rand.New(rand.NewPCG(3, 4))
	var targets []zan.Target
	for id := int64(1); id <= 4; id++ {
		targets = append(targets, zan.Target{Type: "blog", ID: id}, zan.Target{Type: "shop", ID: id})
	}
	const users = 30
	m := &model{rows: make(map[modelKey]modelRow)}
	counts := make(map[zan.Target]int64)
	seq := 0
	for batch := range 25 {
		evs := make([]zan.Event, 1+rng.IntN(300))
		for i := range evs {
			seq++
			op := zan.OpLike
			if rng.IntN(2) == 0 {
				op = zan.OpUnlike
			}
			// Times overlap across batches, so late and early deliveries
			// both happen; a few collide to exercise the id tie-break.
			at := t0 + int64(batch*50+rng.IntN(200))
			evs[i] = zan.Event{ID: fmt.Sprintf("e%06d", rng.IntN(1_000_000)) + strconv.Itoa(seq),
				Op: op, Target: targets[rng.IntN(len(targets))], User: 1 + rng.Int64N(users), At: at}
			if rng.IntN(20) == 0 && i > 0 {
				evs[i] = evs[rng.IntN(i)] // a duplicate delivery
			}
		}
		want, delta := m.apply(evs)
		for tg, d := range delta {
			counts[tg] += d
		}
		if got := apply(t, s, evs...); got != want {
			t.Fatalf("batch %d: ApplyLikes %+v, want %+v", batch, got, want)
		}
		got, err := s.LikeCounts(t.Context(), targets)
		if err != nil {
			t.Fatal(err)
		}
		for i, tg := range targets {
			if got[i] != counts[tg] {
				t.Fatalf("batch %d: count of %v %d, want %d", batch, tg, got[i], counts[tg])
			}
		}
	}
	for _, tg := range targets {
		var want []zan.Liker
		for u := int64(1); u <= users; u++ {
			if row := m.rows[modelKey{tg, u}]; row.liked {
				want = append(want, zan.Liker{UserID: u, LikedAt: micro(row.likedAt)})
			}
		}
		sortLikers(want, zan.Earliest)
		got := allLikers(t, s, tg, zan.LikeQuery{Order: zan.Earliest, Limit: 7})
		if !equalLikers(got, want) {
			t.Fatalf("Likers of %v:\n%v\nwant\n%v", tg, got, want)
		}
		if int64(len(want)) != counts[tg] {
			t.Fatalf("model: %d likers of %v, count %d", len(want), tg, counts[tg])
		}
		for u := int64(1); u <= users; u++ {
			l, err := s.Liked(t.Context(), []zan.Target{tg}, u)
			if err != nil || l[0] != m.rows[modelKey{tg, u}].liked {
				t.Fatalf("Liked(%v, %d): %v, %v", tg, u, l, err)
			}
		}
	}
}

func testApplyRelike(t *testing.T, s zan.Store) {
	// Across batches: like, unlike, like again; the like time is the last.
	apply(t, s, like(blog1, 1, t0+1))
	apply(t, s, unlike(blog1, 1, t0+2))
	checkApply(t, s, zan.ApplyResult{Changed: 1}, like(blog1, 1, t0+3))
	checkLikedAt(t, s, blog1, 1, t0+3)
	checkState(t, s, blog1, 1, 1, true)

	// The unlike and the like again in one batch collapse to a like that
	// flips nothing but still moves the like time.
	apply(t, s, like(blog1, 2, t0+1))
	checkApply(t, s, zan.ApplyResult{Stale: 1}, unlike(blog1, 2, t0+2), like(blog1, 2, t0+3))
	checkLikedAt(t, s, blog1, 2, t0+3)
	checkState(t, s, blog1, 2, 2, true)

	// An unlike keeps nothing to list.
	apply(t, s, unlike(blog1, 1, t0+4))
	p, err := s.UserLikes(t.Context(), 1, zan.LikeQuery{Limit: 10})
	if err != nil || len(p.Items) != 0 {
		t.Fatalf("UserLikes after unlike: %+v, %v", p, err)
	}
}

func checkLikedAt(t *testing.T, s zan.Store, tg zan.Target, user, at int64) {
	t.Helper()
	for _, l := range allLikers(t, s, tg, zan.LikeQuery{Limit: 100}) {
		if l.UserID == user {
			if !l.LikedAt.Equal(micro(at)) {
				t.Fatalf("Likers: %d liked %v at %v, want %v", user, tg, l.LikedAt, micro(at))
			}
			p, err := s.UserLikes(t.Context(), user, zan.LikeQuery{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, ul := range p.Items {
				if ul.Target == tg && !ul.LikedAt.Equal(micro(at)) {
					t.Fatalf("UserLikes: %d liked %v at %v, want %v", user, tg, ul.LikedAt, micro(at))
				}
			}
			return
		}
	}
	t.Fatalf("Likers: %d does not like %v", user, tg)
}

func testLikeCounts(t *testing.T, s zan.Store) {
	blog2 := zan.Target{Type: "blog", ID: 2}
	comment1 := zan.Target{Type: "comment", ID: 1}
	apply(t, s,
		like(blog1, 1, t0), like(blog1, 2, t0),
		like(blog2, 1, t0),
		like(comment1, 1, t0), like(comment1, 2, t0), like(comment1, 3, t0),
		like(zan.Target{Type: "blog", ID: 5}, 2, t0), unlike(zan.Target{Type: "blog", ID: 5}, 2, t0+1))
	ts := []zan.Target{blog2, comment1, blog1, {Type: "blog", ID: 99}, {Type: "shop", ID: 1}, {Type: "blog", ID: 5}, blog1}
	counts, err := s.LikeCounts(t.Context(), ts)
	if want := []int64{1, 3, 2, 0, 0, 0, 2}; err != nil || !slices.Equal(counts, want) {
		t.Fatalf("LikeCounts: %v, %v; want %v", counts, err, want)
	}
	liked, err := s.Liked(t.Context(), ts, 2)
	if want := []bool{false, true, true, false, false, false, true}; err != nil || !slices.Equal(liked, want) {
		t.Fatalf("Liked: %v, %v; want %v", liked, err, want)
	}
	liked, err = s.Liked(t.Context(), ts, 99)
	if err != nil || len(liked) != len(ts) || slices.Contains(liked, true) {
		t.Fatalf("Liked by a stranger: %v, %v", liked, err)
	}
	if c, err := s.LikeCounts(t.Context(), nil); err != nil || len(c) != 0 {
		t.Fatalf("LikeCounts(nil): %v, %v", c, err)
	}
	if l, err := s.Liked(t.Context(), nil, 1); err != nil || len(l) != 0 {
		t.Fatalf("Liked(nil): %v, %v", l, err)
	}
}

func sortLikers(ls []zan.Liker, o zan.Order) {
	slices.SortFunc(ls, func(a, b zan.Liker) int {
		c := a.LikedAt.Compare(b.LikedAt)
		if c == 0 {
			c = int(a.UserID - b.UserID)
		}
		if o == zan.Latest {
			c = -c
		}
		return c
	})
}

func equalLikers(a, b []zan.Liker) bool {
	return slices.EqualFunc(a, b, func(x, y zan.Liker) bool { return x.UserID == y.UserID && x.LikedAt.Equal(y.LikedAt) })
}

func likerIDs(ls []zan.Liker) []int64 {
	ids := make([]int64, len(ls))
	for i, l := range ls {
		ids[i] = l.UserID
	}
	return ids
}

// allLikers pages through the likers of tg with q.
func allLikers(t *testing.T, s zan.Store, tg zan.Target, q zan.LikeQuery) []zan.Liker {
	t.Helper()
	var all []zan.Liker
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("Likers: paging does not end")
		}
		p, err := s.Likers(t.Context(), tg, q)
		if err != nil {
			t.Fatalf("Likers(%v, %+v): %v", tg, q, err)
		}
		if len(p.Items) > q.Limit || p.Next != nil && len(p.Items) != q.Limit {
			t.Fatalf("Likers: page of %d, limit %d, next %v", len(p.Items), q.Limit, p.Next)
		}
		all = append(all, p.Items...)
		if p.Next == nil {
			return all
		}
		q.After = p.Next
	}
}

// likersFixture: users 1..10 like blog1 at t0+10u, 11 and 12 both at t0+200,
// 13 liked and unliked; other targets have likes of their own.
func likersFixture(t *testing.T, s zan.Store) []zan.Liker {
	var evs []zan.Event
	var want []zan.Liker
	for u := int64(1); u <= 10; u++ {
		evs = append(evs, like(blog1, u, t0+10*u))
		want = append(want, zan.Liker{UserID: u, LikedAt: micro(t0 + 10*u)})
	}
	for u := int64(11); u <= 12; u++ {
		evs = append(evs, like(blog1, u, t0+200))
		want = append(want, zan.Liker{UserID: u, LikedAt: micro(t0 + 200)})
	}
	evs = append(evs, like(blog1, 13, t0+5), unlike(blog1, 13, t0+300),
		like(zan.Target{Type: "blog", ID: 2}, 14, t0+50), like(zan.Target{Type: "comment", ID: 1}, 15, t0+50))
	apply(t, s, evs...)
	return want // earliest first
}

func testLikersOrder(t *testing.T, s zan.Store) {
	earliest := likersFixture(t, s)
	latest := slices.Clone(earliest)
	slices.Reverse(latest)
	for _, tc := range []struct {
		order zan.Order
		want  []zan.Liker
	}{{zan.Earliest, earliest}, {zan.Latest, latest}} {
		p, err := s.Likers(t.Context(), blog1, zan.LikeQuery{Order: tc.order, Limit: 100})
		if err != nil || p.Next != nil || !equalLikers(p.Items, tc.want) {
			t.Fatalf("Likers order %d: %+v, %v; want %v", tc.order, p, err, tc.want)
		}
	}
	p, err := s.Likers(t.Context(), zan.Target{Type: "blog", ID: 404}, zan.LikeQuery{Limit: 10})
	if err != nil || len(p.Items) != 0 || p.Next != nil {
		t.Fatalf("Likers of a target without likes: %+v, %v", p, err)
	}
}

func testLikersBounds(t *testing.T, s zan.Store) {
	likersFixture(t, s)
	for _, tc := range []struct {
		since, until int64 // offsets from t0; -1: unbounded
		order        zan.Order
		want         []int64
	}{
		{30, 70, zan.Latest, []int64{6, 5, 4, 3}},
		{30, 70, zan.Earliest, []int64{3, 4, 5, 6}},
		{31, 70, zan.Earliest, []int64{4, 5, 6}},
		{100, -1, zan.Earliest, []int64{10, 11, 12}},
		{-1, 20, zan.Latest, []int64{1}},
		{-1, 200, zan.Latest, []int64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{201, -1, zan.Latest, nil},
	} {
		q := zan.LikeQuery{Order: tc.order, Limit: 100}
		if tc.since >= 0 {
			q.Since = micro(t0 + tc.since)
		}
		if tc.until >= 0 {
			q.Until = micro(t0 + tc.until)
		}
		for _, limit := range []int{100, 2, 1} {
			q.Limit = limit
			got := likerIDs(allLikers(t, s, blog1, q))
			if !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("Likers since %d until %d order %d limit %d: %v, want %v",
					tc.since, tc.until, tc.order, limit, got, tc.want)
			}
		}
	}
}

func testLikersPaging(t *testing.T, s zan.Store) {
	earliest := likersFixture(t, s)
	latest := slices.Clone(earliest)
	slices.Reverse(latest)
	for _, limit := range []int{1, 3, 5, 12, 13} {
		if got := allLikers(t, s, blog1, zan.LikeQuery{Order: zan.Earliest, Limit: limit}); !equalLikers(got, earliest) {
			t.Errorf("Likers earliest by %d: %v, want %v", limit, likerIDs(got), likerIDs(earliest))
		}
		if got := allLikers(t, s, blog1, zan.LikeQuery{Order: zan.Latest, Limit: limit}); !equalLikers(got, latest) {
			t.Errorf("Likers latest by %d: %v, want %v", limit, likerIDs(got), likerIDs(latest))
		}
	}
}

func testLikersPagingWhileLiking(t *testing.T, s zan.Store) {
	earliest := likersFixture(t, s)
	next := int64(1000)
	likeMore := func() []zan.Liker {
		var evs []zan.Event
		var added []zan.Liker
		for range 3 {
			next++
			evs = append(evs, like(blog1, next, t0+next))
			added = append(added, zan.Liker{UserID: next, LikedAt: micro(t0 + next)})
		}
		apply(t, s, evs...)
		return added
	}
	page := func(q zan.LikeQuery) zan.LikerPage {
		p, err := s.Likers(t.Context(), blog1, q)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Latest first: new likes land before the cursor and must not shift
	// the pages after it.
	var got []zan.Liker
	q := zan.LikeQuery{Order: zan.Latest, Limit: 4}
	for {
		p := page(q)
		got = append(got, p.Items...)
		if p.Next == nil {
			break
		}
		likeMore()
		q.After = p.Next
	}
	want := slices.Clone(earliest)
	slices.Reverse(want)
	if !equalLikers(got, want) {
		t.Fatalf("Likers latest while liking: %v, want %v", likerIDs(got), likerIDs(want))
	}

	// Earliest first: new likes come after everything seen and are reached.
	all := allLikers(t, s, blog1, zan.LikeQuery{Order: zan.Earliest, Limit: 100})
	got = nil
	q = zan.LikeQuery{Order: zan.Earliest, Limit: 5}
	want = all
	for pages := 0; ; pages++ {
		p := page(q)
		got = append(got, p.Items...)
		if p.Next == nil {
			break
		}
		if pages < 3 {
			want = append(want, likeMore()...)
		}
		q.After = p.Next
	}
	if !equalLikers(got, want) {
		t.Fatalf("Likers earliest while liking: %v, want %v", likerIDs(got), likerIDs(want))
	}
}

func testUserLikes(t *testing.T, s zan.Store) {
	const user = 7
	var evs []zan.Event
	var want []zan.UserLike // earliest first
	add := func(typ string, id, at int64) {
		tg := zan.Target{Type: typ, ID: id}
		evs = append(evs, like(tg, user, at))
		want = append(want, zan.UserLike{Target: tg, LikedAt: micro(at)})
	}
	for id := int64(1); id <= 5; id++ {
		add("blog", id, t0+id)
	}
	add("shop", 1, t0+3)    // same time as blog 3: ordered by type
	add("comment", 9, t0+3) // and before both
	for id := int64(1); id <= 3; id++ {
		add("comment", id, t0+10+id)
	}
	evs = append(evs,
		like(zan.Target{Type: "blog", ID: 6}, user, t0+1), unlike(zan.Target{Type: "blog", ID: 6}, user, t0+2),
		like(blog1, user+1, t0+1), like(zan.Target{Type: "shop", ID: 2}, user+1, t0+1))
	apply(t, s, evs...)
	slices.SortFunc(want, func(a, b zan.UserLike) int {
		if c := a.LikedAt.Compare(b.LikedAt); c != 0 {
			return c
		}
		if a.Target.Type != b.Target.Type {
			if a.Target.Type < b.Target.Type {
				return -1
			}
			return 1
		}
		return int(a.Target.ID - b.Target.ID)
	})
	filter := func(ls []zan.UserLike, typ string, since, until int64, o zan.Order) []zan.UserLike {
		var out []zan.UserLike
		for _, l := range ls {
			at := l.LikedAt.UnixMicro()
			if (typ == "" || l.Target.Type == typ) && (since == 0 || at >= since) && (until == 0 || at < until) {
				out = append(out, l)
			}
		}
		if o == zan.Latest {
			slices.Reverse(out)
		}
		return out
	}
	for _, tc := range []struct {
		typ          string
		since, until int64
	}{
		{"", 0, 0}, {"blog", 0, 0}, {"comment", 0, 0}, {"shop", 0, 0}, {"nothing", 0, 0},
		{"", t0 + 3, t0 + 12}, {"blog", t0 + 2, 0}, {"", 0, t0 + 3},
	} {
		for _, o := range []zan.Order{zan.Latest, zan.Earliest} {
			w := filter(want, tc.typ, tc.since, tc.until, o)
			for _, limit := range []int{1, 2, 3, 100} {
				q := zan.LikeQuery{Order: o, Limit: limit, Type: tc.typ}
				if tc.since != 0 {
					q.Since = micro(tc.since)
				}
				if tc.until != 0 {
					q.Until = micro(tc.until)
				}
				var got []zan.UserLike
				for pages := 0; ; pages++ {
					if pages > 100 {
						t.Fatal("UserLikes: paging does not end")
					}
					p, err := s.UserLikes(t.Context(), user, q)
					if err != nil {
						t.Fatalf("UserLikes(%+v): %v", q, err)
					}
					if len(p.Items) > limit || p.Next != nil && len(p.Items) != limit {
						t.Fatalf("UserLikes: page of %d, limit %d, next %v", len(p.Items), limit, p.Next)
					}
					got = append(got, p.Items...)
					if p.Next == nil {
						break
					}
					q.After = p.Next
				}
				ok := slices.EqualFunc(got, w, func(a, b zan.UserLike) bool {
					return a.Target == b.Target && a.LikedAt.Equal(b.LikedAt)
				})
				if !ok {
					t.Errorf("UserLikes type %q since %d until %d order %d limit %d:\n%v\nwant\n%v",
						tc.typ, tc.since, tc.until, o, limit, got, w)
				}
			}
		}
	}
}

func testScanLikers(t *testing.T, s zan.Store) {
	const users = 2500
	var evs []zan.Event
	var want []int64
	for u := int64(1); u <= users; u++ {
		evs = append(evs, like(blog1, u, t0+u))
		if u%10 == 0 {
			evs = append(evs, unlike(blog1, u, t0+users+u))
		} else {
			want = append(want, u)
		}
	}
	evs = append(evs, like(zan.Target{Type: "blog", ID: 2}, users+1, t0), like(zan.Target{Type: "comment", ID: 1}, users+2, t0))
	for i := 0; i < len(evs); i += 1000 {
		apply(t, s, evs[i:min(i+1000, len(evs))]...)
	}
	var got []int64
	err := s.ScanLikers(t.Context(), blog1, func(us []int64) error {
		if len(us) == 0 {
			t.Error("ScanLikers: empty chunk")
		}
		got = append(got, us...)
		return nil
	})
	if err != nil {
		t.Fatalf("ScanLikers: %v", err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("ScanLikers: %d users, want %d (first %v)", len(got), len(want), got[:min(len(got), 5)])
	}

	var none []int64
	if err := s.ScanLikers(t.Context(), zan.Target{Type: "blog", ID: 404}, func(us []int64) error {
		none = append(none, us...)
		return nil
	}); err != nil || len(none) != 0 {
		t.Fatalf("ScanLikers of a target without likes: %v, %v", none, err)
	}

	stop := errors.New("stop")
	calls := 0
	err = s.ScanLikers(t.Context(), blog1, func([]int64) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("ScanLikers with fn failing: %v after %d calls, want stop after 1", err, calls)
	}
}

func testCommonLikers(t *testing.T, s zan.Store) {
	a, b := blog1, zan.Target{Type: "comment", ID: 1}
	var evs []zan.Event
	for u := int64(1); u <= 20; u++ {
		evs = append(evs, like(a, u, t0+u))
	}
	for u := int64(10); u <= 30; u++ {
		evs = append(evs, like(b, u, t0+100-u))
	}
	evs = append(evs, unlike(b, 15, t0+200), like(zan.Target{Type: "blog", ID: 2}, 5, t0))
	apply(t, s, evs...)
	for _, tc := range []struct {
		a, b  zan.Target
		limit int
		want  []int64
	}{
		{a, b, 5, []int64{10, 11, 12, 13, 14}},
		{b, a, 6, []int64{10, 11, 12, 13, 14, 16}},
		{a, b, 100, []int64{10, 11, 12, 13, 14, 16, 17, 18, 19, 20}},
		{a, zan.Target{Type: "blog", ID: 2}, 100, []int64{5}},
		{b, zan.Target{Type: "blog", ID: 2}, 100, nil},
		{a, zan.Target{Type: "blog", ID: 404}, 100, nil},
	} {
		got, err := s.CommonLikers(t.Context(), tc.a, tc.b, tc.limit)
		if err != nil || !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("CommonLikers(%v, %v, %d): %v, %v; want %v", tc.a, tc.b, tc.limit, got, err, tc.want)
		}
	}
}

func testRecountLikes(t *testing.T, s zan.Store) {
	apply(t, s, like(blog1, 1, t0), like(blog1, 2, t0), like(blog1, 3, t0), unlike(blog1, 2, t0+1))
	before, after, err := s.RecountLikes(t.Context(), blog1)
	if err != nil || before != 2 || after != 2 {
		t.Fatalf("RecountLikes: %d, %d, %v; want 2, 2", before, after, err)
	}
	empty := zan.Target{Type: "blog", ID: 404}
	before, after, err = s.RecountLikes(t.Context(), empty)
	if err != nil || before != 0 || after != 0 {
		t.Fatalf("RecountLikes of a target without likes: %d, %d, %v", before, after, err)
	}
	counts, err := s.LikeCounts(t.Context(), []zan.Target{blog1, empty})
	if err != nil || !slices.Equal(counts, []int64{2, 0}) {
		t.Fatalf("LikeCounts after recount: %v, %v", counts, err)
	}
	// Counting goes on from the recounted value.
	checkApply(t, s, zan.ApplyResult{Changed: 1}, like(empty, 1, t0))
	checkState(t, s, empty, 1, 1, true)
}
