package sqlite

import (
	"testing"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/conformance"
)

func TestExport(t *testing.T) {
	conformance.TestExport(t, func(t *testing.T) zan.Store {
		db, _ := openTemp(t, Options{})
		return db
	})
}
