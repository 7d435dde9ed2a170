package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/zanlabs/zan/webhook"
)

// TestWebhooks: a like through the API reaches a receiver configured with
// --webhook, signed, in both modes (in scale-out, both nodes deliver from
// one shared reader).
func TestWebhooks(t *testing.T) {
	for _, mode := range []string{"embedded", "scale-out"} {
		t.Run(mode, func(t *testing.T) {
			const secret = "hook-secret"
			var mu sync.Mutex
			got := map[string]string{} // "op type target user" → event id
			bad := 0
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				defer mu.Unlock()
				if !webhook.Verify(secret, r.Header.Get("Zan-Timestamp"), body, r.Header.Get("Zan-Signature")) {
					bad++
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				var ev struct{ ID, Op, Type, Target, User string }
				if err := json.Unmarshal(body, &ev); err != nil {
					bad++
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				got[ev.Op+" "+ev.Type+" "+ev.Target+" "+ev.User] = ev.ID
			}))
			defer recv.Close()
			hook := func(c *Config) {
				if err := c.Webhooks.Set(recv.URL + "/zan#" + secret); err != nil {
					t.Fatal(err)
				}
			}
			var a, b *Main
			if mode == "embedded" {
				a = startServer(t, hook)
				b = a
			} else {
				cfg := scaleOut(t)
				a = startServer(t, cfg, hook)
				b = startServer(t, cfg, hook, func(c *Config) { c.NodeID = 1 })
			}
			author, _ := login(t, baseOf(a))
			liker, likerID := login(t, baseOf(b))
			blog := author.expect(201, "POST", "/api/v1/blogs", map[string]string{"title": "t", "content": "c"}).json(t)["id"].(string)
			liker.expect(200, "PUT", "/api/v1/likes/blog/"+blog, nil)
			liker.expect(200, "DELETE", "/api/v1/likes/blog/"+blog, nil)
			for _, op := range []string{"like", "unlike"} {
				key := op + " blog " + blog + " " + likerID
				eventually(t, key+" at the receiver", func() error {
					mu.Lock()
					defer mu.Unlock()
					if got[key] == "" {
						return fmt.Errorf("not yet; got %v", got)
					}
					return nil
				})
			}
			mu.Lock()
			defer mu.Unlock()
			if bad != 0 {
				t.Errorf("%d deliveries failed the signature check", bad)
			}
		})
	}
}
