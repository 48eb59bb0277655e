package main

import (
	"math"
	"sort"
	"time"
)

// The soak's checker judges what the watchers said by what the soak did to
// the pingers. It is pure: every time is a duration since the soak began,
// and nothing here reads a clock or a database.

// callKind says which pinger method a call was.
type callKind int

const (
	callStart callKind = iota // Start
	callStop                  // Stop: quiet, the key expires
	callKill                  // KillForTesting: a dead bit is written
)

func (k callKind) String() string {
	switch k {
	case callStart:
		return "start"
	case callStop:
		return "stop"
	default:
		return "kill"
	}
}

// call is one Start, Stop or KillForTesting of an agent's pinger.
type call struct {
	agent      int
	kind       callKind
	begin, end time.Duration // when it was made and when it returned
	failed     bool          // it returned an error
}

// observation is one Change a watcher sent, as the soak received it.
type observation struct {
	watcher int
	agent   int
	alive   bool
	initial bool // Watch's first report of the key to that watcher
	at      time.Duration
}

// finalRead is what a watcher's Alive said of an agent at the end.
type finalRead struct {
	watcher, agent int
	alive          bool
	failed         bool // Alive returned an error
}

// soakRecord is everything the soak did and saw.
type soakRecord struct {
	agentModel   []int // the model of every agent, by agent
	watcherModel []int // the model of every watcher, by watcher
	calls        []call
	// observations are in the order each watcher sent them; those of
	// different watchers may interleave in any way.
	observations []observation
	// finalAt is when the last batcher Sync returned: the final reads
	// (finalReads, and the watchers' last observations) are judged by the
	// truth at that moment.
	finalAt    time.Duration
	finalReads []finalRead
	// end is when the soak stopped listening: deaths whose deadline comes
	// after it are not judged.
	end time.Duration
}

// soakBounds are the library's documented bounds and the allowances the
// checker makes for a soak on a real, and sometimes faulty, database.
type soakBounds struct {
	period, flush time.Duration
	pingWindow    time.Duration // how far into each slot a running pinger pings at the latest
	// readLag is how long before its arrival the watcher may have made the
	// read a Change reports: a sync under a latency spike takes two round
	// trips, and the forwarding a little more.
	readLag time.Duration
	// flushLag is how long after Start returns its first ping may take to
	// be written: a flush interval with its jitter, and a retry after a
	// fault.
	flushLag time.Duration
	// clockTolerance is taken off the shortest time a quietly stopped key
	// stays alive: pinger and watcher each measure the server's clock, and
	// a busy pinger's timer fires late.
	clockTolerance time.Duration
	// slack is how much later than its bound and the read lag a death may
	// be seen before it fails the soak: a watcher's read that a fault made
	// fail is retried at its next poll.
	slack time.Duration
}

// quietSilence is how long after a Stop the key cannot read dead: its last
// ping, made at most a ping window into the slot it is for, keeps it alive
// until the slot after that one ends.
func (b soakBounds) quietSilence() time.Duration {
	return b.period - b.pingWindow - b.clockTolerance
}

// quietVisible is how long after a Stop a read may still find the key
// alive: its last ping expires two periods (and a flush) later at most.
func (b soakBounds) quietVisible() time.Duration { return 2*b.period + b.flush }

// deathBound is the documented bound on the delay from a stop or kill
// until a watcher reports the key dead: a kill is seen at the watcher's
// next sync, at most a period later; a quiet stop within two periods, a
// flush and one poll.
func (b soakBounds) deathBound(quiet bool) time.Duration {
	if quiet {
		return 3*b.period + b.flush
	}
	return b.period
}

// forever stands for a span with no end, or no beginning.
const forever = time.Duration(math.MaxInt64)

// span is an interval of time, ends included.
type span struct{ from, to time.Duration }

// overlaps reports whether any of spans meets [from, to].
func overlaps(spans []span, from, to time.Duration) bool {
	for _, s := range spans {
		if s.from <= to && s.to >= from {
			return true
		}
	}
	return false
}

