package liveness_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/juju/errors"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/liveness"
)

// assertNotValid checks that err is a caller's mistake that names its
// problem.
func assertNotValid(t *testing.T, what string, err error, problem string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), problem) {
		t.Errorf("%s = %v, want an error about %q", what, err, problem)
		return
	}
	if !errors.Is(err, errors.NotValid) {
		t.Errorf("%s = %v, not a NotValid error", what, err)
	}
}

// assertStopsCleanly checks that Stop, then Wait, of a worker that is
// stopped or never started both return nil.
func assertStopsCleanly(t *testing.T, what string, w interface {
	Stop() error
	Wait() error
}) {
	t.Helper()
	if err := w.Stop(); err != nil {
		t.Errorf("%s: Stop = %v", what, err)
	}
	if err := w.Wait(); err != nil {
		t.Errorf("%s: Wait = %v", what, err)
	}
}

// TestWatcherOfMalformedModelIsDead builds watchers of model ids that are
// not model UUIDs: each is dead with an error that names the problem, and
// every method returns at once.
func TestWatcherOfMalformedModelIsDead(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		for _, c := range malformedModels {
			w := liveness.NewWatcher(e.store, c.uuid, e.opts()...)
			within(t, "Wait on a watcher of "+c.uuid, func() {
				assertNotValid(t, "Wait on a watcher of "+c.uuid, w.Wait(), c.errIs)
			})
			within(t, "methods of a dead watcher", func() {
				ch := make(chan liveness.Change)
				w.Watch("k", ch)
				w.Unwatch("k", ch)
				w.StartSync()
				w.Sync()
				if _, err := w.Alive("k"); !errors.Is(err, liveness.ErrDying) {
					t.Errorf("watcher of %q: Alive = %v, not ErrDying", c.uuid, err)
				}
				if err := w.Stop(); err == nil || !strings.Contains(err.Error(), c.errIs) {
					t.Errorf("watcher of %q: Stop = %v", c.uuid, err)
				}
			})
		}
	})
}

// TestNilStoreIsAMistake gives every worker a nil store: each says so, as
// a mistake of the caller's, at once. It needs no database.
func TestNilStoreIsAMistake(t *testing.T) {
	within(t, "workers of a nil store", func() {
		assertNotValid(t, "Wait on a watcher of a nil store", liveness.NewWatcher(nil, modelA).Wait(), "nil store")
		assertNotValid(t, "Wait on a batcher of a nil store", liveness.NewPingBatcher(nil).Wait(), "nil store")
		assertNotValid(t, "Prune with a nil store", liveness.NewPruner(nil, modelA, 0).Prune(nil), "nil store")
		assertNotValid(t, "RemovePresenceForModel of a nil store", liveness.RemovePresenceForModel(context.Background(), nil, modelA), "nil store")
	})
}

// TestBrokenStoreIsAMistake builds every worker on a store that could not
// be made: each reports, at once, the store's reason as a caller's
// mistake, with the "presence: " prefix once and the reason in the chain.
// It needs no database.
func TestBrokenStoreIsAMistake(t *testing.T) {
	reason := errors.New("nil base collection")
	for _, c := range []struct {
		name  string
		store liveness.Store
		want  string
	}{
		{"reason", liveness.BrokenStore(reason), "presence: nil base collection"},
		{"reason with the prefix", liveness.BrokenStore(fmt.Errorf("presence: %w", reason)), "presence: nil base collection"},
		{"no reason", liveness.BrokenStore(nil), "presence: the store could not be made"},
	} {
		within(t, "workers of a broken store", func() {
			dead := liveness.NewDeadPingBatcher(errors.New("unused"))
			for what, err := range map[string]error{
				"Wait on a watcher":      liveness.NewWatcher(c.store, modelA).Wait(),
				"Start of a pinger":      liveness.NewPinger(c.store, modelA, "k", dead).Start(),
				"Wait on a batcher":      liveness.NewPingBatcher(c.store).Wait(),
				"Prune":                  liveness.NewPruner(c.store, modelA, 0).Prune(nil),
				"RemovePresenceForModel": liveness.RemovePresenceForModel(context.Background(), c.store, modelA),
			} {
				if err == nil || err.Error() != c.want || !errors.Is(err, errors.NotValid) {
					t.Errorf("%s: %s = %v; want %q, a NotValid error", c.name, what, err, c.want)
				}
				if c.name != "no reason" && !errors.Is(err, reason) {
					t.Errorf("%s: %s = %v lost its reason", c.name, what, err)
				}
			}
		})
	}
}

