package mysql

import (
	"testing"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/conformance"
)

func TestExport(t *testing.T) {
	serverDSN(t)
	conformance.TestExport(t, func(t *testing.T) zan.Store {
		db, _ := openFresh(t)
		return db
	})
}
