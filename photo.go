package zan

import (
	"context"
	"io"
	"strconv"
	"time"
)

// MaxBlogPhotos is the most photos one post shows.
const MaxBlogPhotos = 9

// Photo is an uploaded image. Its bytes live in the blob store under
// PhotoKey and PhotoThumbKey; the row keeps what a post needs to lay it
// out without reading them.
type Photo struct {
	ID          int64
	OwnerID     int64
	ContentType string // of the original: image/jpeg, image/png, image/webp
	Width       int
	Height      int
	Size        int64 // bytes of the original
	CreatedAt   time.Time
}

// PhotoKey and PhotoThumbKey name a photo's blobs.
func PhotoKey(id int64) string      { return "photos/" + strconv.FormatInt(id, 10) }
func PhotoThumbKey(id int64) string { return "photos/" + strconv.FormatInt(id, 10) + ".thumb" }

// PhotoStore keeps photo rows and which posts show them.
type PhotoStore interface {
	CreatePhoto(ctx context.Context, p Photo) error
	// Photos returns the photos found among ids, in one query.
	Photos(ctx context.Context, ids []int64) (map[int64]Photo, error)
	// SetBlogPhotos makes photos (in order) the photos of blog, replacing
	// those it had; none removes them all.
	SetBlogPhotos(ctx context.Context, blog int64, photos []int64) error
	// BlogPhotos returns the photos of each of blogs, in their order, in
	// one query; a blog without photos is not in the map.
	BlogPhotos(ctx context.Context, blogs []int64) (map[int64][]Photo, error)
}

// Blob is a stored object being read. The reader closes Body.
type Blob struct {
	Body        io.ReadCloser
	ContentType string
	Size        int64
}

// BlobStore keeps immutable objects by key: a directory on the node, or an
// S3-compatible bucket every node shares.
type BlobStore interface {
	// Put stores size bytes of r under key, replacing what was there.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Get returns ENotFound when nothing is under key.
	Get(ctx context.Context, key string) (Blob, error)
	// Delete removes key; a missing key is no error.
	Delete(ctx context.Context, key string) error
}
