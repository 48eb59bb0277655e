package mgostore_test

import (
	"errors"
	"testing"

	"github.com/juju/mgo/v2"
	"github.com/juju/mgo/v2/bson"

	"github.com/presence-go/presence/internal/storetest"
	"github.com/presence-go/presence/internal/testserver"
	"github.com/presence-go/presence/liveness"
	"github.com/presence-go/presence/mgostore"
)

func TestMain(m *testing.M) { testserver.Main(m) }

// TestConformance runs the Store suite on the test database. It is
// skipped, saying why, when the server takes no commands from mgo.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Subject{
		Open: func(t *testing.T) (liveness.Store, func(string, []byte)) {
			db := testserver.Shared(t).Database(t)
			store, err := mgostore.New(db.C("presence"))
			if err != nil {
				t.Fatal(err)
			}
			insert := func(suffix string, doc []byte) {
				t.Helper()
				if err := db.C("presence" + suffix).Insert(bson.Raw{Kind: 0x03, Data: doc}); err != nil {
					t.Fatalf("inserting %x into presence%s: %v", doc, suffix, err)
				}
			}
			return store, insert
		},
		IsDuplicate: isDup,
	})
}

// isDup tells mgo's duplicate key error, which the store wraps.
func isDup(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if mgo.IsDup(err) {
			return true
		}
	}
	return false
}
