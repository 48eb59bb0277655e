package liveness_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"gopkg.in/tomb.v2"

	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/internal/testserver"
	"github.com/presence-go/presence/internal/wirebridge"
	"github.com/presence-go/presence/liveness"
)

// faultBridge returns the bridge whose fault controls the fault tests use,
// and skips the test when there is none (against an external server).
func faultBridge(t *testing.T) *wirebridge.Bridge {
	t.Helper()
	bridge := testserver.Shared(t).Bridge()
	if bridge == nil {
		t.Skip("skipped: needs the bridge's fault controls, absent with PRESENCE_TEST_MONGODB")
	}
	return bridge
}

// forEachFaceWithFaults is forEachFace for tests that make the database
// misbehave: each face's driver gives up sooner on an unreachable server
// (see faultSyncTimeout), and the faults are lifted when each subtest
// ends.
func forEachFaceWithFaults(t *testing.T, fn func(t *testing.T, e *env, bridge *wirebridge.Bridge)) {
	t.Helper()
	bridge := faultBridge(t)
	for _, face := range faces {
		t.Run(face, func(t *testing.T) {
			e := newEnv(t, face, true)
			t.Cleanup(func() {
				bridge.SetRefusing(false)
				bridge.SetLatency(0)
			})
			fn(t, e, bridge)
		})
	}
}

// outage cuts every connection and refuses new ones until the returned
// function is called.
func outage(bridge *wirebridge.Bridge) (end func()) {
	bridge.SetRefusing(true)
	bridge.DropConnections()
	return func() { bridge.SetRefusing(false) }
}

