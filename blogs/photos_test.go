package blogs

import (
	"slices"
	"testing"
	"time"

	"github.com/zanlabs/zan"
)

func photoIDs(ps []zan.Photo) []int64 {
	ids := make([]int64, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

// TestPhotos: a post shows its author's own uploads, at most nine, in
// order; an edit replaces or clears them; others' photos are refused.
func TestPhotos(t *testing.T) {
	s, _, _, author := newService(t, Config{})
	ctx := t.Context()
	for id := int64(1); id <= 11; id++ {
		owner := author
		if id == 11 {
			owner = author + 1
		}
		if err := s.cfg.Photos.CreatePhoto(ctx, zan.Photo{ID: id, OwnerID: owner, ContentType: "image/png", Width: 10, Height: 10, Size: 1, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	for name, ids := range map[string][]int64{
		"ten":       {1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
		"others'":   {1, 11},
		"missing":   {99},
		"duplicate": {1, 1},
	} {
		if _, _, err := s.Create(ctx, author, "t", "c", 0, "", ids); zan.ErrorCode(err) != zan.EBadRequest {
			t.Errorf("Create with %s photos: %v, want bad_request", name, err)
		}
	}
	v, _, err := s.Create(ctx, author, "t", "c", 0, "", []int64{3, 1, 2})
	if err != nil || !slices.Equal(photoIDs(v.Photos), []int64{3, 1, 2}) {
		t.Fatalf("Create: %v, %v", photoIDs(v.Photos), err)
	}
	p, err := s.List(ctx, zan.BlogFilter{}, 0)
	if err != nil || len(p.Items) != 1 || !slices.Equal(photoIDs(p.Items[0].Photos), []int64{3, 1, 2}) {
		t.Fatalf("List: %+v, %v", p, err)
	}
	if _, err := s.Update(ctx, v.ID, author, "", "", []int64{11}); zan.ErrorCode(err) != zan.EBadRequest {
		t.Fatalf("Update with another's photo: %v, want bad_request", err)
	}
	if v, err = s.Update(ctx, v.ID, author, "", "", []int64{9, 8, 7, 6, 5, 4, 3, 2, 1}); err != nil || len(v.Photos) != 9 || v.Photos[0].ID != 9 {
		t.Fatalf("Update to nine: %v, %v", photoIDs(v.Photos), err)
	}
	if v, err = s.Update(ctx, v.ID, author, "new", "", nil); err != nil || len(v.Photos) != 9 {
		t.Fatalf("Update keeping the photos: %v, %v", photoIDs(v.Photos), err)
	}
	if v, err = s.Update(ctx, v.ID, author, "", "", []int64{}); err != nil || len(v.Photos) != 0 {
		t.Fatalf("Update clearing: %v, %v", photoIDs(v.Photos), err)
	}
}
