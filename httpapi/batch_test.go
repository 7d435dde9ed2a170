package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/likes"
)

// TestAppendBatch holds the hand-written batch answer to what encoding/json
// makes of the contract's types.
func TestAppendBatch(t *testing.T) {
	items := []likes.Item{
		{Target: zan.Target{Type: "blog", ID: 118339478963093507}, Count: 3, Liked: true},
		{Target: zan.Target{Type: "comment_2", ID: 1}, Count: 0},
	}
	for _, withLiked := range []bool{false, true} {
		out := struct {
			Items []likeItem `json:"items"`
		}{}
		for _, it := range items {
			li := likeItem{Type: it.Target.Type, ID: ID(it.Target.ID), Count: it.Count}
			if withLiked {
				liked := it.Liked
				li.Liked = &liked
			}
			out.Items = append(out.Items, li)
		}
		b, _ := json.Marshal(out)
		if got := string(appendBatch(nil, items, withLiked)); got != string(b)+"\n" {
			t.Errorf("withLiked=%v:\n got %s\nwant %s", withLiked, got, b)
		}
	}
	if got := string(appendBatch(nil, nil, false)); got != `{"items":[]}`+"\n" {
		t.Errorf("empty: %s", got)
	}
}

func BenchmarkAppendBatch(b *testing.B) {
	items := make([]likes.Item, 50)
	for i := range items {
		items[i] = likes.Item{Target: zan.Target{Type: "comment", ID: 118339478963093507 + int64(i)}, Count: int64(i * 7), Liked: i%2 == 0}
	}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendBatch(buf[:0], items, true)
	}
}

// BenchmarkBatchJSON is the same answer through encoding/json, the baseline
// of BenchmarkAppendBatch.
func BenchmarkBatchJSON(b *testing.B) {
	out := struct {
		Items []likeItem `json:"items"`
	}{}
	for i := range 50 {
		liked := i%2 == 0
		out.Items = append(out.Items, likeItem{Type: "comment", ID: ID(118339478963093507 + int64(i)), Count: int64(i * 7), Liked: &liked})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(out); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAppendLikeChange holds a like's hand-written answer to encoding/json's.
func TestAppendLikeChange(t *testing.T) {
	for _, c := range []likeChange{{true, true, 1}, {false, false, 0}, {true, false, 9_000_000_000}, {false, true, -1}} {
		b, _ := json.Marshal(c)
		if got := string(appendLikeChange(nil, c)); got != string(b)+"\n" {
			t.Errorf("%+v:\n got %s\nwant %s", c, got, b)
		}
	}
}
