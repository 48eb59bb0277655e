package liveness_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	jujuerrors "github.com/juju/errors"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/internal/testserver"
	"github.com/presence-go/presence/internal/wirebridge"
	"github.com/presence-go/presence/liveness"
	"github.com/presence-go/presence/mongostore"
)

// The tests in this file pin down what the write plan and the one server
// clock of a controller keep under a ping for a far slot, steps of the
// server's clock, writes that hang, and workers that disagree on the slot
// period.

// TestFarPingPoisonsNoRefresh is the regression test of a ping for a slot
// five periods ahead: the batcher judged every document's age by the
// newest slot pinged, so the flush that took that ping forgot the refresh
// it held for a live key of another model, which was never written.
func TestFarPingPoisonsNoRefresh(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := liveness.NewPingBatcher(e.store, e.opts(liveness.WithFlushInterval(time.Second))...)
		e.addTimers(1)
		defer func() {
			if err := pb.Stop(); err != nil {
				t.Errorf("stopping the batcher: %v", err)
			}
		}()
		// Seq 1 of model A is written into the current slot.
		if err := pb.Ping(modelA, startSlot, "0", 1<<1); err != nil {
			t.Fatal(err)
		}
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		// At the start of the next slot it pings again: a refresh, which
		// the batcher holds until the ping window ends. A ping five
		// periods ahead comes with it, and a flush takes both inside the
		// window.
		e.advance(period / 2)
		next := startSlot + 30
		for _, p := range []struct {
			model string
			slot  int64
		}{{modelA, next}, {modelB, next + 5*30}} {
			if err := pb.Ping(p.model, p.slot, "0", 1<<1); err != nil {
				t.Fatal(err)
			}
		}
		e.advance(1300 * time.Millisecond) // the longest wait of the batcher's timer is 1.2 s
		if alive := e.aliveBits(modelB, next+5*30); alive["0"] != 1<<1 {
			t.Errorf("the far ping was not written at once: %v", alive)
		}
		// Past the window: the refresh is written.
		e.advance(slot.PingWindow(period))
		if n := e.count("presence.pings", bson.E{Key: "_id", Value: docID(modelA, next)}); n != 1 {
			t.Fatalf("slot %d of model A was never written: the refresh held when a far ping came was lost", next)
		}
		if alive := e.aliveBits(modelA, next); alive["0"] != 1<<1 {
			t.Fatalf("slot %d holds %v: the refresh held when a far ping came was lost", next, alive)
		}
		if far := pb.Report()["documents-far"]; far != int64(1) {
			t.Errorf("Report says %v documents far from now; want 1", far)
		}
	})
}

// TestServerClockStepsKillNobody steps the server's clock back by more
// than two periods, then forward by three, while a pinger, its batcher and
// a watcher of one controller run: the controller's one server clock
// measures the step within remeasureEvery, and every worker moves to the
// new frame together, so the key reads alive throughout. Before, only the
// batcher measured the clock again (after ten minutes), and then held
// refreshes by a frame its pingers and watchers did not share: the key
// read dead at the start of every slot.
func TestServerClockStepsKillNobody(t *testing.T) {
	forEachFaceWithFaults(t, func(t *testing.T, e *env, bridge *wirebridge.Bridge) {
		bridge.SetClock(e.clock.Now)
		defer bridge.SetClock(nil)
		defer bridge.SetClockOffset(0)
		opts := []liveness.Option{liveness.WithClock(e.clock), liveness.WithPeriod(period), liveness.WithPruning(false)}
		pb := liveness.NewPingBatcher(e.store, append(opts, liveness.WithFlushInterval(time.Second))...)
		w := liveness.NewWatcher(e.store, modelA, opts...)
		p := liveness.NewPinger(e.store, modelA, "k", pb, opts...)
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			for _, stop := range []func() error{p.Stop, w.Stop, pb.Stop} {
				if err := stop(); err != nil {
					t.Errorf("stopping: %v", err)
				}
			}
		}()
		e.addTimers(4) // the batcher, watcher and pinger, and their clock's measurer
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		aliveFor := func(what string, d time.Duration) {
			t.Helper()
			for passed := time.Duration(0); passed < d; passed += 5 * time.Second {
				e.advance(5 * time.Second)
				w.Sync()
				if alive, err := w.Alive("k"); err != nil || !alive {
					t.Fatalf("%s, %v on: Alive = %v, %v", what, passed, alive, err)
				}
			}
		}
		aliveFor("before any step", 2*period)
		bridge.SetClockOffset(-(2*period + 10*time.Second))
		aliveFor("after a step back", 12*time.Minute)
		bridge.SetClockOffset(period)
		aliveFor("after a step forward", 3*time.Minute)
		if moves := pb.Report()["clock-moves"]; moves != int64(2) {
			t.Errorf("the batcher reports %v moves of the server's clock; want 2", moves)
		}
	})
}

