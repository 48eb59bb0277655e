package liveness_test

import (
	"errors"
	"fmt"
	"strconv"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"gopkg.in/tomb.v2"

	"github.com/presence-go/presence/liveness"
)

func TestWatcherWorkflow(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		chA, chB := make(chan liveness.Change, 10), make(chan liveness.Change, 10)

		// Initial events: nothing pings yet.
		w.Watch("a", chA)
		assertChange(t, chA, liveness.Change{Key: "a", Alive: false})
		w.Watch("b", chB)
		assertChange(t, chB, liveness.Change{Key: "b", Alive: false})
		assertNoChange(t, chA)

		// Start a: seen alive at the next sync.
		pa := e.pinger(modelA, "a", pb)
		flushAndSync(t, pb, w)
		assertChange(t, chA, liveness.Change{Key: "a", Alive: true})
		assertNoChange(t, chA)
		assertNoChange(t, chB)

		pbB := e.pinger(modelA, "b", pb)
		flushAndSync(t, pb, w)
		assertChange(t, chB, liveness.Change{Key: "b", Alive: true})

		// Unwatch drops what is queued for the channel: nobody reads
		// unread, so its initial event waits in the watcher until Unwatch
		// drops it, and Sync, which returns only once nothing is queued,
		// returns.
		unread := make(chan liveness.Change)
		w.Watch("b", unread)
		w.Unwatch("b", unread)
		w.Sync()
		assertNoChange(t, unread)

		// Unwatched, then watched again: the current state comes at once.
		w.Unwatch("b", chB)
		e.stop(e.pinger(modelA, "c", pb)) // a change nobody watches
		flushAndSync(t, pb, w)
		assertNoChange(t, chB)
		w.Watch("b", chB)
		assertChange(t, chB, liveness.Change{Key: "b", Alive: true})

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
		assertChange(t, chA, liveness.Change{Key: "a", Alive: false})
		assertAlive(t, w, "b", true)
		assertNoChange(t, chB)

		// KillForTesting is seen at the next sync.
		e.kill(pbB)
		w.Sync()
		assertChange(t, chB, liveness.Change{Key: "b", Alive: false})
		assertNoChange(t, chA)
	})
}

func TestExpiryAfterTwoEmptySlots(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		p := e.pinger(modelA, "k", pb)
		flushAndSync(t, pb, w)
		assertAlive(t, w, "k", true)

		e.stop(p)
		// The slot it last pinged is still live for one more period.
		e.advance(period)
		w.Sync()
		assertAlive(t, w, "k", true)
		// Two slots without a ping: dead, with no write needed.
		e.advance(period)
		w.Sync()
		assertAlive(t, w, "k", false)
	})
}

func TestPingerKeepsKeyAliveAcrossSlots(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		e.pinger(modelA, "k", pb)
		flushAndSync(t, pb, w)
		ch := watch(t, w, "k", true)
		for i := 0; i < 6; i++ {
			e.advance(period)
			flushAndSync(t, pb, w)
			assertAlive(t, w, "k", true)
		}
		assertNoChange(t, ch)
	})
}

func TestThousandPingersOddOnesKilled(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		const n = 1000
		pingers := make([]*liveness.Pinger, n)
		for i := range pingers {
			pingers[i] = e.pinger(modelA, fmt.Sprintf("key-%d", i), pb)
		}
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		for i := 1; i < n; i += 2 {
			e.kill(pingers[i])
		}
		w := e.watcher(modelA)
		for i := 0; i < n; i++ {
			assertAlive(t, w, fmt.Sprintf("key-%d", i), i%2 == 0)
		}
	})
}

