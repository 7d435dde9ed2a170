package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/photos"
)

// uploadPath takes bodies up to MaxUpload; every other call MaxBody.
const uploadPath = "/api/v1/photos"

// MaxUpload is the largest upload body: a photo and a multipart envelope.
const MaxUpload = photos.MaxBytes + 64<<10

func bodyLimit(r *http.Request) int64 {
	if r.Method == http.MethodPost && r.URL.Path == uploadPath {
		return MaxUpload
	}
	return MaxBody
}

func photoView(p zan.Photo) photoJSON {
	id := strconv.FormatInt(p.ID, 10)
	return photoJSON{ID: ID(p.ID), URL: "/photos/" + id, ThumbURL: "/photos/" + id + "/thumb", Width: p.Width, Height: p.Height}
}

func ids(xs []ID) []int64 {
	out := make([]int64, len(xs))
	for i, x := range xs {
		out[i] = int64(x)
	}
	return out
}

// uploadPhoto takes the image as the raw body, or as the first file of a
// multipart/form-data body (what a browser form sends).
func (s *Server) uploadPhoto(w http.ResponseWriter, r *http.Request) error {
	if s.Photos == nil {
		return zan.Errorf(zan.EUnavailable, "photo uploads are not configured")
	}
	body := io.Reader(r.Body)
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil || params["boundary"] == "" {
			return zan.Errorf(zan.EBadRequest, "malformed multipart body")
		}
		for {
			part, err := mr.NextPart()
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return zan.Errorf(zan.ETooLarge, "a photo may be at most %d MiB", photos.MaxBytes>>20)
			}
			if err != nil {
				return zan.Errorf(zan.EBadRequest, "the multipart body holds no file")
			}
			if part.FileName() != "" {
				body = part
				break
			}
		}
	}
	p, err := s.Photos.Upload(r.Context(), userID(r), body)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, photoView(p))
}

func (s *Server) getPhoto(w http.ResponseWriter, r *http.Request) error {
	return s.servePhoto(w, r, false)
}

func (s *Server) getThumb(w http.ResponseWriter, r *http.Request) error {
	return s.servePhoto(w, r, true)
}

// servePhoto serves the bytes of a photo: they never change under one
// URL, so caches keep them a year and a revalidation is a 304.
func (s *Server) servePhoto(w http.ResponseWriter, r *http.Request, thumb bool) error {
	if s.Photos == nil {
		return zan.Errorf(zan.ENotFound, "photo not found")
	}
	id, err := zan.ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	etag := `"p` + strconv.FormatInt(id, 10)
	if thumb {
		etag += "t"
	}
	etag += `"`
	h := w.Header()
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, etag) {
		h.Set("ETag", etag)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	b, err := s.Photos.Open(r.Context(), id, thumb)
	if err != nil {
		return err
	}
	defer b.Body.Close()
	h.Set("Content-Type", b.ContentType)
	h.Set("Content-Length", strconv.FormatInt(b.Size, 10))
	h.Set("ETag", etag)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	// The bytes are the user's: never let a browser read them as a page.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.Copy(w, b.Body)
	}
	return nil
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