// TestHungWriteIsAnOutage is the regression test of a write that hangs:
// the outage clock started only once a flush had failed, and a flush
// failed only at the operation timeout, so a batcher whose write hung kept
// quiet for longer than its write slack. Now the outage counts from the
// start of the write, the write gives up within the slack, and the batcher
// says so while it waits.
func TestHungWriteIsAnOutage(t *testing.T) {
	forEachFaceWithFaults(t, func(t *testing.T, e *env, bridge *wirebridge.Bridge) {
		const shortPeriod = 2 * time.Second
		opts := e.opts(liveness.WithPeriod(shortPeriod), liveness.WithOperationTimeout(5*time.Second))
		pb := liveness.NewPingBatcher(e.store, append(opts, liveness.WithFlushInterval(200*time.Millisecond))...)
		defer pb.Stop()
		hold := bridge.HoldWrites()
		defer hold.Release()
		if err := pb.Ping(modelA, slot.Of(e.clock.Now().Unix(), 2), "0", 1); err != nil {
			t.Fatal(err)
		}
		synced := make(chan error, 1)
		go func() { synced <- pb.Sync() }()
		if err := hold.WaitHeld(1, waitTimeout); err != nil {
			t.Fatal(err)
		}
		if since, ok := pb.Report()["unacknowledged-since"].(time.Time); !ok || !since.Equal(e.clock.Now()) {
			t.Errorf("while its write hangs, the batcher reports it unacknowledged since %v; want %v", since, e.clock.Now())
		}
		// Longer than the outage tolerance (the write slack, 1.26 s) on
		// the batcher's clock: when the write gives up, the outage has
		// lasted too long.
		e.clock.Advance(2 * shortPeriod)
		select {
		case err := <-synced:
			if err == nil {
				t.Fatalf("a flush whose write hung succeeded")
			}
		case <-time.After(waitTimeout):
			t.Fatalf("a hung write did not give up within %v", waitTimeout)
		}
		var stopped error
		within(t, "the batcher's stop after an outage longer than its tolerance", func() { stopped = pb.Wait() })
		if stopped == nil || !strings.Contains(stopped.Error(), "database unavailable since") {
			t.Errorf("the batcher stopped with %v; want the outage", stopped)
		}
		if failures := pb.Report()["flush-failures"]; failures != int64(1) {
			t.Errorf("the batcher reports %v failed flushes; want 1", failures)
		}
	})
}

// TestPeriodMismatchIsRefused is the regression test of a pinger whose
// slot period differs from its batcher's: the batcher planned the writes
// of its pings by its own period, holding refreshes past the time the
// pinger's watchers needed them. Start now refuses the mismatch.
func TestPeriodMismatchIsRefused(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		p := liveness.NewPinger(e.store, modelA, "k", pb, e.opts(liveness.WithPeriod(10*time.Second))...)
		err := p.Start()
		if !errors.Is(err, jujuerrors.NotValid) || !strings.Contains(err.Error(), "slot period") {
			t.Fatalf("Start with a period of 10s and a batcher of 30s = %v; want a NotValid error about the slot period", err)
		}
		if n := e.count("presence.beings"); n != 0 {
			t.Errorf("a refused Start recorded %d beings", n)
		}
	})
}

// TestStoresOfOneConnectionShareAClock checks that two stores made from
// one connection (an *mgo.Session, a *mongo.Client), as the root package
// makes one per worker, share one server clock, and that stores of two
// connections do not.
func TestStoresOfOneConnectionShareAClock(t *testing.T) {
	server := testserver.Shared(t)
	t.Run(mgoFace, func(t *testing.T) {
		skipUnlessLegacy(t, server)
		db := server.Database(t)
		a, b := mgoStore(t, db, "presence"), mgoStore(t, db, "other")
		if liveness.ConnectionOf(a) != liveness.ConnectionOf(b) {
			t.Errorf("two stores of one session do not share a server clock")
		}
		copied := db.Session.Copy()
		defer copied.Close()
		if liveness.ConnectionOf(a) == liveness.ConnectionOf(mgoStore(t, db.With(copied), "presence")) {
			t.Errorf("stores of two sessions share a server clock")
		}
	})
	t.Run(officialFace, func(t *testing.T) {
		db := server.MongoDatabase(t)
		a, err := mongostore.New(db.Collection("presence"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := mongostore.New(db.Client().Database("other").Collection("presence"))
		if err != nil {
			t.Fatal(err)
		}
		if liveness.ConnectionOf(a) != liveness.ConnectionOf(b) {
			t.Errorf("two stores of one client do not share a server clock")
		}
		c, err := mongostore.New(server.Client(t).Database(db.Name()).Collection("presence"))
		if err != nil {
			t.Fatal(err)
		}
		if liveness.ConnectionOf(a) == liveness.ConnectionOf(c) {
			t.Errorf("stores of two clients share a server clock")
		}
	})
}
