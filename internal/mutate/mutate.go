// Package mutate holds the switches by which the simulator's mutation test
// puts back, one at a time, defects that reviews found in the engine, and
// checks that the simulator reports a violation for each (see
// internal/sim). In a normal build every switch is off and Enabled is a
// constant false, so the compiler drops the code behind them; only a build
// with the tag presence_mutants can turn one on. Nothing else may use it.
package mutate

// Mutation names one defect that can be put back.
type Mutation int32

// The defects, each as it was before its fix.
const (
	// None is no defect.
	None Mutation = iota
	// FarPingPoisons: the write plan judges the age of every slot document
	// by the newest slot any ping named.
	FarPingPoisons
	// LonelyBatcherClock: only the batcher measures the server's clock
	// again; pingers and watchers keep the measure they made at start.
	LonelyBatcherClock
	// LateRefreshWaits: a refresh that comes after its slot's first
	// refresh write waits for half the slot.
	LateRefreshWaits
	// HangIsNoOutage: an outage starts only when a write has failed, and a
	// flush's write is bounded by the operation timeout alone.
	HangIsNoOutage
	// ShadowedField: the fast decoder of a slot document's part misses a
	// second spelling of a field whose first one holds zero.
	ShadowedField
	// PeriodMismatch: a pinger may ping through a batcher that plans by
	// another slot period.
	PeriodMismatch
	// RestartFlap: a sync reports a restarted key dead when its old
	// sequence leaves, before its new one is applied.
	RestartFlap
	// StaleAnswers: a watcher answers from its view however long its
	// reads have failed.
	StaleAnswers
	// RequeueByLocalClock: whether a failed write is too old to keep is
	// judged by the local clock, not the server's.
	RequeueByLocalClock
	// StopRacesPing: Ping reads the batcher's closed mark before it takes
	// its shard's lock, so a final flush may come in between and miss the
	// ping it then accepts.
	StopRacesPing
	// PrunerLocalClock: a watcher's pruner judges slots by the local clock.
	PrunerLocalClock
	// count is how many there are.
	count
)

var names = [...]string{
	None:                "none",
	FarPingPoisons:      "far-ping-poisons",
	LonelyBatcherClock:  "lonely-batcher-clock",
	LateRefreshWaits:    "late-refresh-waits",
	HangIsNoOutage:      "hang-is-no-outage",
	ShadowedField:       "shadowed-field",
	PeriodMismatch:      "period-mismatch",
	RestartFlap:         "restart-flap",
	StaleAnswers:        "stale-answers",
	RequeueByLocalClock: "requeue-by-local-clock",
	StopRacesPing:       "stop-races-ping",
	PrunerLocalClock:    "pruner-local-clock",
}

// String returns the mutation's name.
func (m Mutation) String() string {
	if m < 0 || m >= count {
		return "unknown"
	}
	return names[m]
}

// All returns every mutation but None, in order.
func All() []Mutation {
	out := make([]Mutation, 0, count-1)
	for m := None + 1; m < count; m++ {
		out = append(out, m)
	}
	return out
}
