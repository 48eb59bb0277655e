package liveness_test

import (
	"context"
	"fmt"
	"log"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/presence-go/presence/internal/testserver"
	"github.com/presence-go/presence/liveness"
	"github.com/presence-go/presence/mongostore"
)

// exampleStore starts the embedded test database and returns a store on
// it, and what stops them both; a controller makes its store from its own
// client (see package mongostore).
func exampleStore() (liveness.Store, func()) {
	server, err := testserver.Start()
	if err != nil {
		log.Fatal(err)
	}
	client, err := mongo.Connect(options.Client().ApplyURI(server.URL()))
	if err != nil {
		log.Fatal(err)
	}
	store, err := mongostore.New(client.Database("example").Collection("presence"))
	if err != nil {
		log.Fatal(err)
	}
	return store, func() {
		client.Disconnect(context.Background())
		server.Close()
	}
}

const exampleModel = "c2a1a4b3-0f7e-4a9e-8d1c-5b6a7c8d9e0f"

// startAgent starts a pinger for key and writes its first ping at once.
func startAgent(store liveness.Store, batcher *liveness.PingBatcher, key string, opts ...liveness.Option) *liveness.Pinger {
	p := liveness.NewPinger(store, exampleModel, key, batcher, opts...)
	if err := p.Start(); err != nil {
		log.Fatal(err)
	}
	if err := batcher.Sync(); err != nil {
		log.Fatal(err)
	}
	return p
}

// A watcher can follow every key of a model without being told the keys:
// it sends the state of those it knows, then every change, of keys that
// appear later too.
func ExampleWatcher_WatchModel() {
	store, stop := exampleStore()
	defer stop()
	batcher := liveness.NewPingBatcher(store)
	defer batcher.Stop()
	defer startAgent(store, batcher, "machine-0").Stop()
	defer startAgent(store, batcher, "machine-1").Stop()

	watcher := liveness.NewWatcher(store, exampleModel)
	defer watcher.Stop()
	changes := make(chan liveness.Change, 10)
	watcher.WatchModel(changes)
	fmt.Println(<-changes, <-changes)

	late := startAgent(store, batcher, "unit-mysql-0")
	watcher.Sync()
	fmt.Println(<-changes)
	late.KillForTesting()
	watcher.Sync()
	fmt.Println(<-changes)

	// Output:
	// {machine-0 true} {machine-1 true}
	// {unit-mysql-0 true}
	// {unit-mysql-0 false}
}

// AliveKeys lists who is alive in one call.
func ExampleWatcher_AliveKeys() {
	store, stop := exampleStore()
	defer stop()
	batcher := liveness.NewPingBatcher(store)
	defer batcher.Stop()
	defer startAgent(store, batcher, "machine-1").Stop()
	defer startAgent(store, batcher, "machine-0").Stop()
	startAgent(store, batcher, "machine-2").KillForTesting()

	watcher := liveness.NewWatcher(store, exampleModel)
	defer watcher.Stop()
	keys, err := watcher.AliveKeys()
	fmt.Println(keys, err)

	// Output:
	// [machine-0 machine-1] <nil>
}

// A pinger made WithGracefulStop records its death when stopped, so
// watchers see it at their next read rather than when its last ping
// expires, up to two periods later.
func ExampleWithGracefulStop() {
	store, stop := exampleStore()
	defer stop()
	batcher := liveness.NewPingBatcher(store)
	defer batcher.Stop()
	pinger := startAgent(store, batcher, "machine-0", liveness.WithGracefulStop(true))

	watcher := liveness.NewWatcher(store, exampleModel)
	defer watcher.Stop()
	changes := make(chan liveness.Change, 10)
	watcher.Watch("machine-0", changes)
	fmt.Println(<-changes)

	if err := pinger.Stop(); err != nil {
		log.Fatal(err)
	}
	watcher.Sync()
	fmt.Println(<-changes)

	// A later Start takes a new sequence: the key is alive again.
	if err := pinger.Start(); err != nil {
		log.Fatal(err)
	}
	defer pinger.Stop()
	batcher.Sync()
	watcher.Sync()
	fmt.Println(<-changes)

	// Output:
	// {machine-0 true}
	// {machine-0 false}
	// {machine-0 true}
}

// KeyStates tells, for each key the watcher sees, the sequence that
// decides its liveness, that liveness, and the last slot it pinged.
func ExampleWatcher_KeyStates() {
	store, stop := exampleStore()
	defer stop()
	batcher := liveness.NewPingBatcher(store)
	defer batcher.Stop()
	defer startAgent(store, batcher, "machine-0").Stop()
	startAgent(store, batcher, "machine-1").KillForTesting()

	watcher := liveness.NewWatcher(store, exampleModel)
	defer watcher.Stop()
	states, err := watcher.KeyStates()
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range states {
		fmt.Printf("%s: seq %d, alive %v, pinged %v\n", s.Key, s.Seq, s.Alive, s.LastSlot != 0)
	}

	// Output:
	// machine-0: seq 1, alive true, pinged true
	// machine-1: seq 2, alive false, pinged true
}
