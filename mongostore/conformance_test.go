package mongostore_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/presence-go/presence/internal/storetest"
	"github.com/presence-go/presence/internal/testserver"
	"github.com/presence-go/presence/liveness"
	"github.com/presence-go/presence/mongostore"
)

// TestConformance runs the Store suite on the test database.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Subject{
		Open: func(t *testing.T) (liveness.Store, func(string, []byte)) {
			db := testserver.Shared(t).MongoDatabase(t)
			store, err := mongostore.New(db.Collection("presence"))
			if err != nil {
				t.Fatal(err)
			}
			insert := func(suffix string, doc []byte) {
				t.Helper()
				if _, err := db.Collection("presence"+suffix).InsertOne(t.Context(), bson.Raw(doc)); err != nil {
					t.Fatalf("inserting %s into presence%s: %v", bson.Raw(doc), suffix, err)
				}
			}
			return store, insert
		},
		IsDuplicate: mongo.IsDuplicateKeyError,
	})
}
