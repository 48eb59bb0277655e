package benchsuite

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/liveness"
)

// The tests of the suite's own machinery: the benchmarks' figures are
// only as good as the clock that drives them and the reference
// implementations they are measured against.

func TestDrivenClockFiresInOrder(t *testing.T) {
	c := newDrivenClock(benchStart)
	late := c.NewTimer(2 * time.Second)
	early := c.NewTimer(time.Second)
	stopped := c.NewTimer(time.Second)
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop reports wrongly whether the timer was armed")
	}
	if err := c.WaitArmed(2, time.Second); err != nil {
		t.Fatal(err)
	}
	next, ok := c.Next()
	if !ok || !next.Equal(benchStart.Add(time.Second)) {
		t.Fatalf("next deadline %v, want %v", next, benchStart.Add(time.Second))
	}
	c.AdvanceTo(next)
	select {
	case at := <-early.Chan():
		if !at.Equal(next) {
			t.Errorf("fired with %v, want %v", at, next)
		}
	default:
		t.Fatal("the due timer did not fire")
	}
	select {
	case <-late.Chan():
		t.Fatal("a timer fired early")
	default:
	}
	if c.Armed() != 1 {
		t.Fatalf("%d timers armed, want 1", c.Armed())
	}
	early.Reset(0) // due at once: fires without being armed
	<-early.Chan()
	late.Reset(time.Minute) // moves an armed timer
	if next, _ := c.Next(); !next.Equal(benchStart.Add(time.Second + time.Minute)) {
		t.Fatalf("Reset left the deadline at %v", next)
	}
	if err := c.WaitArmed(5, 10*time.Millisecond); err == nil {
		t.Fatal("WaitArmed returned for timers that were never armed")
	}
}

func TestCommandName(t *testing.T) {
	body, err := bson.Marshal(bson.D{{Key: "update", Value: "presence.pings"}, {Key: "$db", Value: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 21, 21+len(body))
	msg[20] = 0 // a body section
	msg = append(msg, body...)
	binary.LittleEndian.PutUint32(msg, uint32(len(msg)))
	binary.LittleEndian.PutUint32(msg[12:], 2013)
	if got := commandName(msg); got != "update" {
		t.Errorf("OP_MSG command %q, want update", got)
	}
	query, _ := bson.Marshal(bson.D{{Key: "isMaster", Value: 1}})
	msg = append(make([]byte, 20), "admin.$cmd\x00"...)
	msg = append(msg, make([]byte, 8)...)
	msg = append(msg, query...)
	binary.LittleEndian.PutUint32(msg, uint32(len(msg)))
	binary.LittleEndian.PutUint32(msg[12:], 2004)
	if got := commandName(msg); got != "isMaster" {
		t.Errorf("OP_QUERY command %q, want isMaster", got)
	}
}

// TestJujuSketchAgrees checks that the Juju sketch and the library's
// watcher tell the same keys alive, over the same documents: a fleet
// with some keys killed, one restarted under a newer sequence, and one
// sequence with no being. (They differ on a key whose newer sequence is
// seen only dead while its older one is alive: the sketch never looks up
// a dead sequence and calls the key alive, the library calls it dead.
// Such a fleet is not measured.)
func TestJujuSketchAgrees(t *testing.T) {
	const n = 301
	m := newMemFleet(n)
	alive, dead := map[int64]uint64{}, map[int64]uint64{}
	for seq := int64(1); seq <= n+2; seq++ {
		alive[seq/63] |= 1 << uint(seq%63)
		if seq%7 == 0 {
			dead[seq/63] |= 1 << uint(seq%63)
		}
	}
	// Sequence n+1 is machine-5 restarted; n+2 has no being.
	id := layout.DocID(fleetModel, n+1)
	m.beings[id], _ = bson.Marshal(bson.D{{Key: "_id", Value: id}, {Key: "seq", Value: int64(n + 1)}, {Key: "key", Value: keyOfSeq(5)}})
	m.order = append(m.order, id)
	slotID := layout.DocID(fleetModel, benchSlot)
	m.pings[slotID], _ = bson.Marshal(bson.D{{Key: "_id", Value: slotID}, {Key: "slot", Value: benchSlot},
		{Key: "alive", Value: fieldsDoc(alive)}, {Key: "dead", Value: fieldsDoc(dead)}})

	sketch := newJujuWatcher(m, fleetModel)
	if err := sketch.sync(benchSlot); err != nil {
		t.Fatal(err)
	}
	w := liveness.NewWatcher(m, fleetModel, frozenOpts()...)
	defer w.Stop()
	aliveCount := 0
	for seq := int64(1); seq <= n; seq++ {
		key := keyOfSeq(seq)
		got, err := w.Alive(key)
		if err != nil {
			t.Fatal(err)
		}
		if got != sketch.alive(key) {
			t.Errorf("%s: the watcher says alive=%v, the sketch %v", key, got, sketch.alive(key))
		}
		if got {
			aliveCount++
		}
	}
	if want := n - n/7; aliveCount != want {
		t.Errorf("%d keys alive, want %d", aliveCount, want)
	}
}

// TestHeartbeatWatcher checks the heartbeat reference on the test server:
// an agent whose heartbeat is older than two periods reads dead.
func TestHeartbeatWatcher(t *testing.T) {
	ctx := context.Background()
	d := sharedServer(t).newDatabase(t, "heartbeattest")
	h := heartbeats{coll: d.mongo.Collection("heartbeats")}
	if _, err := h.setup(ctx); err != nil {
		t.Fatal(err)
	}
	now := benchStart
	if err := h.seed(ctx, 3, func(i int) time.Time { return now.Add(-time.Duration(i) * heartbeatEvery) }); err != nil {
		t.Fatal(err)
	}
	w := newHeartbeatWatcher(h)
	var changes []liveness.Change
	note := func(key string, alive bool) { changes = append(changes, liveness.Change{Key: key, Alive: alive}) }
	if err := w.sync(ctx, now, note); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 3 {
		t.Fatalf("first sync: %v, want three agents alive", changes)
	}
	changes = nil
	if err := h.beat(ctx, heartbeatKey(0), now.Add(benchPeriod)); err != nil {
		t.Fatal(err)
	}
	// At now + 1.5 periods, unit-2 (last seen 1.5 periods before now) has
	// been silent for three periods; unit-1 for 2.25.
	if err := w.sync(ctx, now.Add(benchPeriod*3/2), note); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 || changes[0].Alive || changes[1].Alive {
		t.Fatalf("second sync: %v, want unit-1 and unit-2 dead", changes)
	}
}