// syncAfterFault flushes pb's pings, trying three times: the first
// operation after a fault may meet a connection the fault closed, and the
// retry that follows must succeed.
func syncAfterFault(t *testing.T, pb *liveness.PingBatcher, what string) {
	t.Helper()
	var err error
	for i := 0; i < 3; i++ {
		if err = pb.Sync(); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}

// aliveBits returns the alive part of the slot document of model's slot,
// by field.
func (e *env) aliveBits(model string, slotNum int64) map[string]int64 {
	e.t.Helper()
	var doc struct {
		Alive map[string]int64 `bson:"alive"`
	}
	e.findID("presence.pings", docID(model, slotNum), &doc)
	return doc.Alive
}

// TestBatcherKeepsPingsThroughOutage fails a flush on purpose and checks
// that the next one writes the pings it held.
func TestBatcherKeepsPingsThroughOutage(t *testing.T) {
	forEachFaceWithFaults(t, func(t *testing.T, e *env, bridge *wirebridge.Bridge) {
		pb := e.batcher()
		if err := pb.Ping(modelA, startSlot, "0", 1<<9); err != nil {
			t.Fatal(err)
		}
		end := outage(bridge)
		if err := pb.Sync(); err == nil {
			t.Fatal("flush succeeded while the database was unreachable")
		}
		// A ping arriving during the outage joins the kept ones.
		if err := pb.Ping(modelA, startSlot, "1", 1); err != nil {
			t.Fatal(err)
		}
		end()
		if err := pb.Sync(); err != nil {
			t.Fatalf("flush after the outage: %v", err)
		}
		docs := e.raw("presence.pings", bson.D{{Key: "_id", Value: docID(modelA, startSlot)}})
		if len(docs) != 1 {
			t.Fatalf("%d documents of slot %d, want 1", len(docs), startSlot)
		}
		assertDoc(t, "presence.pings", docs[0], bson.D{
			{Key: "_id", Value: docID(modelA, startSlot)},
			{Key: "slot", Value: startSlot},
			{Key: "alive", Value: bson.D{{Key: "0", Value: int64(1 << 9)}, {Key: "1", Value: int64(1)}}},
		})
	})
}

// TestShortOutageLosesNothing cuts the database for ten seconds of a 30 s
// period: no ping is lost, no live key reads dead, and everything carries
// on by itself once the database is back, with the failures counted.
func TestShortOutageLosesNothing(t *testing.T) {
	forEachFaceWithFaults(t, func(t *testing.T, e *env, bridge *wirebridge.Bridge) {
		pb := e.batcher()
		w := e.watcher(modelA)
		e.pinger(modelA, "k", pb)
		flushAndSync(t, pb, w)
		assertAlive(t, w, "k", true)

		end := outage(bridge)
		// A ping taken during the outage, from a pinger started before it.
		if err := pb.Ping(modelA, startSlot, "1", 1); err != nil {
			t.Fatal(err)
		}
		if err := pb.Sync(); err == nil {
			t.Fatal("a flush succeeded during the outage")
		}
		w.Sync()
		assertAlive(t, w, "k", true)
		if err := e.clock.WaitAdvance(10*time.Second, waitTimeout, 3); err != nil {
			t.Fatal(err)
		}
		w.Sync()
		assertAlive(t, w, "k", true)
		end()

		flushAndSync(t, pb, w)
		assertAlive(t, w, "k", true)
		if alive := e.aliveBits(modelA, startSlot); alive["1"] != 1 {
			t.Errorf("the ping taken during the outage is lost: %v", alive)
		}
		if n, _ := pb.Report()["flush-failures"].(int64); n < 1 {
			t.Errorf("batcher report counts %v flush failures", pb.Report()["flush-failures"])
		}
		if n, _ := w.Report()["sync-failures"].(int64); n < 2 {
			t.Errorf("watcher report counts %v sync failures", w.Report()["sync-failures"])
		}
		if w.Err() != tomb.ErrStillAlive {
			t.Errorf("watcher stopped: %v", w.Err())
		}
	})
}

// TestLongOutageStopsWorkers cuts the database for longer than the outage
// tolerance: the watcher and the batcher stop with an error saying what
// failed, where and since when; new workers work once it is back.
func TestLongOutageStopsWorkers(t *testing.T) {
	forEachFaceWithFaults(t, func(t *testing.T, e *env, bridge *wirebridge.Bridge) {
		tolerance := liveness.WithOutageTolerance(5 * time.Second)
		pb := liveness.NewPingBatcher(e.store, e.opts(tolerance, liveness.WithFlushInterval(time.Hour))...)
		w := liveness.NewWatcher(e.store, modelA, e.opts(tolerance, liveness.WithPruning(false))...)
		w.Sync() // the first sync is done before the outage
		if err := pb.Ping(modelA, startSlot, "0", 2); err != nil {
			t.Fatal(err)
		}

		end := outage(bridge)
		defer end()
		pb.Sync()
		w.Sync()
		if err := e.clock.WaitAdvance(6*time.Second, waitTimeout, 2); err != nil {
			t.Fatal(err)
		}
		pb.Sync()
		w.Sync()

		werr := w.Wait()
		if werr == nil || !strings.Contains(werr.Error(), "database unavailable since") || !strings.Contains(werr.Error(), modelA) {
			t.Errorf("watcher error = %v; want the outage, its start and the model", werr)
		}
		berr := pb.Wait()
		if berr == nil || !strings.Contains(berr.Error(), "database unavailable since") || !strings.Contains(berr.Error(), "presence.pings") {
			t.Errorf("batcher error = %v; want the outage, its start and the collection", berr)
		}
		if _, err := w.Alive("k"); err == nil {
			t.Errorf("a stopped watcher answered Alive")
		}

		end()
		pb2 := e.batcher()
		w2 := e.watcher(modelA)
		e.pinger(modelA, "k", pb2)
		flushAndSync(t, pb2, w2)
		assertAlive(t, w2, "k", true)
	})
}

// TestSlowDatabase adds two seconds to every reply: pings are still taken
// at once, syncs still complete, and Stop returns after at most the
// operation in flight.
func TestSlowDatabase(t *testing.T) {
	forEachFaceWithFaults(t, func(t *testing.T, e *env, bridge *wirebridge.Bridge) {
		pb := e.batcher()
		w := e.watcher(modelA)
		e.pinger(modelA, "k", pb)
		flushAndSync(t, pb, w)

		bridge.SetLatency(2 * time.Second)
		within(t, "100 pings with a slow database", func() {
			for i := 0; i < 100; i++ {
				if err := pb.Ping(modelA, startSlot, "2", 1); err != nil {
					t.Error(err)
					return
				}
			}
		})
		flushAndSync(t, pb, w)
		assertAlive(t, w, "k", true)

		w.StartSync()
		stopped := make(chan error, 1)
		go func() { stopped <- w.Stop() }()
		select {
		case err := <-stopped:
			if err != nil {
				t.Errorf("Stop = %v", err)
			}
		case <-time.After(3 * waitTimeout):
			t.Fatal("Stop did not return with a slow database")
		}
	})
}

// TestServerRestart stops the database server and starts it again on the
// same data: the workers carry on without being restarted.
func TestServerRestart(t *testing.T) {
	forEachFaceWithFaults(t, func(t *testing.T, e *env, _ *wirebridge.Bridge) {
		pb := e.batcher()
		w := e.watcher(modelA)
		e.pinger(modelA, "k", pb)
		flushAndSync(t, pb, w)

		if err := testserver.Shared(t).Restart(); err != nil {
			t.Fatal(err)
		}
		if err := pb.Ping(modelA, startSlot, "3", 1); err != nil {
			t.Fatal(err)
		}
		syncAfterFault(t, pb, "flush after the restart")
		w.Sync()
		w.Sync()
		assertAlive(t, w, "k", true)
		e2 := e.watcher(modelA)
		assertAlive(t, e2, "k", true)
	})
}

// TestWatcherWaitsForItsFirstRead starts a watcher while the database is
// away: it states nothing it has not read. Alive waits for the first
// successful read, and Watch's first event reports what that read found.
func TestWatcherWaitsForItsFirstRead(t *testing.T) {
	forEachFaceWithFaults(t, func(t *testing.T, e *env, bridge *wirebridge.Bridge) {
		pb := e.batcher()
		e.pinger(modelA, "k", pb)
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}

		end := outage(bridge)
		w := e.watcher(modelA)
		ch := make(chan liveness.Change, 10)
		w.Watch("k", ch)
		type answer struct {
			alive bool
			err   error
		}
		answered := make(chan answer, 1)
		go func() {
			alive, err := w.Alive("k")
			answered <- answer{alive, err}
		}()
		w.Sync() // a read that fails
		end()

		// Read until a read succeeds: the first after an outage may meet a
		// connection the outage broke.
		var got answer
		for i := 0; ; i++ {
			w.Sync()
			select {
			case got = <-answered:
			default:
				if i < 5 {
					continue
				}
				t.Fatal("Alive has not answered after five reads since the outage")
			}
			break
		}
		if got.err != nil || !got.alive {
			t.Errorf("Alive = %v, %v; want true, nil", got.alive, got.err)
		}
		assertChange(t, ch, liveness.Change{Key: "k", Alive: true})
		assertNoChange(t, ch)
	})
}

