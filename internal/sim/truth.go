package sim

import (
	"time"
)

// The truth is what the simulation did, as the oracle judges what the
// watchers said by it: when each agent's pinger ran, which faults and
// clock moves happened, and what landed in the database. Every time here
// is the simulation's true time.

// endKind says how a run of a pinger ended.
type endKind int

const (
	endNone     endKind = iota // still running
	endQuiet                   // Stop: the key expires
	endKill                    // KillForTesting: a dead bit is written
	endGraceful                // Stop of a pinger WithGracefulStop: a dead bit is written
	endDied                    // the pinger's loop died (its batcher stopped)
	// endMaybeKilled is a kill, or a stop WithGracefulStop, whose write of
	// the dead bit failed: it may have landed before the failure (a reply
	// lost) or not, so the key may read dead at once, or expire.
	endMaybeKilled
)

func (k endKind) String() string {
	return [...]string{"running", "stop", "kill", "graceful stop", "death", "kill that may have failed"}[k]
}

// run is one Start of an agent's pinger until its end.
type run struct {
	start, end time.Time
	ended      endKind
	seq        int64
	ctl        int // the controller whose batcher writes its pings
	// landed is when its first ping landed in the database; zero until
	// then.
	landed time.Time
	// returned is when the call that ended it returned.
	returned time.Time
}

// up reports whether the run was running at t.
func (r *run) up(t time.Time) bool {
	return !t.Before(r.start) && (r.ended == endNone || t.Before(r.end))
}

// keyTruth is everything the oracle knows of one key.
type keyTruth struct {
	model int
	key   string
	runs  []*run
}

// current returns the key's last run, or nil.
func (k *keyTruth) current() *run {
	if len(k.runs) == 0 {
		return nil
	}
	return k.runs[len(k.runs)-1]
}

// lastBefore returns the index of the key's last run started at or before
// t, or -1.
func (k *keyTruth) lastBefore(t time.Time) int {
	i := len(k.runs) - 1
	for i >= 0 && k.runs[i].start.After(t) {
		i--
	}
	return i
}

// mustLive reports whether no watcher may read the key dead at t: a run
// is up, or the last one stopped quietly less than silence ago (its last
// ping keeps the key alive at least that long). It returns the first of
// the runs joined by quiet stops each followed by a Start within join
// (the silence less the time a new run's first ping takes to land): from
// when its first ping landed, the key has been alive throughout.
func (k *keyTruth) mustLive(t time.Time, silence, join time.Duration) (first *run, ok bool) {
	i := k.lastBefore(t)
	if i < 0 {
		return nil, false
	}
	r := k.runs[i]
	if !r.up(t) && (r.ended != endQuiet || t.Sub(r.end) >= silence) {
		return nil, false
	}
	for i > 0 && k.runs[i-1].ended == endQuiet && k.runs[i].start.Sub(k.runs[i-1].end) < join {
		i--
	}
	return k.runs[i], true
}

// mayLive reports whether a watcher may read the key alive at t: a run was
// up at some moment of [t-visible, t].
func (k *keyTruth) mayLive(t time.Time, visible time.Duration) bool {
	from := t.Add(-visible)
	for _, r := range k.runs {
		if r.start.After(t) {
			continue
		}
		if r.ended == endNone || !r.end.Before(from) {
			return true
		}
	}
	return false
}

// hostStep is the kind of the fault a step of a host's clock is.
const hostStep = "host clock step"

// fault is one fault of a controller's connection, or a clock event,
// while it lasts.
type fault struct {
	ctl      int // the controller, or -1 for the server
	kind     string
	from, to time.Time
	// excuses is set for faults the library does not promise to hide: a
	// write delayed beyond the slack, a batcher stopped by a long outage,
	// a step of a host's clock that has no monotonic reading.
	excuses bool
}