func TestRestartLoopFreshWatchersSeeAlive(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		p := e.pinger(modelA, "k", pb)
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 30; i++ {
			e.stop(p)
			e.startPinger(p)
			if err := pb.Sync(); err != nil {
				t.Fatal(err)
			}
			w := liveness.NewWatcher(e.store, modelA, e.opts(liveness.WithPruning(false))...)
			alive, err := w.Alive("k")
			if stopErr := w.Stop(); stopErr != nil {
				t.Fatal(stopErr)
			}
			if err != nil || !alive {
				t.Fatalf("round %d: Alive = %v, %v", i, alive, err)
			}
		}
	})
}

func TestUnwatchHalfOfHundredKeysOnOneChannel(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		ch := make(chan liveness.Change)
		done := make(chan map[string]bool)
		const n = 100
		keys := make([]string, n)
		for i := range keys {
			keys[i] = fmt.Sprintf("key-%d", i)
			e.pinger(modelA, keys[i], pb)
		}
		flushAndSync(t, pb, w)
		// Nobody reads ch yet: the initial events queue up in the watcher.
		for _, key := range keys {
			w.Watch(key, ch)
		}
		for _, key := range keys[:n/2] {
			w.Unwatch(key, ch)
		}
		go func() {
			got := map[string]bool{}
			for len(got) < n/2 {
				c := <-ch
				got[c.Key] = c.Alive
			}
			done <- got
		}()
		got := <-done
		w.Sync()
		assertNoChange(t, ch)
		for _, key := range keys[n/2:] {
			if alive, ok := got[key]; !ok || !alive {
				t.Errorf("%s: delivered %v, alive %v", key, ok, alive)
			}
		}
		if len(got) != n/2 {
			t.Errorf("got %d keys, want %d", len(got), n/2)
		}
	})
}

func TestTwoPingersOnOneKey(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		ch := watch(t, w, "k", false)

		e.pinger(modelA, "k", pb)
		flushAndSync(t, pb, w)
		assertChange(t, ch, liveness.Change{Key: "k", Alive: true})

		// A second pinger for the same key starts and is killed: its
		// newer sequence is dead, so the key is dead.
		second := e.pinger(modelA, "k", pb)
		flushAndSync(t, pb, w)
		assertNoChange(t, ch)
		e.kill(second)
		w.Sync()
		assertChange(t, ch, liveness.Change{Key: "k", Alive: false})

		// The kill stays live for two slots; the first pinger keeps
		// pinging and the key comes back once the kill has left the
		// window.
		e.advance(period)
		flushAndSync(t, pb, w)
		assertNoChange(t, ch)
		e.advance(period)
		flushAndSync(t, pb, w)
		assertChange(t, ch, liveness.Change{Key: "k", Alive: true})
	})
}

func TestModelsDoNotCross(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		wA := e.watcher(modelA)
		wB := e.watcher(modelB)
		chA, chB := make(chan liveness.Change, 10), make(chan liveness.Change, 10)
		wA.Watch("k", chA)
		wB.Watch("k", chB)
		assertChange(t, chA, liveness.Change{Key: "k", Alive: false})
		assertChange(t, chB, liveness.Change{Key: "k", Alive: false})

		pA := e.pinger(modelA, "k", pb)
		flushAndSync(t, pb, wA, wB)
		assertChange(t, chA, liveness.Change{Key: "k", Alive: true})
		assertNoChange(t, chB)

		pB := e.pinger(modelB, "k", pb)
		flushAndSync(t, pb, wA, wB)
		assertChange(t, chB, liveness.Change{Key: "k", Alive: true})
		assertNoChange(t, chA)

		e.kill(pA)
		wA.Sync()
		wB.Sync()
		assertChange(t, chA, liveness.Change{Key: "k", Alive: false})
		assertNoChange(t, chB)
		e.kill(pB)
		wB.Sync()
		assertChange(t, chB, liveness.Change{Key: "k", Alive: false})
	})
}