// TestStaleViewAnswersWithAnError makes reads fail for longer than a
// period, within a longer outage tolerance: Alive says the view is stale
// rather than answer from it, and a Watch started meanwhile sends its first
// event only once a read succeeds.
func TestStaleViewAnswersWithAnError(t *testing.T) {
	forEachFaceWithFaults(t, func(t *testing.T, e *env, bridge *wirebridge.Bridge) {
		pb := e.batcher()
		w := liveness.NewWatcher(e.store, modelA, e.opts(liveness.WithPruning(false), liveness.WithOutageTolerance(10*period))...)
		e.addTimers(1)
		t.Cleanup(func() { w.Stop() })
		assertAlive(t, w, "k", false)

		end := outage(bridge)
		w.Sync()
		// Within a period of the last read, the view still answers.
		assertAlive(t, w, "k", false)
		e.advance(period + time.Second)
		w.Sync()
		_, err := w.Alive("k")
		if err == nil || !strings.Contains(err.Error(), "reads have failed since") {
			t.Fatalf("Alive on a stale view = %v; want an error saying reads fail", err)
		}
		ch := make(chan liveness.Change, 10)
		w.Watch("k", ch)
		w.Sync()
		assertNoChange(t, ch)

		end()
		e.pinger(modelA, "k", pb)
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5 && len(ch) == 0; i++ {
			w.Sync()
		}
		assertChange(t, ch, liveness.Change{Key: "k", Alive: true})
		assertAlive(t, w, "k", true)
	})
}

