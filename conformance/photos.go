package conformance

import (
	"slices"
	"testing"

	"github.com/zanlabs/zan"
)

func photo(id, owner int64) zan.Photo {
	return zan.Photo{ID: id, OwnerID: owner, ContentType: "image/jpeg", Width: 640 + int(id), Height: 480, Size: 1000 + id, CreatedAt: micro(t0 + id)}
}

func photoIDs(ps []zan.Photo) []int64 {
	ids := make([]int64, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

// testPhotos: photo rows read back whole; a blog's photos keep their order,
// an edit replaces them, and deleting the blog deletes its photo rows but
// not the photos.
func testPhotos(t *testing.T, s zan.Store) {
	ctx := t.Context()
	for id := int64(1); id <= 10; id++ {
		if err := s.CreatePhoto(ctx, photo(id, 7)); err != nil {
			t.Fatalf("CreatePhoto(%d): %v", id, err)
		}
	}
	got, err := s.Photos(ctx, []int64{3, 4, 99})
	if err != nil || len(got) != 2 || got[3] != photo(3, 7) || got[4] != photo(4, 7) {
		t.Fatalf("Photos: %+v, %v; want 3 and 4 whole", got, err)
	}
	if m, err := s.Photos(ctx, nil); err != nil || len(m) != 0 {
		t.Fatalf("Photos(none): %v, %v", m, err)
	}
	createBlogs(t, s, 3)
	if err := s.SetBlogPhotos(ctx, 1, []int64{5, 2, 9}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetBlogPhotos(ctx, 2, []int64{1}); err != nil {
		t.Fatal(err)
	}
	bp, err := s.BlogPhotos(ctx, []int64{1, 2, 3})
	if err != nil || len(bp) != 2 || !slices.Equal(photoIDs(bp[1]), []int64{5, 2, 9}) || !slices.Equal(photoIDs(bp[2]), []int64{1}) {
		t.Fatalf("BlogPhotos: %v, %v; want 1: [5 2 9], 2: [1], 3 absent", bp, err)
	}
	if bp[1][0] != photo(5, 7) {
		t.Fatalf("BlogPhotos row: %+v, want %+v", bp[1][0], photo(5, 7))
	}
	// An edit replaces the list, in its new order; all nine fit.
	nine := []int64{10, 9, 8, 7, 6, 5, 4, 3, 2}
	if err := s.SetBlogPhotos(ctx, 1, nine); err != nil {
		t.Fatal(err)
	}
	if bp, err = s.BlogPhotos(ctx, []int64{1}); err != nil || !slices.Equal(photoIDs(bp[1]), nine) {
		t.Fatalf("BlogPhotos after edit: %v, %v; want %v", bp, err, nine)
	}
	if err := s.SetBlogPhotos(ctx, 2, nil); err != nil {
		t.Fatal(err)
	}
	if bp, err = s.BlogPhotos(ctx, []int64{2}); err != nil || len(bp) != 0 {
		t.Fatalf("BlogPhotos after clearing: %v, %v; want none", bp, err)
	}
	if err := s.DeleteBlog(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if bp, err = s.BlogPhotos(ctx, []int64{1}); err != nil || len(bp) != 0 {
		t.Fatalf("BlogPhotos after deleting the blog: %v, %v; want none", bp, err)
	}
	if m, err := s.Photos(ctx, nine); err != nil || len(m) != len(nine) {
		t.Fatalf("Photos after deleting the blog: %d, %v; want the %d rows kept", len(m), err, len(nine))
	}
}
