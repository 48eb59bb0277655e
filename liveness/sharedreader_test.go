package liveness_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/internal/testserver"
	"github.com/presence-go/presence/internal/wirebridge"
	"github.com/presence-go/presence/liveness"
)

// The shared reader: the watchers of one store poll together. Every test
// of this package runs with it, since it is on by default; these pin down
// what is its own: the requests a poll makes, which watchers share one,
// a fleet of shared and per-model watchers on one database, one model's
// corrupt documents, and failed polls. Those that need to hold a poll or
// watch every operation run on memstore (sharedreader_mem_test.go).

// sharedModels returns n model UUIDs, in order.
func sharedModels(n int) []string {
	models := make([]string, n)
	for i := range models {
		models[i] = fmt.Sprintf("5ba4ed00-0000-4000-8000-%012d", i)
	}
	return models
}

// countingBridge returns the bridge whose counters the test reads, and
// skips the test when there is none (against an external server).
func countingBridge(t *testing.T) *wirebridge.Bridge {
	t.Helper()
	bridge := testserver.Shared(t).Bridge()
	if bridge == nil {
		t.Skip("skipped: counting commands needs the bridge, absent with PRESENCE_TEST_MONGODB")
	}
	return bridge
}

// TestSharedPollReadsEveryModelAtOnce has the watchers of five models
// poll when their period is up, each model's agent new to its watcher:
// the live slots of the five models come in one request, and the beings
// of their new sequences in one more.
func TestSharedPollReadsEveryModelAtOnce(t *testing.T) {
	bridge := countingBridge(t)
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		models := sharedModels(5)
		chans := make([]chan liveness.Change, len(models))
		for i, model := range models {
			chans[i] = watch(t, e.watcher(model), "k", false)
		}
		for _, model := range models {
			e.pinger(model, "k", pb)
		}
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		bridge.ResetStats()
		e.advance(period)
		for _, ch := range chans {
			assertChange(t, ch, liveness.Change{Key: "k", Alive: true})
		}
		st := bridge.Stats()
		if got := st.Commands["find"]; got != 2 {
			t.Errorf("%d finds in a period; want 2: the live slots of five models, then the beings of their new sequences", got)
		}
		if got := st.Commands["getMore"]; got != 0 {
			t.Errorf("%d getMores in a period; want none: each reply holds every document asked for", got)
		}
	})
}

// TestWatchersShareAReaderAsTheyShareAClock checks who shares a reader:
// the watchers of stores of one connection and the same collections, one
// clock and one period, and they only; and the reader reads by the
// server clock they share.
func TestWatchersShareAReaderAsTheyShareAClock(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		start := func(store liveness.Store, extra ...liveness.Option) *liveness.Watcher {
			t.Helper()
			w := liveness.NewWatcher(store, modelA, e.opts(append([]liveness.Option{liveness.WithPruning(false)}, extra...)...)...)
			t.Cleanup(func() {
				if err := w.Stop(); err != nil {
					t.Errorf("stopping watcher: %v", err)
				}
			})
			return w
		}
		first := start(e.store)
		if liveness.ReaderOf(first) == nil {
			t.Fatal("a watcher of a store of the test database has no shared reader")
		}
		if liveness.ReaderOf(start(e.store)) != liveness.ReaderOf(first) {
			t.Error("two watchers of one store do not share a reader")
		}
		if liveness.ReaderOf(start(e.storeOf(t, baseName))) != liveness.ReaderOf(first) {
			t.Error("watchers of two stores of one connection and the same collections do not share a reader")
		}
		if liveness.ReaderOf(start(e.storeOf(t, "other"))) == liveness.ReaderOf(first) {
			t.Error("watchers of other collections share a reader")
		}
		if liveness.ReaderOf(start(e.store, liveness.WithPeriod(2*period))) == liveness.ReaderOf(first) {
			t.Error("watchers of another period share a reader")
		}
		if r := liveness.ReaderOf(start(e.store, liveness.WithSharedReader(false))); r != nil {
			t.Error("a watcher told not to share a reader has one")
		}
		measured := start(e.store, liveness.WithClockSkew(true))
		if !liveness.ReaderSharesClock(measured) {
			t.Error("a watcher's shared reader does not read by the watcher's server clock")
		}
	})
}

