package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserPhotos writes a post with photos at a phone's and a desktop's
// width: the picker previews and uploads them, says in words why a file
// that is no photo was refused, and the post and the feed show the
// thumbnails without widening the page. Screenshots are kept.
func TestBrowserPhotos(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	b := newBrowser(t)
	b.allow(400) // the refused file: the picker says why
	m := startServer(t)
	base := baseOf(m)
	user, uid := login(t, base)
	nick := user.expect(200, "GET", "/api/v1/me", nil).json(t)["nickname"].(string)

	dir := t.TempDir()
	var files []string
	for i, sc := range []scene{sunset, bowl, lake} {
		img, err := drawScene(sc, 1200, 800, i)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("photo%d.jpg", i))
		if err := os.WriteFile(p, img, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	notPhoto := filepath.Join(dir, "notes.png")
	if err := os.WriteFile(notPhoto, []byte("these are notes, not a picture"), 0o644); err != nil {
		t.Fatal(err)
	}

	b.do(t, "session", chromedp.Navigate(base+"/#/"), chromedp.WaitVisible(css("main h1")),
		chromedp.Evaluate[chromedp.Void](`localStorage.setItem("zan.token", `+jsString(user.token)+`);
		localStorage.setItem("zan.me", JSON.stringify({id: `+jsString(uid)+`, nickname: `+jsString(nick)+`}))`))
	count := func(t *testing.T, sel string) int {
		return eval[int](t, b, `document.querySelectorAll(`+jsString(sel)+`).length`)
	}
	for _, size := range []struct {
		name string
		w, h int64
	}{{"phone", 390, 844}, {"desktop", 1280, 900}} {
		t.Run(size.name, func(t *testing.T) {
			sideways := func(what string) {
				t.Helper()
				if w := eval[[]int](t, b, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
					t.Fatalf("%s: the page is %d px wide on a %d px screen", what, w[0], w[1])
				}
			}
			title := "Photos at " + size.name + " width"
			b.do(t, "write", chromedp.EmulateViewport(size.w, size.h), chromedp.Navigate("about:blank"),
				chromedp.Navigate(base+"/#/write"), chromedp.WaitVisible(css("#title")),
				chromedp.SendKeys(css("#title"), title), chromedp.SetValue(css("#content"), "Three photos and a file that is not one."),
				chromedp.SetUploadFiles(css("#photo-input"), append(files[:2:2], notPhoto, files[2])))
			eventually(t, "the uploads to finish", func() error {
				if done, failed := count(t, `#photo-picker [data-state="done"]`), count(t, `#photo-picker [data-state="error"]`); done != 3 || failed != 1 {
					return fmt.Errorf("%d done, %d failed", done, failed)
				}
				return nil
			})
			b.waitText(t, "#photo-picker .photo-error", "must be a JPEG, PNG or WebP")
			b.waitText(t, "#photo-count", "3 of 9 photos")
			sideways("the picker")
			b.shot(t, "photos-write-"+size.name)
			// The refused one is removed; the post takes the other three.
			b.do(t, "remove and post", chromedp.Click(css(`#photo-picker [data-state="error"] .photo-remove`)),
				chromedp.Click(css("#post")), chromedp.WaitVisible(css("main .like")))
			b.do(t, "post photos", chromedp.WaitVisible(css("main .photos img")))
			if n := count(t, "main .photos img"); n != 3 {
				t.Fatalf("the post shows %d photos, want 3", n)
			}
			eventually(t, "the thumbnails to load", func() error {
				if n := eval[int](t, b, `[...document.querySelectorAll("main .photos img")].filter(i => i.complete && i.naturalWidth === 480).length`); n != 3 {
					return fmt.Errorf("%d of 3 thumbnails loaded", n)
				}
				return nil
			})
			sideways("the post")
			b.shot(t, "photos-post-"+size.name)

			b.do(t, "feed", chromedp.Navigate(base+"/#/"), chromedp.WaitVisible(css("#feed .photos img")))
			b.waitText(t, "#feed", title)
			eventually(t, "the feed's thumbnails to load", func() error {
				if n := eval[int](t, b, `[...document.querySelectorAll("#feed .card:first-child .photos img")].filter(i => i.complete && i.naturalWidth > 0).length`); n != 3 {
					return fmt.Errorf("%d of 3 thumbnails loaded", n)
				}
				return nil
			})
			// Three across on a phone, each well inside the screen.
			if w := eval[int](t, b, `Math.round(document.querySelector("#feed .photos a").getBoundingClientRect().width)`); w < 60 || int64(w) > size.w/3 {
				t.Fatalf("a thumbnail is %d px wide on a %d px screen", w, size.w)
			}
			sideways("the feed")
			b.shot(t, "photos-feed-"+size.name)
		})
	}
	if errs := b.errorsSoFar(); len(errs) > 0 {
		t.Fatalf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}
