package memstore_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/presence-go/presence/internal/memstore"
	"github.com/presence-go/presence/liveness"
)

// TestWorkersRunOnTheStore runs the engine's workers of two controllers on
// one server in a synctest bubble, as a simulation does: one controller's
// agent pings, the other's watcher sees it come and go, on the bubble's
// clock.
func TestWorkersRunOnTheStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		server := memstore.NewServer()
		a, b := server.NewStore("controller-a"), server.NewStore("controller-b")
		batcher := liveness.NewPingBatcher(a)
		defer batcher.Stop()
		pinger := liveness.NewPinger(a, workersModel, "machine-0", batcher)
		if err := pinger.Start(); err != nil {
			t.Fatal(err)
		}
		defer pinger.Stop()
		watcher := liveness.NewWatcher(b, workersModel)
		defer watcher.Stop()

		if err := batcher.Sync(); err != nil {
			t.Fatal(err)
		}
		watcher.Sync()
		if alive, err := watcher.Alive("machine-0"); err != nil || !alive {
			t.Fatalf("Alive after the first ping = %v, %v; want true", alive, err)
		}
		// The pinger keeps the key alive as slots go by: the sleep moves
		// the bubble's clock on once every goroutine waits.
		time.Sleep(5 * time.Minute)
		watcher.Sync()
		if alive, err := watcher.Alive("machine-0"); err != nil || !alive {
			t.Fatalf("Alive five minutes on = %v, %v; want true", alive, err)
		}
		if err := pinger.KillForTesting(); err != nil {
			t.Fatal(err)
		}
		watcher.Sync()
		if alive, err := watcher.Alive("machine-0"); err != nil || alive {
			t.Fatalf("Alive after the kill = %v, %v; want false", alive, err)
		}
	})
}

// workersModel is the model UUID of the workers run on the store.
const workersModel = "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f"
