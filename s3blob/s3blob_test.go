package s3blob_test

import (
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/conformance"
	"github.com/zanlabs/zan/s3blob"
)

// fakeS3 serves an in-memory S3 in the test process, with bucket made.
func fakeS3(t *testing.T, bucket string) string {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestBlobStore(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	conformance.TestBlobStore(t, func(t *testing.T) zan.BlobStore {
		cfg, err := s3blob.ParseURL("s3://zan/blobs?path_style=true&region=eu-west-1&endpoint=" + fakeS3(t, "zan"))
		if err != nil {
			t.Fatal(err)
		}
		s := s3blob.New(cfg)
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		return s
	})
}

func TestParseURL(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "id")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	c, err := s3blob.ParseURL("s3://photos/zan/prod?endpoint=http://minio:9000&path_style=true")
	if err != nil || c.Bucket != "photos" || c.Prefix != "zan/prod/" || c.Endpoint != "http://minio:9000" ||
		!c.PathStyle || c.Region != "us-east-1" || c.AccessKey != "id" || c.SecretKey != "secret" {
		t.Fatalf("ParseURL: %+v, %v", c, err)
	}
	for _, bad := range []string{"http://b", "s3://", "s3://u:p@b", "s3://b?path_style=maybe"} {
		if _, err := s3blob.ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) passed", bad)
		}
	}
}
