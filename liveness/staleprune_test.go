package liveness_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/juju/clock/testclock"

	"github.com/presence-go/presence/internal/memstore"
	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/liveness"
)

// TestPruneConfirmsTheServerClock is the regression test of a prune made
// on a frame measured before a step of the server's clock: a pruner judged
// slots by its controller's frame, up to a remeasure old, so after the
// server's clock stepped back by three minutes it took the slots that
// controllers which had measured the step were pinging for old, and
// removed them. The simulator found it. A prune now first checks one fresh
// sample of the server's clock against the frame; on a step it measures,
// the frame moves, and the prune waits out the grace. It runs on the
// in-memory store, whose server clock follows the test clock.
func TestPruneConfirmsTheServerClock(t *testing.T) {
	clk := testclock.NewClock(start)
	var mu sync.Mutex
	offset := time.Duration(0)
	server := memstore.NewServer()
	server.SetClock(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clk.Now().Add(offset)
	})
	store := server.NewStore("c0")
	opts := []liveness.Option{liveness.WithClock(clk), liveness.WithPeriod(period), liveness.WithPruning(false), liveness.WithSharedReader(false)}
	w := liveness.NewWatcher(store, modelA, opts...)
	defer func() {
		if err := w.Stop(); err != nil {
			t.Errorf("stopping the watcher: %v", err)
		}
	}()
	// The watcher has read, and its clock measured the server's and waits
	// to measure it again a remeasure later.
	if err := clk.WaitAdvance(0, waitTimeout, 2); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	offset = -3 * time.Minute
	mu.Unlock()
	// Another controller measured the step, and pings the new frame's
	// slots.
	current := slot.Of(clk.Now().Add(offset).Unix(), slot.Seconds(period))
	live := []int64{current - slot.Seconds(period), current}
	ctx := context.Background()
	var writes []liveness.SlotWrite
	for _, s := range live {
		writes = append(writes, liveness.SlotWrite{ModelUUID: modelA, Slot: s, Alive: []liveness.FieldBits{{Field: "0", Bits: 2}}})
	}
	if err := store.WriteSlots(ctx, writes); err != nil {
		t.Fatal(err)
	}

	if err := liveness.NewPruner(store, modelA, 0, opts...).Prune(nil); err != nil {
		t.Fatal(err)
	}
	docs, err := store.ReadSlots(ctx, modelA, live)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != len(live) {
		t.Errorf("a prune just after a step back of the server's clock left %d of the %d live slot documents", len(docs), len(live))
	}
}