// TestKeysWithDotsAndDollarsWork runs pingers whose keys hold characters
// that are special in MongoDB field names: keys are stored as values, so
// they work end to end, and their being documents carry them unchanged.
func TestKeysWithDotsAndDollarsWork(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		keys := []string{"machine.0", "$set", "a.$b.$", "unit-mysql/0#.$", "ключ", strings.Repeat("k", liveness.MaxKeyLength)}
		pingers := make([]*liveness.Pinger, len(keys))
		for i, key := range keys {
			pingers[i] = e.pinger(modelA, key, pb)
		}
		flushAndSync(t, pb, w)
		for _, key := range keys {
			assertAlive(t, w, key, true)
			if n := e.count("presence.beings", bson.E{Key: "key", Value: key}); n != 1 {
				t.Errorf("being of key %.20q: %d found, want 1", key, n)
			}
		}
		for _, p := range pingers {
			e.kill(p)
		}
		flushAndSync(t, pb, w)
		for _, key := range keys {
			assertAlive(t, w, key, false)
		}
	})
}

// TestPingerRejectsMalformedModel gives pingers model ids that are not
// model UUIDs: Start fails and names the problem, and nothing is written.
func TestPingerRejectsMalformedModel(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		for _, c := range malformedModels {
			p := liveness.NewPinger(e.store, c.uuid, "k", pb, e.opts()...)
			assertNotValid(t, "Start of a pinger of model "+c.uuid, p.Start(), c.errIs)
		}
		if n := e.count("presence.seqs") + e.count("presence.beings"); n != 0 {
			t.Errorf("a pinger of a malformed model wrote %d documents", n)
		}
	})
}

// TestWatcherIgnoresOddKeys watches and asks about keys no pinger can
// have, as MaxKeyLength's doc says a watcher takes: they are simply never
// alive.
func TestWatcherIgnoresOddKeys(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		w := e.watcher(modelA)
		ch := make(chan liveness.Change, 10)
		for _, key := range []string{"", "a\x00b", "a\xffb", strings.Repeat("k", liveness.MaxKeyLength+1), strings.Repeat("k", 1<<20)} {
			w.Watch(key, ch)
			assertChange(t, ch, liveness.Change{Key: key, Alive: false})
			assertAlive(t, w, key, false)
			w.Unwatch(key, ch)
		}
	})
}

// TestWatchTwiceRegistersOnce watches one key on one channel twice: the
// current state comes twice, but a later change comes once.
func TestWatchTwiceRegistersOnce(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		ch := make(chan liveness.Change, 10)
		w.Watch("k", ch)
		w.Watch("k", ch)
		assertChange(t, ch, liveness.Change{Key: "k", Alive: false})
		assertChange(t, ch, liveness.Change{Key: "k", Alive: false})
		e.pinger(modelA, "k", pb)
		flushAndSync(t, pb, w)
		assertChange(t, ch, liveness.Change{Key: "k", Alive: true})
		w.Sync()
		assertNoChange(t, ch)
		if got := w.Report()["keys-watched"]; got != 1 {
			t.Errorf("keys-watched = %v, want 1", got)
		}
	})
}

// TestUnwatchNeverWatchedIsNoOp unwatches keys and channels that were
// never watched, and a nil channel: nothing changes for the real watch.
func TestUnwatchNeverWatchedIsNoOp(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		ch := watch(t, w, "k", false)
		within(t, "Unwatch of what was never watched", func() {
			w.Unwatch("other", ch)
			w.Unwatch("k", make(chan liveness.Change))
			w.Unwatch("k", nil)
			w.Watch("k", nil)
		})
		e.pinger(modelA, "k", pb)
		flushAndSync(t, pb, w)
		assertChange(t, ch, liveness.Change{Key: "k", Alive: true})
	})
}

// TestStopWithUnreadChannel stops a watcher blocked on delivering to a
// channel nobody reads: Stop still returns.
func TestStopWithUnreadChannel(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		w := liveness.NewWatcher(e.store, modelA, e.opts(liveness.WithPruning(false))...)
		w.Watch("k", make(chan liveness.Change))
		within(t, "Stop of a watcher blocked on a channel", func() {
			if err := w.Stop(); err != nil {
				t.Errorf("Stop = %v", err)
			}
		})
	})
}

