package liveness_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/juju/errors"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/liveness"
)

// TestReadsDocumentsWrittenByJuju writes by hand what Juju's code writes
// and checks that the workers read it and carry on the sequence.
func TestReadsDocumentsWrittenByJuju(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		e.insert("presence.seqs", bson.D{{Key: "_id", Value: modelA + ":beings"}, {Key: "seq", Value: int64(70)}})
		e.insert("presence.beings",
			bson.D{{Key: "_id", Value: docID(modelA, 5)}, {Key: "seq", Value: int64(5)}, {Key: "key", Value: "machine-0"}},
			bson.D{{Key: "_id", Value: docID(modelA, 66)}, {Key: "seq", Value: int64(66)}, {Key: "key", Value: "machine-1"}},
			bson.D{{Key: "_id", Value: docID(modelA, 70)}, {Key: "seq", Value: int64(70)}, {Key: "key", Value: "machine-2"}},
		)
		// Seq 5 pinged in the previous slot, 66 (field "1", bit 3) in the
		// current one, 70 (field "1", bit 7) pinged and was killed.
		e.insert("presence.pings",
			bson.D{{Key: "_id", Value: docID(modelA, startSlot-30)}, {Key: "slot", Value: startSlot - 30},
				{Key: "alive", Value: bson.D{{Key: "0", Value: int64(1 << 5)}}}},
			bson.D{{Key: "_id", Value: docID(modelA, startSlot)}, {Key: "slot", Value: startSlot},
				{Key: "alive", Value: bson.D{{Key: "1", Value: int64(1<<3 | 1<<7)}}},
				{Key: "dead", Value: bson.D{{Key: "1", Value: int64(1 << 7)}}}},
		)
		w := e.watcher(modelA)
		assertAlive(t, w, "machine-0", true)
		assertAlive(t, w, "machine-1", true)
		assertAlive(t, w, "machine-2", false)

		// A new pinger continues the counter Juju left: seq 71 is field
		// "1", bit 8.
		pb := e.batcher()
		e.pinger(modelA, "machine-3", pb)
		flushAndSync(t, pb, w)
		assertAlive(t, w, "machine-3", true)
		var doc struct {
			Alive bson.M `bson:"alive"`
		}
		e.findID("presence.pings", docID(modelA, startSlot), &doc)
		if got, want := doc.Alive["1"], int64(1<<3|1<<7|1<<8); got != want {
			t.Errorf("alive.1 = %v (%T), want %v (%T)", got, got, want, want)
		}
	})
}

// TestClockSkewFollowsServerTime starts a pinger whose local clock is
// years behind the server: with skew measured, it pings the server's slot.
func TestClockSkewFollowsServerTime(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		p := liveness.NewPinger(e.store, modelA, "k", pb, liveness.WithClock(e.clock), liveness.WithPeriod(period))
		before := time.Now()
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		defer p.Stop()
		after := time.Now()
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		docs := e.raw("presence.pings", bson.D{})
		if len(docs) != 1 {
			t.Fatalf("%d ping documents, want 1", len(docs))
		}
		pinged, ok := bson.Raw(docs[0]).Lookup("slot").Int64OK()
		if !ok {
			t.Fatalf("ping document %v has no int64 slot", bson.Raw(docs[0]))
		}
		lo := slot.Of(before.Add(-time.Second).Unix(), 30)
		hi := slot.Of(after.Add(time.Second).Unix(), 30)
		if pinged < lo || pinged > hi {
			t.Errorf("pinged slot %d, want the server's, between %d and %d", pinged, lo, hi)
		}
	})
}

func TestPingerRejectsBadInput(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		cases := []struct {
			name  string
			p     *liveness.Pinger
			errIs string
		}{
			{"empty model", liveness.NewPinger(e.store, "", "k", pb), "empty model UUID"},
			{"nil store", liveness.NewPinger(nil, modelA, "k", pb), "nil store"},
			{"nil recorder", liveness.NewPinger(e.store, modelA, "k", nil), "nil ping recorder"},
			{"nil recorder func", liveness.NewPingerFunc(e.store, modelA, "k", nil), "nil ping recorder"},
			{"empty key", liveness.NewPinger(e.store, modelA, "", pb), "empty key"},
			{"NUL in key", liveness.NewPinger(e.store, modelA, "a\x00b", pb), "NUL"},
			{"bad UTF-8", liveness.NewPinger(e.store, modelA, "a\xffb", pb), "UTF-8"},
			{"key a byte too long", liveness.NewPinger(e.store, modelA, strings.Repeat("k", liveness.MaxKeyLength+1), pb), "longer than"},
			{"huge key", liveness.NewPinger(e.store, modelA, strings.Repeat("k", 1<<20), pb), "longer than"},
		}
		for _, c := range cases {
			err := c.p.Start()
			if err == nil || !strings.Contains(err.Error(), c.errIs) {
				t.Errorf("%s: Start = %v, want an error about %q", c.name, err, c.errIs)
			}
			if !errors.Is(err, errors.NotValid) {
				t.Errorf("%s: Start = %v, not a NotValid error", c.name, err)
			}
			if err := c.p.Stop(); err != nil {
				t.Errorf("%s: Stop after a failed Start = %v", c.name, err)
			}
			if err := c.p.Wait(); err != nil {
				t.Errorf("%s: Wait after a failed Start = %v", c.name, err)
			}
		}
		if n := e.count("presence.beings"); n != 0 {
			t.Errorf("bad pingers wrote %d beings", n)
		}
	})
}

