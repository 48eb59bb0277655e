package liveness_test

import (
	"errors"
	"testing"
	"time"

	"github.com/juju/clock/testclock"

	"github.com/presence-go/presence/internal/memstore"
	"github.com/presence-go/presence/liveness"
)

// TestSlowReadDoesNotRefreshTheView is the regression test of a view's
// age after a slow read: the watcher counted it from the read's end, so a
// read that took most of a period and was followed by failures let the
// watcher answer from a view older than a period. The simulator found
// it. The age now counts from the read's start. It runs on the in-memory
// store, which can hold one read while the test clock moves.
func TestSlowReadDoesNotRefreshTheView(t *testing.T) {
	clk := testclock.NewClock(start)
	store := memstore.New()
	w := liveness.NewWatcher(store, modelA, liveness.WithClock(clk), liveness.WithClockSkew(false),
		liveness.WithPeriod(period), liveness.WithPruning(false), liveness.WithOutageTolerance(time.Hour),
		liveness.WithSharedReader(false)) // its own reads; a held poll of the shared reader is tested with the reader
	defer w.Stop()
	if _, err := w.Alive("k"); err != nil {
		t.Fatalf("first read: %v", err)
	}
	// The next read, a period on, is held until most of another period
	// has passed.
	gate := memstore.NewGate()
	store.Queue(memstore.OpReadSlots, memstore.Fault{Hold: gate})
	if err := clk.WaitAdvance(period, waitTimeout, 1); err != nil {
		t.Fatal(err)
	}
	waitForHeld(t, gate)
	clk.Advance(period * 9 / 10)
	// Every read fails from now on.
	store.SetFaults(func(memstore.Call) memstore.Fault {
		return memstore.Fault{Err: errors.New("the database is unreachable")}
	})
	gate.Open()
	// The held read succeeds; the watcher waits on its timer again.
	if err := clk.WaitAdvance(0, waitTimeout, 1); err != nil {
		t.Fatal(err)
	}
	// The next read, a period after the slow one ended, fails: the view,
	// read from the start of the slow read, is now 1.9 periods old; from
	// its end, it would be a period old.
	if err := clk.WaitAdvance(period, waitTimeout, 1); err != nil {
		t.Fatal(err)
	}
	if err := clk.WaitAdvance(0, waitTimeout, 1); err != nil {
		t.Fatal(err)
	}
	if alive, err := w.Alive("k"); err == nil {
		t.Fatalf("Alive = %v from a view read %v ago, with every read failing since", alive, period*19/10)
	}
}

// waitForHeld waits until gate holds an operation.
func waitForHeld(t *testing.T, gate *memstore.Gate) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for gate.Waiting() == 0 {
		select {
		case <-deadline:
			t.Fatal("no operation reached the gate")
		case <-time.After(time.Millisecond):
		}
	}
}
