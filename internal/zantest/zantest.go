// Package zantest opens the real embedded adapters for the tests of the
// services: an SQLite store and an embedded JetStream log in a temp dir,
// closed when the test ends.
package zantest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/zanlabs/zan/natslog"
	"github.com/zanlabs/zan/sqlite"
)

// Store opens an empty SQLite store.
func Store(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "zan.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Log starts an empty embedded event log with partitions partitions.
func Log(t testing.TB, partitions int) *natslog.Log {
	t.Helper()
	l, err := natslog.Open(context.Background(), natslog.Config{Dir: t.TempDir(), Partitions: partitions})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
