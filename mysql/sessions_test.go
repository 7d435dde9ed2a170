package mysql

import (
	"testing"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/conformance"
)

func TestSessionStore(t *testing.T) {
	conformance.TestSessionStore(t, func(t *testing.T) zan.SessionStore {
		db, _ := openFresh(t)
		return db
	})
}