// TestWatcherMethodsAfterStop calls every method of a stopped watcher:
// all return at once; Alive and Err say it stopped.
func TestWatcherMethodsAfterStop(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		w := liveness.NewWatcher(e.store, modelA, e.opts(liveness.WithPruning(false))...)
		if err := w.Stop(); err != nil {
			t.Fatal(err)
		}
		within(t, "methods of a stopped watcher", func() {
			ch := make(chan liveness.Change)
			w.Watch("k", ch)
			w.Unwatch("k", ch)
			w.StartSync()
			w.Sync()
			if _, err := w.Alive("k"); !errors.Is(err, liveness.ErrDying) {
				t.Errorf("Alive on a stopped watcher = %v, not ErrDying", err)
			}
			assertStopsCleanly(t, "a stopped watcher", w)
			w.Kill()
			<-w.Dead()
		})
	})
}

// TestPingerStopTwiceAndRestart stops a pinger twice, then starts it
// again: it takes a new sequence and its key is alive once more.
func TestPingerStopTwiceAndRestart(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		p := e.pinger(modelA, "k", pb)
		first := p.Report()["seq"]
		e.stop(p)
		within(t, "Stop, Wait and Kill of a stopped pinger", func() {
			assertStopsCleanly(t, "a stopped pinger", p)
			p.Kill()
		})
		e.startPinger(p)
		second := p.Report()["seq"]
		if first != int64(1) || second != int64(2) {
			t.Errorf("sequences = %v then %v, want 1 then 2", first, second)
		}
		flushAndSync(t, pb, w)
		assertAlive(t, w, "k", true)
		// The key expires only once the restarted pinger stops too.
		e.advance(2 * period)
		flushAndSync(t, pb, w)
		assertAlive(t, w, "k", true)
		e.stop(p)
		e.advance(2 * period)
		flushAndSync(t, pb, w)
		assertAlive(t, w, "k", false)
	})
}

// TestPingerNeverStartedStopsQuietly stops a pinger that never started:
// nothing happens and nothing is written.
func TestPingerNeverStartedStopsQuietly(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		p := e.newPinger(modelA, "k", pb)
		within(t, "Stop of a pinger never started", func() {
			assertStopsCleanly(t, "a pinger never started", p)
		})
		if n := e.count("presence.pings"); n != 0 {
			t.Errorf("a pinger never started wrote %d ping documents", n)
		}
	})
}

// TestKillForTestingNeverStarted kills a pinger that never started, as
// Juju does: it takes a new sequence and writes it alive and dead, so the
// key reads dead even where an older sequence of it is still pinging.
func TestKillForTestingNeverStarted(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		e.pinger(modelA, "k", pb)
		flushAndSync(t, pb, w)
		assertAlive(t, w, "k", true)

		p := e.newPinger(modelA, "k", pb)
		if err := p.KillForTesting(); err != nil {
			t.Fatalf("KillForTesting = %v", err)
		}
		w.Sync()
		assertAlive(t, w, "k", false)
		var doc struct {
			Alive map[string]int64 `bson:"alive"`
			Dead  map[string]int64 `bson:"dead"`
		}
		e.findID("presence.pings", docID(modelA, startSlot), &doc)
		// Sequence 1 pings; the kill took sequence 2 (bit 2 of field "0").
		if doc.Alive["0"] != 1<<1|1<<2 || doc.Dead["0"] != 1<<2 {
			t.Errorf("slot document alive %v dead %v; want sequence 2 alive and dead", doc.Alive, doc.Dead)
		}
	})
}

// TestBatcherAfterStop pings and syncs a stopped batcher: both fail with
// an error that says it is stopped; a second Stop is fine.
func TestBatcherAfterStop(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := liveness.NewPingBatcher(e.store, e.opts(liveness.WithFlushInterval(time.Hour))...)
		if err := pb.Stop(); err != nil {
			t.Fatal(err)
		}
		within(t, "methods of a stopped batcher", func() {
			if err := pb.Ping(modelA, startSlot, "0", 1); !errors.Is(err, liveness.ErrStopped) {
				t.Errorf("Ping after Stop = %v, not ErrStopped", err)
			}
			if err := pb.Sync(); !errors.Is(err, liveness.ErrStopped) {
				t.Errorf("Sync after Stop = %v, not ErrStopped", err)
			}
			assertStopsCleanly(t, "a stopped batcher", pb)
		})
		if n := e.count("presence.pings"); n != 0 {
			t.Errorf("a stopped batcher wrote %d documents", n)
		}
	})
}

