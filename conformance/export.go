package conformance

import (
	"cmp"
	"fmt"
	"slices"
	"testing"

	"github.com/zanlabs/zan"
)

// TestExport runs the export/import suite: a store filled through its normal
// API is exported in small batches and imported into a second fresh store,
// which must then hold the same users, blogs, like rows, likers and counts.
// open returns a fresh, empty store that implements zan.Exporter and
// zan.Importer.
func TestExport(t *testing.T, open func(t *testing.T) zan.Store) {
	ctx := t.Context()
	src, dst := openCloser(t, open), openCloser(t, open)
	srcX, ok := src.(zan.Exporter)
	if !ok {
		t.Fatalf("%T does not implement zan.Exporter", src)
	}
	dstX, ok := dst.(zan.Exporter)
	if !ok {
		t.Fatalf("%T does not implement zan.Exporter", dst)
	}
	dstI, ok := dst.(zan.Importer)
	if !ok {
		t.Fatalf("%T does not implement zan.Importer", dst)
	}

	// Fill the source.
	const nUsers, nBlogs = 23, 17
	for id := int64(1); id <= nUsers; id++ {
		u := zan.User{ID: id * 10, Phone: fmt.Sprintf("+86138%08d", id), Nickname: fmt.Sprintf("user %d ✓", id),
			CreatedAt: micro(t0 + id)}
		if _, err := src.EnsureUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	createBlogs(t, src, nBlogs)
	var evs []zan.Event
	types := []string{"blog", "comment", "shop"}
	for i := int64(0); i < 300; i++ {
		tg := zan.Target{Type: types[i%3], ID: 1 + i%7}
		evs = append(evs, like(tg, 1+i%29, t0+i))
	}
	apply(t, src, evs...)
	evs = evs[:0]
	for i := int64(0); i < 300; i += 4 {
		tg := zan.Target{Type: types[i%3], ID: 1 + i%7}
		evs = append(evs, unlike(tg, 1+i%29, t0+1000+i))
	}
	// A tombstone nobody liked before, and a like again after an unlike.
	evs = append(evs, unlike(zan.Target{Type: "blog", ID: 99}, 5, t0+2000))
	apply(t, src, evs...)
	apply(t, src, like(zan.Target{Type: types[0], ID: 1}, 1, t0+3000))

	// Export everything in small batches, checking key order, and import
	// it twice: the second time changes nothing.
	var users []zan.User
	for after := int64(0); ; {
		us, err := srcX.ExportUsers(ctx, after, 4)
		if err != nil {
			t.Fatalf("ExportUsers: %v", err)
		}
		if len(us) == 0 {
			break
		}
		if len(us) > 4 || us[0].ID <= after {
			t.Fatalf("ExportUsers(%d, 4): %d users from %d", after, len(us), us[0].ID)
		}
		users = append(users, us...)
		after = us[len(us)-1].ID
	}
	var blogs []zan.Blog
	for after := int64(0); ; {
		bs, err := srcX.ExportBlogs(ctx, after, 5)
		if err != nil {
			t.Fatalf("ExportBlogs: %v", err)
		}
		if len(bs) == 0 {
			break
		}
		if len(bs) > 5 || bs[0].ID <= after {
			t.Fatalf("ExportBlogs(%d, 5): %d blogs from %d", after, len(bs), bs[0].ID)
		}
		blogs = append(blogs, bs...)
		after = bs[len(bs)-1].ID
	}
	if len(users) != nUsers || len(blogs) != nBlogs {
		t.Fatalf("exported %d users and %d blogs, want %d and %d", len(users), len(blogs), nUsers, nBlogs)
	}
	srcLikes := exportLikes(t, srcX, 7)
	var tombstones int
	for _, ev := range srcLikes {
		if ev.Op == zan.OpUnlike {
			tombstones++
		}
		if want := zan.LikeEventID(ev.Target, ev.User, ev.At); ev.ID != want {
			t.Fatalf("exported event id %q, want %q", ev.ID, want)
		}
	}
	if tombstones == 0 || tombstones == len(srcLikes) {
		t.Fatalf("exported %d like rows, %d tombstones: want both kinds", len(srcLikes), tombstones)
	}

	for round := range 2 {
		for i := 0; i < len(users); i += 6 {
			if err := dstI.ImportUsers(ctx, users[i:min(i+6, len(users))]); err != nil {
				t.Fatalf("ImportUsers: %v", err)
			}
		}
		for i := 0; i < len(blogs); i += 6 {
			if err := dstI.ImportBlogs(ctx, blogs[i:min(i+6, len(blogs))]); err != nil {
				t.Fatalf("ImportBlogs: %v", err)
			}
		}
		var changed int
		for i := 0; i < len(srcLikes); i += 50 {
			r := apply(t, dst, srcLikes[i:min(i+50, len(srcLikes))]...)
			changed += r.Changed
		}
		if round == 1 && changed != 0 {
			t.Fatalf("importing the likes again changed %d rows", changed)
		}
	}
	if err := dstI.ImportUsers(ctx, nil); err != nil {
		t.Fatalf("ImportUsers(nil): %v", err)
	}

	// Compare.
	for _, u := range users {
		got, err := dst.User(ctx, u.ID)
		if err != nil || !sameUser(got, u) {
			t.Fatalf("User(%d) imported: %+v, %v; want %+v", u.ID, got, err, u)
		}
	}
	for _, b := range blogs {
		got, err := dst.Blog(ctx, b.ID)
		if err != nil || got.AuthorID != b.AuthorID || got.Title != b.Title || got.Content != b.Content ||
			got.ShopID != b.ShopID || !got.CreatedAt.Equal(b.CreatedAt) {
			t.Fatalf("Blog(%d) imported: %+v, %v; want %+v", b.ID, got, err, b)
		}
	}
	if dstLikes := exportLikes(t, dstX, 1000); !slices.Equal(dstLikes, srcLikes) {
		t.Fatalf("like rows differ after import:\n%v\nwant\n%v", dstLikes, srcLikes)
	}
	su, sb, sl, err := srcX.CountTotals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	du, db, dl, err := dstX.CountTotals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if su != nUsers || sb != nBlogs || sl != int64(len(srcLikes)-tombstones) || du != su || db != sb || dl != sl {
		t.Fatalf("CountTotals: source %d/%d/%d, destination %d/%d/%d; want %d/%d/%d",
			su, sb, sl, du, db, dl, nUsers, nBlogs, len(srcLikes)-tombstones)
	}

	counts := exportCounts(t, srcX, 3)
	if len(counts) == 0 {
		t.Fatal("ExportCounts: none")
	}
	ts := make([]zan.Target, len(counts))
	for i, c := range counts {
		ts[i] = c.Target
	}
	srcCounts, err := src.LikeCounts(ctx, ts)
	if err != nil {
		t.Fatal(err)
	}
	dstCounts, err := dst.LikeCounts(ctx, ts)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range counts {
		if srcCounts[i] != c.Count || dstCounts[i] != c.Count {
			t.Fatalf("count of %v: exported %d, source %d, destination %d", c.Target, c.Count, srcCounts[i], dstCounts[i])
		}
		want := allLikers(t, src, c.Target, zan.LikeQuery{Limit: 100})
		got := allLikers(t, dst, c.Target, zan.LikeQuery{Limit: 100})
		if !equalLikers(got, want) || int64(len(got)) != c.Count {
			t.Fatalf("likers of %v: %v, want %v (count %d)", c.Target, got, want, c.Count)
		}
	}
	// The destination's counts are the source's, but for targets whose
	// likes are all gone (a zero row the destination need not have).
	nonZero := func(cs []zan.TargetCount) []zan.TargetCount {
		return slices.DeleteFunc(cs, func(c zan.TargetCount) bool { return c.Count == 0 })
	}
	if got, want := nonZero(exportCounts(t, dstX, 1000)), nonZero(counts); !slices.Equal(got, want) {
		t.Fatalf("destination counts %v, want %v", got, want)
	}
	if cs, err := srcX.ExportCounts(ctx, counts[len(counts)-1].Target, 10); err != nil || len(cs) != 0 {
		t.Fatalf("ExportCounts after the last: %v, %v", cs, err)
	}
	t.Run("Identities", func(t *testing.T) { testExportIdentities(t, open) })
}

// testExportIdentities: users without phones and the identities of every
// user are exported in key order and imported, twice, as they were.
func testExportIdentities(t *testing.T, open func(t *testing.T) zan.Store) {
	ctx := t.Context()
	src, dst := openCloser(t, open), openCloser(t, open)
	srcX, dstX, dstI := src.(zan.Exporter), dst.(zan.Exporter), dst.(zan.Importer)
	phoned := zan.User{ID: 1, Phone: "13800138000", Nickname: "phoned", CreatedAt: micro(t0)}
	if _, err := src.EnsureUser(ctx, phoned); err != nil {
		t.Fatal(err)
	}
	var want []zan.Identity
	for i, iss := range []string{"https://b.example", "https://a.example", "https://a.example", "https://c.example", "https://a.example"} {
		id := zan.Identity{Issuer: iss, Subject: fmt.Sprintf("s%d", i), CreatedAt: micro(t0 + int64(i))}
		u, err := src.EnsureIdentityUser(ctx, id, zan.User{ID: int64(10 + i), Nickname: fmt.Sprint("n", i), CreatedAt: micro(t0)})
		if err != nil {
			t.Fatal(err)
		}
		id.UserID = u.ID
		want = append(want, id)
	}
	linked := zan.Identity{Issuer: "https://b.example", Subject: "phoned", UserID: 1, CreatedAt: micro(t0 + 9)}
	must(t, src.LinkIdentity(ctx, linked))
	want = append(want, linked)
	slices.SortFunc(want, func(a, b zan.Identity) int {
		return cmp.Or(cmp.Compare(a.Issuer, b.Issuer), cmp.Compare(a.Subject, b.Subject))
	})

	export := func(x zan.Exporter) []zan.Identity {
		var got []zan.Identity
		for after := (zan.Identity{}); ; {
			ids, err := x.ExportIdentities(ctx, after, 2)
			if err != nil {
				t.Fatalf("ExportIdentities: %v", err)
			}
			if len(ids) == 0 {
				return got
			}
			got = append(got, ids...)
			after = ids[len(ids)-1]
		}
	}
	got := export(srcX)
	if len(got) != len(want) {
		t.Fatalf("exported %d identities, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("identity %d exported: %+v, want %+v", i, got[i], want[i])
		}
	}
	users, err := srcX.ExportUsers(ctx, 0, 100)
	if err != nil || len(users) != 6 {
		t.Fatalf("ExportUsers: %d, %v", len(users), err)
	}
	for range 2 {
		must(t, dstI.ImportUsers(ctx, users))
		must(t, dstI.ImportIdentities(ctx, got))
	}
	for _, u := range users {
		if g, err := dst.User(ctx, u.ID); err != nil || !sameUser(g, u) {
			t.Fatalf("User(%d) imported: %+v, %v; want %+v", u.ID, g, err, u)
		}
	}
	if again := export(dstX); !slices.Equal(again, got) {
		t.Fatalf("identities imported: %+v, want %+v", again, got)
	}
	if n, err := dstX.CountIdentities(ctx); err != nil || n != int64(len(want)) {
		t.Fatalf("CountIdentities: %d, %v", n, err)
	}
	if u, err := dst.EnsureIdentityUser(ctx, want[0], zan.User{ID: 99, Nickname: "x"}); err != nil || u.ID != want[0].UserID {
		t.Fatalf("signing in with an imported identity: %+v, %v", u, err)
	}
}

func openCloser(t *testing.T, open func(t *testing.T) zan.Store) zan.Store {
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func likeKeyCmp(a, b zan.LikeKey) int {
	return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.ID, b.ID), cmp.Compare(a.User, b.User))
}

