// Package blobdir keeps blobs as files under a directory: the blob store of
// a single node (embedded mode, under --data). Nodes that share a database
// need a shared store instead (s3blob).
package blobdir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/zanlabs/zan"
)

// typeSuffix names the file beside a blob that holds its content type;
// keys may not contain '#', so no key's file ends so.
const typeSuffix = "#type"

// Store is a directory of blobs.
type Store struct {
	root *os.Root
}

// Open returns the store in dir, creating it.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	// An os.Root keeps every file operation inside dir, whatever a key
	// holds.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &Store{root: root}, nil
}

// Close releases the directory.
func (s *Store) Close() error { return s.root.Close() }

func checkKey(key string) error {
	if key == "" || strings.ContainsAny(key, "#\\\x00") || path.Clean(key) != key || path.IsAbs(key) ||
		key == ".." || strings.HasPrefix(key, "../") {
		return fmt.Errorf("blobdir: invalid key %q", key)
	}
	return nil
}

// Put writes the blob to a temporary file and renames it into place, so a
// reader sees the old blob or the new one, never a part.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if dir := path.Dir(key); dir != "." {
		if err := s.root.MkdirAll(dir, 0o750); err != nil {
			return err
		}
	}
	if err := s.write(key+typeSuffix, strings.NewReader(contentType)); err != nil {
		return err
	}
	return s.write(key, io.LimitReader(r, size))
}

func (s *Store) write(name string, r io.Reader) error {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := name + ".tmp-" + hex.EncodeToString(rnd[:])
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.root.Rename(tmp, name)
	}
	if err != nil {
		s.root.Remove(tmp)
	}
	return err
}

// Get opens the blob.
func (s *Store) Get(ctx context.Context, key string) (zan.Blob, error) {
	if err := checkKey(key); err != nil {
		return zan.Blob{}, err
	}
	f, err := s.root.Open(key)
	if errors.Is(err, fs.ErrNotExist) {
		return zan.Blob{}, zan.Errorf(zan.ENotFound, "blob not found")
	}
	if err != nil {
		return zan.Blob{}, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return zan.Blob{}, err
	}
	typ, err := s.root.ReadFile(key + typeSuffix)
	if err != nil || len(typ) == 0 {
		typ = []byte("application/octet-stream")
	}
	return zan.Blob{Body: f, ContentType: string(typ), Size: st.Size()}, nil
}

// Delete removes the blob and its content type.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	for _, name := range []string{key, key + typeSuffix} {
		if err := s.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
