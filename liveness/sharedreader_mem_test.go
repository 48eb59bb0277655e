package liveness_test

import (
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/juju/clock/testclock"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.uber.org/goleak"

	"github.com/presence-go/presence/internal/memstore"
	"github.com/presence-go/presence/liveness"
)

// These tests of the shared reader run on memstore, the engine's
// in-memory database, where a test can hold an operation and see every
// one the workers make.

// opLog records the operations that take effect on a memstore server.
type opLog struct {
	mu     sync.Mutex
	events []memstore.Event
}

func observe(server *memstore.Server) *opLog {
	l := &opLog{}
	server.Observe(func(e memstore.Event) {
		l.mu.Lock()
		l.events = append(l.events, e)
		l.mu.Unlock()
	})
	return l
}

// take returns the operations recorded since the last take, as
// "Op model" for one model's or "Op m1,m2" for several models'.
func (l *opLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ops []string
	for _, e := range l.events {
		model := e.ModelUUID
		if e.Models != nil {
			model = strings.Join(e.Models, ",")
		}
		ops = append(ops, e.Op.String()+" "+model)
	}
	l.events = nil
	return ops
}

// memOpts are the options of the watchers of these tests.
func memOpts(clk *testclock.Clock) []liveness.Option {
	return []liveness.Option{
		liveness.WithClock(clk),
		liveness.WithClockSkew(false),
		liveness.WithPeriod(period),
		liveness.WithPruning(false),
	}
}

// putBeing writes, as another controller would have, a being of model
// for seq and its alive bit in slot's document.
func putBeing(t *testing.T, server *memstore.Server, model string, seq int64, key string, slotNum int64) {
	t.Helper()
	being, err := bson.Marshal(bson.D{{Key: "_id", Value: docID(model, seq)}, {Key: "seq", Value: seq}, {Key: "key", Value: key}})
	if err != nil {
		t.Fatal(err)
	}
	ping, err := bson.Marshal(bson.D{
		{Key: "_id", Value: docID(model, slotNum)},
		{Key: "alive", Value: bson.D{{Key: "0", Value: int64(1) << seq}}},
		{Key: "slot", Value: slotNum},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Put(memstore.Beings, being); err != nil {
		t.Fatal(err)
	}
	if err := server.Put(memstore.Pings, ping); err != nil {
		t.Fatal(err)
	}
}

// TestSyncOfASharedWatcherReadsItsModelAlone syncs one of three watchers
// that share a reader: the sync reads that model's slots and the being of
// its new sequence, and nothing of the others; the poll a period on reads
// the three models at once.
func TestSyncOfASharedWatcherReadsItsModelAlone(t *testing.T) {
	d := newDriven(t)
	store := memstore.New()
	models := sharedModels(3)
	var watchers []*liveness.Watcher
	for _, model := range models {
		w := liveness.NewWatcher(store, model, memOpts(d.clock)...)
		d.addTimers(1)
		t.Cleanup(func() { w.Stop() })
		assertAlive(t, w, "k", false)
		watchers = append(watchers, w)
	}
	log := observe(store.Server())

	putBeing(t, store.Server(), models[1], 1, "k", startSlot)
	watchers[1].Sync()
	assertAlive(t, watchers[1], "k", true)
	if got, want := log.take(), []string{"ReadSlots " + models[1], "BeingsOf " + models[1]}; strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("a sync made %q; want %q", got, want)
	}

	if err := d.clock.WaitAdvance(period, waitTimeout, 3); err != nil {
		t.Fatal(err)
	}
	if err := d.clock.WaitAdvance(0, waitTimeout, 3); err != nil {
		t.Fatal(err)
	}
	if got, want := log.take(), []string{"ReadSlotsOfModels " + strings.Join(models, ",")}; strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("a period's poll made %q; want %q", got, want)
	}
	assertAlive(t, watchers[1], "k", true)
	assertAlive(t, watchers[0], "k", false)
}

