package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserWebUI drives issue 18's product items at a desktop's and a
// phone's width: avatars next to names and chosen on one's page, voucher
// states with the live ones first and "My vouchers", a like that needed a
// sign-in done on return, one session followed by every tab, operations
// only behind the admin token, a one-row phone header and no thick focus
// frame on load. Every step is screenshotted per width.
func TestBrowserWebUI(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	m := startServer(t)
	base := baseOf(m)
	admin := newAPI(t, base)
	admin.token = "admin-secret"

	for i, vp := range []struct {
		name          string
		width, height int64
	}{{"desktop", 1280, 800}, {"phone", 390, 844}} {
		t.Run(vp.name, func(t *testing.T) {
			// A browser per width: no session or page state carries over.
			b := newBrowser(t)
			defer func() {
				if errs := b.errorsSoFar(); len(errs) > 0 {
					t.Fatalf("the page logged errors:\n%s", strings.Join(errs, "\n"))
				}
			}()
			user, uid := login(t, base)
			nick := user.expect(200, "GET", "/api/v1/me", nil).json(t)["nickname"].(string)
			blog := user.expect(201, "POST", "/api/v1/blogs", map[string]any{"title": "Avatars " + vp.name, "content": "c"}).json(t)["id"].(string)
			shot := func(t *testing.T, name string) { t.Helper(); b.shot(t, "webui-"+name+"-"+vp.name) }
			// oneRow: the header's links sit in one row (their tops within
			// a few pixels) and the page does not scroll sideways.
			oneRow := func(t *testing.T) {
				t.Helper()
				if d := eval[int](t, b, `(() => { const tops = [...document.querySelectorAll("header a")].filter((a) => a.offsetParent)
					.map((a) => a.getBoundingClientRect().top); return Math.round(Math.max(...tops) - Math.min(...tops)); })()`); d > 12 {
					t.Fatalf("the header's links are %d px apart vertically: more than one row", d)
				}
				if w := eval[[]int](t, b, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
					t.Fatalf("the page is %d px wide on a %d px screen", w[0], w[1])
				}
			}
			b.do(t, "viewport", chromedp.EmulateViewport(vp.width, vp.height), chromedp.Navigate(base+"/#/"),
				chromedp.WaitVisible(css("main h1")), chromedp.Evaluate[chromedp.Void](`localStorage.clear(); sessionStorage.clear()`))

			t.Run("HeaderAndFocus", func(t *testing.T) {
				b.do(t, "login page", chromedp.Navigate("about:blank"), chromedp.Navigate(base+"/#/login"), chromedp.WaitVisible(css("#phone")))
				// Chromium reports an unset outline's width (3px) even with
				// style none: only a drawn frame counts.
				if f := eval[[]string](t, b, `(() => { const s = getComputedStyle(document.activeElement);
					return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth]; })()`); f[1] != "none" && f[2] != "2px" && f[2] != "1px" {
					t.Fatalf("%s focused on load has a %s %s frame", f[0], f[2], f[1])
				}
				oneRow(t)
				if eval[bool](t, b, `!!document.querySelector("#nav-ops").offsetParent`) {
					t.Fatal("the Operations link is shown to a visitor")
				}
			})

			t.Run("SignInReturnsToTheLike", func(t *testing.T) {
				like := `button[data-target="blog:` + blog + `"]`
				b.do(t, "blog signed out", chromedp.Navigate(base+"/#/blog/"+blog), chromedp.WaitVisible(css(like)), chromedp.Click(css(like)),
					chromedp.WaitVisible(css("#phone")), chromedp.SendKeys(css("#phone"), fmt.Sprintf("1370000%04d", i)),
					chromedp.Click(css("#send-code")), chromedp.WaitVisible(css("#devcode .devcode")), chromedp.Click(css("#login")))
				eventually(t, "the like done on return", func() error {
					if h := eval[string](t, b, `location.hash`); h != "#/blog/"+blog {
						return fmt.Errorf("on %s", h)
					}
					if p := eval[string](t, b, `document.querySelector(`+jsString(like)+`)?.getAttribute("aria-pressed") || ""`); p != "true" {
						return fmt.Errorf("aria-pressed %q", p)
					}
					return nil
				})
				eventually(t, "the like stored", func() error {
					if n := user.expect(200, "GET", "/api/v1/likes/blog/"+blog, nil).json(t)["count"].(float64); n != 1 {
						return fmt.Errorf("count %v", n)
					}
					return nil
				})
				eventually(t, "the liker's avatar", func() error {
					if n := eval[int](t, b, `document.querySelectorAll("#likers .avatar, #top-likers .avatar").length`); n < 1 {
						return fmt.Errorf("%d avatars among the likers (%s)", n, eval[string](t, b, `location.hash + " token:" + !!localStorage.getItem("zan.token") + " " + document.querySelector("main").innerText.slice(0, 300)`))
					}
					return nil
				})
				shot(t, "like-after-sign-in")
			})

			t.Run("TabsShareTheSession", func(t *testing.T) {
				// The second tab is a window this one opens: same site, its
				// own page, reached through the handle window.open gives.
				b.do(t, "second tab", chromedp.Navigate(base+"/#/"), chromedp.WaitVisible(css("#nav-me")),
					chromedp.Evaluate[chromedp.Void](`void (window.tab2 = window.open("/#/", "tab2"))`))
				navOf := func() string {
					return eval[string](t, b, `(window.tab2.document.getElementById("nav-me") || {}).textContent || ""`)
				}
				eventually(t, "the second tab signed in", func() error {
					if nav := navOf(); nav == "" || nav == "Sign in" {
						return fmt.Errorf("second tab's header says %q", nav)
					}
					return nil
				})
				b.do(t, "sign out", chromedp.Evaluate[chromedp.Void](`location.hash = document.getElementById("nav-me").getAttribute("href")`),
					chromedp.WaitVisible(css("#logout")), chromedp.Click(css("#logout")))
				eventually(t, "the second tab signed out", func() error {
					if nav := navOf(); nav != "Sign in" {
						return fmt.Errorf("second tab's header says %q", nav)
					}
					return nil
				})
				// Signing in here (as another user) signs the second tab in.
				b.do(t, "sign in", chromedp.Evaluate[chromedp.Void](`localStorage.setItem("zan.token", `+jsString(user.token)+`);
					localStorage.setItem("zan.me", JSON.stringify({id: `+jsString(uid)+`, nickname: `+jsString(nick)+`}))`))
				eventually(t, "the second tab signed in again", func() error {
					if nav := navOf(); nav != nick {
						return fmt.Errorf("second tab's header says %q", nav)
					}
					return nil
				})
				b.do(t, "close", chromedp.Evaluate[chromedp.Void](`void window.tab2.close()`))
			})

			t.Run("Avatars", func(t *testing.T) {
				b.do(t, "user page", chromedp.Navigate("about:blank"), chromedp.Navigate(base+"/#/user/"+uid), chromedp.WaitVisible(css("#avatar-picker")))
				before := b.attr(t, "main h1 .avatar", "data-style")
				pick := "7"
				if before == "7" {
					pick = "8"
				}
				b.do(t, "pick", chromedp.Click(css(`#avatar-picker [data-avatar="`+pick+`"]`)))
				eventually(t, "the avatar saved", func() error {
					if a := user.expect(200, "GET", "/api/v1/me", nil).json(t)["avatar"]; a != float64(pick[0]-'0') {
						return fmt.Errorf("stored avatar %v", a)
					}
					if s := b.attr(t, "main h1 .avatar", "data-style"); s != pick {
						return fmt.Errorf("drawn style %s", s)
					}
					return nil
				})
				shot(t, "avatar-picker")
				b.do(t, "feed", chromedp.Navigate(base+"/#/"), chromedp.WaitVisible(css(`[data-blog="`+blog+`"] .meta .avatar`)))
				if s := b.attr(t, `[data-blog="`+blog+`"] .meta .avatar`, "data-style"); s != pick {
					t.Fatalf("the feed draws style %s, want %s", s, pick)
				}
				if s := b.attr(t, "#nav-me .avatar", "data-style"); s != pick {
					t.Fatalf("the header draws style %s, want %s", s, pick)
				}
				b.waitText(t, `[data-blog="`+blog+`"] .meta`, "by "+nick)
				oneRow(t) // signed in: avatar and name in the header
				shot(t, "feed-avatars")
			})

			t.Run("VoucherStates", func(t *testing.T) {
				shop := admin.expect(201, "POST", "/api/v1/shops", map[string]any{"name": "Voucher Bar " + vp.name, "type": "bar",
					"address": "2 Hubin Road", "x": 120.16, "y": 30.26, "avg_price": 80}).json(t)["id"].(string)
				now := time.Now().UTC()
				ts := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
				voucher := func(title string, stock int, begin, end time.Duration) string {
					return admin.expect(201, "POST", "/api/v1/vouchers", map[string]any{"shop_id": shop, "title": title, "stock": stock,
						"begin_at": ts(begin), "end_at": ts(end)}).json(t)["id"].(string)
				}
				voucher("Ended", 5, -2*time.Hour, -time.Hour)
				soldOut := voucher("Sold out", 1, -time.Minute, time.Hour)
				voucher("Upcoming", 5, time.Hour, 2*time.Hour)
				onSale := voucher("On sale", 5, -time.Minute, time.Hour)
				other, _ := login(t, base)
				other.expect(202, "POST", "/api/v1/vouchers/"+soldOut+"/orders", nil)

				b.do(t, "shop", chromedp.Navigate(base+"/#/shop/"+shop), chromedp.WaitVisible(css("#vouchers .card")))
				states := eval[[]string](t, b, `[...document.querySelectorAll("#vouchers .card .state")].map((s) => s.dataset.state)`)
				if strings.Join(states, ",") != "on_sale,upcoming,sold_out,ended" {
					t.Fatalf("voucher states in order: %v", states)
				}
				b.waitText(t, `#vouchers .card:nth-child(2) .state`, "Starts in 0h 59m")
				shot(t, "shop-vouchers")

				b.do(t, "voucher", chromedp.Navigate(base+"/#/voucher/"+onSale), chromedp.WaitEnabled(css("#order")), chromedp.Click(css("#order")))
				b.waitText(t, "#order-status", "created")
				b.waitText(t, "#voucher-state", "Yours")
				shot(t, "voucher-yours")
				b.do(t, "my vouchers", chromedp.Navigate(base+"/#/orders"), chromedp.WaitVisible(css("#my-orders .order")))
				b.waitText(t, "#my-orders .order", "On sale")
				b.waitText(t, "#my-orders .order .order-status", "Confirmed")
				if n := eval[int](t, b, `document.querySelectorAll("#my-orders .order").length`); n != 1 {
					t.Fatalf("%d orders listed, want 1", n)
				}
				shot(t, "my-vouchers")
				b.do(t, "shop again", chromedp.Navigate(base+"/#/shop/"+shop), chromedp.WaitVisible(css("#vouchers .card")))
				b.waitText(t, `#vouchers [data-voucher="`+onSale+`"]`, "Yours")
			})

			t.Run("OperationsForAdminsOnly", func(t *testing.T) {
				if eval[bool](t, b, `!!document.querySelector("#nav-ops").offsetParent`) {
					t.Fatal("the Operations link is shown to a user")
				}
				b.allow(403)
				b.allow(401)
				b.do(t, "ops", chromedp.Navigate(base+"/#/ops"), chromedp.WaitVisible(css("#admin-token")),
					chromedp.SendKeys(css("#admin-token"), "a user's guess"), chromedp.Click(css("#admin-enter")),
					chromedp.WaitVisible(css("#toast.error")))
				b.waitText(t, "#toast", "not the admin token")
				if n := eval[int](t, b, `document.querySelectorAll(".chart").length`); n != 0 {
					t.Fatalf("%d charts shown without the admin token", n)
				}
				shot(t, "ops-token")
				b.do(t, "token", chromedp.Evaluate[chromedp.Void](`document.querySelector("#admin-token").value = ""`), chromedp.SendKeys(css("#admin-token"), "admin-secret"),
					chromedp.Click(css("#admin-enter")), chromedp.WaitVisible(css("#chart-likes svg")), chromedp.WaitVisible(css("#nav-ops")))
				shot(t, "ops")
				b.do(t, "leave", chromedp.Click(css("#admin-leave")), chromedp.WaitNotVisible(css("#nav-ops")))
			})
		})
	}
}
