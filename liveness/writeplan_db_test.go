package liveness_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/presence-go/presence/internal/wirebridge"
	"github.com/presence-go/presence/liveness"
)

// TestSteadyFleetWritesOncePerSlot runs agents in two models for four
// slots, the batcher flushing every second on its own, the clock stepped a
// second at a time: every agent reads alive at every step, though the
// batcher holds refreshes until the end of each slot's ping window; and
// each slot document gets at most two writes per slot (the refreshes land
// at the end of the ping window, and the few a late timer delays, at half
// the slot). Once, the refresh write fails, the database being away; the
// next flush writes it, and nobody reads dead.
func TestSteadyFleetWritesOncePerSlot(t *testing.T) {
	forEachFaceWithFaults(t, func(t *testing.T, e *env, bridge *wirebridge.Bridge) {
		pb := liveness.NewPingBatcher(e.store, e.opts(liveness.WithFlushInterval(time.Second))...)
		e.addTimers(1)
		defer func() {
			if err := pb.Stop(); err != nil {
				t.Errorf("stopping the batcher: %v", err)
			}
		}()
		models := []string{modelA, modelB}
		const agents = 10
		var watchers []*liveness.Watcher
		for _, m := range models {
			watchers = append(watchers, e.watcher(m))
			for i := 0; i < agents; i++ {
				e.pinger(m, fmt.Sprintf("agent-%d", i), pb)
			}
		}
		flushAndSync(t, pb, watchers...)

		checkAlive := func(when string) {
			t.Helper()
			for mi, w := range watchers {
				w.Sync()
				for i := 0; i < agents; i++ {
					if alive, err := w.Alive(fmt.Sprintf("agent-%d", i)); err != nil || !alive {
						t.Fatalf("%s: agent-%d of model %d reads %v, %v", when, i, mi, alive, err)
					}
				}
			}
		}
		// The clock starts 15 s into a slot; step to the next slot's start.
		for e.clock.Now().Unix()%30 != 0 {
			e.advance(time.Second)
		}
		const slots = 4
		var end func()
		for s := 0; s < slots; s++ {
			bridge.ResetStats()
			for second := 0; second < 30; second++ {
				// The refreshes of the third slot are due at 7.5 s: the
				// database is away from 7 s to 9 s, so the flush that
				// writes them fails, and the next one writes them.
				switch {
				case s == 2 && second == 7:
					end = outage(bridge)
				case s == 2 && second == 9:
					end()
				}
				e.advance(time.Second)
				checkAlive(fmt.Sprintf("slot %d, %d s in", s, second+1))
			}
			if got := bridge.Stats().UpdateStatements; got > 2*len(models) {
				t.Errorf("slot %d: %d upserts for %d slot documents; want at most two each", s, got, len(models))
			}
		}
		if n, _ := pb.Report()["flush-failures"].(int64); n < 1 {
			t.Errorf("no flush failed: the outage did not meet a refresh write (report %v)", pb.Report())
		}
	})
}