// TestBatcherRejectsBadPings hands Ping arguments no Pinger produces: each
// is refused with an error and nothing reaches the database.
func TestBatcherRejectsBadPings(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		uuid := modelA
		for _, c := range []struct {
			name      string
			model     string
			fieldKey  string
			fieldBit  uint64
			errSubstr string
		}{
			{"no bit", uuid, "0", 0, "not one of the 63 bits"},
			{"two bits", uuid, "0", 3, "not one of the 63 bits"},
			{"sign bit", uuid, "0", 1 << 63, "not one of the 63 bits"},
			{"non-hex field", uuid, "g", 1, "not a hexadecimal"},
			{"dotted field", uuid, "0.1", 1, "not a hexadecimal"},
			{"dollar field", uuid, "$inc", 1, "not a hexadecimal"},
			{"empty field", uuid, "", 1, "not a hexadecimal"},
			{"upper-case field", uuid, "A", 1, "not a hexadecimal"},
			{"field no sequence has", uuid, "ffffffffffffffff", 1, "beyond the last field"},
			{"empty model", "", "0", 1, "empty model"},
			{"model with the separator", "a:b", "0", 1, "contains ':'"},
		} {
			assertNotValid(t, c.name+": Ping", pb.Ping(c.model, startSlot, c.fieldKey, c.fieldBit), c.errSubstr)
		}
		if err := pb.Sync(); err != nil {
			t.Fatalf("Sync after refused pings: %v", err)
		}
		if n := e.count("presence.pings"); n != 0 {
			t.Errorf("refused pings wrote %d documents", n)
		}
	})
}

// malformedModels are model ids no worker of this package's face takes,
// with what their error says: all but the first two are ids Juju's face
// takes.
var malformedModels = []struct{ uuid, errIs string }{
	{"", "empty model UUID"},
	{modelA + ":", "contains ':'"},
	{"test-uuid", `model UUID "test-uuid" is not a UUID`},
	{modelA + "0", "is not a UUID"},
	{"urn:uuid:" + modelA, "contains ':'"},
	{strings.ToUpper(modelA), "upper-case"},
}

// TestJujuFaceTakesJujuModelIDs runs a pinger and a watcher made
// WithJujuFace on a model id of Juju's tests, which this package's face
// refuses, through a batcher of this package's face: the batcher takes
// the pings whoever's pinger sends them, and the watcher sees the key.
func TestJujuFaceTakesJujuModelIDs(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		const model = "test-uuid"
		assertNotValid(t, "Wait on a watcher of "+model, liveness.NewWatcher(e.store, model, e.opts()...).Wait(), "is not a UUID")
		pb := e.batcher()
		juju := e.opts(liveness.WithJujuFace(true))
		w := liveness.NewWatcher(e.store, model, append(juju, liveness.WithPruning(false))...)
		e.addTimers(1)
		defer func() {
			if err := w.Stop(); err != nil {
				t.Errorf("stopping the watcher: %v", err)
			}
			e.addTimers(-1)
		}()
		p := liveness.NewPinger(e.store, model, "k", pb, juju...)
		e.startPinger(p)
		defer e.stop(p)
		flushAndSync(t, pb, w)
		assertAlive(t, w, "k", true)
		if n := e.count("presence.pings", bson.E{Key: "_id", Value: docID(model, startSlot)}); n != 1 {
			t.Errorf("%d slot documents of %s, want 1", n, model)
		}
	})
}

// TestPrunerOfMalformedModel prunes with an empty model id and one with
// ':': Prune fails and removes nothing.
func TestPrunerOfMalformedModel(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		e.pinger(modelA, "k", pb)
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		for _, c := range malformedModels {
			p := liveness.NewPruner(e.store, c.uuid, 0, e.opts()...)
			assertNotValid(t, "Prune of model "+c.uuid, p.Prune(nil), c.errIs)
		}
		if n := e.count("presence.beings") + e.count("presence.pings"); n != 2 {
			t.Errorf("%d documents left, want 2", n)
		}
	})
}
