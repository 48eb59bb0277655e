package liveness_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/juju/clock/testclock"

	"github.com/presence-go/presence/internal/memstore"
	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/liveness"
)

// TestOverdueFrameHoldsNothing is the regression test of a refresh held on
// the word of a frame whose measures had been failing: the batcher held it
// to the end of the ping window by a server clock last measured long
// before, which a step during the failures could have made wrong, so the
// write landed late by the server's true clock. The simulator found it.
// Once a frame's last measure is older than a remeasure and the retries
// after it, the batcher holds nothing. It runs on the in-memory store,
// whose server clock follows the test clock.
func TestOverdueFrameHoldsNothing(t *testing.T) {
	periodSeconds := slot.Seconds(period)
	boundary := slot.Of(start.Unix(), periodSeconds) + periodSeconds
	clk := testclock.NewClock(time.Unix(boundary, 0))
	store := memstore.New()
	store.Server().SetClock(clk.Now)
	pb := liveness.NewPingBatcher(store, liveness.WithClock(clk), liveness.WithPeriod(period), liveness.WithFlushInterval(time.Second))
	defer func() {
		if err := pb.Stop(); err != nil {
			t.Errorf("stopping the batcher: %v", err)
		}
	}()
	advance := func(d time.Duration) {
		t.Helper()
		for passed := time.Duration(0); passed < d; passed += time.Second {
			// The batcher's timer and its clock's measurer.
			if err := clk.WaitAdvance(time.Second, waitTimeout, 2); err != nil {
				t.Fatal(err)
			}
		}
		if err := clk.WaitAdvance(0, waitTimeout, 2); err != nil {
			t.Fatal(err)
		}
	}
	written := func(slotNum int64) bool {
		t.Helper()
		docs, err := store.ReadSlots(context.Background(), modelA, []int64{slotNum})
		if err != nil {
			t.Fatal(err)
		}
		return len(docs) == 1
	}
	if err := pb.Ping(modelA, boundary, "0", 2); err != nil {
		t.Fatal(err)
	}
	if err := pb.Sync(); err != nil { // the clock is measured, the ping written
		t.Fatal(err)
	}
	if !written(boundary) {
		t.Fatalf("Sync did not write the first ping of a sequence")
	}
	advance(time.Second)

	// From now on every measure of the server's clock fails.
	store.SetFaults(func(c memstore.Call) memstore.Fault {
		if c.Op == memstore.OpServerTime {
			return memstore.Fault{Err: errors.New("no answer")}
		}
		return memstore.Fault{}
	})
	advance(period + 4*time.Second)
	// A refresh, 5 s into the next slot's ping window: a fresh frame would
	// hold it until the window ends, 7.5 s in; this one was last measured
	// 35 s ago, more than a remeasure and the retries after it.
	next := boundary + periodSeconds
	if err := pb.Ping(modelA, next, "0", 2); err != nil {
		t.Fatal(err)
	}
	// Flushes come every 0.8 to 1.2 s: two seconds on, at 7 s into the
	// window, one has come.
	advance(2 * time.Second)
	if !written(next) {
		t.Errorf("a refresh was held on the word of a frame measured %v ago", clk.Now().Sub(time.Unix(boundary, 0)))
	}
}