// death is a stop or kill of a running pinger.
type death struct {
	agent      int
	kind       callKind
	quiet      bool // a Stop, or a kill whose dead bit may not have been written
	begin, end time.Duration
	// until is when the pinger was next started (the call's beginning),
	// or forever.
	until time.Duration
}

// timeline is what the calls say of one agent.
type timeline struct {
	// deadable are the spans in which a read may find the key dead,
	// aliveable those in which it may find it alive. They overlap around
	// every change.
	deadable, aliveable []span
	// running are the spans in which the pinger ran.
	running []span
	deaths  []*death
}

// timelineOf builds the timeline of one agent from its calls, sorted by
// their beginning, which must not overlap (the soak makes one call at a
// time per agent).
func timelineOf(b soakBounds, calls []call) *timeline {
	tl := &timeline{}
	deadFrom := -forever // a key never started reads dead
	deadOpen := true
	var aliveFrom, runFrom time.Duration
	running := false
	for _, c := range calls {
		switch {
		case c.kind == callStart && c.failed:
			// A failed Start pings nothing: nothing changes.
		case c.kind == callStart:
			if running {
				continue // cannot happen: Start of a running pinger fails
			}
			// A key that could read dead when Start was called may go on
			// reading dead until the first ping is written. One stopped
			// quietly too recently to read dead must never read dead:
			// its last ping outlives the new sequence's first flush.
			if deadOpen && deadFrom <= c.begin {
				tl.deadable = append(tl.deadable, span{deadFrom, c.end + b.flushLag})
			}
			deadOpen = false
			for _, d := range tl.deaths {
				if d.until == forever {
					d.until = c.begin
				}
			}
			// The first ping may be written before Start returns.
			aliveFrom, runFrom, running = c.begin, c.end, true
		case running:
			tl.running = append(tl.running, span{runFrom, c.begin})
			running = false
			quiet := c.kind == callStop || c.failed
			if quiet {
				tl.aliveable = append(tl.aliveable, span{aliveFrom, c.end + b.quietVisible()})
			} else {
				tl.aliveable = append(tl.aliveable, span{aliveFrom, c.end})
			}
			// A failed kill may have written its dead bit all the same.
			deadFrom = c.begin
			if c.kind == callStop {
				deadFrom = c.begin + b.quietSilence()
			}
			deadOpen = true
			tl.deaths = append(tl.deaths, &death{agent: c.agent, kind: c.kind, quiet: quiet, begin: c.begin, end: c.end, until: forever})
		}
	}
	if running {
		tl.running = append(tl.running, span{runFrom, forever})
		tl.aliveable = append(tl.aliveable, span{aliveFrom, forever})
	}
	if deadOpen {
		tl.deadable = append(tl.deadable, span{deadFrom, forever})
	}
	return tl
}

// runningAt reports whether the pinger ran at t, and since when.
func (tl *timeline) runningAt(t time.Duration) (bool, time.Duration) {
	for _, s := range tl.running {
		if s.from <= t && t < s.to {
			return true, s.from
		}
	}
	return false, 0
}

// callsBefore returns the last n calls of calls (sorted by begin) made
// at or before t, oldest first.
func callsBefore(calls []call, t time.Duration, n int) []call {
	i := sort.Search(len(calls), func(i int) bool { return calls[i].begin > t })
	return append([]call(nil), calls[max(0, i-n):i]...)
}

// finding is one thing the checker found wrong, or late.
type finding struct {
	watcher, agent int
	at             time.Duration // the observation's arrival, or the deadline missed
	// running says whether the pinger ran at that moment, and since says
	// since when; recent are the agent's last calls before it, oldest
	// first.
	running bool
	since   time.Duration
	recent  []call
}

// lateDeath is a death seen past its bound and the read lag, or never
// seen.
type lateDeath struct {
	death
	watcher int
	delay   time.Duration // from the call's return to the report; if !seen, at least this
	seen    bool
	failing bool // later than the bound, the read lag and the slack, or never seen
}

