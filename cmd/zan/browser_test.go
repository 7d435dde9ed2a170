package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromium finds the browser: ZAN_CHROMIUM, or Debian's chromium.
func chromium(t *testing.T) string {
	for _, p := range []string{os.Getenv("ZAN_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("no Chromium found (install Debian's chromium, or set ZAN_CHROMIUM): browser tests skipped")
	return ""
}

// browser runs a headless Chromium for the test and collects what the page
// logs as errors and the bytes it receives.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
	bytes  float64 // bytes received over the network since the start
	shots  []string
	t      *testing.T
}

func newBrowser(t *testing.T) *browser {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	b := &browser{ctx: ctx, t: t}
	// The first run starts the browser; the subscriptions follow it.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	console := chromedp.Console(ctx)
	loads := chromedp.Events(ctx, network.LoadingFinished)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				b.errors = append(b.errors, string(m.Type)+": "+m.Text+" "+m.URL)
				b.mu.Unlock()
			}
		}
	}()
	go func() {
		for ev, err := range loads {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.bytes += ev.EncodedDataLength
			b.mu.Unlock()
		}
	}()
	return b
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func css(s string) chromedp.CSS { return chromedp.CSS(s) }

// shot saves a screenshot under the test's temp dir and, with
// ZAN_SCREENSHOTS set, into that directory too.
func (b *browser) shot(name string) {
	b.t.Helper()
	time.Sleep(150 * time.Millisecond) // let the last paint land
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	dirs := []string{b.t.TempDir()}
	if d := os.Getenv("ZAN_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
		b.shots = append(b.shots, p)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// waitText waits until the element's text contains want.
func (b *browser) waitText(sel, want string) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, time.Second)
		s, _ := chromedp.Run(ctx, chromedp.Text(css(sel)))
		cancel()
		if strings.Contains(s, want) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: text %q, want it to contain %q", sel, s, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrowser drives the web app in headless Chromium: sign in with the
// dev code, like and unlike from the feed, see a count pushed from another
// client, order a voucher, and visit every page, with no console errors.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	b := newBrowser(t)
	m := startServer(t)
	base := baseOf(m)
	author, _ := login(t, base)
	blog := author.expect(201, "POST", "/api/v1/blogs", map[string]any{"title": "Dumplings at dawn", "content": "The best breakfast by West Lake."}).json(t)["id"].(string)
	likeSel := `button[data-target="blog:` + blog + `"]`

	// First load of the feed: page weight and time to interactive (the
	// feed's like buttons rendered and live).
	start := time.Now()
	b.do("open the feed", chromedp.Navigate(base+"/"), chromedp.WaitVisible(css(likeSel)))
	tti := time.Since(start)
	b.mu.Lock()
	weight := b.bytes
	b.mu.Unlock()
	t.Logf("feed: %.0f bytes on first load, interactive after %v", weight, tti.Round(time.Millisecond))
	b.shot("feed")

	// Sign in with the code the dev server shows.
	b.do("sign in", chromedp.Navigate(base+"/#/login"), chromedp.WaitVisible(css("#phone")),
		chromedp.SendKeys(css("#phone"), "13900139000"), chromedp.Click(css("#send-code")),
		chromedp.WaitVisible(css("#devcode .devcode")))
	if code := b.text("#devcode .devcode"); len(code) != 6 {
		t.Fatalf("dev code shown: %q", code)
	}
	b.shot("login")
	b.do("submit", chromedp.Click(css("#login")), chromedp.WaitVisible(css(likeSel)))
	if nav := b.text("#nav-me"); nav == "Sign in" {
		t.Fatal("still signed out after signing in")
	}

	// Like and unlike from the feed (optimistic, confirmed by the server).
	b.do("like", chromedp.Click(css(likeSel)))
	b.waitText(likeSel+" .count", "1")
	eventually(t, "the like stored", func() error {
		if v := author.expect(200, "GET", "/api/v1/likes/blog/"+blog, nil).json(t); v["count"].(float64) != 1 {
			return fmt.Errorf("count %v", v["count"])
		}
		return nil
	})
	b.do("unlike", chromedp.WaitVisible(css(likeSel+`[aria-busy="false"]`)), chromedp.Click(css(likeSel)))
	b.waitText(likeSel+" .count", "0")
	eventually(t, "the unlike stored", func() error {
		if v := author.expect(200, "GET", "/api/v1/likes/blog/"+blog, nil).json(t); v["count"].(float64) != 0 {
			return fmt.Errorf("count %v", v["count"])
		}
		return nil
	})
	time.Sleep(1100 * time.Millisecond) // the page's quiet second after its own change
	if pressed, err := chromedp.Run(b.ctx, chromedp.AttributeValue(css(likeSel), "aria-pressed")); err != nil || pressed.Value != "false" {
		t.Fatalf("aria-pressed %q after the unlike (%v)", pressed.Value, err)
	}

	// A like from another client shows up on the page by itself.
	author.expect(200, "PUT", "/api/v1/likes/blog/"+blog, nil)
	b.waitText(likeSel+" .count", "1")

	// The blog page, with its likers.
	b.do("blog page", chromedp.Navigate(base+"/#/blog/"+blog), chromedp.WaitVisible(css("#likers li")))
	b.shot("blog")

	// Shops: search, and a voucher bought.
	admin := newAPI(t, base)
	admin.token = "admin-secret"
	shop := admin.expect(201, "POST", "/api/v1/shops", map[string]any{"name": "Dawn Dumpling House", "type": "food",
		"address": "1 Hubin Road", "x": 120.16, "y": 30.26, "avg_price": 30, "score": 4.7}).json(t)["id"].(string)
	now := time.Now().UTC()
	voucher := admin.expect(201, "POST", "/api/v1/vouchers", map[string]any{"shop_id": shop, "title": "¥10 off breakfast", "stock": 5,
		"begin_at": now.Add(-time.Minute).Format(time.RFC3339), "end_at": now.Add(time.Hour).Format(time.RFC3339)}).json(t)["id"].(string)
	b.do("shops", chromedp.Navigate(base+"/#/shops"), chromedp.WaitVisible(css("#shops .card")),
		chromedp.SendKeys(css("#q"), "dumpling"), chromedp.Submit(css("#q")))
	b.waitText("#shops", "Dawn Dumpling House")
	b.shot("shops")
	b.do("voucher", chromedp.Navigate(base+"/#/voucher/"+voucher), chromedp.WaitVisible(css("#order")))
	b.waitText("#countdown", "ends in")
	b.do("order", chromedp.Click(css("#order")))
	b.waitText("#order-status", "created")
	b.waitText("#remaining", "4")
	b.shot("voucher")

	// Operations, and a phone-sized screen.
	b.do("ops", chromedp.Navigate(base+"/#/ops"), chromedp.WaitVisible(css("#chart-likes svg")))
	b.shot("ops")
	b.do("phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/#/"), chromedp.WaitVisible(css(likeSel)))
	b.shot("feed-phone")

	// Keyboard: the like button is reachable and works with Enter.
	b.do("keyboard", chromedp.Focus(css(likeSel)), chromedp.KeyEvent("\r"))
	b.waitText(likeSel+" .count", "2")
	if focused, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.activeElement.dataset.target || ""`)); err != nil || focused != "blog:"+blog {
		t.Fatalf("focus after a keyboard like: %q %v", focused, err)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errors) > 0 {
		t.Fatalf("the page logged errors:\n%s", strings.Join(b.errors, "\n"))
	}
	t.Logf("screenshots: %s", strings.Join(b.shots, ", "))
}
