package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/blogs"
	"github.com/zanlabs/zan/photos"
)

// demoPost is a post of the --dev demo; each scene is one photo drawn at
// seed time, so the repository carries no image files.
type demoPost struct {
	title, content string
	scenes         []scene
}

var demoPosts = []demoPost{
	{"Sunset over West Lake", "Walked the Su Causeway at dusk. The hills go purple and the water turns gold for ten minutes.", []scene{sunset, hills, lake}},
	{"Dongpo pork, done right", "Slow-braised, glossy, melts on the spoon. Go early: they sell out by eight.", []scene{bowl, table}},
	{"Longjing tea terraces", "An hour's walk up from the lake. Bring water; the tea at the top is worth it.", []scene{hills, terraces, sunset, lake}},
	{"Noodles at midnight", "Pian'erchuan noodles: bamboo shoots, pickled greens, pork. Open till 2 a.m.", []scene{bowl}},
	{"Broken Bridge in the rain", "It is not broken; the snow just melts there first. In the rain it has the lake to itself.", []scene{lake, rain}},
	{"First post, no photos", "Trying out zan. Likes count in real time — tap the heart.", nil},
}

// seedDevPosts fills an empty store with a demo author's posts and their
// photos under --dev, so a first look at the web app is not empty.
func seedDevPosts(ctx context.Context, users zan.UserStore, bl *blogs.Service, ph *photos.Service, store zan.Store, ids *zan.IDGen) error {
	p, err := store.Blogs(ctx, zan.BlogFilter{Limit: 1})
	if err != nil || len(p.Blogs) > 0 {
		return err
	}
	author, err := users.EnsureUser(ctx, zan.User{ID: ids.Next(), Phone: "13800000000", Nickname: "West Lake Walker", CreatedAt: time.Now().UTC()})
	if err != nil {
		return err
	}
	shops, err := store.Shops(ctx, zan.ShopFilter{Limit: len(demoPosts)})
	if err != nil {
		return err
	}
	// Oldest first, so the first demo post is the newest in the feed.
	for i := len(demoPosts) - 1; i >= 0; i-- {
		d := demoPosts[i]
		var photoIDs []int64
		for j, sc := range d.scenes {
			b, err := drawScene(sc, 800, 600, i*7+j)
			if err != nil {
				return err
			}
			p, err := ph.Upload(ctx, author.ID, bytes.NewReader(b))
			if err != nil {
				return err
			}
			photoIDs = append(photoIDs, p.ID)
		}
		var shop int64
		if i < len(shops.Shops) && len(d.scenes) > 0 {
			shop = shops.Shops[i].ID
		}
		if _, _, err := bl.Create(ctx, author.ID, d.title, d.content, shop, "", photoIDs); err != nil {
			return err
		}
	}
	return nil
}

// scene colours a pixel at (x, y) in [0,1)² given a variation seed.
type scene func(x, y float64, v int) color.RGBA

func mix(a, b color.RGBA, t float64) color.RGBA {
	t = math.Max(0, math.Min(1, t))
	l := func(p, q uint8) uint8 { return uint8(float64(p)*(1-t) + float64(q)*t) }
	return color.RGBA{l(a.R, b.R), l(a.G, b.G), l(a.B, b.B), 255}
}

func sky(y float64, top, bottom color.RGBA) color.RGBA { return mix(top, bottom, y/0.6) }

func sunset(x, y float64, v int) color.RGBA {
	if math.Hypot(x-0.3-float64(v%3)*0.1, y-0.45) < 0.09 {
		return color.RGBA{255, 214, 120, 255}
	}
	if y > 0.55 {
		return mix(color.RGBA{230, 120, 70, 255}, color.RGBA{40, 40, 80, 255}, (y-0.55)*2.2+0.1*math.Sin(x*60))
	}
	return sky(y, color.RGBA{70, 50, 120, 255}, color.RGBA{250, 150, 90, 255})
}

func ridge(x float64, v int, amp, base float64) float64 {
	return base - amp*(math.Sin(x*5+float64(v))*0.5+math.Sin(x*13+float64(v)*2)*0.2)
}

func hills(x, y float64, v int) color.RGBA {
	switch {
	case y > ridge(x, v, 0.08, 0.62):
		return mix(color.RGBA{50, 90, 60, 255}, color.RGBA{20, 50, 35, 255}, y)
	case y > ridge(x, v+3, 0.1, 0.5):
		return color.RGBA{110, 140, 150, 255}
	}
	return sky(y, color.RGBA{120, 170, 220, 255}, color.RGBA{220, 235, 245, 255})
}

func lake(x, y float64, v int) color.RGBA {
	if y > 0.5 {
		return mix(color.RGBA{90, 150, 170, 255}, color.RGBA{30, 70, 100, 255}, (y-0.5)*2+0.05*math.Sin(y*200+x*10))
	}
	if y > ridge(x, v, 0.06, 0.48) {
		return color.RGBA{70, 100, 90, 255}
	}
	return sky(y, color.RGBA{150, 190, 225, 255}, color.RGBA{235, 240, 245, 255})
}

func rain(x, y float64, v int) color.RGBA {
	c := lake(x, y, v)
	if math.Mod(x*40+y*12, 1) < 0.04 {
		return mix(c, color.RGBA{230, 230, 240, 255}, 0.5)
	}
	return mix(c, color.RGBA{140, 150, 160, 255}, 0.35)
}

func terraces(x, y float64, v int) color.RGBA {
	band := math.Mod(y*14+math.Sin(x*4+float64(v))*0.8, 1)
	if band < 0.25 {
		return color.RGBA{60, 80, 40, 255}
	}
	return mix(color.RGBA{120, 180, 80, 255}, color.RGBA{70, 130, 60, 255}, band)
}

func table(x, y float64, v int) color.RGBA {
	wood := mix(color.RGBA{150, 100, 60, 255}, color.RGBA{110, 70, 40, 255}, 0.5+0.5*math.Sin(y*90+math.Sin(x*7)*3))
	for i, c := range []struct{ x, y, r float64 }{{0.3, 0.4, 0.17}, {0.7, 0.6, 0.15}, {0.62, 0.22, 0.1}} {
		d := math.Hypot(x-c.x, (y-c.y)*0.75)
		if d < c.r*0.75 {
			return []color.RGBA{{180, 60, 30, 255}, {90, 150, 60, 255}, {230, 200, 120, 255}}[(i+v)%3]
		}
		if d < c.r {
			return color.RGBA{245, 245, 240, 255}
		}
	}
	return wood
}

func bowl(x, y float64, v int) color.RGBA {
	d := math.Hypot(x-0.5, (y-0.5)*0.75)
	switch {
	case d < 0.22:
		return mix(color.RGBA{170, 70, 30, 255}, color.RGBA{120, 40, 20, 255}, 0.5+0.5*math.Sin(x*70+y*50+float64(v)))
	case d < 0.3:
		return color.RGBA{240, 240, 235, 255}
	}
	return mix(color.RGBA{60, 40, 35, 255}, color.RGBA{30, 20, 20, 255}, d)
}

// drawScene renders sc as a JPEG of w×h.
func drawScene(sc scene, w, h, v int) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for py := range h {
		for px := range w {
			img.SetRGBA(px, py, sc(float64(px)/float64(w), float64(py)/float64(h), v))
		}
	}
	var buf bytes.Buffer
	err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
	return buf.Bytes(), err
}
