package conformance

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/zanlabs/zan"
)

// TestBlobStore runs the blob store suite against a fresh, empty store.
func TestBlobStore(t *testing.T, open func(t *testing.T) zan.BlobStore) {
	s := open(t)
	ctx := t.Context()
	read := func(key string) (string, string) {
		t.Helper()
		b, err := s.Get(ctx, key)
		if err != nil {
			t.Fatalf("Get(%s): %v", key, err)
		}
		defer b.Body.Close()
		data, err := io.ReadAll(b.Body)
		if err != nil || int64(len(data)) != b.Size {
			t.Fatalf("Get(%s): read %d bytes (%v), size says %d", key, len(data), err, b.Size)
		}
		return string(data), b.ContentType
	}

	if _, err := s.Get(ctx, "photos/1"); !zan.IsNotFound(err) {
		t.Fatalf("Get(missing): %v, want not_found", err)
	}
	bin := strings.Repeat("\x00\xff binary ", 10000)
	if err := s.Put(ctx, "photos/1", strings.NewReader(bin), int64(len(bin)), "image/png"); err != nil {
		t.Fatal(err)
	}
	if data, typ := read("photos/1"); data != bin || typ != "image/png" {
		t.Fatalf("Get: %d bytes of %s, want %d of image/png", len(data), typ, len(bin))
	}
	// A reader that cannot seek is taken too.
	if err := s.Put(ctx, "photos/1.thumb", io.MultiReader(strings.NewReader("th"), strings.NewReader("umb")), 5, "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	if data, typ := read("photos/1.thumb"); data != "thumb" || typ != "image/jpeg" {
		t.Fatalf("Get(thumb): %q %s", data, typ)
	}
	// Put replaces.
	if err := s.Put(ctx, "photos/1", bytes.NewReader([]byte("new")), 3, "image/webp"); err != nil {
		t.Fatal(err)
	}
	if data, typ := read("photos/1"); data != "new" || typ != "image/webp" {
		t.Fatalf("Get after replace: %q %s", data, typ)
	}
	if err := s.Delete(ctx, "photos/1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "photos/1"); !zan.IsNotFound(err) {
		t.Fatalf("Get after delete: %v, want not_found", err)
	}
	if err := s.Delete(ctx, "photos/1"); err != nil {
		t.Fatalf("Delete twice: %v", err)
	}
	if data, _ := read("photos/1.thumb"); data != "thumb" {
		t.Fatalf("a neighbour's blob changed: %q", data)
	}

	// Writers racing on one key leave one whole blob.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := strings.Repeat(string(rune('a'+i)), 64<<10)
			if err := s.Put(ctx, "race", strings.NewReader(data), int64(len(data)), "text/plain"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if data, _ := read("race"); len(data) != 64<<10 || strings.Count(data, data[:1]) != len(data) {
		t.Fatalf("racing puts left a mix of %d bytes", len(data))
	}
}
