package presence_test

import (
	"fmt"
	"log"
	"time"

	"github.com/juju/names/v4"

	"github.com/presence-go/presence"
	"github.com/presence-go/presence/internal/testserver"
)

// The example runs against the embedded test database; a controller passes
// the collection of its own MongoDB session instead.
func Example() {
	server, err := testserver.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	session, err := server.Dial()
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	base := session.DB("example").C("presence")
	model := names.NewModelTag("c2a1a4b3-0f7e-4a9e-8d1c-5b6a7c8d9e0f")

	// One batcher per controller writes the pings of all its agents.
	batcher := presence.NewPingBatcher(base, time.Second)
	defer batcher.Stop()

	watcher := presence.NewWatcher(base, model)
	defer watcher.Stop()
	changes := make(chan presence.Change, 10)
	watcher.Watch("machine-0", changes)
	fmt.Printf("%+v\n", <-changes)

	// The agent starts pinging.
	pinger := presence.NewPinger(base, model, "machine-0", func() presence.PingRecorder { return batcher })
	if err := pinger.Start(); err != nil {
		log.Fatal(err)
	}
	batcher.Sync() // write the ping now rather than within a second
	watcher.Sync() // read it now rather than within a period
	fmt.Printf("%+v\n", <-changes)

	// The agent dies. Stop would let it expire within two periods;
	// KillForTesting marks it dead at once.
	if err := pinger.KillForTesting(); err != nil {
		log.Fatal(err)
	}
	watcher.Sync()
	fmt.Printf("%+v\n", <-changes)

	// Output:
	// {Key:machine-0 Alive:false}
	// {Key:machine-0 Alive:true}
	// {Key:machine-0 Alive:false}
}
