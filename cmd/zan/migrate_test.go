package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zanlabs/zan/internal/testenv"
)

// freshMySQL creates a database of its own on ZAN_TEST_MYSQL's server,
// dropped when the test ends, and returns its DSN; it skips without one.
func freshMySQL(t *testing.T) string {
	t.Helper()
	return testenv.FreshMySQL(t)
}

func TestMigrateUsage(t *testing.T) {
	for _, args := range [][]string{
		{"migrate"},
		{"migrate", "--from", t.TempDir()},
		{"migrate", "--from", t.TempDir(), "--to", "postgres://x"},
		{"migrate", "--from", t.TempDir(), "--to", "mysql://u@tcp(127.0.0.1:1)/db"}, // no zan.db there
	} {
		if err := run(t.Context(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
}

// TestMigrate copies a running embedded server's SQLite store into MariaDB,
// twice, and serves the copy from a second server.
func TestMigrate(t *testing.T) {
	dsn := freshMySQL(t)
	a := startServer(t)
	base := baseURL(a)
	u1, uid1 := login(t, base)
	u2, uid2 := login(t, base)
	blog := u1.expect(201, "POST", "/api/v1/blogs", map[string]string{"title": "hello", "content": "world ✓"}).json(t)["id"].(string)
	u1.expect(200, "PUT", "/api/v1/likes/blog/"+blog, nil)
	u2.expect(200, "PUT", "/api/v1/likes/blog/"+blog, nil)
	u2.expect(200, "PUT", "/api/v1/likes/comment/7", nil)
	u2.expect(200, "DELETE", "/api/v1/likes/comment/7", nil) // a tombstone
	u1.expect(200, "PUT", "/api/v1/likes/comment/7", nil)
	likers := func(on *api, target string) []string {
		var ids []string
		for _, it := range on.expect(200, "GET", "/api/v1/likes/"+target+"/users", nil).json(t)["items"].([]any) {
			ids = append(ids, it.(map[string]any)["user_id"].(string))
		}
		return ids
	}
	eventually(t, "the likes reach the store", func() error {
		if l := likers(u1, "blog/"+blog); len(l) != 2 {
			return fmt.Errorf("likers of the blog: %v", l)
		}
		if l := likers(u1, "comment/7"); len(l) != 1 || l[0] != uid1 {
			return fmt.Errorf("likers of comment 7: %v", l)
		}
		return nil
	})

	// The server keeps running on the source while it is copied.
	cp := filepath.Join(t.TempDir(), "cp.json")
	args := []string{"migrate", "--from", a.Config.Data, "--to", "mysql://" + dsn, "--batch", "1", "--checkpoint", cp}
	var out bytes.Buffer
	if err := run(t.Context(), args, &out, io.Discard); err != nil {
		t.Fatalf("migrate: %v\n%s", err, &out)
	}
	if s := out.String(); !strings.Contains(s, "copied 2 users, 0 identities, 1 blogs, 60 shops, 3 vouchers, 0 orders, 4 likes (3 changed)") ||
		!strings.Contains(s, "verified: totals equal (2 users, 1 blogs, 60 shops, 3 vouchers, 0 orders, 3 liked rows), 2 target counts equal") {
		t.Fatalf("migrate printed:\n%s", s)
	}
	t.Logf("migrate printed:\n%s", &out)
	if _, err := os.Stat(cp); !os.IsNotExist(err) {
		t.Fatalf("checkpoint left after a complete copy: %v", err)
	}

	// Again: nothing changes, and it still verifies.
	out.Reset()
	if err := run(t.Context(), args, &out, io.Discard); err != nil {
		t.Fatalf("migrate again: %v\n%s", err, &out)
	}
	if s := out.String(); !strings.Contains(s, "copied 2 users, 0 identities, 1 blogs, 60 shops, 3 vouchers, 0 orders, 4 likes (0 changed)") ||
		!strings.Contains(s, "verified: totals equal") {
		t.Fatalf("migrate again printed:\n%s", s)
	}
	out.Reset()
	if err := run(t.Context(), append(args, "--verify-only"), &out, io.Discard); err != nil ||
		strings.Contains(out.String(), "copied") || !strings.Contains(out.String(), "verified: totals equal") {
		t.Fatalf("migrate --verify-only: %v\n%s", err, &out)
	}

	// A node on the destination serves the same data.
	b := startServer(t, func(c *Config) { c.DBURL = "mysql://" + dsn })
	anon := newAPI(t, baseURL(b))
	if v := anon.expect(200, "GET", "/api/v1/likes/blog/"+blog, nil).json(t); v["count"] != 2.0 {
		t.Fatalf("blog's likes on the destination: %v", v)
	}
	if v := anon.expect(200, "GET", "/api/v1/likes/comment/7", nil).json(t); v["count"] != 1.0 {
		t.Fatalf("comment's likes on the destination: %v", v)
	}
	if l := likers(anon, "blog/"+blog); len(l) != 2 || !(l[0] == uid1 && l[1] == uid2 || l[0] == uid2 && l[1] == uid1) {
		t.Fatalf("likers of the blog on the destination: %v", l)
	}
	if l := likers(anon, "comment/7"); len(l) != 1 || l[0] != uid1 {
		t.Fatalf("likers of comment 7 on the destination: %v", l)
	}
	// The blog, its author (a copied user) and its top likers read the same.
	onA := newAPI(t, base)
	if got, want := anon.expect(200, "GET", "/api/v1/blogs/"+blog, nil).json(t),
		onA.expect(200, "GET", "/api/v1/blogs/"+blog, nil).json(t); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("blog on the destination:\n%v\nwant\n%v", got, want)
	}
	path := "/api/v1/users/" + uid1 + "/likes"
	if got, want := anon.expect(200, "GET", path, nil).json(t), onA.expect(200, "GET", path, nil).json(t); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("user's likes on the destination:\n%v\nwant\n%v", got, want)
	}
	u1.base = baseURL(b)
	u1.expect(401, "GET", "/api/v1/me", nil) // sessions are not copied: users sign in again
}
