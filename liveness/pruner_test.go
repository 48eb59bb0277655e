package liveness_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"regexp"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/internal/wirebridge"
	"github.com/presence-go/presence/liveness"
)

// Sizes of TestPruneGrowthIsBounded. A watcher prunes at random, on
// average every 20 periods and at the latest every 120; each round is one
// period and one start per key. More rounds than 120 + 4 let a watcher that
// never pruned break both peaks the test allows (one ping document per
// period, one being per key and period), so the bounds it checks say
// something however few keys there are; the keys are few so that the
// test's thousand-odd writes stay cheap.
const (
	growthKeys   = 5
	growthRounds = 150
)

// TestPruneGrowthIsBounded restarts a few keys at every period for well
// over the longest gap between a watcher's prunes, with the watcher's own
// pruning on, and checks what is left.
func TestPruneGrowthIsBounded(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		const keys, restarts = growthKeys, growthRounds
		pb := e.batcher()
		w := liveness.NewWatcher(e.store, modelA, e.opts()...) // pruning on
		e.addTimers(1)
		defer func() {
			if err := w.Stop(); err != nil {
				t.Errorf("stopping watcher: %v", err)
			}
		}()
		pingers := make([]*liveness.Pinger, keys)
		for i := range pingers {
			pingers[i] = e.pinger(modelA, fmt.Sprintf("key-%d", i), pb)
		}
		maxBeings, maxPings := 0, 0
		for round := 1; round < restarts; round++ {
			for _, p := range pingers {
				e.stop(p)
				e.startPinger(p)
			}
			if err := pb.Sync(); err != nil {
				t.Fatal(err)
			}
			e.advance(period) // the watcher's tick: it syncs and may prune
			w.Sync()
			maxBeings = max(maxBeings, e.count("presence.beings"))
			maxPings = max(maxPings, e.count("presence.pings"))
		}
		for i := range pingers {
			assertAlive(t, w, fmt.Sprintf("key-%d", i), true)
		}
		before := e.count("presence.beings")
		if err := e.pruner(modelA).Prune(nil); err != nil {
			t.Fatal(err)
		}
		beings, pings := e.count("presence.beings"), e.count("presence.pings")
		t.Logf("%d starts: at most %d beings and %d pings at once; %d beings before the last prune, %d beings and %d pings after",
			keys*restarts, maxBeings, maxPings, before, beings, pings)
		// Each key keeps its newest sequence; the superseded ones still
		// pinged in the previous live slot and in the one before it (kept
		// as a margin for watchers whose clocks lag) survive too.
		if beings > 3*keys {
			t.Errorf("%d beings left, want at most %d", beings, 3*keys)
		}
		if pings > 4 {
			t.Errorf("%d ping documents left, want at most 4", pings)
		}
		// Between prunes pings grow by one a period; a watcher prunes at
		// least every 120 periods.
		if maxPings > 120+4 {
			t.Errorf("up to %d ping documents at once", maxPings)
		}
		// Prunes come at random but at least every 120 periods, and each
		// period adds one being per key: that bounds the peak, whatever
		// the draws.
		if maxBeings > keys*(120+3) {
			t.Errorf("up to %d beings at once: pruning did not keep up", maxBeings)
		}
	})
}

// TestPruneNeverHidesALiveKey restarts pingers concurrently and prunes at
// every sync; no watcher, old or new, may ever read a live key as dead.
func TestPruneNeverHidesALiveKey(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		const keys, rounds = 20, 40
		pb := e.batcher()
		watchers := []*liveness.Watcher{e.watcher(modelA), e.watcher(modelA)}
		pingers := make([]*liveness.Pinger, keys)
		for i := range pingers {
			pingers[i] = e.pinger(modelA, fmt.Sprintf("key-%d", i), pb)
		}
		pruner := e.pruner(modelA)
		for round := 0; round < rounds; round++ {
			// Restart every pinger, from many goroutines at once.
			var wg sync.WaitGroup
			errs := make(chan error, keys)
			for _, p := range pingers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := p.Stop(); err != nil {
						errs <- err
						return
					}
					if err := p.Start(); err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if err := pb.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := pruner.Prune(nil); err != nil {
				t.Fatal(err)
			}
			fresh := liveness.NewWatcher(e.store, modelA, e.opts(liveness.WithPruning(false))...)
			for _, w := range append(watchers, fresh) {
				w.Sync()
				for i := range pingers {
					key := fmt.Sprintf("key-%d", i)
					if alive, err := w.Alive(key); err != nil || !alive {
						t.Fatalf("round %d: %s reads %s as alive=%v (%v)", round, w, key, alive, err)
					}
				}
			}
			if err := fresh.Stop(); err != nil {
				t.Fatal(err)
			}
			if err := pruner.Prune(nil); err != nil {
				t.Fatal(err)
			}
			if round%2 == 1 {
				e.advance(period)
			}
		}
	})
}

