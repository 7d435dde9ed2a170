package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserWebApp drives the app's product fixes at a phone's width: a
// double-clicked Post makes one post, a long word or URL wraps instead of
// widening the page, the likers follow a like without a reload, people are
// shown and renamed by nickname, authors edit and delete their posts, the
// shops list pages on, the code button counts down, and no focus frame is
// drawn on load.
func TestBrowserWebApp(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	b := newBrowser(t)
	m := startServer(t)
	base := baseOf(m)
	user, uid := login(t, base)
	me := user.expect(200, "GET", "/api/v1/me", nil).json(t)
	nick := me["nickname"].(string)
	count := func(t *testing.T, sel string) int {
		return eval[int](t, b, `document.querySelectorAll(`+jsString(sel)+`).length`)
	}
	sideways := func(t *testing.T, what string) {
		t.Helper()
		if w := eval[[]int](t, b, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
			t.Fatalf("%s: the page is %d px wide on a %d px screen", what, w[0], w[1])
		}
	}

	b.do(t, "phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/#/"), chromedp.WaitVisible(css("main h1")))
	t.Run("NoFocusFrameOnLoad", func(t *testing.T) {
		if o := eval[string](t, b, `getComputedStyle(document.activeElement).outlineStyle`); o != "none" {
			t.Fatalf("%s has a %s outline on load", eval[string](t, b, `document.activeElement.tagName`), o)
		}
	})

	t.Run("ResendCountdown", func(t *testing.T) {
		b.do(t, "login", chromedp.Navigate(base+"/#/login"), chromedp.WaitVisible(css("#phone")),
			chromedp.SendKeys(css("#phone"), "13900139123"), chromedp.Click(css("#send-code")))
		b.waitText(t, "#send-code", "Resend in")
		if !eval[bool](t, b, `document.querySelector("#send-code").disabled`) {
			t.Fatal("the code button is enabled during the countdown")
		}
	})

	// Signed in as user from here on.
	b.do(t, "session", chromedp.Evaluate[chromedp.Void](`localStorage.setItem("zan.token", `+jsString(user.token)+`);
		localStorage.setItem("zan.me", JSON.stringify({id: `+jsString(uid)+`, nickname: `+jsString(nick)+`}))`),
		chromedp.Navigate("about:blank"), chromedp.Navigate(base+"/#/write"), chromedp.WaitVisible(css("#title")))

	var blog string
	t.Run("DoubleClickPostsOnce", func(t *testing.T) {
		long := strings.Repeat("长", 5) + strings.Repeat("a", 400) + " https://example.com/" + strings.Repeat("x", 300)
		b.do(t, "write", chromedp.SendKeys(css("#title"), "Once "+strings.Repeat("W", 120)[:90]),
			chromedp.SetValue(css("#content"), long),
			chromedp.Evaluate[chromedp.Void](`(() => { const p = document.querySelector("#post"); p.click(); p.click(); p.click(); })()`),
			chromedp.WaitVisible(css("main .like")))
		r := user.expect(200, "GET", "/api/v1/users/"+uid+"/blogs", nil).json(t)
		if items := r["items"].([]any); len(items) != 1 {
			t.Fatalf("%d posts after a triple click, want 1", len(items))
		}
		blog = r["items"].([]any)[0].(map[string]any)["id"].(string)
		sideways(t, "a post with a long word")
		b.shot(t, "long-word-post-phone")
		b.do(t, "feed", chromedp.Navigate(base+"/#/"), chromedp.WaitVisible(css(`[data-blog="`+blog+`"]`)))
		sideways(t, "the feed with a long word")
		b.shot(t, "long-word-feed-phone")
	})

	t.Run("LikersFollowALike", func(t *testing.T) {
		b.do(t, "blog", chromedp.Navigate(base+"/#/blog/"+blog), chromedp.WaitVisible(css("#likers li")))
		b.waitText(t, "#top-likers", "Nobody yet")
		b.do(t, "like", chromedp.Click(css(`button[data-target="blog:`+blog+`"]`)))
		b.waitText(t, "#top-likers", nick)
		b.waitText(t, "#likers", nick)
	})

	t.Run("Rename", func(t *testing.T) {
		b.do(t, "user page", chromedp.Navigate(base+"/#/user/"+uid), chromedp.WaitVisible(css("#nickname")),
			chromedp.SetValue(css("#nickname"), "小兰"), chromedp.Click(css("#save-nickname")))
		eventually(t, "the new name in the header", func() error {
			if nav := eval[string](t, b, `document.getElementById("nav-me").textContent`); nav != "小兰" {
				return fmt.Errorf("header says %q", nav)
			}
			return nil
		})
		b.waitText(t, "main h1", "小兰")
		b.waitText(t, "#user-likes", "Once WWW") // the liked post by its title
		b.shot(t, "user-phone")
		b.do(t, "blog", chromedp.Navigate(base+"/#/blog/"+blog), chromedp.WaitVisible(css("#likers li a")))
		b.waitText(t, "main .meta", "by 小兰")
		b.waitText(t, "#likers", "小兰")
	})

	t.Run("EditAndDelete", func(t *testing.T) {
		b.do(t, "edit", chromedp.Click(css("#edit")), chromedp.WaitVisible(css("#edit-title")),
			chromedp.SetValue(css("#edit-content"), "Edited text"), chromedp.Click(css("#save")))
		b.waitText(t, "main .pre", "Edited text")
		if got := user.expect(200, "GET", "/api/v1/blogs/"+blog, nil).json(t)["content"]; got != "Edited text" {
			t.Fatalf("stored content %q", got)
		}
		b.do(t, "delete", chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`), chromedp.Click(css("#delete")),
			chromedp.WaitVisible(css("#nickname")))
		user.expect(404, "GET", "/api/v1/blogs/"+blog, nil)
	})

	t.Run("ShopsPageOn", func(t *testing.T) {
		admin := newAPI(t, base)
		admin.token = "admin-secret"
		for i := range 25 {
			admin.expect(201, "POST", "/api/v1/shops", map[string]any{"name": fmt.Sprintf("Noodle bar %d", i), "type": "food",
				"address": "西湖区文三路" + fmt.Sprint(i) + "号", "x": 120.16, "y": 30.26, "avg_price": 30, "score": 4.5})
		}
		b.do(t, "shops", chromedp.Navigate(base+"/#/shops"), chromedp.WaitVisible(css("#shops .card")))
		if n := count(t, "#shops .card"); n != 20 {
			t.Fatalf("%d shops on the first page", n)
		}
		b.do(t, "more", chromedp.Click(css("#more-shops")))
		eventually(t, "the next page", func() error {
			if n := count(t, "#shops .card"); n < 25 {
				return fmt.Errorf("%d shops listed", n)
			}
			return nil
		})
		sideways(t, "shops")
		b.shot(t, "shops-phone")
	})

	if errs := b.errorsSoFar(); len(errs) > 0 {
		t.Fatalf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			sb.WriteByte('\\')
			sb.WriteRune(r)
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}