// TestFailedReadIsRetriedPromptly fails one read: the watcher tries again
// after about a second rather than a whole period later, so a key started
// meanwhile is seen that soon.
func TestFailedReadIsRetriedPromptly(t *testing.T) {
	forEachFaceWithFaults(t, func(t *testing.T, e *env, bridge *wirebridge.Bridge) {
		pb := e.batcher()
		w := e.watcher(modelA)
		ch := watch(t, w, "k", false)

		end := outage(bridge)
		w.Sync()
		end()
		e.pinger(modelA, "k", pb)
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		// The first read after an outage may meet a broken connection; the
		// one after it, another second on, may not.
		e.advance(time.Second)
		if len(ch) == 0 {
			e.advance(2 * time.Second)
		}
		assertChange(t, ch, liveness.Change{Key: "k", Alive: true})
	})
}

// TestRequeueFollowsTheServerClock fails a flush of pings of the server's
// current slot while the server's clock is three periods behind the real
// time and this host's clock years behind both: judged on either host
// clock the slot would not be the current one, but the batcher judges it
// on the server's clock, which it measures, so it keeps the pings and
// writes them once the database is back.
func TestRequeueFollowsTheServerClock(t *testing.T) {
	forEachFaceWithFaults(t, func(t *testing.T, e *env, bridge *wirebridge.Bridge) {
		bridge.SetClockOffset(-3 * period)
		defer bridge.SetClockOffset(0)
		pb := liveness.NewPingBatcher(e.store, liveness.WithClock(e.clock), liveness.WithPeriod(period), liveness.WithFlushInterval(time.Hour))
		defer pb.Stop()
		serverSlot := slot.Of(time.Now().Add(-3*period).Unix(), 30)
		if err := pb.Ping(modelA, serverSlot, "0", 1<<5); err != nil {
			t.Fatal(err)
		}
		end := outage(bridge)
		if err := pb.Sync(); err == nil {
			t.Fatal("a flush succeeded during the outage")
		}
		end()
		syncAfterFault(t, pb, "flush after the outage")
		if n := e.count("presence.pings", bson.E{Key: "_id", Value: docID(modelA, serverSlot)}); n != 1 {
			t.Fatalf("the ping of slot %d was dropped", serverSlot)
		}
		if alive := e.aliveBits(modelA, serverSlot); alive["0"] != 1<<5 {
			t.Errorf("slot %d holds %v; want bit 5 of field 0", serverSlot, alive)
		}
	})
}

// TestBatcherStopReturnsTheFinalFlushError stops a batcher that holds
// pings while the database is away: Stop says the final flush failed
// rather than return nil with pings lost.
func TestBatcherStopReturnsTheFinalFlushError(t *testing.T) {
	forEachFaceWithFaults(t, func(t *testing.T, e *env, bridge *wirebridge.Bridge) {
		pb := liveness.NewPingBatcher(e.store, e.opts(liveness.WithFlushInterval(time.Hour))...)
		if err := pb.Ping(modelA, startSlot, "0", 1); err != nil {
			t.Fatal(err)
		}
		end := outage(bridge)
		defer end()
		err := pb.Stop()
		if err == nil || !strings.Contains(err.Error(), "final flush") {
			t.Fatalf("Stop = %v; want the final flush's error", err)
		}
	})
}

// TestSlowWritesWithinTheSlackKillNobody holds every write from the start
// of a slot until most of the write slack (0.75 period less 1.2 flush
// intervals) has passed since the slot's pings were all handed to the
// batcher and its flush was due, while watchers keep reading: every running
// agent reads alive throughout, at the default period and flush interval
// and at short ones. The pingers start at points spread over a slot, so a
// schedule that pings late in a slot would show here.
func TestSlowWritesWithinTheSlackKillNobody(t *testing.T) {
	forEachFaceWithFaults(t, func(t *testing.T, e *env, bridge *wirebridge.Bridge) {
		for _, c := range []struct{ period, flush time.Duration }{
			{liveness.DefaultPeriod, liveness.DefaultFlushInterval},
			{2 * time.Second, 200 * time.Millisecond},
		} {
			t.Run(fmt.Sprintf("period=%v/flush=%v", c.period, c.flush), func(t *testing.T) {
				slowWritesWithinTheSlack(t, e.sub(t), bridge, c.period, c.flush)
			})
		}
	})
}

