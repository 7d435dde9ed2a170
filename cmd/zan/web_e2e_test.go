package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestE2EBlogKeysEditsAndNames: a repeated submit makes one post, authors
// edit their posts, and people are shown by their nicknames.
func TestE2EBlogKeysEditsAndNames(t *testing.T) {
	m := startServer(t)
	base := baseURL(m)
	anon := newAPI(t, base)
	u1, id1 := login(t, base)
	u2, id2 := login(t, base)

	// One key, one post: the repeat answers 200 with the same body.
	body := map[string]any{"title": "once", "content": "c", "client_key": "3b0f6c1e-key-1"}
	first := u1.expect(201, "POST", "/api/v1/blogs", body)
	again := u1.expect(200, "POST", "/api/v1/blogs", body)
	if !bytes.Equal(first.Body, again.Body) {
		t.Fatalf("repeat: %s, first: %s", again.Body, first.Body)
	}
	id := first.json(t)["id"].(string)
	// The header names the submit too, and must agree with the body.
	post := func(a *api, key string, body string) (int, []byte) {
		req, _ := http.NewRequest("POST", base+"/api/v1/blogs", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+a.token)
		req.Header.Set("Idempotency-Key", key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	if st, b := post(u1, "3b0f6c1e-key-1", `{"title":"other","content":"c"}`); st != 200 || !bytes.Contains(b, []byte(`"id":"`+id+`"`)) {
		t.Fatalf("header repeat: %d %s", st, b)
	}
	if st, b := post(u1, "h2", `{"title":"t","content":"c","client_key":"b2"}`); st != 400 {
		t.Fatalf("header and body keys differ: %d %s", st, b)
	}
	if st, b := post(u2, "3b0f6c1e-key-1", `{"title":"t","content":"c"}`); st != 201 || bytes.Contains(b, []byte(`"id":"`+id+`"`)) {
		t.Fatalf("another author's same key: %d %s", st, b)
	}
	u1.expect(400, "POST", "/api/v1/blogs", map[string]any{"title": "t", "content": "c", "client_key": "has space"})
	r := anon.expect(200, "GET", "/api/v1/users/"+id1+"/blogs", nil).json(t)
	if n := len(r["items"].([]any)); n != 1 {
		t.Fatalf("u1 has %d blogs, want 1", n)
	}

	// Edits: the author only, validated like a new post.
	u2.expect(403, "PATCH", "/api/v1/blogs/"+id, map[string]any{"title": "mine"})
	anon.expect(401, "PATCH", "/api/v1/blogs/"+id, map[string]any{"title": "mine"})
	u1.expect(400, "PATCH", "/api/v1/blogs/"+id, map[string]any{})
	u1.expect(400, "PATCH", "/api/v1/blogs/"+id, map[string]any{"title": strings.Repeat("题", 101)})
	u1.expect(404, "PATCH", "/api/v1/blogs/12345", map[string]any{"title": "x"})
	e := u1.expect(200, "PATCH", "/api/v1/blogs/"+id, map[string]any{"content": "edited"}).json(t)
	if e["title"] != "once" || e["content"] != "edited" || e["top_likers"] == nil {
		t.Fatalf("edited: %v", e)
	}

	// Nicknames: validated, then shown on likers and the blog's author.
	for _, bad := range []any{
		map[string]any{"nickname": ""}, map[string]any{"nickname": "   "},
		map[string]any{"nickname": strings.Repeat("名", 33)}, map[string]any{"nickname": "a\nb"},
		map[string]any{"nickname": "a\u202eb"}, map[string]any{}, map[string]any{"nickname": 5},
	} {
		u2.expect(400, "PATCH", "/api/v1/me", bad)
	}
	anon.expect(401, "PATCH", "/api/v1/me", map[string]any{"nickname": "x"})
	if me := u2.expect(200, "PATCH", "/api/v1/me", map[string]any{"nickname": " 小兰 "}).json(t); me["nickname"] != "小兰" || me["id"] != id2 {
		t.Fatalf("renamed: %v", me)
	}
	if u := anon.expect(200, "GET", "/api/v1/users/"+id2, nil).json(t); u["nickname"] != "小兰" || u["created_at"] != nil {
		t.Fatalf("public user: %v", u)
	}
	anon.expect(404, "GET", "/api/v1/users/12345", nil)
	u2.expect(200, "PUT", "/api/v1/likes/blog/"+id, nil)
	eventually(t, "likers by name", func() error {
		r := anon.expect(200, "GET", "/api/v1/likes/blog/"+id+"/users", nil).json(t)
		items := r["items"].([]any)
		if len(items) != 1 || items[0].(map[string]any)["nickname"] != "小兰" || items[0].(map[string]any)["user_id"] != id2 {
			return fmt.Errorf("likers: %v", items)
		}
		return nil
	})

	eventually(t, "likes by name", func() error {
		r := anon.expect(200, "GET", "/api/v1/users/"+id2+"/likes", nil).json(t)
		items := r["items"].([]any)
		if len(items) != 1 || items[0].(map[string]any)["name"] != "once" {
			return fmt.Errorf("likes: %v", items)
		}
		return nil
	})

	// Delete stays the author's.
	u2.expect(403, "DELETE", "/api/v1/blogs/"+id, nil)
	u1.expect(204, "DELETE", "/api/v1/blogs/"+id, nil)
}