// TestDeadWatcherReportsItsError needs no database, so it runs once rather
// than per face.
func TestDeadWatcherReportsItsError(t *testing.T) {
	boom := errors.New("boom")
	w := liveness.NewDeadWatcher(boom)
	if err := w.Err(); err != boom {
		t.Errorf("Err = %v", err)
	}
	if err := w.Wait(); err != boom {
		t.Errorf("Wait = %v", err)
	}
	if err := w.Stop(); err != boom {
		t.Errorf("Stop = %v", err)
	}
	select {
	case <-w.Dead():
	default:
		t.Errorf("Dead channel open")
	}
	if _, err := w.Alive("k"); !errors.Is(err, liveness.ErrDying) {
		t.Errorf("Alive on a dead watcher = %v, not ErrDying", err)
	}
	// These must return at once rather than block.
	w.Sync()
	w.StartSync()
	w.Watch("k", make(chan liveness.Change))
	w.Unwatch("k", make(chan liveness.Change))
}

// TestDeadWorkersAreDeadAtOnce checks that a watcher made dead is dead
// when the constructor returns. It needs no database.
func TestDeadWorkersAreDeadAtOnce(t *testing.T) {
	w := liveness.NewDeadWatcher(fmt.Errorf("boom"))
	select {
	case <-w.Dead():
	default:
		t.Errorf("NewDeadWatcher returned a watcher whose Dead channel is open")
	}
}

func TestWatcherLifecycle(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		w := liveness.NewWatcher(e.store, modelA, e.opts()...)
		if err := w.Err(); err != tomb.ErrStillAlive {
			t.Errorf("Err while running = %v", err)
		}
		if got, want := w.String(), "presence.Watcher("+modelA+")"; got != want {
			t.Errorf("String = %q, want %q", got, want)
		}
		if err := w.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := w.Err(); err != nil {
			t.Errorf("Err after a clean stop = %v", err)
		}
		if _, err := w.Alive("k"); !errors.Is(err, liveness.ErrDying) {
			t.Errorf("Alive on a stopped watcher = %v, not ErrDying", err)
		}
	})
}

func TestReports(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		p := e.pinger(modelA, "k", pb)
		ch := make(chan liveness.Change, 10)
		w.Watch("k", ch)
		flushAndSync(t, pb, w)

		wr := w.Report()
		for key, want := range map[string]interface{}{"model": modelA, "keys-watched": 1, "keys-alive": 1, "events": int64(1)} {
			if wr[key] != want {
				t.Errorf("watcher report %s = %v, want %v (%v)", key, wr[key], want, wr)
			}
		}
		if n, _ := wr["syncs"].(int64); n < 2 {
			t.Errorf("watcher report syncs = %v", wr["syncs"])
		}
		br := pb.Report()
		for key, want := range map[string]interface{}{"pings": int64(1), "flushes": int64(1), "documents-written": int64(1), "flush-failures": int64(0)} {
			if br[key] != want {
				t.Errorf("batcher report %s = %v, want %v (%v)", key, br[key], want, br)
			}
		}
		pr := p.Report()
		for key, want := range map[string]interface{}{"key": "k", "started": true, "seq": int64(1), "pings": int64(1)} {
			if pr[key] != want {
				t.Errorf("pinger report %s = %v, want %v (%v)", key, pr[key], want, pr)
			}
		}
		if err := w.Stop(); err != nil {
			t.Fatal(err)
		}
		if got := w.Report()["state"]; got != "stopped" {
			t.Errorf("stopped watcher's state = %v", got)
		}
	})
}

// TestWatcherPollsByItself checks that a watcher reads the database every
// period with nobody calling Sync.
func TestWatcherPollsByItself(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		ch := watch(t, w, "k", false)
		e.pinger(modelA, "k", pb)
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		e.advance(period)
		assertChange(t, ch, liveness.Change{Key: "k", Alive: true})
	})
}

