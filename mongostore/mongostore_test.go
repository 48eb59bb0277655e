package mongostore_test

import (
	"testing"

	"github.com/presence-go/presence/internal/testserver"
	"github.com/presence-go/presence/liveness"
	"github.com/presence-go/presence/mongostore"
)

func TestMain(m *testing.M) { testserver.Main(m) }

func TestSmoke(t *testing.T) {
	db := testserver.Shared(t).MongoDatabase(t)
	store := mongostore.New(db.Collection("presence"))
	pb := liveness.NewPingBatcher(store)
	defer pb.Stop()
	w := liveness.NewWatcher(store, "model")
	defer w.Stop()
	p := liveness.NewPinger(store, "model", "k", pb)
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
