package main

import (
	"math/rand"
	"sort"
	"time"

	"github.com/presence-go/presence/internal/slot"
)

// action is one stop or kill of the schedule.
type action struct {
	at    time.Duration // since the scenario started
	kill  bool          // KillForTesting, else Stop
	agent int
}

func (a action) verb() string {
	if a.kill {
		return "kill"
	}
	return "stop"
}

// plan draws the schedule: distinct agents, times uniform in [from, to).
func plan(rng *rand.Rand, agents, kills, stops int, from, to time.Duration) []action {
	chosen := rng.Perm(agents)[:kills+stops]
	actions := make([]action, len(chosen))
	for i, agent := range chosen {
		at := from + time.Duration(rng.Int63n(int64(to-from)))
		actions[i] = action{at: at.Round(10 * time.Millisecond), kill: i < kills, agent: agent}
	}
	sort.SliceStable(actions, func(i, j int) bool { return actions[i].at < actions[j].at })
	return actions
}

// predicted returns the bounds the design gives for the delay between an
// action and the moment a watcher reports the key dead. A kill writes a
// dead bit, which the watcher reads at its next sync, at most one period
// later. A stopped pinger's last ping keeps its key alive until the slot
// after the one it pinged ends: between one period less the ping window
// (pingers ping early in every slot) and two periods plus a flush after
// the stop; the watcher, which reads every
// period, may take up to one period more to look.
func predicted(kill bool, period, flush time.Duration) (lo, hi, withPoll time.Duration) {
	if kill {
		return 0, period, period
	}
	lo = period - slot.PingWindow(period)
	hi = 2*period + flush
	return lo, hi, hi + period
}

// newRand returns the schedule's random source for seed.
func newRand(seed int64) *rand.Rand { return rand.New(rand.NewSource(seed)) }
