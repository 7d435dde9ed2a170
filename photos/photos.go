// Package photos takes photo uploads: it checks that the bytes are an
// image of an allowed kind and size before decoding them, makes a
// thumbnail, and keeps both in the blob store with a row in the store.
package photos

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	_ "image/png" // registers the PNG decoder
	"io"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // registers the WebP decoder

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// Limits of an upload.
const (
	MaxBytes  = 10 << 20   // of the file
	MaxSide   = 8000       // pixels, either side
	MaxPixels = 40_000_000 // width × height: bounds the memory of a decode
	// ThumbWidth is the width of thumbnails; narrower photos keep theirs.
	ThumbWidth = 480
)

// Types are the content types accepted, by what the bytes are, never by
// what the client says.
var Types = map[string]bool{"image/jpeg": true, "image/png": true, "image/webp": true}

// Config tunes the service.
type Config struct {
	Limit zan.Limit // per-user bucket for uploads
	// Decodes is how many uploads decode at once on this node: a decode
	// holds up to MaxPixels × 4 bytes.
	Decodes int
}

// Service takes uploads and serves photos.
type Service struct {
	cfg     Config
	store   zan.PhotoStore
	blobs   zan.BlobStore
	limiter zan.RateLimiter
	ids     *zan.IDGen
	decodes chan struct{}
	now     func() time.Time
}

// New returns a photo service.
func New(cfg Config, store zan.PhotoStore, blobs zan.BlobStore, limiter zan.RateLimiter, ids *zan.IDGen) *Service {
	if cfg.Limit.Rate == 0 {
		cfg.Limit = zan.Limit{Rate: 0.5, Burst: 20}
	}
	if cfg.Decodes <= 0 {
		cfg.Decodes = 2
	}
	return &Service{cfg: cfg, store: store, blobs: blobs, limiter: limiter, ids: ids,
		decodes: make(chan struct{}, cfg.Decodes), now: time.Now}
}

// Upload reads one image from r (at most MaxBytes), checks it, and stores it
// with its thumbnail as owner's.
func (s *Service) Upload(ctx context.Context, owner int64, r io.Reader) (zan.Photo, error) {
	if s.limiter != nil {
		ok, retry, err := s.limiter.Allow(ctx, "photo:"+strconv.FormatInt(owner, 10), s.cfg.Limit)
		if err != nil {
			return zan.Photo{}, zan.Unavailable("rate limiter", err)
		}
		if !ok {
			metrics.RateLimited.WithLabelValues("photo").Inc()
			return zan.Photo{}, zan.RateLimited(retry, "too many photos; slow down")
		}
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return zan.Photo{}, zan.Errorf(zan.ETooLarge, "a photo may be at most %d MiB", MaxBytes>>20)
		}
		return zan.Photo{}, zan.Errorf(zan.EBadRequest, "reading the photo: %v", err)
	}
	if len(data) > MaxBytes {
		return zan.Photo{}, zan.Errorf(zan.ETooLarge, "a photo may be at most %d MiB", MaxBytes>>20)
	}
	typ, cfg, err := Check(data)
	if err != nil {
		return zan.Photo{}, err
	}
	thumb, err := s.thumbnail(ctx, data)
	if err != nil {
		return zan.Photo{}, err
	}
	p := zan.Photo{ID: s.ids.Next(), OwnerID: owner, ContentType: typ, Width: cfg.Width, Height: cfg.Height,
		Size: int64(len(data)), CreatedAt: s.now().UTC().Truncate(time.Millisecond)}
	// Blobs first: a row always has its bytes. A failure after them leaves
	// blobs no row names, for the sweep.
	if err := s.blobs.Put(ctx, zan.PhotoKey(p.ID), bytes.NewReader(data), p.Size, typ); err != nil {
		return zan.Photo{}, zan.Unavailable("blob store", err)
	}
	if err := s.blobs.Put(ctx, zan.PhotoThumbKey(p.ID), bytes.NewReader(thumb), int64(len(thumb)), "image/jpeg"); err != nil {
		return zan.Photo{}, zan.Unavailable("blob store", err)
	}
	if err := s.store.CreatePhoto(ctx, p); err != nil {
		return zan.Photo{}, zan.Unavailable("store", err)
	}
	return p, nil
}

// Check says what image data is, from its bytes and header alone: nothing
// is decoded past the header, so a small file that claims a huge canvas (a
// decompression bomb) costs nothing.
func Check(data []byte) (string, image.Config, error) {
	if len(data) == 0 {
		return "", image.Config{}, zan.Errorf(zan.EBadRequest, "the photo is empty")
	}
	typ := http.DetectContentType(data)
	if !Types[typ] {
		return "", image.Config{}, zan.Errorf(zan.EBadRequest, "a photo must be a JPEG, PNG or WebP image")
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", image.Config{}, zan.Errorf(zan.EBadRequest, "the photo is not a readable image")
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxSide || cfg.Height > MaxSide || cfg.Width*cfg.Height > MaxPixels {
		return "", image.Config{}, zan.Errorf(zan.EBadRequest,
			"a photo may be at most %d×%d pixels and %d megapixels; this one is %d×%d", MaxSide, MaxSide, MaxPixels/1_000_000, cfg.Width, cfg.Height)
	}
	return typ, cfg, nil
}

// thumbnail decodes data (checked already) and encodes a JPEG ThumbWidth
// wide; transparent parts become white.
func (s *Service) thumbnail(ctx context.Context, data []byte) ([]byte, error) {
	select {
	case s.decodes <- struct{}{}:
		defer func() { <-s.decodes }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	src, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, zan.Errorf(zan.EBadRequest, "the photo is not a readable image")
	}
	return Thumbnail(src)
}

// Thumbnail scales img to ThumbWidth (or keeps a narrower width) and
// encodes it as a JPEG.
func Thumbnail(img image.Image) ([]byte, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w > ThumbWidth {
		h = max(1, h*ThumbWidth/w)
		w = ThumbWidth
	}
	// A kernel scaler reads every source pixel for every tap: from a large
	// photo, a cheap sampling pass to twice the size first, then the
	// kernel for quality (12 MP: 1.5 s in one pass).
	if b.Dx() > 4*w {
		mid := image.NewRGBA(image.Rect(0, 0, 2*w, max(1, 2*h)))
		draw.ApproxBiLinear.Scale(mid, mid.Bounds(), img, b, draw.Src, nil)
		img, b = mid, mid.Bounds()
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.BiLinear.Scale(dst, dst.Bounds(), img, b, draw.Over, nil)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 80}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Open starts reading photo id, or its thumbnail.
func (s *Service) Open(ctx context.Context, id int64, thumb bool) (zan.Blob, error) {
	key := zan.PhotoKey(id)
	if thumb {
		key = zan.PhotoThumbKey(id)
	}
	b, err := s.blobs.Get(ctx, key)
	if err != nil && !zan.IsNotFound(err) {
		return zan.Blob{}, zan.Unavailable("blob store", err)
	}
	if err != nil {
		return zan.Blob{}, zan.Errorf(zan.ENotFound, "photo not found")
	}
	return b, nil
}
