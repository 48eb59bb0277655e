package presence_test

import (
	"testing"

	"github.com/presence-go/presence"
)

func TestWatcherWorkflow(t *testing.T) {
	e := newEnv(t)
	pb := e.batcher()
	w := e.watcher(modelA)
	chA, chB := make(chan presence.Change, 10), make(chan presence.Change, 10)

	// Initial events: nothing pings yet.
	w.Watch("a", chA)
	assertChange(t, chA, presence.Change{Key: "a", Alive: false})
	w.Watch("b", chB)
	assertChange(t, chB, presence.Change{Key: "b", Alive: false})
	assertNoChange(t, chA)

	// Start a: seen alive at the next sync.
	pa := e.pinger(modelA, "a", pb)
	flushAndSync(t, pb, w)
	assertChange(t, chA, presence.Change{Key: "a", Alive: true})
	assertNoChange(t, chA)
	assertNoChange(t, chB)

	// Unwatch drops what is queued for the channel.
	pbB := e.pinger(modelA, "b", pb)
	if err := pb.Sync(); err != nil {
		t.Fatal(err)
	}
	w.StartSync()
	w.Unwatch("b", chB)
	w.Sync()
	assertNoChange(t, chB)
	assertAlive(t, w, "b", true)

	// Watching again gets the current state at once.
	w.Watch("b", chB)
	assertChange(t, chB, presence.Change{Key: "b", Alive: true})

	// Stop is silent until the slots it pinged expire.
	e.stop(pa)
	flushAndSync(t, pb, w)
	assertNoChange(t, chA)
	e.advance(period)
	flushAndSync(t, pb, w)
	assertNoChange(t, chA)
	assertAlive(t, w, "a", true)
	e.advance(period)
	flushAndSync(t, pb, w)
	assertChange(t, chA, presence.Change{Key: "a", Alive: false})
	assertAlive(t, w, "b", true)
	assertNoChange(t, chB)

	// KillForTesting is seen at the next sync.
	e.kill(pbB)
	w.Sync()
	assertChange(t, chB, presence.Change{Key: "b", Alive: false})
	assertNoChange(t, chA)
}
