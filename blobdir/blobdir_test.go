package blobdir_test

import (
	"strings"
	"testing"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/blobdir"
	"github.com/zanlabs/zan/conformance"
)

func TestBlobStore(t *testing.T) {
	conformance.TestBlobStore(t, func(t *testing.T) zan.BlobStore {
		s, err := blobdir.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestKeysStayInside(t *testing.T) {
	s, err := blobdir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, key := range []string{"../x", "/etc/passwd", "a/../../x", "a#type", "", "a//b"} {
		if err := s.Put(t.Context(), key, strings.NewReader("x"), 1, "text/plain"); err == nil {
			t.Errorf("Put(%q) passed", key)
		}
	}
}
