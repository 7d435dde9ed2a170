package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// testPNG is a w×h PNG with a gradient.
func testPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// bombPNG is a PNG of a few bytes whose header claims w×h pixels: decoding
// it would allocate w×h×4 bytes.
func bombPNG(t testing.TB, w, h uint32) []byte {
	b := testPNG(t, 1, 1)
	ihdr := b[8+4 : 8+4+4+13] // type and data of the first chunk
	binary.BigEndian.PutUint32(ihdr[4:], w)
	binary.BigEndian.PutUint32(ihdr[8:], h)
	binary.BigEndian.PutUint32(b[8+4+4+13:], crc32.ChecksumIEEE(ihdr))
	return b
}

// upload posts body with the api's token as a raw body, or as a
// multipart form with the file named name.
func (a *api) upload(body []byte, name string) resp {
	a.t.Helper()
	contentType := "application/octet-stream"
	if name != "" {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("note", "the file follows")
		fw, _ := mw.CreateFormFile("photo", name)
		fw.Write(body)
		mw.Close()
		body, contentType = buf.Bytes(), mw.FormDataContentType()
	}
	req, _ := http.NewRequest("POST", a.base+"/api/v1/photos", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: out.Bytes()}
}

func TestPhotosHTTP(t *testing.T) {
	m := startServer(t)
	base := "http://" + m.Addr()
	ann, _ := login(t, base)
	bob, _ := login(t, base)

	wide := testPNG(t, 1200, 300)
	r := ann.upload(wide, "")
	if r.Status != 201 {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	p := r.json(t)
	id := p["id"].(string)
	if p["url"] != "/photos/"+id || p["thumb_url"] != "/photos/"+id+"/thumb" || p["width"] != 1200.0 || p["height"] != 300.0 {
		t.Fatalf("upload answered %v", p)
	}
	// The original comes back byte for byte, cached for good.
	orig := newAPI(t, base).expect(200, "GET", "/photos/"+id, nil)
	if !bytes.Equal(orig.Body, wide) || orig.Header.Get("Content-Type") != "image/png" ||
		orig.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || orig.Header.Get("ETag") == "" {
		t.Fatalf("GET photo: %d bytes, headers %v", len(orig.Body), orig.Header)
	}
	req, _ := http.NewRequest("GET", base+"/photos/"+id, nil)
	req.Header.Set("If-None-Match", orig.Header.Get("ETag"))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 304 {
		t.Fatalf("revalidation: %v %v, want 304", res, err)
	} else {
		res.Body.Close()
	}
	thumb := newAPI(t, base).expect(200, "GET", "/photos/"+id+"/thumb", nil)
	cfg, format, err := image.DecodeConfig(bytes.NewReader(thumb.Body))
	if err != nil || format != "jpeg" || cfg.Width != 480 || cfg.Height != 120 || thumb.Header.Get("ETag") == orig.Header.Get("ETag") {
		t.Fatalf("thumb: %v %s %v, etag %s", cfg, format, err, thumb.Header.Get("ETag"))
	}
	newAPI(t, base).expect(404, "GET", "/photos/12345", nil)
	newAPI(t, base).expect(400, "GET", "/photos/abc/thumb", nil)

	// A JPEG in a form, as a browser sends it.
	var jb bytes.Buffer
	jpeg.Encode(&jb, image.NewGray(image.Rect(0, 0, 64, 48)), nil)
	r = bob.upload(jb.Bytes(), "cat.jpg")
	if r.Status != 201 || r.json(t)["width"] != 64.0 {
		t.Fatalf("multipart upload: %d %s", r.Status, r.Body)
	}
	bobs := r.json(t)["id"].(string)

	// Refusals: by the bytes, not the name or header.
	for name, body := range map[string][]byte{
		"text":        []byte("hello, this is not an image"),
		"gif":         []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
		"cut png":     wide[:40],
		"empty":       {},
		"bomb":        bombPNG(t, 60000, 60000),
		"tall":        bombPNG(t, 10, 9000),
		"html as png": []byte("<html><script>alert(1)</script></html>"),
	} {
		r := ann.upload(body, "x.png")
		if r.Status != 400 || r.errCode(t) != "bad_request" {
			t.Errorf("upload %s: %d %s, want 400", name, r.Status, r.Body)
		}
	}
	big := append(testPNG(t, 8, 8), make([]byte, 10<<20)...)
	if r := ann.upload(big, ""); r.Status != 413 {
		t.Errorf("upload of 10 MiB + a bit: %d %s, want 413", r.Status, r.Body)
	}
	if r := newAPI(t, base).upload(wide, ""); r.Status != 401 {
		t.Errorf("anonymous upload: %d, want 401", r.Status)
	}

	// Posts show their author's photos only, at most nine.
	var mine []string
	for range 9 {
		mine = append(mine, ann.upload(testPNG(t, 20, 20), "").json(t)["id"].(string))
	}
	ann.expect(400, "POST", "/api/v1/blogs", map[string]any{"title": "t", "content": "c", "photos": []string{id, bobs}})
	ann.expect(400, "POST", "/api/v1/blogs", map[string]any{"title": "t", "content": "c", "photos": append([]string{id}, mine...)})
	b := ann.expect(201, "POST", "/api/v1/blogs", map[string]any{"title": "Lake", "content": "c", "photos": []string{mine[1], id}}).json(t)
	blog := b["id"].(string)
	photoIDs := func(v map[string]any) string {
		var ids []string
		for _, p := range v["photos"].([]any) {
			ids = append(ids, p.(map[string]any)["id"].(string))
		}
		return strings.Join(ids, ",")
	}
	if got := photoIDs(b); got != mine[1]+","+id {
		t.Fatalf("created post's photos: %s", got)
	}
	if got := photoIDs(newAPI(t, base).expect(200, "GET", "/api/v1/blogs/"+blog, nil).json(t)); got != mine[1]+","+id {
		t.Fatalf("GET post's photos: %s", got)
	}
	bob.expect(403, "PATCH", "/api/v1/blogs/"+blog, map[string]any{"photos": []string{bobs}})
	ann.expect(400, "PATCH", "/api/v1/blogs/"+blog, map[string]any{"photos": []string{bobs}})
	if got := photoIDs(ann.expect(200, "PATCH", "/api/v1/blogs/"+blog, map[string]any{"photos": mine}).json(t)); got != strings.Join(mine, ",") {
		t.Fatalf("edited post's photos: %s", got)
	}
	eventually(t, "the feed shows the post's nine photos", func() error {
		feed := newAPI(t, base).expect(200, "GET", "/api/v1/blogs", nil).json(t)["items"].([]any)
		if len(feed) != 1 || photoIDs(feed[0].(map[string]any)) != strings.Join(mine, ",") {
			return fmt.Errorf("feed: %v", feed)
		}
		return nil
	})
	noPhotos := ann.expect(201, "POST", "/api/v1/blogs", map[string]any{"title": "plain", "content": "c"}).json(t)
	if ps, ok := noPhotos["photos"].([]any); !ok || len(ps) != 0 {
		t.Fatalf("a post without photos: photos = %v, want []", noPhotos["photos"])
	}
	ann.expect(204, "DELETE", "/api/v1/blogs/"+blog, nil)
	// The bytes stay for the sweep; the post and its photo rows are gone.
	newAPI(t, base).expect(200, "GET", "/photos/"+mine[0]+"/thumb", nil)
}

// TestPhotosSharedBucket: two nodes on one --blob bucket (an S3 server in
// the test process) serve each other's uploads.
func TestPhotosSharedBucket(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	backend := s3mem.New()
	if err := backend.CreateBucket("zan"); err != nil {
		t.Fatal(err)
	}
	s3 := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(s3.Close)
	bucket := func(c *Config) { c.Blob = "s3://zan/photos?path_style=true&endpoint=" + s3.URL }
	a, b := startServer(t, bucket), startServer(t, bucket)
	ann, _ := login(t, "http://"+a.Addr())
	img := testPNG(t, 640, 480)
	r := ann.upload(img, "lake.png")
	if r.Status != 201 {
		t.Fatalf("upload to node a: %d %s", r.Status, r.Body)
	}
	id := r.json(t)["id"].(string)
	other := newAPI(t, "http://"+b.Addr())
	if got := other.expect(200, "GET", "/photos/"+id, nil); !bytes.Equal(got.Body, img) || got.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("node b served %d bytes of %s", len(got.Body), got.Header.Get("Content-Type"))
	}
	other.expect(200, "GET", "/photos/"+id+"/thumb", nil)
}