// TestHungPollMakesTheViewStale holds a poll of two watchers: each still
// answers within a period of its last read, then says its view is stale
// rather than answer from it, and answers again once the poll comes back.
func TestHungPollMakesTheViewStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := testclock.NewClock(start)
		store := memstore.New()
		var watchers []*liveness.Watcher
		for _, model := range []string{modelA, modelB} {
			w := liveness.NewWatcher(store, model, memOpts(clk)...)
			defer w.Stop()
			assertAlive(t, w, "k", false)
			watchers = append(watchers, w)
		}
		gate := memstore.NewGate()
		store.Queue(memstore.OpReadSlotsOfModels, memstore.Fault{Hold: gate})
		synctest.Wait()
		clk.Advance(period)
		synctest.Wait()
		if n := gate.Waiting(); n != 1 {
			t.Fatalf("%d polls held; want 1, for both watchers", n)
		}
		for _, w := range watchers {
			assertAlive(t, w, "k", false)
		}

		clk.Advance(time.Second)
		for _, w := range watchers {
			_, err := w.Alive("k")
			if err == nil || !strings.Contains(err.Error(), "has waited for an answer since") {
				t.Errorf("%v: Alive a period and a second after its last read, while a poll hangs = %v; want an error", w, err)
			}
		}

		gate.Open()
		synctest.Wait()
		for _, w := range watchers {
			assertAlive(t, w, "k", false)
		}
	})
}

// TestSharedReaderEndsWithItsLastWatcher stops one of two watchers that
// share a reader: the reader polls on for the other, and its goroutine
// ends when that one stops.
func TestSharedReaderEndsWithItsLastWatcher(t *testing.T) {
	d := newDriven(t)
	before := goleak.IgnoreCurrent()
	store := memstore.New()
	first := liveness.NewWatcher(store, modelA, memOpts(d.clock)...)
	second := liveness.NewWatcher(store, modelB, memOpts(d.clock)...)
	for _, w := range []*liveness.Watcher{first, second} {
		assertAlive(t, w, "k", false)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	log := observe(store.Server())
	putBeing(t, store.Server(), modelB, 1, "k", startSlot)
	if err := d.clock.WaitAdvance(period, waitTimeout, 1); err != nil {
		t.Fatal(err)
	}
	if err := d.clock.WaitAdvance(0, waitTimeout, 1); err != nil {
		t.Fatal(err)
	}
	if got, want := log.take(), []string{"ReadSlotsOfModels " + modelB, "BeingsOfModels " + modelB}; strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("the poll after the first watcher stopped made %q; want %q", got, want)
	}
	assertAlive(t, second, "k", true)
	if err := second.Stop(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, before)
}

// TestPollOfAThousandModelsMakesTwoReads has the watchers of a thousand
// steady models poll: their two live slots each, two thousand ids, come in
// two requests, as the package doc says, with nothing to look up.
func TestPollOfAThousandModelsMakesTwoReads(t *testing.T) {
	d := newDriven(t)
	store := memstore.New()
	models := sharedModels(1000)
	for _, model := range models {
		putBeing(t, store.Server(), model, 1, "k", startSlot)
	}
	for _, model := range models {
		w := liveness.NewWatcher(store, model, memOpts(d.clock)...)
		d.addTimers(1)
		t.Cleanup(func() { w.Stop() })
		assertAlive(t, w, "k", true)
	}
	log := observe(store.Server())
	if err := d.clock.WaitAdvance(period, waitTimeout, len(models)); err != nil {
		t.Fatal(err)
	}
	if err := d.clock.WaitAdvance(0, waitTimeout, len(models)); err != nil {
		t.Fatal(err)
	}
	ops := log.take()
	if len(ops) != 2 {
		t.Fatalf("a period's poll of %d models made %d operations; want 2", len(models), len(ops))
	}
	for i, op := range ops {
		want := "ReadSlotsOfModels " + strings.Join(models[i*500:(i+1)*500], ",")
		if op != want {
			t.Errorf("request %d of the poll read %.60s…; want the models %d to %d", i, op, i*500, (i+1)*500-1)
		}
	}
}