// being is a being document as Juju writes it.
func being(model string, seq int64, key string) bson.D {
	return bson.D{{Key: "_id", Value: docID(model, seq)}, {Key: "seq", Value: seq}, {Key: "key", Value: key}}
}

// slotDoc is a slot document as Juju writes it; alive and dead hold the
// bits of field "0", and a zero leaves its part out.
func slotDoc(model string, slotNum, alive, dead int64) bson.D {
	doc := bson.D{{Key: "_id", Value: docID(model, slotNum)}, {Key: "slot", Value: slotNum}}
	if alive != 0 {
		doc = append(doc, bson.E{Key: "alive", Value: bson.D{{Key: "0", Value: alive}}})
	}
	if dead != 0 {
		doc = append(doc, bson.E{Key: "dead", Value: bson.D{{Key: "0", Value: dead}}})
	}
	return doc
}

// TestPruneTrimsMemCache pins Juju's meaning of memCache: the caller's
// seq→key cache never shields a being from removal, and Prune deletes from
// it every sequence no longer in a live slot, so the cache stays bounded.
func TestPruneTrimsMemCache(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		uuid := modelA
		e.insert("presence.beings", being(uuid, 1, "k"), being(uuid, 2, "k"), being(uuid, 3, "k"), being(uuid, 4, "other"))
		// Only seq 3 has a bit in a live slot.
		e.insert("presence.pings", slotDoc(uuid, startSlot, 1<<3, 0))
		memCache := map[int64]string{1: "k", 2: "k", 3: "k", 4: "other"}
		if err := e.pruner(modelA).Prune(memCache); err != nil {
			t.Fatal(err)
		}
		e.assertIDs("presence.beings", uuid+":3", uuid+":4")
		if want := map[int64]string{3: "k"}; !maps.Equal(memCache, want) {
			t.Errorf("memCache after Prune = %v, want %v", memCache, want)
		}
	})
}

func TestPruneKeepsSequencesInLiveSlots(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		uuid := modelA
		e.insert("presence.beings", being(uuid, 1, "k"), being(uuid, 2, "k"), being(uuid, 3, "k"), being(uuid, 4, "k"))
		// Seq 1 pinged in the previous slot, seq 2 was killed in the
		// current one; seq 3 pinged long ago, in a slot that is pruned.
		old := startSlot - 10*30
		e.insert("presence.pings",
			slotDoc(uuid, old, 1<<3, 0),
			slotDoc(uuid, startSlot-30, 1<<1, 0),
			slotDoc(uuid, startSlot, 0, 1<<2),
		)
		if err := e.pruner(modelA).Prune(nil); err != nil {
			t.Fatal(err)
		}
		e.assertIDs("presence.beings", uuid+":1", uuid+":2", uuid+":4")
		e.assertIDs("presence.pings", docID(uuid, startSlot-30), docID(uuid, startSlot))
	})
}

func TestPruneRemovesPingsOlderThanThreePeriods(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		uuid := modelA
		var want []string
		for i := int64(0); i < 8; i++ {
			s := startSlot - i*30
			e.insert("presence.pings", slotDoc(uuid, s, 1, 0))
			if i <= 3 {
				want = append(want, docID(uuid, s))
			}
		}
		if err := e.pruner(modelA).Prune(nil); err != nil {
			t.Fatal(err)
		}
		e.assertIDs("presence.pings", want...)
	})
}

// snapshot returns the raw bytes of every document of a model, by
// collection, sorted by _id.
func (e *env) snapshot(model string) map[string][][]byte {
	e.t.Helper()
	out := map[string][][]byte{}
	query := bson.D{{Key: "_id", Value: bson.Regex{Pattern: "^" + regexp.QuoteMeta(model) + ":"}}}
	for _, name := range []string{"presence.seqs", "presence.beings", "presence.pings"} {
		if docs := e.raw(name, query); len(docs) > 0 {
			out[name] = docs
		}
	}
	return out
}

func sameSnapshot(a, b map[string][][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for c, docs := range a {
		if len(docs) != len(b[c]) {
			return false
		}
		for i := range docs {
			if !bytes.Equal(docs[i], b[c][i]) {
				return false
			}
		}
	}
	return true
}

// TestPruneAndRemoveLeaveOtherModelsAlone prunes and removes a model whose
// id is a prefix of another's, and checks the other's documents byte for
// byte. Model UUIDs have one length, so only ids that Juju's face takes,
// such as those of Juju's tests, can be prefixes of each other.
func TestPruneAndRemoveLeaveOtherModelsAlone(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		short, long := "test-uuid", "test-uuid-2"
		juju := e.opts(liveness.WithJujuFace(true))
		pb := e.batcher()
		for _, model := range []string{short, long} {
			for i := 0; i < 3; i++ {
				p := liveness.NewPinger(e.store, model, "k", pb, juju...) // each start supersedes the last
				e.startPinger(p)
				e.stop(p)
			}
			e.insert("presence.pings", slotDoc(model, startSlot-10*30, 1, 0))
		}
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		// Let the stopped pingers' slots leave the live window, so that
		// their superseded beings are fair game.
		e.advance(3 * period)
		before := e.snapshot(long)
		if err := liveness.NewPruner(e.store, short, 0, juju...).Prune(nil); err != nil {
			t.Fatal(err)
		}
		if after := e.snapshot(long); !sameSnapshot(before, after) {
			t.Fatalf("pruning %s changed %s:\nbefore %v\nafter  %v", short, long, before, after)
		}
		if got := len(e.snapshot(short)["presence.beings"]); got != 1 {
			t.Errorf("pruning left %d beings of %s, want 1", got, short)
		}
		if err := liveness.RemovePresenceForModel(context.Background(), e.store, short, juju...); err != nil {
			t.Fatal(err)
		}
		if after := e.snapshot(long); !sameSnapshot(before, after) {
			t.Fatalf("removing %s changed %s", short, long)
		}
		for c, docs := range e.snapshot(short) {
			if len(docs) != 0 {
				t.Errorf("%d documents of %s left in %s", len(docs), short, c)
			}
		}
	})
}

