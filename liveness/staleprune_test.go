package liveness_test

import (
	"context"
	"testing"
	"time"

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
	s := newSteppedServer(t)
	w := liveness.NewWatcher(s.store, modelA, s.opts()...)
	defer func() {
		if err := w.Stop(); err != nil {
			t.Errorf("stopping the watcher: %v", err)
		}
	}()
	// The watcher has read, and its clock measured the server's and waits
	// to measure it again a remeasure later.
	s.timers = 2
	s.settle()

	s.step(-3 * time.Minute)
	// Another controller measured the step, and pings the new frame's
	// slots.
	current := slot.Of(s.serverNow().Unix(), slot.Seconds(period))
	live := []int64{current - slot.Seconds(period), current}
	ctx := context.Background()
	var writes []liveness.SlotWrite
	for _, slotNum := range live {
		writes = append(writes, liveness.SlotWrite{ModelUUID: modelA, Slot: slotNum, Alive: []liveness.FieldBits{{Field: "0", Bits: 2}}})
	}
	if err := s.store.WriteSlots(ctx, writes); err != nil {
		t.Fatal(err)
	}

	if err := liveness.NewPruner(s.store, modelA, 0, s.opts()...).Prune(nil); err != nil {
		t.Fatal(err)
	}
	docs, err := s.store.ReadSlots(ctx, modelA, live)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != len(live) {
		t.Errorf("a prune just after a step back of the server's clock left %d of the %d live slot documents", len(docs), len(live))
	}
}