// slowWritesWithinTheSlack is one run of
// TestSlowWritesWithinTheSlackKillNobody, at a slot period and flush
// interval.
func slowWritesWithinTheSlack(t *testing.T, e *env, bridge *wirebridge.Bridge, slotPeriod, flush time.Duration) {
	model := fmt.Sprintf("00000000-0000-4000-8000-%012d", slotPeriod/time.Second) // a model per period
	opts := e.opts(liveness.WithPeriod(slotPeriod), liveness.WithPruning(false), liveness.WithOutageTolerance(time.Hour))
	// The batcher is flushed by hand, when its own timer would at the
	// latest, and writes everything it holds each time: its own clock
	// stands still, so its timer never fires.
	frozen := newDriven(t).clock
	frozen.Advance(e.clock.Now().Sub(frozen.Now()))
	pb := liveness.NewPingBatcher(e.store, append(opts, liveness.WithClock(frozen))...)
	w := liveness.NewWatcher(e.store, model, opts...)
	defer pb.Stop()
	defer w.Stop()
	timers := 1 // the watcher's
	advance := func(d time.Duration) {
		t.Helper()
		if err := e.clock.WaitAdvance(d, waitTimeout, timers); err != nil {
			t.Fatal(err)
		}
		if err := e.clock.WaitAdvance(0, waitTimeout, timers); err != nil {
			t.Fatal(err)
		}
	}
	// Start at a slot boundary, so that steps of a fortieth of a period
	// land on the boundaries to come.
	advance((slotPeriod - time.Duration(e.clock.Now().UnixNano()%int64(slotPeriod))) % slotPeriod)
	const agents = 8
	var pingers []*liveness.Pinger
	for i := 0; i < agents; i++ {
		advance(slotPeriod / agents)
		p := liveness.NewPinger(e.store, model, fmt.Sprintf("agent-%d", i), pb, opts...)
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		defer p.Stop()
		pingers = append(pingers, p)
		timers++
	}
	pings := func() (n int64) {
		for _, p := range pingers {
			n += p.Report()["pings"].(int64)
		}
		return n
	}
	allAlive := func(when string) {
		t.Helper()
		w.Sync()
		for i := 0; i < agents; i++ {
			if alive, err := w.Alive(fmt.Sprintf("agent-%d", i)); err != nil || !alive {
				t.Fatalf("%s: agent-%d reads %v, %v", when, i, alive, err)
			}
		}
	}
	flushAndSync(t, pb, w)
	allAlive("before the stall")

	// On to the start of a slot, flushing as the batcher would; from there
	// on writes are held. Then on until every agent has pinged the slot,
	// and until the batcher's timer would fire.
	step := func(d time.Duration) {
		t.Helper()
		advance(d)
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 40; i++ {
		step(slotPeriod / 40)
	}
	hold := bridge.HoldWrites()
	defer hold.Release()
	before := pings()
	for pings() < before+agents {
		advance(slotPeriod / 40)
	}
	allAlive("once every agent has pinged the slot")
	advance(flush * 6 / 5) // the latest the batcher's timer fires
	flushed := make(chan error, 1)
	go func() { flushed <- pb.Sync() }()
	if err := hold.WaitHeld(1, waitTimeout); err != nil {
		t.Fatal(err)
	}
	stall := slot.WriteSlack(slotPeriod, flush) * 9 / 10
	for held := time.Duration(0); held < stall; held += slotPeriod / 20 {
		advance(min(slotPeriod/20, stall-held))
		allAlive(fmt.Sprintf("%v into the stall", held))
	}
	hold.Release()
	if err := <-flushed; err != nil {
		t.Fatalf("the held flush: %v", err)
	}
	for after := time.Duration(0); after < 3*slotPeriod/2; after += slotPeriod / 20 {
		step(slotPeriod / 20)
		allAlive(fmt.Sprintf("%v after the stall", after))
	}
}
