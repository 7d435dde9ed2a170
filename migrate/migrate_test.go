package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/migrate"
	"github.com/zanlabs/zan/sqlite"
)

const t0 int64 = 1_763_856_000_000_000

func open(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "zan.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func fill(t *testing.T, s *sqlite.DB) {
	t.Helper()
	ctx := t.Context()
	for id := int64(1); id <= 30; id++ {
		u := zan.User{ID: id, Phone: fmt.Sprintf("+1%09d", id), Nickname: "n", CreatedAt: time.UnixMicro(t0 + id).UTC()}
		if _, err := s.EnsureUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateBlog(ctx, zan.Blog{ID: id, AuthorID: id, Title: "t", Content: "c", CreatedAt: u.CreatedAt}); err != nil {
			t.Fatal(err)
		}
	}
	var evs []zan.Event
	for i := int64(0); i < 500; i++ {
		op := zan.OpLike
		if i%5 == 0 {
			op = zan.OpUnlike
		}
		evs = append(evs, zan.Event{ID: fmt.Sprint(i), Op: op, Target: zan.Target{Type: "blog", ID: 1 + i%13}, User: 1 + i/13, At: t0 + i})
	}
	if _, err := s.ApplyLikes(ctx, evs); err != nil {
		t.Fatal(err)
	}
	fillIdentities(t, s)
	for id := int64(1); id <= 12; id++ {
		at := time.UnixMicro(t0 + id).UTC()
		if err := s.CreateShop(ctx, zan.Shop{ID: id, Name: fmt.Sprintf("Noodle Bar %d", id), Type: "food", X: 120.1, Y: 30.2, CreatedAt: at, UpdatedAt: at}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateVoucher(ctx, zan.Voucher{ID: id, ShopID: id, Title: "v", Stock: 5, BeginAt: at, EndAt: at.Add(time.Hour), CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ApplyOrders(ctx, []zan.VoucherOrder{{ID: 100 + id, VoucherID: id, UserID: id, CreatedAt: at}}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRun(t *testing.T) {
	ctx := t.Context()
	src, dst := open(t), open(t)
	fill(t, src)
	cp := filepath.Join(t.TempDir(), "cp.json")

	// An interrupted run leaves a checkpoint; the next resumes from it.
	cctx, cancel := context.WithCancel(ctx)
	_, err := migrate.Run(cctx, src, dst, migrate.Options{Batch: 7, Checkpoint: cp, Label: "a→b",
		Progress: func(p migrate.Progress) {
			if p.Phase == "likes" && p.Done >= 70 {
				cancel()
			}
		}})
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Run: %v", err)
	}
	if _, err := os.Stat(cp); err != nil {
		t.Fatalf("no checkpoint after an interrupted run: %v", err)
	}
	if _, err := migrate.Run(ctx, src, dst, migrate.Options{Checkpoint: cp, Label: "other"}); err == nil {
		t.Fatal("a checkpoint of another migration was used")
	}
	rep, err := migrate.Run(ctx, src, dst, migrate.Options{Batch: 7, Checkpoint: cp, Label: "a→b"})
	if err != nil {
		t.Fatalf("resumed Run: %v (%+v)", err, rep.Verification)
	}
	if !rep.Resumed || rep.Users != 30 || rep.Blogs != 30 || rep.Likes != 500 || rep.Shops != 12 || rep.Vouchers != 12 || rep.Orders != 12 {
		t.Fatalf("resumed Run: %+v", rep)
	}
	// Shops arrive searchable, vouchers with their remaining stock, orders
	// as they were.
	if p, err := dst.Shops(ctx, zan.ShopFilter{Q: "noodle"}); err != nil || len(p.Shops) != 12 {
		t.Fatalf("shops in the destination: %d, %v", len(p.Shops), err)
	}
	if v, err := dst.Voucher(ctx, 3); err != nil || v.Remaining != 4 {
		t.Fatalf("voucher in the destination: %+v, %v", v, err)
	}
	if o, err := dst.Order(ctx, 103); err != nil || o.UserID != 3 || o.Status != zan.OrderCreated {
		t.Fatalf("order in the destination: %+v, %v", o, err)
	}
	v := rep.Verification
	if !v.OK() || v.SourceLikes != 400 || v.DestLikes != 400 || v.Targets != 13 || v.EqualTargets != 13 {
		t.Fatalf("verification: %+v", v)
	}
	if _, err := os.Stat(cp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("checkpoint left after a complete run: %v", err)
	}

	// Running again copies everything and changes nothing.
	rep, err = migrate.Run(ctx, src, dst, migrate.Options{Checkpoint: cp, Label: "a→b"})
	if err != nil || rep.Resumed || rep.Likes != 500 || rep.LikesChanged != 0 {
		t.Fatalf("second Run: %+v, %v", rep, err)
	}

	// The source moves on: running again converges.
	if _, err := src.ApplyLikes(ctx, []zan.Event{
		{ID: "x", Op: zan.OpUnlike, Target: zan.Target{Type: "blog", ID: 2}, User: 1, At: t0 + 10_000},
		{ID: "y", Op: zan.OpLike, Target: zan.Target{Type: "shop", ID: 9}, User: 3, At: t0 + 10_001},
	}); err != nil {
		t.Fatal(err)
	}
	// Identities are unlinked, relinked to another subject, added.
	must(t, src.UnlinkIdentity(ctx, 1, "https://id.example"))
	must(t, src.UnlinkIdentity(ctx, 2, "https://id.example"))
	for _, id := range []zan.Identity{{Issuer: "https://id.example", Subject: "s0", UserID: 2}, {Issuer: "https://other.example", Subject: "x", UserID: 3}} {
		must(t, src.LinkIdentity(ctx, id))
	}
	// Blogs are deleted for good, the last one and one in the middle.
	for _, id := range []int64{7, 30} {
		if err := src.DeleteBlog(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	rep, err = migrate.Run(ctx, src, dst, migrate.Options{VerifyOnly: true})
	if !errors.Is(err, migrate.ErrDifferent) || rep.Verification.NDifferences != 3 || len(rep.Verification.Differences) != 3 {
		t.Fatalf("verify after the source changed: %v, %+v", err, rep.Verification)
	}
	rep, err = migrate.Run(ctx, src, dst, migrate.Options{})
	if err != nil || rep.LikesChanged != 2 || rep.Verification.Targets != 14 || rep.Verification.DestBlogs != 28 {
		t.Fatalf("Run after the source changed: %+v, %v", rep, err)
	}
	for _, id := range []int64{7, 30} {
		if _, err := dst.Blog(ctx, id); zan.ErrorCode(err) != zan.ENotFound {
			t.Fatalf("blog %d deleted in the source, in the destination: %v", id, err)
		}
	}
	srcIDs, err := src.ExportIdentities(ctx, zan.Identity{}, 100)
	must(t, err)
	dstIDs, err := dst.ExportIdentities(ctx, zan.Identity{}, 100)
	must(t, err)
	if !slices.Equal(srcIDs, dstIDs) || len(srcIDs) != 6 {
		t.Fatalf("identities in the destination:\n%+v\nwant\n%+v", dstIDs, srcIDs)
	}

	// Differences are bounded.
	if _, err := dst.ApplyLikes(ctx, []zan.Event{
		{ID: "z", Op: zan.OpLike, Target: zan.Target{Type: "blog", ID: 1}, User: 999, At: t0 + 20_000},
		{ID: "w", Op: zan.OpLike, Target: zan.Target{Type: "blog", ID: 3}, User: 999, At: t0 + 20_000},
	}); err != nil {
		t.Fatal(err)
	}
	rep, err = migrate.Run(ctx, src, dst, migrate.Options{VerifyOnly: true, MaxDifferences: 2})
	if v := rep.Verification; !errors.Is(err, migrate.ErrDifferent) || v.NDifferences != 3 || len(v.Differences) != 2 ||
		v.EqualTargets != 12 {
		t.Fatalf("verify with a changed destination: %v, %+v", err, v)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
