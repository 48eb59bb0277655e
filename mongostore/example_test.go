package mongostore_test

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

// The workers on the official driver: a store over the base collection,
// one batcher per controller, a pinger per agent, a watcher per model. The
// example runs against the embedded test database; a controller connects
// to its own server (any MongoDB from 4.4 on, or FerretDB).
func Example() {
	server, err := testserver.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	url := server.URL() // e.g. mongodb://db.example.com:27017

	client, err := mongo.Connect(options.Client().ApplyURI(url))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	store, err := mongostore.New(client.Database("juju").Collection("presence"))
	if err != nil {
		log.Fatal(err)
	}
	const model = "c2a1a4b3-0f7e-4a9e-8d1c-5b6a7c8d9e0f"

	batcher := liveness.NewPingBatcher(store)
	defer batcher.Stop()
	pinger := liveness.NewPinger(store, model, "machine-0", batcher)
	if err := pinger.Start(); err != nil {
		log.Fatal(err)
	}
	defer pinger.Stop()
	watcher := liveness.NewWatcher(store, model)
	defer watcher.Stop()

	batcher.Sync() // write the first ping now rather than within a second
	watcher.Sync() // read it now rather than within a period
	alive, err := watcher.Alive("machine-0")
	fmt.Println(alive, err)

	// Output:
	// true <nil>
}
