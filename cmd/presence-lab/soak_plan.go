package main

import (
	"math/rand"
	"time"
)

// soakActionKind is what the soak does to an agent.
type soakActionKind int

const (
	actRestart      soakActionKind = iota // Stop a running agent, then Start it at once
	actStartStopped                       // Start an agent stopped or killed earlier
	actStop                               // Stop a running agent: quiet
	actKill                               // KillForTesting a running agent
	actNew                                // Watch a new key on every watcher of its model, then Start it
	soakActionKinds
)

func (k soakActionKind) String() string {
	return [...]string{"restarts", "starts of stopped agents", "quiet stops", "kills", "new agents"}[k]
}

// actionWeights are the odds of each kind of action, in tenths. Deaths
// (stops and kills) and births (starts of stopped agents and new agents)
// about balance, so that the number of running agents stays near where it
// began.
var actionWeights = [soakActionKinds]int{actRestart: 25, actStartStopped: 25, actStop: 20, actKill: 20, actNew: 10}

// soakAction is one action of the schedule.
type soakAction struct {
	at   time.Duration // since the run began
	kind soakActionKind
	// model is where a new agent goes; pick chooses among the agents the
	// action may apply to when it comes (which depends on what earlier
	// actions did, and on how long they took).
	model int
	pick  int
}

// planActions draws a schedule of about rate actions a second before
// until: the gaps between actions are exponential, as between the
// arrivals of independent events.
func planActions(rng *rand.Rand, rate float64, models int, until time.Duration) []soakAction {
	var actions []soakAction
	total := 0
	for _, w := range actionWeights {
		total += w
	}
	at := time.Duration(0)
	for {
		at += time.Duration(rng.ExpFloat64() / rate * float64(time.Second))
		if at >= until {
			return actions
		}
		roll := rng.Intn(total)
		kind := soakActionKind(0)
		for roll >= actionWeights[kind] {
			roll -= actionWeights[kind]
			kind++
		}
		actions = append(actions, soakAction{at: at.Round(time.Millisecond), kind: kind, model: rng.Intn(models), pick: rng.Intn(1 << 30)})
	}
}

// faultKind is a way the database misbehaves.
type faultKind int

const (
	faultDrop    faultKind = iota // every connection is cut; new ones are served
	faultOutage                   // connections are cut and refused for a while
	faultLatency                  // every reply is delayed for a while
	faultKinds
)

func (k faultKind) String() string {
	return [...]string{"connection drops", "outages", "latency spikes"}[k]
}

// The sizes of faults. Each is short enough that the library's bounds
// say no running agent may read dead: a running pinger's pings land at
// least once a period, and the batcher retries a failed flush at the next
// one.
const (
	minOutage   = 100 * time.Millisecond
	maxOutage   = 500 * time.Millisecond
	minLatency  = 50 * time.Millisecond
	maxLatency  = 300 * time.Millisecond
	minSpike    = time.Second
	maxSpike    = 2 * time.Second
	minFaultGap = 2 * time.Second // between the end of a fault and the next
	maxFaultGap = 5 * time.Second
)

// fault is one fault of the schedule.
type fault struct {
	at      time.Duration // since the run began
	kind    faultKind
	length  time.Duration // of an outage or a latency spike
	latency time.Duration // added to every reply during a spike
}

// planFaults draws faults one after another from from until until, with
// gaps of minFaultGap to maxFaultGap between them.
func planFaults(rng *rand.Rand, from, until time.Duration) []fault {
	var faults []fault
	at := from
	for {
		at += between(rng, minFaultGap, maxFaultGap)
		f := fault{at: at, kind: faultKind(rng.Intn(int(faultKinds)))}
		switch f.kind {
		case faultOutage:
			f.length = between(rng, minOutage, maxOutage)
		case faultLatency:
			f.length = between(rng, minSpike, maxSpike)
			f.latency = between(rng, minLatency, maxLatency)
		}
		if at+f.length >= until {
			return faults
		}
		faults = append(faults, f)
		at += f.length
	}
}

// between draws a duration uniformly in [lo, hi], to the millisecond.
func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return (lo + time.Duration(rng.Int63n(int64(hi-lo)+1))).Round(time.Millisecond)
}