// TestMixedFleetAgreesAtEveryCheckpoint runs, on one database, watchers of
// three models on each face, sharing a reader and polling on their own,
// through restarts, kills, quiet stops and new agents: at every
// checkpoint they all tell the same keys, sequences and slots, and in the
// end they have sent the same changes.
func TestMixedFleetAgreesAtEveryCheckpoint(t *testing.T) {
	onMgo, onOfficial := bothFaces(t)
	// The watchers go by a clock of their own, which moves once the
	// pingers' pings of the period are written: every watcher then reads
	// the same documents, whenever it reads them.
	watching := &env{t: t, driven: newDriven(t)}
	models := sharedModels(3)
	type follower struct {
		name string
		w    *liveness.Watcher
		ch   chan liveness.Change
	}
	followers := make(map[string][]follower)
	for _, model := range models {
		for _, e := range []*env{onMgo, onOfficial} {
			for _, shared := range []bool{true, false} {
				w := liveness.NewWatcher(e.store, model, watching.opts(liveness.WithPruning(false), liveness.WithSharedReader(shared))...)
				watching.addTimers(1)
				t.Cleanup(func() {
					if err := w.Stop(); err != nil {
						t.Errorf("stopping watcher: %v", err)
					}
				})
				ch := make(chan liveness.Change, 1000)
				w.WatchModel(ch)
				name := fmt.Sprintf("%s watcher (shared reader %v)", e.face, shared)
				followers[model] = append(followers[model], follower{name, w, ch})
			}
		}
	}

	pb := onMgo.batcher()
	agents := make(map[string][]*liveness.Pinger)
	running := make(map[string]map[string]bool) // model → key → pinging
	start := func(model string, i int) {
		key := fmt.Sprintf("unit-%d", i)
		if i < len(agents[model]) {
			onMgo.startPinger(agents[model][i])
		} else {
			agents[model] = append(agents[model], onMgo.pinger(model, key, pb))
		}
		if running[model] == nil {
			running[model] = make(map[string]bool)
		}
		running[model][key] = true
	}
	checkpoint := func(round int) {
		t.Helper()
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		onMgo.advance(period)
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		watching.advance(period)
		for _, model := range models {
			var want []liveness.KeyState
			for i, f := range followers[model] {
				got, err := f.w.KeyStates()
				if err != nil {
					t.Fatalf("round %d, model %s, %s: %v", round, model, f.name, err)
				}
				if i == 0 {
					want = got
					continue
				}
				if !slices.Equal(got, want) {
					t.Errorf("round %d, model %s: %s tells %+v, %s %+v", round, model, f.name, got, followers[model][0].name, want)
				}
			}
			alive := make(map[string]bool)
			for _, s := range want {
				alive[s.Key] = s.Alive
			}
			for key, pinging := range running[model] {
				if pinging && !alive[key] {
					t.Errorf("round %d, model %s: running %s reads dead", round, model, key)
				}
			}
		}
	}

	for _, model := range models {
		for i := range 4 {
			start(model, i)
		}
	}
	checkpoint(0)
	for _, model := range models {
		onMgo.kill(agents[model][0])
		running[model]["unit-0"] = false
		onMgo.stop(agents[model][1])
		start(model, 1) // a restart: a new sequence
	}
	checkpoint(1)
	for _, model := range models {
		onMgo.stop(agents[model][2]) // quietly: it expires
		running[model]["unit-2"] = false
		start(model, 4)
	}
	for round := 2; round < 5; round++ {
		checkpoint(round)
	}
	for _, model := range models {
		start(model, 0)
		start(model, 2)
	}
	for round := 5; round < 8; round++ {
		checkpoint(round)
	}

	// Every change is delivered once Sync returns: each follower of a
	// model has sent the same changes of each key, in the same order.
	for _, model := range models {
		var want map[string][]bool
		for i, f := range followers[model] {
			f.w.Sync()
			got := make(map[string][]bool)
			for len(f.ch) > 0 {
				c := <-f.ch
				got[c.Key] = append(got[c.Key], c.Alive)
			}
			if i == 0 {
				want = got
				continue
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("model %s: %s sent %v, %s %v", model, f.name, got, followers[model][0].name, want)
			}
		}
		if len(want["unit-0"]) < 3 {
			t.Errorf("model %s: unit-0, started, killed and started again, had changes %v", model, want["unit-0"])
		}
	}
}

