package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserBell: the author, signed in to the web app, sees the bell
// move within a second of another user's like, opens the inbox from it,
// and marks everything read.
func TestBrowserBell(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	b := newBrowser(t)
	m := startServer(t)
	base := baseOf(m)
	author, _ := login(t, base)
	liker, _ := login(t, base)
	me := author.expect(200, "GET", "/api/v1/me", nil).json(t)
	likerMe := liker.expect(200, "GET", "/api/v1/me", nil).json(t)
	blog := author.expect(201, "POST", "/api/v1/blogs", map[string]any{"title": "Tea at Longjing", "content": "Green."}).json(t)["id"].(string)

	meJSON, _ := json.Marshal(me)
	tok, _ := json.Marshal(author.token)
	session, _ := json.Marshal(string(meJSON))
	b.do(t, "open the app", chromedp.Navigate(base+"/"), chromedp.WaitReady(css("main")))
	eval[any](t, b, `localStorage.setItem("zan.token", `+string(tok)+`); localStorage.setItem("zan.me", `+string(session)+`); true`)
	b.do(t, "open the app signed in", chromedp.Navigate(base+"/"), chromedp.WaitVisible(css("#nav-bell")))
	// The stream is open once it has said 0 (the badge stays hidden at 0).
	time.Sleep(300 * time.Millisecond)
	if !eval[bool](t, b, `document.getElementById("bell-count").hidden`) {
		t.Fatal("the bell shows a count before any like")
	}

	liker.expect(200, "PUT", "/api/v1/likes/blog/"+blog, nil)
	start := time.Now()
	for !eval[bool](t, b, `(() => { const c = document.getElementById("bell-count"); return !c.hidden && c.textContent === "1"; })()`) {
		if time.Since(start) > time.Second {
			t.Fatalf("the bell did not move within 1 s of the like")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("like → bell: %v", time.Since(start).Round(time.Millisecond))
	b.shot(t, "bell")

	b.do(t, "open the inbox from the bell", chromedp.Click(css("#nav-bell")), chromedp.WaitVisible(css("#inbox .notification")))
	b.waitText(t, "#inbox .notification", likerMe["nickname"].(string)+" liked your post")
	b.shot(t, "inbox")
	b.do(t, "mark all read", chromedp.Click(css("main button.primary")))
	deadline := time.Now().Add(5 * time.Second)
	for !eval[bool](t, b, `document.getElementById("bell-count").hidden`) {
		if time.Now().After(deadline) {
			t.Fatal("the bell still shows a count after marking all read")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if errs := b.errorsSoFar(); len(errs) > 0 {
		t.Fatalf("browser errors: %v", errs)
	}
}
