package liveness_test

import (
	"testing"
	"time"

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
	s := newSteppedServer(t)
	pb, p, w := s.pinging(true)
	s.advance(time.Minute, 5*time.Second)
	if err := pb.Sync(); err != nil {
		t.Fatal(err)
	}
	w.Sync()
	ch := watch(t, w, "k", true)

	// The server's clock steps back by a period and a half; the clock
	// measures it at its next measure, within thirty seconds.
	s.step(-period * 3 / 2)
	s.advance(40*time.Second, 5*time.Second)
	s.killAfterMove(pb, p, w)
	assertChange(t, ch, liveness.Change{Key: "k", Alive: false})
	// Two periods on, past the slot the kill was written into: the key
	// stays dead.
	for i := 0; i < 12; i++ {
		s.advance(5*time.Second, 5*time.Second)
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
	s := newSteppedServer(t)
	pb, p, w := s.pinging(true)
	s.advance(time.Minute, 5*time.Second)

	// The server's clock steps back by three periods; the clock measures
	// it within thirty seconds, and its grace of a minute and a half passes
	// with the pinger pinging.
	s.step(-3 * period)
	s.advance(150*time.Second, 5*time.Second)
	s.killAfterMove(pb, p, w)
	if alive, err := w.Alive("k"); err != nil || alive {
		t.Fatalf("after the kill: Alive = %v, %v", alive, err)
	}
	// Four periods on, the server's clock has come round to every slot the
	// grace wrote in the old frame: the key stays dead.
	for i := 0; i < 24; i++ {
		s.advance(5*time.Second, 5*time.Second)
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
	s := newSteppedServer(t)
	_, p, _ := s.pinging(false)
	s.advance(time.Minute, 5*time.Second)
	s.step(3 * period)
	// The step is measured, and the grace and a measure after it pass.
	s.advance(150*time.Second, 5*time.Second)
	var written []int64
	s.store.Server().Observe(func(e memstore.Event) {
		if e.Op == memstore.OpWriteSlots && len(e.Dead) > 0 {
			written = append(written, e.Slot)
		}
	})
	if err := p.KillForTesting(); err != nil {
		t.Fatal(err)
	}
	s.store.Server().Observe(nil)
	current := slot.Of(s.serverNow().Unix(), slot.Seconds(period))
	if len(written) == 0 {
		t.Fatalf("the kill wrote no dead bit")
	}
	for _, slotNum := range written {
		if slotNum < current-slot.Seconds(period) {
			t.Errorf("the kill wrote its dead bit into slot %d, %d periods before the current one", slotNum, (current-slotNum)/slot.Seconds(period))
		}
	}
}