// TestCorruptDocumentOfOneModelBlindsNoOther polls two models with one
// request while one of them holds a slot document and a being someone
// wrote wrong: that model's watcher reports them and reads the rest, and
// the other's reads its model as ever.
func TestCorruptDocumentOfOneModelBlindsNoOther(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		wA, wB := e.watcher(modelA), e.watcher(modelB)
		chA, chB := watch(t, wA, "good", false), watch(t, wB, "b", false)

		next := startSlot + int64(period/time.Second)
		e.insert("presence.beings",
			bson.M{"_id": docID(modelA, 1), "seq": int64(1), "key": "good"},
			bson.M{"_id": docID(modelA, 2), "seq": int64(2), "key": int64(42)}, // key not a string
		)
		e.insert("presence.pings",
			bson.M{"_id": docID(modelA, startSlot), "slot": startSlot, "alive": bson.M{"0": int64(1<<1 | 1<<2)}},
			bson.M{"_id": docID(modelA, next), "slot": next, "alive": "garbage", "dead": bson.A{int64(1 << 1)}},
		)
		e.pinger(modelB, "b", pb)
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		e.advance(period)
		assertChange(t, chB, liveness.Change{Key: "b", Alive: true})
		assertChange(t, chA, liveness.Change{Key: "good", Alive: true})
		if got := wA.Report()["corrupt-documents"]; got != 2 {
			t.Errorf("the watcher of the model with corrupt documents counted %v; want 2", got)
		}
		if got := wB.Report()["corrupt-documents"]; got != 0 {
			t.Errorf("the watcher of the sound model counted %v corrupt documents; want 0", got)
		}
		for _, w := range []*liveness.Watcher{wA, wB} {
			if syncs, _ := w.Report()["syncs"].(int64); syncs != 2 {
				t.Errorf("%v synced %d times; want 2: its first read, then the shared poll", w, syncs)
			}
		}
	})
}

// TestFailedPollsMakeEveryViewStale cuts the database under the watchers
// of two models that share a reader: each counts the failed polls as its
// own failed reads, answers with an error rather than from a view older
// than a period, and reads again by itself once the database is back.
func TestFailedPollsMakeEveryViewStale(t *testing.T) {
	forEachFaceWithFaults(t, func(t *testing.T, e *env, bridge *wirebridge.Bridge) {
		var watchers []*liveness.Watcher
		for _, model := range []string{modelA, modelB} {
			w := liveness.NewWatcher(e.store, model, e.opts(liveness.WithPruning(false), liveness.WithOutageTolerance(10*period))...)
			e.addTimers(1)
			t.Cleanup(func() { w.Stop() })
			assertAlive(t, w, "k", false)
			watchers = append(watchers, w)
		}

		end := outage(bridge)
		e.advance(period) // a poll that fails
		e.advance(period) // and a retry that fails
		for _, w := range watchers {
			_, err := w.Alive("k")
			if err == nil || !strings.Contains(err.Error(), "reads have failed since") {
				t.Errorf("%v: Alive on a stale view = %v; want an error saying reads fail", w, err)
			}
			if failures, _ := w.Report()["sync-failures"].(int64); failures < 2 {
				t.Errorf("%v counted %d failed reads; want at least 2", w, failures)
			}
		}

		end()
		// The first poll after an outage may meet a connection the
		// outage broke; the retries that follow go through.
		for i := 0; i < 5 && !allFresh(watchers); i++ {
			e.advance(period)
		}
		for _, w := range watchers {
			assertAlive(t, w, "k", false)
		}
	})
}

// allFresh reports whether every watcher answers without an error.
func allFresh(watchers []*liveness.Watcher) bool {
	for _, w := range watchers {
		if _, err := w.Alive("k"); err != nil {
			return false
		}
	}
	return true
}
