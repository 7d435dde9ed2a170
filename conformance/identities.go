package conformance

import (
	"sync"
	"testing"

	"github.com/zanlabs/zan"
)

func testIdentities(t *testing.T, s zan.Store) {
	ctx := t.Context()
	const iss, other = "https://id.example", "https://other.example"
	ident := func(issuer, sub string, user int64) zan.Identity {
		return zan.Identity{Issuer: issuer, Subject: sub, UserID: user, CreatedAt: micro(t0)}
	}
	u1 := zan.User{ID: 11, Nickname: "first", CreatedAt: micro(t0)}
	got, err := s.EnsureIdentityUser(ctx, ident(iss, "alice", 0), u1)
	if err != nil || !sameUser(got, u1) {
		t.Fatalf("EnsureIdentityUser new: %+v, %v; want %+v", got, err, u1)
	}
	got, err = s.EnsureIdentityUser(ctx, ident(iss, "alice", 0), zan.User{ID: 12, Nickname: "second", CreatedAt: micro(t0 + 1)})
	if err != nil || !sameUser(got, u1) {
		t.Fatalf("EnsureIdentityUser known identity: %+v, %v; want the first %+v", got, err, u1)
	}
	if _, err := s.User(ctx, 12); !zan.IsNotFound(err) {
		t.Fatalf("User of the id that lost: %v, want not_found", err)
	}
	// Subjects are case-sensitive, and users without phones do not clash.
	u3 := zan.User{ID: 13, Nickname: "third", CreatedAt: micro(t0 + 2)}
	if got, err := s.EnsureIdentityUser(ctx, ident(iss, "ALICE", 0), u3); err != nil || !sameUser(got, u3) {
		t.Fatalf("EnsureIdentityUser of another subject: %+v, %v", got, err)
	}
	if got, err := s.User(ctx, 11); err != nil || got.Phone != "" || !sameUser(got, u1) {
		t.Fatalf("User(11): %+v, %v", got, err)
	}
	phoned, err := s.EnsureUser(ctx, zan.User{ID: 14, Phone: "+8613800000014", Nickname: "phoned", CreatedAt: micro(t0)})
	if err != nil {
		t.Fatal(err)
	}

	// Linking.
	link := func(id zan.Identity, want string) {
		t.Helper()
		if err := s.LinkIdentity(ctx, id); zan.ErrorCode(err) != want {
			t.Fatalf("LinkIdentity(%+v): %v, want %q", id, err, want)
		}
	}
	link(ident(other, "a1", 11), "")
	link(ident(other, "a1", 11), "") // again: no error
	link(ident(other, "a1", 13), zan.EConflict)
	link(ident(other, "a2", 11), zan.EConflict) // one identity per issuer
	link(ident(other, "a9", 999), zan.ENotFound)
	link(ident(iss, "bob", phoned.ID), "")
	ids, err := s.Identities(ctx, 11)
	if err != nil || len(ids) != 2 || ids[0].Issuer != iss || ids[0].Subject != "alice" || ids[1].Issuer != other ||
		ids[1].Subject != "a1" || ids[0].UserID != 11 || !ids[0].CreatedAt.Equal(micro(t0)) {
		t.Fatalf("Identities(11): %+v, %v", ids, err)
	}
	if ids, err := s.Identities(ctx, 999); err != nil || len(ids) != 0 {
		t.Fatalf("Identities(999): %+v, %v", ids, err)
	}

	// Unlinking never takes the last way in; a phone is one.
	unlink := func(user int64, issuer, want string) {
		t.Helper()
		if err := s.UnlinkIdentity(ctx, user, issuer); zan.ErrorCode(err) != want {
			t.Fatalf("UnlinkIdentity(%d, %s): %v, want %q", user, issuer, err, want)
		}
	}
	unlink(11, other, "")
	unlink(11, other, zan.ENotFound)
	unlink(11, iss, zan.EConflict)
	unlink(phoned.ID, iss, "")
	unlink(999, iss, zan.ENotFound)
	if got, err := s.EnsureIdentityUser(ctx, ident(other, "a1", 0), zan.User{ID: 15, Nickname: "x", CreatedAt: micro(t0)}); err != nil || got.ID != 15 {
		t.Fatalf("an unlinked identity signs up anew: %+v, %v", got, err)
	}
}

// testIdentitiesConcurrent: first sign-ins of one identity racing make one
// user; unlinks of a user's two last identities racing leave one.
func testIdentitiesConcurrent(t *testing.T, s zan.Store) {
	ctx := t.Context()
	id := zan.Identity{Issuer: "https://id.example", Subject: "racer", CreatedAt: micro(t0)}
	const n = 8
	got := make([]zan.User, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			u, err := s.EnsureIdentityUser(ctx, id, zan.User{ID: int64(100 + i), Nickname: "racer", CreatedAt: micro(t0)})
			if err != nil {
				t.Errorf("EnsureIdentityUser: %v", err)
			}
			got[i] = u
		})
	}
	wg.Wait()
	ids := make([]int64, n)
	for i, u := range got {
		ids[i] = int64(100 + i)
		if u.ID != got[0].ID {
			t.Fatalf("one identity made users %d and %d", got[0].ID, u.ID)
		}
	}
	if m, err := s.Users(ctx, ids); err != nil || len(m) != 1 {
		t.Fatalf("users made: %v, %v; want one", m, err)
	}

	uid := got[0].ID
	must(t, s.LinkIdentity(ctx, zan.Identity{Issuer: "https://other.example", Subject: "racer", UserID: uid, CreatedAt: micro(t0)}))
	errs := make([]error, 2)
	for i, iss := range []string{"https://id.example", "https://other.example"} {
		wg.Go(func() { errs[i] = s.UnlinkIdentity(ctx, uid, iss) })
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("two unlinks of the last two ways in: %v, %v; want exactly one to pass", errs[0], errs[1])
	}
	for _, err := range errs {
		if err != nil && zan.ErrorCode(err) != zan.EConflict {
			t.Fatalf("the unlink that lost: %v, want conflict", err)
		}
	}
}