// deathStats sums up how the deaths of one kind were seen.
type deathStats struct {
	judged   int           // deaths (per watcher) whose deadline fell in the soak
	unjudged int           // cut short by a restart, or by the end
	late     int           // seen past the bound and the read lag
	failing  int           // later still by more than the slack, or never seen
	maxDelay time.Duration // of those seen
}

// soakVerdict is what the checker found.
type soakVerdict struct {
	falseDeaths []finding // dead reports that nothing explains
	flaps       []finding // false deaths followed by an alive report, the pinger running throughout
	falseAlives []finding // alive reports that no run of the pinger explains
	repeats     int       // reports of the state already reported: a Change where nothing changed
	kills       deathStats
	stops       deathStats
	late        []lateDeath
	wrongFinal  []finalMismatch
	finalPairs  int // (watcher, agent) pairs compared at the end
}

// finalMismatch is a watcher whose view of an agent at the end differs
// from the truth.
type finalMismatch struct {
	watcher, agent int
	want           bool
	reported       string // the last Change: "alive", "dead" or "none"
	alive          string // what Alive said: "alive", "dead" or "error"
}

// failed reports whether the verdict fails the soak.
func (v *soakVerdict) failed() bool {
	return len(v.falseDeaths) > 0 || len(v.flaps) > 0 || len(v.falseAlives) > 0 || v.repeats > 0 ||
		v.kills.failing > 0 || v.stops.failing > 0 || len(v.wrongFinal) > 0
}

// checkSoak judges every observation, death and final read of r.
func checkSoak(b soakBounds, r *soakRecord) *soakVerdict {
	callsOf := make([][]call, len(r.agentModel))
	for _, c := range r.calls {
		callsOf[c.agent] = append(callsOf[c.agent], c)
	}
	for _, calls := range callsOf {
		sort.SliceStable(calls, func(i, j int) bool { return calls[i].begin < calls[j].begin })
	}
	timelines := make([]*timeline, len(r.agentModel))
	for a := range timelines {
		timelines[a] = timelineOf(b, callsOf[a])
	}
	type pair struct{ watcher, agent int }
	seen := map[pair][]observation{}
	for _, o := range r.observations {
		p := pair{o.watcher, o.agent}
		seen[p] = append(seen[p], o)
	}
	describe := func(w, a int, at time.Duration) finding {
		f := finding{watcher: w, agent: a, at: at}
		f.running, f.since = timelines[a].runningAt(at)
		f.recent = callsBefore(callsOf[a], at, 2)
		return f
	}

	v := &soakVerdict{}
	pairs := make([]pair, 0, len(seen))
	for p := range seen {
		pairs = append(pairs, p)
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].watcher != pairs[j].watcher {
			return pairs[i].watcher < pairs[j].watcher
		}
		return pairs[i].agent < pairs[j].agent
	})
	for _, p := range pairs {
		tl := timelines[p.agent]
		var falseDeathAt time.Duration
		falseDeath := false
		for i, o := range seen[p] {
			if i > 0 && o.alive == seen[p][i-1].alive {
				v.repeats++
			}
			// Watch's first report gives the state of the watcher's last
			// poll, up to a period old.
			from := o.at - b.readLag
			if o.initial {
				from -= b.period
			}
			if !o.alive {
				falseDeath = !overlaps(tl.deadable, from, o.at)
				falseDeathAt = o.at
				if falseDeath {
					v.falseDeaths = append(v.falseDeaths, describe(p.watcher, p.agent, o.at))
				}
				continue
			}
			if !overlaps(tl.aliveable, from, o.at) {
				v.falseAlives = append(v.falseAlives, describe(p.watcher, p.agent, o.at))
			}
			if falseDeath && !overlaps(tl.deadable, falseDeathAt, o.at) {
				v.flaps = append(v.flaps, describe(p.watcher, p.agent, o.at))
			}
			falseDeath = false
		}
	}

	for w, model := range r.watcherModel {
		for a, m := range r.agentModel {
			if m != model {
				continue
			}
			for _, d := range timelines[a].deaths {
				v.judgeDeath(b, r, d, w, seen[pair{w, a}])
			}
		}
	}
	v.judgeFinal(b, r, timelines, func(w, a int) []observation { return seen[pair{w, a}] })
	return v
}

