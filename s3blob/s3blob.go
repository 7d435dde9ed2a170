// Package s3blob keeps blobs in an S3-compatible bucket (AWS S3, MinIO,
// Ceph, R2...): the blob store every node of a scale-out deployment shares.
package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/zanlabs/zan"
)

// Config says where the bucket is.
type Config struct {
	Bucket string
	Prefix string // prepended to every key ("" none)
	// Endpoint is the server's URL; "": AWS's own for Region.
	Endpoint string
	Region   string
	// PathStyle puts the bucket in the path, not the host name (most
	// self-hosted servers want it).
	PathStyle bool
	// AccessKey and SecretKey sign requests; both "": anonymous.
	AccessKey, SecretKey, SessionToken string
}

// ParseURL reads s3://bucket[/prefix]?endpoint=URL&region=R&path_style=true;
// credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN, never from the URL (it is logged and shown in ps).
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.User != nil {
		return Config{}, fmt.Errorf("want s3://bucket[/prefix]?endpoint=URL&region=REGION&path_style=true (credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	}
	q := u.Query()
	c := Config{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"), Endpoint: q.Get("endpoint"), Region: q.Get("region"),
		AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"), SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"), SessionToken: os.Getenv("AWS_SESSION_TOKEN")}
	if c.Prefix != "" {
		c.Prefix += "/"
	}
	if v := q.Get("path_style"); v != "" {
		if c.PathStyle, err = strconv.ParseBool(v); err != nil {
			return Config{}, fmt.Errorf("path_style must be true or false")
		}
	}
	if c.Region == "" {
		c.Region = os.Getenv("AWS_REGION")
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	return c, nil
}

// Store is a bucket.
type Store struct {
	client *s3.Client
	cfg    Config
}

// New returns the store of cfg; it makes no request.
func New(cfg Config) *Store {
	opts := s3.Options{
		Region:       cfg.Region,
		UsePathStyle: cfg.PathStyle,
		// Checksums only where the API requires them: many S3-compatible
		// servers reject the newer default trailers.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		opts.Credentials = credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)
	}
	return &Store{client: s3.New(opts), cfg: cfg}
}

// Ping checks that the bucket answers.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.cfg.Bucket})
	return err
}

// Put uploads the blob in one request.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	// Signing over plain HTTP needs a body it can read twice.
	body, ok := r.(io.ReadSeeker)
	if !ok {
		b, err := io.ReadAll(io.LimitReader(r, size))
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.cfg.Bucket, Key: aws.String(s.cfg.Prefix + key), Body: body,
		ContentLength: aws.Int64(size), ContentType: aws.String(contentType),
	})
	return err
}

// Get starts reading the blob.
func (s *Store) Get(ctx context.Context, key string) (zan.Blob, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: aws.String(s.cfg.Prefix + key)})
	if err != nil {
		var nsk *types.NoSuchKey
		var api smithy.APIError
		if errors.As(err, &nsk) || errors.As(err, &api) && api.ErrorCode() == "NotFound" {
			return zan.Blob{}, zan.Errorf(zan.ENotFound, "blob not found")
		}
		return zan.Blob{}, err
	}
	return zan.Blob{Body: out.Body, ContentType: aws.ToString(out.ContentType), Size: aws.ToInt64(out.ContentLength)}, nil
}

// Delete removes the blob; S3 answers a missing key with success too.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: aws.String(s.cfg.Prefix + key)})
	return err
}