func TestPingerStartTwice(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		p := e.pinger(modelA, "k", pb)
		err := p.Start()
		if !errors.Is(err, liveness.ErrAlreadyStarted) {
			t.Errorf("second Start = %v, not ErrAlreadyStarted", err)
		}
		if !errors.Is(err, errors.NotValid) {
			t.Errorf("second Start = %v, not a NotValid error", err)
		}
	})
}

// TestPingerDiesWithItsBatcher stops a pinger's batcher under it: the
// pinger's next ping fails and it stops with the batcher's error, and
// KillForTesting still writes the dead bit before it returns that error,
// as Juju's does.
func TestPingerDiesWithItsBatcher(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		w := e.watcher(modelA)
		pb := liveness.NewPingBatcher(e.store, e.opts(liveness.WithFlushInterval(time.Hour))...)
		p := liveness.NewPinger(e.store, modelA, "k", pb, e.opts()...)
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		if err := pb.Stop(); err != nil {
			t.Fatal(err)
		}
		w.Sync()
		assertAlive(t, w, "k", true)
		// The next ping goes to a stopped batcher: the pinger stops with
		// that.
		if err := e.clock.WaitAdvance(period, waitTimeout, 2); err != nil {
			t.Fatal(err)
		}
		err := p.Wait()
		if !errors.Is(err, liveness.ErrStopped) {
			t.Errorf("pinger error = %v, want ErrStopped", err)
		}
		if kerr := p.KillForTesting(); kerr == nil || kerr.Error() != err.Error() {
			t.Errorf("KillForTesting = %v, want the loop's error %v", kerr, err)
		}
		w.Sync()
		assertAlive(t, w, "k", false)
		if err := p.Stop(); err != nil {
			t.Errorf("Stop after KillForTesting = %v", err)
		}
	})
}

// shortPeriodCases are the slot periods and flush intervals
// TestShortPeriodsKeepLiveKeysAlive runs: periods from 1 s to Juju's 30 s,
// and flush intervals in each relation to them a batcher meets. The
// default of a second, which a batcher shortens to a quarter of a period
// under 4 s (1 s shows that) and keeps at 5 s and 30 s; a quarter of the
// period, the longest a batcher keeps; a tenth. Each but the shortened
// default runs at a short period and at 30 s. The table once also ran
// periods of 3 s and 10 s, which show no relation these do not, and
// defaults that the batcher shortens to the quarter listed beside them,
// which run the same schedule twice.
var shortPeriodCases = []struct{ period, flush time.Duration }{
	{time.Second, liveness.DefaultFlushInterval},
	{time.Second, time.Second / 10},
	{2 * time.Second, 2 * time.Second / 4},
	{2 * time.Second, 2 * time.Second / 10},
	{5 * time.Second, liveness.DefaultFlushInterval},
	{5 * time.Second, 5 * time.Second / 4},
	{30 * time.Second, liveness.DefaultFlushInterval},
	{30 * time.Second, 30 * time.Second / 4},
	{30 * time.Second, 30 * time.Second / 10},
}

// TestShortPeriodsKeepLiveKeysAlive runs a pinger, a batcher flushing on
// its own timer and a watcher at slot periods from 1 s to 30 s, each with
// the flush intervals the docs allow (longer ones are shortened to a
// quarter of the period), and steps the clock through several slots a
// tenth of a period at a time: the running key reads alive at every step.
// Each run starts nine tenths into a slot, where a pinger's first ping is
// the latest it can be.
func TestShortPeriodsKeepLiveKeysAlive(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		for _, c := range shortPeriodCases {
			p, flush := c.period, c.flush
			t.Run(fmt.Sprintf("period=%v/flush=%v", p, flush), func(t *testing.T) {
				e := e.sub(t)
				// A model of its own per case, named by its period and flush
				// interval in milliseconds.
				model := fmt.Sprintf("00000000-0000-4000-8000-%06d%06d", p/time.Millisecond, flush/time.Millisecond)
				into := time.Duration(e.clock.Now().UnixNano() % int64(p))
				e.advance((p*9/10 - into + p) % p)
				opts := e.opts(liveness.WithPeriod(p), liveness.WithFlushInterval(flush), liveness.WithPruning(false))
				pb := liveness.NewPingBatcher(e.store, opts...)
				w := liveness.NewWatcher(e.store, model, opts...)
				pinger := liveness.NewPinger(e.store, model, "k", pb, opts...)
				if err := pinger.Start(); err != nil {
					t.Fatal(err)
				}
				e.addTimers(3)
				defer func() {
					pinger.Stop()
					w.Stop()
					pb.Stop()
					e.addTimers(-3)
				}()
				flushAndSync(t, pb, w)
				assertAlive(t, w, "k", true)
				for step := 1; step <= 45; step++ {
					e.advance(p / 10)
					w.Sync()
					alive, err := w.Alive("k")
					if err != nil || !alive {
						t.Fatalf("at %v into the run: Alive = %v, %v", time.Duration(step)*p/10, alive, err)
					}
				}
			})
		}
	})
}