// TestColdStartOverManyBeings starts a watcher on a model with more live
// sequences than one lookup batch, seeded in bulk, next to a model whose
// id extends this one's: every key resolves, and none of the other's.
func TestColdStartOverManyBeings(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		const n = 2500
		other := modelA + "-2"
		for _, model := range []string{modelA, other} {
			beings := make([]interface{}, 0, n)
			alive := bson.M{}
			for seq := int64(1); seq <= n; seq++ {
				beings = append(beings, bson.M{"_id": docID(model, seq), "seq": seq, "key": model + "/key-" + itoa(seq)})
				fieldKey := strconv.FormatInt(seq/63, 16)
				word, _ := alive[fieldKey].(int64)
				alive[fieldKey] = word | 1<<(seq%63)
			}
			e.insert("presence.beings", beings...)
			e.insert("presence.pings", bson.M{"_id": docID(model, startSlot), "slot": startSlot, "alive": alive})
		}
		w := e.watcher(modelA)
		w.Sync()
		report := w.Report()
		if report["keys-alive"] != n || report["seqs-unresolved"] != 0 {
			t.Fatalf("after a cold start: %d keys alive, %v unresolved; want %d and 0", report["keys-alive"], report["seqs-unresolved"], n)
		}
		assertAlive(t, w, modelA+"/key-1", true)
		assertAlive(t, w, modelA+"/key-2500", true)
		assertAlive(t, w, other+"/key-1", false)
	})
}

// TestRestartInOneSyncSendsNothing restarts an agent so that its old
// sequence leaves the live window in the very sync that first sees its new
// one: a newer sequence silently replaces the old, as in Juju, so nothing
// is sent and the key stays alive throughout.
func TestRestartInOneSyncSendsNothing(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		p := e.pinger(modelA, "k", pb)
		flushAndSync(t, pb, w)
		ch := watch(t, w, "k", true)

		// The old sequence pinged only the first slot, which the watcher
		// still reads one period on.
		e.stop(p)
		e.advance(period)
		w.Sync()
		assertAlive(t, w, "k", true)

		// The new sequence pings and is written, but the watcher reads it
		// only at its own poll a period later, when the first slot
		// leaves.
		e.startPinger(p)
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		e.advance(period)
		w.Sync()
		assertNoChange(t, ch)
		assertAlive(t, w, "k", true)
	})
}

// TestSequencesLeavingTogetherSendNothing gives many keys an older
// sequence that stopped and a newer one that was killed, in the same slot,
// and lets both leave the window in one sync. Each key is dead before and
// after, so nothing may be sent: a sync sends at most one Change per key,
// from its state before the sync to its state after, whatever order it
// meets the sequences in. The documents are written by hand so that each
// sequence has a field of its own, which a sync may meet in any order.
func TestSequencesLeavingTogetherSendNothing(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		w := e.watcher(modelA)
		const keys = 20
		alive, dead := bson.M{}, bson.M{}
		for i := int64(0); i < keys; i++ {
			key := "key-" + itoa(i)
			older, newer := 126*i+1, 126*i+64 // in fields 2i and 2i+1
			e.insert("presence.beings",
				bson.M{"_id": docID(modelA, older), "seq": older, "key": key},
				bson.M{"_id": docID(modelA, newer), "seq": newer, "key": key})
			alive[strconv.FormatInt(older/63, 16)] = int64(1) << (older % 63)
			alive[strconv.FormatInt(newer/63, 16)] = int64(1) << (newer % 63)
			dead[strconv.FormatInt(newer/63, 16)] = int64(1) << (newer % 63)
		}
		e.insert("presence.pings", bson.M{"_id": docID(modelA, startSlot), "slot": startSlot, "alive": alive, "dead": dead})
		w.Sync()
		ch := make(chan liveness.Change, 4*keys)
		for i := int64(0); i < keys; i++ {
			w.Watch("key-"+itoa(i), ch)
			assertChange(t, ch, liveness.Change{Key: "key-" + itoa(i), Alive: false})
		}
		e.advance(period)
		w.Sync()
		e.advance(period) // both sequences of every key leave the window now
		w.Sync()
		assertNoChange(t, ch)
	})
}
