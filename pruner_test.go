package presence_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/juju/mgo/v2"
	"github.com/juju/mgo/v2/bson"
	"github.com/juju/names/v4"

	"github.com/presence-go/presence"
)

func (e *env) pruner(model names.ModelTag) *presence.Pruner {
	return presence.NewPrunerWithOptions(model.Id(), e.db.C("presence.beings"), e.db.C("presence.pings"), 0, e.opts()...)
}

func (e *env) count(collection string) int {
	e.t.Helper()
	n, err := e.db.C(collection).Count()
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestPruneGrowthIsBounded restarts 50 keys 200 times each over 200 slot
// periods with the watcher's own pruning on, and checks what is left.
func TestPruneGrowthIsBounded(t *testing.T) {
	const keys, restarts = 50, 200
	e := newEnv(t)
	pb := e.batcher()
	w := presence.NewWatcherWithOptions(e.base, modelA, e.opts()...) // pruning on
	e.addTimers(1)
	defer func() {
		if err := w.Stop(); err != nil {
			t.Errorf("stopping watcher: %v", err)
		}
	}()
	pingers := make([]*presence.Pinger, keys)
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
	// Each key keeps its newest sequence; the superseded ones still pinged
	// in the previous live slot and in the one before it (kept as a margin
	// for watchers whose clocks lag) survive too.
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
	// period adds one being per key: that bounds the peak, whatever the
	// draws.
	if maxBeings > keys*(120+3) {
		t.Errorf("up to %d beings at once: pruning did not keep up", maxBeings)
	}
}

// TestPruneNeverHidesALiveKey restarts pingers concurrently and prunes at
// every sync; no watcher, old or new, may ever read a live key as dead.
func TestPruneNeverHidesALiveKey(t *testing.T) {
	const keys, rounds = 20, 40
	e := newEnv(t)
	pb := e.batcher()
	watchers := []*presence.Watcher{e.watcher(modelA), e.watcher(modelA)}
	pingers := make([]*presence.Pinger, keys)
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
		fresh := presence.NewWatcherWithOptions(e.base, modelA, e.opts(presence.WithPruning(false))...)
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
}

// TestPruneTrimsMemCache pins Juju's meaning of memCache: the caller's
// seq→key cache never shields a being from removal, and Prune deletes from
// it every sequence no longer in a live slot, so the cache stays bounded.
func TestPruneTrimsMemCache(t *testing.T) {
	e := newEnv(t)
	uuid := modelA.Id()
	insert(t, e.db.C("presence.beings"),
		bson.M{"_id": uuid + ":1", "seq": int64(1), "key": "k"},
		bson.M{"_id": uuid + ":2", "seq": int64(2), "key": "k"},
		bson.M{"_id": uuid + ":3", "seq": int64(3), "key": "k"},
		bson.M{"_id": uuid + ":4", "seq": int64(4), "key": "other"},
	)
	// Only seq 3 has a bit in a live slot.
	insert(t, e.db.C("presence.pings"),
		bson.M{"_id": uuid + ":" + itoa(startSlot), "slot": startSlot, "alive": bson.M{"0": int64(1 << 3)}})
	memCache := map[int64]string{1: "k", 2: "k", 3: "k", 4: "other"}
	if err := e.pruner(modelA).Prune(memCache); err != nil {
		t.Fatal(err)
	}
	assertIDs(t, e.db.C("presence.beings"), uuid+":3", uuid+":4")
	if want := map[int64]string{3: "k"}; !maps.Equal(memCache, want) {
		t.Errorf("memCache after Prune = %v, want %v", memCache, want)
	}
}

func TestPruneKeepsSequencesInLiveSlots(t *testing.T) {
	e := newEnv(t)
	uuid := modelA.Id()
	insert(t, e.db.C("presence.beings"),
		bson.M{"_id": uuid + ":1", "seq": int64(1), "key": "k"},
		bson.M{"_id": uuid + ":2", "seq": int64(2), "key": "k"},
		bson.M{"_id": uuid + ":3", "seq": int64(3), "key": "k"},
		bson.M{"_id": uuid + ":4", "seq": int64(4), "key": "k"},
	)
	// Seq 1 pinged in the previous slot, seq 2 was killed in the current
	// one; seq 3 pinged long ago, in a slot that is pruned.
	old := startSlot - 10*30
	insert(t, e.db.C("presence.pings"),
		bson.M{"_id": uuid + ":" + itoa(old), "slot": old, "alive": bson.M{"0": int64(1 << 3)}},
		bson.M{"_id": uuid + ":" + itoa(startSlot-30), "slot": startSlot - 30, "alive": bson.M{"0": int64(1 << 1)}},
		bson.M{"_id": uuid + ":" + itoa(startSlot), "slot": startSlot, "dead": bson.M{"0": int64(1 << 2)}},
	)
	if err := e.pruner(modelA).Prune(nil); err != nil {
		t.Fatal(err)
	}
	assertIDs(t, e.db.C("presence.beings"), uuid+":1", uuid+":2", uuid+":4")
	assertIDs(t, e.db.C("presence.pings"), uuid+":"+itoa(startSlot-30), uuid+":"+itoa(startSlot))
}

func TestPruneRemovesPingsOlderThanThreePeriods(t *testing.T) {
	e := newEnv(t)
	uuid := modelA.Id()
	var want []string
	for i := int64(0); i < 8; i++ {
		s := startSlot - i*30
		insert(t, e.db.C("presence.pings"), bson.M{"_id": uuid + ":" + itoa(s), "slot": s, "alive": bson.M{"0": int64(1)}})
		if i <= 3 {
			want = append(want, uuid+":"+itoa(s))
		}
	}
	if err := e.pruner(modelA).Prune(nil); err != nil {
		t.Fatal(err)
	}
	assertIDs(t, e.db.C("presence.pings"), want...)
}

// TestPruneAndRemoveLeaveOtherModelsAlone prunes and removes a model whose
// id is a prefix of another's, and checks the other's documents byte for
// byte.
func TestPruneAndRemoveLeaveOtherModelsAlone(t *testing.T) {
	e := newEnv(t)
	short := names.NewModelTag("test-uuid")
	long := names.NewModelTag("test-uuid-2")
	pb := e.batcher()
	for _, model := range []names.ModelTag{short, long} {
		for i := 0; i < 3; i++ {
			p := e.pinger(model, "k", pb) // each start supersedes the last
			e.stop(p)
		}
		old := startSlot - 10*30
		insert(t, e.db.C("presence.pings"), bson.M{"_id": model.Id() + ":" + itoa(old), "slot": old, "alive": bson.M{"0": int64(1)}})
	}
	if err := pb.Sync(); err != nil {
		t.Fatal(err)
	}
	// Let the stopped pingers' slots leave the live window, so that their
	// superseded beings are fair game.
	e.advance(3 * period)
	before := snapshot(t, e, long.Id())
	if err := e.pruner(short).Prune(nil); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, e, long.Id()); !sameSnapshot(before, after) {
		t.Fatalf("pruning %s changed %s:\nbefore %v\nafter  %v", short.Id(), long.Id(), before, after)
	}
	if got := len(snapshot(t, e, short.Id())["presence.beings"]); got != 1 {
		t.Errorf("pruning left %d beings of %s, want 1", got, short.Id())
	}
	if err := presence.RemovePresenceForModel(e.base, short); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, e, long.Id()); !sameSnapshot(before, after) {
		t.Fatalf("removing %s changed %s", short.Id(), long.Id())
	}
	for c, docs := range snapshot(t, e, short.Id()) {
		if len(docs) != 0 {
			t.Errorf("%d documents of %s left in %s", len(docs), short.Id(), c)
		}
	}
}

func TestRemovePresenceForModelRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	if err := presence.RemovePresenceForModel(e.base, names.ModelTag{}); err == nil || !strings.Contains(err.Error(), "empty model UUID") {
		t.Errorf("empty model: %v", err)
	}
	if err := presence.RemovePresenceForModel(nil, modelA); err == nil || !strings.Contains(err.Error(), "nil base") {
		t.Errorf("nil base: %v", err)
	}
	if err := presence.NewPruner("", e.db.C("b"), e.db.C("p"), 0).Prune(nil); err == nil || !strings.Contains(err.Error(), "empty model UUID") {
		t.Errorf("pruner of an empty model: %v", err)
	}
}

// snapshot returns the raw bytes of every document of a model, by
// collection, sorted by _id.
func snapshot(t *testing.T, e *env, modelUUID string) map[string][][]byte {
	t.Helper()
	out := map[string][][]byte{}
	for _, name := range []string{"presence.seqs", "presence.beings", "presence.pings"} {
		var docs []bson.Raw
		query := bson.M{"_id": bson.RegEx{Pattern: "^" + modelUUID + ":"}}
		if err := e.db.C(name).Find(query).Sort("_id").All(&docs); err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			out[name] = append(out[name], d.Data)
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

func assertIDs(t *testing.T, c *mgo.Collection, want ...string) {
	t.Helper()
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := c.Find(nil).All(&docs); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, d.ID)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s holds %v, want %v", c.FullName, got, want)
	}
}

// TestPrunePreviewRemovesNothing asks what a prune would remove, checks
// that nothing went, then prunes and finds exactly that gone.
func TestPrunePreviewRemovesNothing(t *testing.T) {
	e := newEnv(t)
	uuid := modelA.Id()
	for seq, key := range map[int64]string{1: "a", 2: "a", 3: "a", 4: "b", 5: "c", 6: "c"} {
		insert(t, e.db.C("presence.beings"), bson.M{"_id": uuid + ":" + itoa(seq), "seq": seq, "key": key})
	}
	old := startSlot - 10*30
	insert(t, e.db.C("presence.pings"),
		bson.M{"_id": uuid + ":" + itoa(old), "slot": old, "alive": bson.M{"0": int64(1 << 1)}},
		// Seq 2 is superseded by 3 but still live: it stays.
		bson.M{"_id": uuid + ":" + itoa(startSlot), "slot": startSlot, "alive": bson.M{"0": int64(1 << 2)}},
	)
	pruner := e.pruner(modelA)
	would, err := pruner.Preview(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (presence.PruneCounts{Beings: 2, Pings: 1}); would != want {
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
	assertIDs(t, e.db.C("presence.beings"), uuid+":2", uuid+":3", uuid+":4", uuid+":6")
	assertIDs(t, e.db.C("presence.pings"), uuid+":"+itoa(startSlot))
}
