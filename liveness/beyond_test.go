package liveness_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/liveness"
)

// What goes beyond Juju's API: watching a whole model, listing who is
// alive, and a stop that watchers see at once.

// TestWatchModelSeesEveryKeyAndLaterOnes watches a model with one channel
// and no key named: it gets the state of every key with a sequence in the
// live slots, in key order, then every change, of keys that appear after
// it started too; keys of other models never come.
func TestWatchModelSeesEveryKeyAndLaterOnes(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		e.pinger(modelA, "machine-1", pb)
		e.pinger(modelA, "machine-0", pb)
		e.kill(e.pinger(modelA, "killed", pb))
		e.pinger(modelB, "elsewhere", pb)
		flushAndSync(t, pb, w)

		ch := make(chan liveness.Change, 20)
		w.WatchModel(ch)
		assertChange(t, ch, liveness.Change{Key: "killed", Alive: false})
		assertChange(t, ch, liveness.Change{Key: "machine-0", Alive: true})
		assertChange(t, ch, liveness.Change{Key: "machine-1", Alive: true})
		w.Sync()
		assertNoChange(t, ch)

		late := e.pinger(modelA, "unit-mysql-0", pb)
		flushAndSync(t, pb, w)
		assertChange(t, ch, liveness.Change{Key: "unit-mysql-0", Alive: true})
		e.kill(late)
		w.Sync()
		assertChange(t, ch, liveness.Change{Key: "unit-mysql-0", Alive: false})
		assertNoChange(t, ch)
	})
}

// TestUnwatchModelDropsQueuedEvents queues a model watch's events on a
// channel nobody reads: UnwatchModel drops them (Sync returns, which it
// does only once nothing is queued), keeps the event of a key the same
// channel watches by name, and no later change of another key comes.
func TestUnwatchModelDropsQueuedEvents(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		e.pinger(modelA, "a", pb)
		e.pinger(modelA, "b", pb)
		flushAndSync(t, pb, w)

		unread := make(chan liveness.Change)
		w.WatchModel(unread)
		w.UnwatchModel(unread)
		w.Sync()
		assertNoChange(t, unread)

		// The same unread channel watches a by name and the whole model:
		// UnwatchModel leaves Watch's event.
		both := make(chan liveness.Change)
		w.Watch("a", both)
		w.WatchModel(both)
		w.UnwatchModel(both)
		assertChange(t, both, liveness.Change{Key: "a", Alive: true})
		e.pinger(modelA, "c", pb)
		flushAndSync(t, pb, w)
		assertNoChange(t, both)
		if got := w.Report()["model-watches"]; got != 0 {
			t.Errorf("model-watches = %v after UnwatchModel", got)
		}
	})
}

// TestAliveKeysListsWhoIsAlive lists the alive keys in one call, sorted,
// killed and expired keys left out; a fresh watcher answers once it has
// read, as Alive does.
func TestAliveKeysListsWhoIsAlive(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		for _, key := range []string{"unit-2", "machine-0", "unit-10"} {
			e.pinger(modelA, key, pb)
		}
		e.kill(e.pinger(modelA, "killed", pb))
		e.stop(e.pinger(modelA, "stopped", pb))
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		w := e.watcher(modelA)
		keys, err := w.AliveKeys()
		want := []string{"machine-0", "stopped", "unit-10", "unit-2"}
		if err != nil || !slices.Equal(keys, want) {
			t.Fatalf("AliveKeys = %q, %v; want %q", keys, err, want)
		}
		e.advance(period)
		e.advance(period) // the stopped key's last ping expires
		w.Sync()
		keys, err = w.AliveKeys()
		if want := []string{"machine-0", "unit-10", "unit-2"}; err != nil || !slices.Equal(keys, want) {
			t.Fatalf("two periods on, AliveKeys = %q, %v; want %q", keys, err, want)
		}
		if err := w.Stop(); err != nil {
			t.Fatal(err)
		}
		if _, err := w.AliveKeys(); !errors.Is(err, liveness.ErrDying) {
			t.Errorf("AliveKeys on a stopped watcher = %v", err)
		}
	})
}

// TestGracefulStop stops a pinger made WithGracefulStop: watchers see the
// key dead at their next read, not two periods later; a later Start takes
// a new sequence and the key reads alive again. Without the option, Stop
// writes nothing, as in Juju.
func TestGracefulStop(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		graceful := liveness.NewPinger(e.store, modelA, "graceful", pb, e.opts(liveness.WithGracefulStop(true))...)
		t.Cleanup(func() { graceful.Stop() })
		e.startPinger(graceful)
		quiet := e.pinger(modelA, "quiet", pb)
		flushAndSync(t, pb, w)
		ch := watch(t, w, "graceful", true)

		e.stop(graceful)
		w.Sync()
		assertChange(t, ch, liveness.Change{Key: "graceful", Alive: false})

		// The default Stop writes nothing: the key stays alive until its
		// last ping expires.
		pingsBefore := e.count("presence.pings")
		var before bsonDocs = e.raw("presence.pings", bson.D{})
		e.stop(quiet)
		w.Sync()
		assertAlive(t, w, "quiet", true)
		if after := e.raw("presence.pings", bson.D{}); !before.equal(after) || e.count("presence.pings") != pingsBefore {
			t.Errorf("a quiet Stop changed the slot documents")
		}

		e.startPinger(graceful)
		flushAndSync(t, pb, w)
		assertChange(t, ch, liveness.Change{Key: "graceful", Alive: true})
		assertNoChange(t, ch)
		if seq := graceful.Report()["seq"]; seq == int64(1) {
			t.Errorf("the restart kept sequence %v", seq)
		}
	})
}

// bsonDocs are raw documents, compared byte for byte.
type bsonDocs [][]byte

func (d bsonDocs) equal(other [][]byte) bool {
	return slices.EqualFunc(d, other, func(a, b []byte) bool { return string(a) == string(b) })
}

// TestCollectorExposesAliveKeys checks that the collector exposes a series
// per key a watcher finds alive, and only the count past
// MaxAliveKeySeries.
func TestCollectorExposesAliveKeys(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		e.pinger(modelA, "machine-0", pb)
		e.pinger(modelA, "machine-1", pb)
		e.kill(e.pinger(modelA, "killed", pb))
		flushAndSync(t, pb, w)

		reg := prometheus.NewPedanticRegistry()
		if err := reg.Register(liveness.NewCollector("presence", w)); err != nil {
			t.Fatal(err)
		}
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		truncated := -1.0
		for _, family := range families {
			switch family.GetName() {
			case "presence_watcher_alive_key":
				for _, m := range family.GetMetric() {
					keys = append(keys, labelOf(m, "model")+"/"+labelOf(m, "key"))
				}
			case "presence_watcher_alive_keys_truncated":
				truncated = family.GetMetric()[0].GetGauge().GetValue()
			}
		}
		slices.Sort(keys)
		want := []string{modelA + "/machine-0", modelA + "/machine-1"}
		if !slices.Equal(keys, want) || truncated != 0 {
			t.Errorf("alive key series %q, truncated %v; want %q and 0", keys, truncated, want)
		}
	})
}

func labelOf(m *dto.Metric, name string) string {
	for _, label := range m.GetLabel() {
		if label.GetName() == name {
			return label.GetValue()
		}
	}
	return fmt.Sprintf("<no %s>", name)
}