// TestRemovePresenceForModelRejectsMalformedModel removes a model whose id
// is empty or holds ':': a caller's mistake, and nothing is removed.
func TestRemovePresenceForModelRejectsMalformedModel(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		e.pinger(modelA, "k", pb)
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		for _, c := range malformedModels {
			err := liveness.RemovePresenceForModel(context.Background(), e.store, c.uuid)
			assertNotValid(t, "RemovePresenceForModel of "+c.uuid, err, c.errIs)
		}
		if n := e.count("presence.seqs") + e.count("presence.beings") + e.count("presence.pings"); n != 3 {
			t.Errorf("%d documents left, want 3", n)
		}
	})
}

// TestPrunePreviewRemovesNothing asks what a prune would remove, checks
// that nothing went, then prunes and finds exactly that gone.
func TestPrunePreviewRemovesNothing(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		uuid := modelA
		for seq, key := range map[int64]string{1: "a", 2: "a", 3: "a", 4: "b", 5: "c", 6: "c"} {
			e.insert("presence.beings", being(uuid, seq, key))
		}
		e.insert("presence.pings",
			slotDoc(uuid, startSlot-10*30, 1<<1, 0),
			// Seq 2 is superseded by 3 but still live: it stays.
			slotDoc(uuid, startSlot, 1<<2, 0),
		)
		pruner := e.pruner(modelA)
		would, err := pruner.Preview(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := (liveness.PruneCounts{Beings: 2, Pings: 1}); would != want {
			t.Errorf("Preview = %+v, want %+v", would, want)
		}
		if n := e.count("presence.beings"); n != 6 {
			t.Errorf("Preview removed beings: %d left", n)
		}
		if n := e.count("presence.pings"); n != 2 {
			t.Errorf("Preview removed pings: %d left", n)
		}
		if err := pruner.Prune(nil); err != nil {
			t.Fatal(err)
		}
		e.assertIDs("presence.beings", uuid+":2", uuid+":3", uuid+":4", uuid+":6")
		e.assertIDs("presence.pings", docID(uuid, startSlot))
	})
}

// TestPruneWaitsForTheServerClock has the server's clock 3.5 periods
// behind this host's. A watcher that has not yet read the database has not
// measured that, and must not prune: judged on this host's clock, the
// model's live slot documents would look old. Once it has read, it prunes
// with the delta it measured, which a fresh sample of the server's clock
// confirms: the old slot goes and the live ones stay.
func TestPruneWaitsForTheServerClock(t *testing.T) {
	forEachFaceWithFaults(t, func(t *testing.T, e *env, bridge *wirebridge.Bridge) {
		serverDelta := -7 * period / 2
		bridge.SetClock(e.clock.Now)
		defer bridge.SetClock(nil)
		bridge.SetClockOffset(serverDelta)
		defer bridge.SetClockOffset(0)
		const model = modelB
		current := slot.At(e.clock.Now(), serverDelta, period)
		for _, s := range []int64{current - 150, current - 30, current} {
			e.insert("presence.pings", slotDoc(model, s, 2, 0))
		}
		w := liveness.NewIdleWatcher(e.store, model, liveness.WithClock(e.clock), liveness.WithPeriod(period))
		defer func() {
			if err := w.Stop(); err != nil {
				t.Errorf("stopping the watcher: %v", err)
			}
		}()

		pruned, err := w.PruneNow()
		if err != nil {
			t.Fatal(err)
		}
		if pruned {
			t.Errorf("a watcher that has not read the server's clock started a prune")
		}
		if n := e.count("presence.pings"); n != 3 {
			t.Fatalf("a watcher that has not read the server's clock pruned %d of 3 slot documents", 3-n)
		}

		w.SetRead(e.clock.Now(), serverDelta)
		pruned, err = w.PruneNow()
		if err != nil {
			t.Fatal(err)
		}
		if !pruned {
			t.Fatalf("a watcher that has read the server's clock did not prune")
		}
		e.assertIDs("presence.pings", docID(model, current-30), docID(model, current))
	})
}