// exportLikes reads every like row in batches of n, checking the order.
func exportLikes(t *testing.T, x zan.Exporter, n int) []zan.Event {
	t.Helper()
	var all []zan.Event
	var after zan.LikeKey
	for {
		evs, err := x.ExportLikes(t.Context(), after, n)
		if err != nil {
			t.Fatalf("ExportLikes: %v", err)
		}
		if len(evs) == 0 {
			return all
		}
		if len(evs) > n {
			t.Fatalf("ExportLikes(%v, %d): %d rows", after, n, len(evs))
		}
		for _, ev := range evs {
			if likeKeyCmp(ev.Key(), after) <= 0 {
				t.Fatalf("ExportLikes: %v after %v", ev.Key(), after)
			}
			after = ev.Key()
		}
		all = append(all, evs...)
	}
}

// exportCounts reads every stored count in batches of n, checking the order.
func exportCounts(t *testing.T, x zan.Exporter, n int) []zan.TargetCount {
	t.Helper()
	var all []zan.TargetCount
	var after zan.Target
	for {
		cs, err := x.ExportCounts(t.Context(), after, n)
		if err != nil {
			t.Fatalf("ExportCounts: %v", err)
		}
		if len(cs) == 0 {
			return all
		}
		if len(cs) > n {
			t.Fatalf("ExportCounts(%v, %d): %d rows", after, n, len(cs))
		}
		for _, c := range cs {
			if cmp.Or(cmp.Compare(c.Target.Type, after.Type), cmp.Compare(c.Target.ID, after.ID)) <= 0 {
				t.Fatalf("ExportCounts: %v after %v", c.Target, after)
			}
			after = c.Target
		}
		all = append(all, cs...)
	}
}
