package photos

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"testing"

	"github.com/zanlabs/zan"
)

func testJPEG(tb testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{uint8(x * 7), uint8(y * 3), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func TestCheck(t *testing.T) {
	typ, cfg, err := Check(testJPEG(t, 30, 20))
	if err != nil || typ != "image/jpeg" || cfg.Width != 30 || cfg.Height != 20 {
		t.Fatalf("Check: %s %v %v", typ, cfg, err)
	}
	for name, b := range map[string][]byte{"empty": nil, "text": []byte("plain text"), "svg": []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)} {
		if _, _, err := Check(b); zan.ErrorCode(err) != zan.EBadRequest {
			t.Errorf("Check(%s): %v, want bad_request", name, err)
		}
	}
}

func TestThumbnailSize(t *testing.T) {
	for _, c := range []struct{ w, h, tw, th int }{{1200, 300, 480, 120}, {300, 900, 300, 900}, {4800, 1, 480, 1}} {
		b, err := Thumbnail(image.NewRGBA(image.Rect(0, 0, c.w, c.h)))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
		if err != nil || cfg.Width != c.tw || cfg.Height != c.th {
			t.Errorf("thumbnail of %d×%d: %d×%d (%v), want %d×%d", c.w, c.h, cfg.Width, cfg.Height, err, c.tw, c.th)
		}
	}
}

// BenchmarkThumbnail4000x3000 is the CPU cost of one phone-camera upload:
// decoding a 12-megapixel JPEG and encoding its thumbnail.
func BenchmarkThumbnail4000x3000(b *testing.B) {
	data := testJPEG(b, 4000, 3000)
	s := New(Config{}, nil, nil, nil, nil)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := s.thumbnail(b.Context(), data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode4000x3000 is the decode alone, the floor of an upload.
func BenchmarkDecode4000x3000(b *testing.B) {
	data := testJPEG(b, 4000, 3000)
	for b.Loop() {
		if _, _, err := image.Decode(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