// judgeDeath judges how soon watcher w reported death d, from the
// watcher's observations of the agent.
func (v *soakVerdict) judgeDeath(b soakBounds, r *soakRecord, d *death, w int, obs []observation) {
	stats := &v.kills
	if d.quiet {
		stats = &v.stops
	}
	bound := b.deathBound(d.quiet)
	horizon := min(d.until, r.end)
	// The key counts as reported dead from the first dead report after
	// the call began, or from the call if the last report before it
	// already said dead.
	seenAt, seen := time.Duration(0), false
	for _, o := range obs {
		if o.at <= d.begin {
			seenAt, seen = d.begin, !o.alive
			continue
		}
		if seen || o.at >= horizon {
			break
		}
		if !o.alive {
			seenAt, seen = o.at, true
			break
		}
	}
	lateAfter, failAfter := bound+b.readLag, bound+b.readLag+b.slack
	if seen && seenAt < horizon {
		delay := max(0, seenAt-d.end)
		stats.judged++
		stats.maxDelay = max(stats.maxDelay, delay)
		if delay > lateAfter {
			stats.late++
			failing := delay > failAfter
			if failing {
				stats.failing++
			}
			v.late = append(v.late, lateDeath{death: *d, watcher: w, delay: delay, seen: true, failing: failing})
		}
		return
	}
	waited := horizon - d.end
	switch {
	case waited > failAfter:
		stats.judged++
		stats.late++
		stats.failing++
		v.late = append(v.late, lateDeath{death: *d, watcher: w, delay: waited, failing: true})
	case waited > lateAfter:
		stats.judged++
		stats.late++
		v.late = append(v.late, lateDeath{death: *d, watcher: w, delay: waited})
	default:
		stats.unjudged++
	}
}

// judgeFinal compares every watcher's last report and final Alive of each
// agent of its model with the truth at r.finalAt. A key stopped quietly
// too recently to have surely expired may read either way.
func (v *soakVerdict) judgeFinal(b soakBounds, r *soakRecord, timelines []*timeline, obs func(w, a int) []observation) {
	reads := map[[2]int]finalRead{}
	for _, fr := range r.finalReads {
		reads[[2]int{fr.watcher, fr.agent}] = fr
	}
	for w, model := range r.watcherModel {
		for a, m := range r.agentModel {
			if m != model {
				continue
			}
			tl := timelines[a]
			want, sure := wantAt(b, tl, r.finalAt)
			if !sure {
				continue
			}
			v.finalPairs++
			reported := "none"
			if o := obs(w, a); len(o) > 0 {
				reported = stateName(o[len(o)-1].alive)
			}
			alive := "none"
			if fr, ok := reads[[2]int{w, a}]; ok {
				alive = stateName(fr.alive)
				if fr.failed {
					alive = "error"
				}
			}
			if reported != stateName(want) || alive != stateName(want) {
				v.wrongFinal = append(v.wrongFinal, finalMismatch{watcher: w, agent: a, want: want, reported: reported, alive: alive})
			}
		}
	}
}

// wantAt returns whether the key must read alive at t, after a batcher and
// a watcher Sync, and false as second result when either is right.
func wantAt(b soakBounds, tl *timeline, t time.Duration) (alive, sure bool) {
	if running, _ := tl.runningAt(t); running {
		return true, true
	}
	if len(tl.deaths) == 0 {
		return false, true // never started
	}
	last := tl.deaths[len(tl.deaths)-1]
	if last.quiet && t-last.end <= b.quietVisible()+b.slack {
		return false, false
	}
	if !last.quiet && t <= last.end {
		return false, false
	}
	return false, true
}

func stateName(alive bool) string {
	if alive {
		return "alive"
	}
	return "dead"
}
