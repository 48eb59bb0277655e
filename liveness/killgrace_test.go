package liveness_test

import (
	"sync"
	"testing"
	"time"

	"github.com/juju/clock/testclock"

	"github.com/presence-go/presence/internal/memstore"
	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/liveness"
)

// TestKillInTheGraceStaysDead is the regression test of a kill made in
// the grace after a step of the server's clock: the batcher had also
// written the key's bit into the old frame's slots, the next of which is
// the new frame's next slot after a step of a period, and the kill's dead
// bit went to the slot last pinged alone, so the key came back to life a
// period later. The simulator found it. The dead bit now goes wherever
// the grace put the alive one. It runs on the in-memory store, whose
// server clock follows the test clock.
func TestKillInTheGraceStaysDead(t *testing.T) {
	clk := testclock.NewClock(start)
	var mu sync.Mutex
	offset := time.Duration(0)
	store := memstore.New()
	store.Server().SetClock(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clk.Now().Add(offset)
	})
	opts := []liveness.Option{liveness.WithClock(clk), liveness.WithPeriod(period), liveness.WithPruning(false), liveness.WithSharedReader(false)}
	pb := liveness.NewPingBatcher(store, append(opts, liveness.WithFlushInterval(time.Second))...)
	defer pb.Stop()
	w := liveness.NewWatcher(store, modelA, opts...)
	defer w.Stop()
	p := liveness.NewPinger(store, modelA, "k", pb, opts...)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	timers := 4 // the batcher, watcher and pinger, and their clock's measurer
	advance := func(d time.Duration) {
		t.Helper()
		if err := clk.WaitAdvance(d, waitTimeout, timers); err != nil {
			t.Fatal(err)
		}
		if err := clk.WaitAdvance(0, waitTimeout, timers); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 12; i++ {
		advance(5 * time.Second)
	}
	if err := pb.Sync(); err != nil {
		t.Fatal(err)
	}
	w.Sync()
	ch := watch(t, w, "k", true)

	// The server's clock steps back by a period and a half; the clock
	// measures it at its next measure, within thirty seconds.
	mu.Lock()
	offset = -period * 3 / 2
	mu.Unlock()
	for i := 0; i < 8; i++ {
		advance(5 * time.Second)
	}
	if moves := pb.Report()["clock-moves"]; moves != int64(1) {
		t.Fatalf("the batcher reports %v moves; want the step measured", moves)
	}
	if err := p.KillForTesting(); err != nil {
		t.Fatal(err)
	}
	timers-- // the pinger's
	if err := pb.Sync(); err != nil {
		t.Fatal(err)
	}
	w.Sync()
	assertChange(t, ch, liveness.Change{Key: "k", Alive: false})
	// Two periods on, past the slot the kill was written into: the key
	// stays dead.
	for i := 0; i < 12; i++ {
		advance(5 * time.Second)
		w.Sync()
		if alive, err := w.Alive("k"); err != nil || alive {
			t.Fatalf("%v after the kill: Alive = %v, %v", time.Duration(i+1)*5*time.Second, alive, err)
		}
	}
	assertNoChange(t, ch)
}

