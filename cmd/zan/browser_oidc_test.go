package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/zanlabs/zan/internal/oidctest"
)

// TestBrowserOIDC signs in through an OpenID provider in headless Chromium,
// in the web app: from a post's page to the sign-in page, "Sign in with …",
// the provider, and back on the post, signed in, with the session token
// never in an address; then linking and unlinking on the account page.
// Embedded, and in scale-out behind a load balancer that sends the start
// and the callback of a sign-in to different nodes.
func TestBrowserOIDC(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	t.Run("Embedded", func(t *testing.T) {
		op, host := oidctest.Start(t), oidctest.StartPlatform(t)
		m := startServer(t, withIdentity(op, host))
		browserOIDC(t, op, baseOf(m), baseOf(m))
	})
	t.Run("ScaleOut", func(t *testing.T) {
		cfg := scaleOut(t)
		op, host := oidctest.Start(t), oidctest.StartPlatform(t)
		lb := newBalancer(t)
		public := func(c *Config) { c.PublicURL = lb.URL }
		a := startServer(t, cfg, withIdentity(op, host), public)
		b := startServer(t, cfg, withIdentity(op, host), public, func(c *Config) { c.NodeID = 1 })
		lb.nodes = []string{baseOf(a), baseOf(b)}
		browserOIDC(t, op, lb.URL, baseOf(a))
		if lb.starts.Load() == 0 || lb.callbacks.Load() == 0 {
			t.Fatal("no sign-in went through the balancer")
		}
	})
}

// balancer is the load balancer in front of the nodes: sign-in starts go
// to the first node, callbacks to the second, everything else round-robin.
type balancer struct {
	*httptest.Server
	nodes             []string
	next              atomic.Int64
	starts, callbacks atomic.Int64
}

func newBalancer(t *testing.T) *balancer {
	lb := &balancer{}
	proxy := &httputil.ReverseProxy{
		FlushInterval: -1, // live streams pass at once
		Rewrite: func(r *httputil.ProxyRequest) {
			node := lb.nodes[int(lb.next.Add(1))%len(lb.nodes)]
			switch p := r.In.URL.Path; {
			case strings.HasSuffix(p, "/start"):
				node = lb.nodes[0]
				lb.starts.Add(1)
			case strings.HasSuffix(p, "/callback"):
				node = lb.nodes[1]
				lb.callbacks.Add(1)
			}
			u, _ := url.Parse(node)
			r.SetURL(u)
			r.SetXForwarded()
		},
	}
	lb.Server = httptest.NewServer(proxy)
	t.Cleanup(lb.Close)
	return lb
}

func browserOIDC(t *testing.T, op *oidctest.Provider, base, direct string) {
	b := newBrowser(t)
	author, _ := login(t, direct)
	blog := author.expect(201, "POST", "/api/v1/blogs", map[string]any{"title": "Tea by the lake", "content": "Longjing, of course."}).json(t)["id"].(string)
	likeSel := `button[data-target="blog:` + blog + `"]`
	var token string

	t.Run("SignIn", func(t *testing.T) {
		b.do(t, "a post", chromedp.Navigate(base+"/#/blog/"+blog), chromedp.WaitVisible(css(likeSel)),
			chromedp.Click(css("#nav-me")), chromedp.WaitVisible(css(`#providers button[data-provider="test"]`)))
		b.waitText(t, "#providers", "Sign in with Test ID")
		b.shot(t, "login-providers")
		op.Next("browser-alice")
		b.do(t, "sign in with the provider", chromedp.Click(css(`#providers button[data-provider="test"]`)))
		b.waitText(t, "#nav-me", "user_")
		// Back on the post, signed in, and no code or token in the address.
		if h := eval[string](t, b, `location.hash`); h != "#/blog/"+blog {
			t.Fatalf("landed on %q, want the post", h)
		}
		b.waitText(t, "main h1", "Tea by the lake")
		token = eval[string](t, b, `localStorage.getItem("zan.token") || ""`)
		if token == "" {
			t.Fatal("no session after the sign-in")
		}
		if hist := eval[string](t, b, `location.href + " " + history.length`); strings.Contains(hist, "zan_oidc") || strings.Contains(hist, token) {
			t.Fatalf("the address holds the sign-in: %s", hist)
		}
		if cookies := eval[string](t, b, `document.cookie`); cookies != "" {
			t.Fatalf("cookies a script can read: %q", cookies)
		}
	})

	t.Run("Like", func(t *testing.T) {
		b.do(t, "like", chromedp.Click(css(likeSel)))
		b.waitText(t, likeSel+" .count", "1")
		me := newAPI(t, direct)
		me.token = token
		uid := me.expect(200, "GET", "/api/v1/me", nil).json(t)["id"]
		eventually(t, "the like stored for the signed-in user", func() error {
			items := author.expect(200, "GET", "/api/v1/likes/blog/"+blog+"/users", nil).json(t)["items"].([]any)
			if len(items) != 1 || items[0].(map[string]any)["user_id"] != uid {
				return fmt.Errorf("likers %v, want %v", items, uid)
			}
			return nil
		})
	})

	t.Run("OnlyWayIn", func(t *testing.T) {
		meID := eval[string](t, b, `JSON.parse(localStorage.getItem("zan.me")).id`)
		b.do(t, "account page", chromedp.Navigate(base+"/#/user/"+meID), chromedp.WaitVisible(css(`#linked button[data-unlink="test"]`)))
		b.shot(t, "sign-in-methods")
		b.allow(http.StatusConflict)
		b.do(t, "unlink the only way in", chromedp.Click(css(`#linked button[data-unlink="test"]`)), chromedp.WaitVisible(css("#toast.error")))
		b.waitText(t, "#toast", "only way to sign in")
		b.do(t, "sign out", chromedp.Click(css("#logout")))
		b.waitText(t, "#nav-me", "Sign in")
		other := newAPI(t, direct)
		other.token = token
		other.expect(401, "GET", "/api/v1/me", nil) // on every node
	})

	t.Run("LinkToPhoneAccount", func(t *testing.T) {
		// A fresh load: the sign-out's own move to the feed may still be
		// under way, and a hash change alone would race it.
		b.do(t, "sign in by SMS", chromedp.Navigate(base+"/?fresh#/login"), chromedp.WaitVisible(css("#phone")),
			chromedp.SendKeys(css("#phone"), "+86 139 0000 7777"), chromedp.Click(css("#send-code")),
			chromedp.WaitVisible(css("#devcode .devcode")), chromedp.Click(css("#login")))
		b.waitText(t, "#nav-me", "user_")
		meID := eval[string](t, b, `JSON.parse(localStorage.getItem("zan.me")).id`)
		b.do(t, "account page", chromedp.Navigate(base+"/#/user/"+meID), chromedp.WaitVisible(css(`#linked button[data-link="test"]`)))
		b.waitText(t, "#linked", "Phone number")
		op.Next("browser-carol")
		b.do(t, "link", chromedp.Click(css(`#linked button[data-link="test"]`)), chromedp.WaitVisible(css(`#linked button[data-unlink="test"]`)))
		if h := eval[string](t, b, `location.hash`); h != "#/user/"+meID {
			t.Fatalf("after linking, on %q, want the account page", h)
		}
		b.waitText(t, "#toast", "linked")
		b.do(t, "unlink", chromedp.Click(css(`#linked button[data-unlink="test"]`)), chromedp.WaitVisible(css(`#linked button[data-link="test"]`)))
	})

	if errs := b.errorsSoFar(); len(errs) > 0 {
		t.Fatalf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}
