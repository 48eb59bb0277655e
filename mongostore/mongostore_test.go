package mongostore_test

import (
	"context"
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
	store := mongostore.New(db.Collection("presence"))
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

// TestNilBaseIsAMistake builds every worker on the store of a nil base
// collection: each reports, at once, a mistake of the caller's that names
// the problem, as the workers of the Juju-compatible face do for a nil
// *mgo.Collection: errors.Is(err, errors.NotValid) holds.
func TestNilBaseIsAMistake(t *testing.T) {
	store := mongostore.New(nil)
	dead := liveness.NewDeadPingBatcher(errors.New("unused"))
	for what, err := range map[string]error{
		"watcher":                liveness.NewWatcher(store, model).Wait(),
		"pinger's Start":         liveness.NewPinger(store, model, "k", dead).Start(),
		"batcher":                liveness.NewPingBatcher(store).Wait(),
		"Prune":                  liveness.NewPruner(store, model, 0).Prune(nil),
		"RemovePresenceForModel": liveness.RemovePresenceForModel(context.Background(), store, model),
	} {
		if err == nil || !strings.Contains(err.Error(), "nil base collection") {
			t.Errorf("%s = %v, want an error about the nil base collection", what, err)
			continue
		}
		if !errors.Is(err, errors.NotValid) {
			t.Errorf("%s = %v, not a NotValid error", what, err)
		}
	}
}