// TestKillAfterTheGraceStaysDeadWhenTheClockComesRound is the regression
// test of a kill made after the grace that followed a step back of the
// server's clock: through the grace the batcher had written the key's alive
// bit into the old frame's slots, a step ahead of the new frame's; the kill
// wrote its dead bit into the new frame's slot only, so when the server's
// clock came round to the old frame's slots the key read alive again. The
// simulator found it. A death now writes its dead bit into every slot the
// grace may have put the alive one in.
func TestKillAfterTheGraceStaysDeadWhenTheClockComesRound(t *testing.T) {
	clk := testclock.NewClock(start)
	var mu sync.Mutex
	offset := time.Duration(0)
	store := memstore.New()
	store.Server().SetClock(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clk.Now().Add(offset)
	})
	opts := []liveness.Option{liveness.WithClock(clk), liveness.WithPeriod(period), liveness.WithPruning(false), liveness.WithSharedReader(false)}
	pb := liveness.NewPingBatcher(store, append(opts, liveness.WithFlushInterval(time.Second))...)
	defer pb.Stop()
	w := liveness.NewWatcher(store, modelA, opts...)
	defer w.Stop()
	p := liveness.NewPinger(store, modelA, "k", pb, opts...)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	timers := 4 // the batcher, watcher and pinger, and their clock's measurer
	advance := func(d time.Duration) {
		t.Helper()
		if err := clk.WaitAdvance(d, waitTimeout, timers); err != nil {
			t.Fatal(err)
		}
		if err := clk.WaitAdvance(0, waitTimeout, timers); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 12; i++ {
		advance(5 * time.Second)
	}

	// The server's clock steps back by three periods; the clock measures
	// it within thirty seconds, and its grace of a minute and a half passes
	// with the pinger pinging.
	mu.Lock()
	offset = -3 * period
	mu.Unlock()
	for i := 0; i < 30; i++ {
		advance(5 * time.Second)
	}
	if moves := pb.Report()["clock-moves"]; moves != int64(1) {
		t.Fatalf("the batcher reports %v moves; want the step measured", moves)
	}
	if err := p.KillForTesting(); err != nil {
		t.Fatal(err)
	}
	timers-- // the pinger's
	if err := pb.Sync(); err != nil {
		t.Fatal(err)
	}
	w.Sync()
	if alive, err := w.Alive("k"); err != nil || alive {
		t.Fatalf("after the kill: Alive = %v, %v", alive, err)
	}
	// Four periods on, the server's clock has come round to every slot the
	// grace wrote in the old frame: the key stays dead.
	for i := 0; i < 24; i++ {
		advance(5 * time.Second)
		w.Sync()
		if alive, err := w.Alive("k"); err != nil || alive {
			t.Fatalf("%v after the kill: Alive = %v, %v", time.Duration(i+1)*5*time.Second, alive, err)
		}
	}
}

// TestKillWritesNoSlotThePastHolds: after a step forward of the server's
// clock the old frame's slots are behind the new frame's; once its grace
// is over nobody reads them again, and a death writes no dead bit there,
// which would only bring back documents a prune removed.
func TestKillWritesNoSlotThePastHolds(t *testing.T) {
	clk := testclock.NewClock(start)
	var mu sync.Mutex
	offset := time.Duration(0)
	store := memstore.New()
	store.Server().SetClock(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clk.Now().Add(offset)
	})
	opts := []liveness.Option{liveness.WithClock(clk), liveness.WithPeriod(period), liveness.WithPruning(false), liveness.WithSharedReader(false)}
	pb := liveness.NewPingBatcher(store, append(opts, liveness.WithFlushInterval(time.Second))...)
	defer pb.Stop()
	p := liveness.NewPinger(store, modelA, "k", pb, opts...)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	timers := 3 // the batcher and pinger, and their clock's measurer
	advance := func(d time.Duration) {
		t.Helper()
		if err := clk.WaitAdvance(d, waitTimeout, timers); err != nil {
			t.Fatal(err)
		}
		if err := clk.WaitAdvance(0, waitTimeout, timers); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 12; i++ {
		advance(5 * time.Second)
	}
	mu.Lock()
	offset = 3 * period
	mu.Unlock()
	// The step is measured, and the grace and a measure after it pass.
	for i := 0; i < 30; i++ {
		advance(5 * time.Second)
	}
	var written []int64
	store.Server().Observe(func(e memstore.Event) {
		if e.Op == memstore.OpWriteSlots && len(e.Dead) > 0 {
			written = append(written, e.Slot)
		}
	})
	if err := p.KillForTesting(); err != nil {
		t.Fatal(err)
	}
	store.Server().Observe(nil)
	mu.Lock()
	current := slot.Of(clk.Now().Add(offset).Unix(), slot.Seconds(period))
	mu.Unlock()
	if len(written) == 0 {
		t.Fatalf("the kill wrote no dead bit")
	}
	for _, s := range written {
		if s < current-slot.Seconds(period) {
			t.Errorf("the kill wrote its dead bit into slot %d, %d periods before the current one", s, (current-s)/slot.Seconds(period))
		}
	}
}
