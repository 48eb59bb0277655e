package presence

import (
	"testing"
	"time"

	"github.com/juju/clock/testclock"
	"github.com/juju/mgo/v2/bson"

	"github.com/presence-go/presence/internal/livestate"
	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/internal/testserver"
)

// TestPruneWaitsForTheServerClock has the server's clock 3.5 periods
// behind this host's. A watcher that has not yet read the database has not
// measured that, and must not prune: judged on this host's clock, the
// model's live slot documents would look old. Once it has read, it prunes
// with the delta it measured: the old slot goes and the live ones stay.
func TestPruneWaitsForTheServerClock(t *testing.T) {
	db := testserver.Shared(t).Database(t)
	clk := testclock.NewClock(time.Unix(1700000025, 0))
	const period = 30 * time.Second
	serverDelta := -7 * period / 2
	cfg := newConfig([]Option{WithClock(clk), WithPeriod(period)})
	const model = "server-behind"
	current := slot.At(clk.Now(), serverDelta, period)
	pings := db.C("presence.pings")
	for _, s := range []int64{current - 150, current - 30, current} {
		if err := pings.Insert(bson.M{"_id": docID(model, s), "slot": s, "alive": bson.M{"0": int64(2)}}); err != nil {
			t.Fatal(err)
		}
	}
	base := db.C("presence")
	w := &Watcher{
		base:      base,
		cols:      collectionsOf(base),
		modelUUID: model,
		cfg:       cfg,
		tracker:   livestate.NewTracker(),
		pruneDone: make(chan error),
		corrupt:   newCorruptLog(cfg.logger, model),
	}
	defer func() {
		w.tomb.Kill(nil)
		w.tomb.Wait()
	}()
	prune := func() {
		t.Helper()
		w.pruneSince = pruneMaxPeriods // due, whatever the draw
		w.maybePrune()
		if w.pruning {
			if err := <-w.pruneDone; err != nil {
				t.Fatal(err)
			}
			w.pruning = false
		}
	}

	prune()
	if n, _ := pings.Count(); n != 3 {
		t.Fatalf("a watcher that has not read the server's clock pruned %d of 3 slot documents", 3-n)
	}
	w.delta, w.skewMeasured, w.lastRead = serverDelta, true, clk.Now()
	prune()
	var left []struct {
		Slot int64 `bson:"slot"`
	}
	if err := pings.Find(nil).Sort("slot").All(&left); err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || left[0].Slot != current-30 || left[1].Slot != current {
		t.Fatalf("after a prune with the measured delta, slots %v are left; want the live %d and %d", left, current-30, current)
	}
}
