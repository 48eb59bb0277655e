package mongostore_test

import (
	"strings"
	"testing"

	"github.com/juju/errors"

	"github.com/presence-go/presence/internal/testserver"
	"github.com/presence-go/presence/liveness"
	"github.com/presence-go/presence/mongostore"
)

func TestMain(m *testing.M) { testserver.Main(m) }

// model is the model UUID of these tests.
const model = "e5a0c6d2-3b4f-4a1e-9c8d-7f6e5d4c3b2a"

func TestSmoke(t *testing.T) {
	db := testserver.Shared(t).MongoDatabase(t)
	store, err := mongostore.New(db.Collection("presence"))
	if err != nil {
		t.Fatal(err)
	}
	pb := liveness.NewPingBatcher(store)
	defer pb.Stop()
	w := liveness.NewWatcher(store, model)
	defer w.Stop()
	p := liveness.NewPinger(store, model, "k", pb)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := pb.Sync(); err != nil {
		t.Fatal(err)
	}
	w.Sync()
	if alive, err := w.Alive("k"); err != nil || !alive {
		t.Fatalf("Alive = %v, %v", alive, err)
	}
	if err := p.KillForTesting(); err != nil {
		t.Fatal(err)
	}
	w.Sync()
	if alive, err := w.Alive("k"); err != nil || alive {
		t.Fatalf("Alive after kill = %v, %v", alive, err)
	}
}

// TestNilBaseIsAMistake asks for the store of a nil base collection: New
// reports a mistake of the caller's that names the problem, as the mgo
// face does: errors.Is(err, errors.NotValid) holds.
func TestNilBaseIsAMistake(t *testing.T) {
	store, err := mongostore.New(nil)
	if store != nil {
		t.Errorf("New(nil) returned a store: %v", store)
	}
	if err == nil || !strings.Contains(err.Error(), "nil base collection") {
		t.Fatalf("New(nil) = %v, want an error about the nil base collection", err)
	}
	if !errors.Is(err, errors.NotValid) {
		t.Errorf("New(nil) = %v, not a NotValid error", err)
	}
}
