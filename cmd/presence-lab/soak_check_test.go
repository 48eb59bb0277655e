package main

import (
	"testing"
	"time"
)

// testBounds are the soak's defaults: a 2 s period, 200 ms flushes, pings
// in the first half second of every slot.
var testBounds = soakBounds{
	period:         2 * time.Second,
	flush:          200 * time.Millisecond,
	pingWindow:     500 * time.Millisecond,
	readLag:        time.Second,
	flushLag:       1240 * time.Millisecond,
	clockTolerance: 100 * time.Millisecond,
	slack:          2 * time.Second,
}

// sec turns seconds since the soak began into a duration.
func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// history builds a soak record for tests: agents and watchers in model 0.
type history struct{ r soakRecord }

func newHistory(agents, watchers int) *history {
	h := &history{r: soakRecord{agentModel: make([]int, agents), watcherModel: make([]int, watchers)}}
	h.r.end = sec(100)
	h.r.finalAt = sec(99)
	return h
}

// call records a call of agent's pinger made at begin seconds and
// returning 10 ms later.
func (h *history) call(agent int, kind callKind, begin float64) *history {
	h.r.calls = append(h.r.calls, call{agent: agent, kind: kind, begin: sec(begin), end: sec(begin + 0.01)})
	return h
}

func (h *history) failedCall(agent int, kind callKind, begin float64) *history {
	h.r.calls = append(h.r.calls, call{agent: agent, kind: kind, begin: sec(begin), end: sec(begin + 0.01), failed: true})
	return h
}

// saw records a report of agent by watcher arriving at the given second;
// the first report of a pair is Watch's initial one.
func (h *history) saw(watcher, agent int, alive bool, at float64) *history {
	initial := true
	for _, o := range h.r.observations {
		if o.watcher == watcher && o.agent == agent {
			initial = false
		}
	}
	h.r.observations = append(h.r.observations, observation{watcher: watcher, agent: agent, alive: alive, initial: initial, at: sec(at)})
	return h
}

// read records what watcher's Alive said of agent at the end.
func (h *history) read(watcher, agent int, alive bool) *history {
	h.r.finalReads = append(h.r.finalReads, finalRead{watcher: watcher, agent: agent, alive: alive})
	return h
}

func (h *history) check() *soakVerdict { return checkSoak(testBounds, &h.r) }

// expectCounts checks the numbers of false deaths, flaps and false alives.
func expectCounts(t *testing.T, v *soakVerdict, falseDeaths, flaps, falseAlives int) {
	t.Helper()
	if len(v.falseDeaths) != falseDeaths || len(v.flaps) != flaps || len(v.falseAlives) != falseAlives {
		t.Errorf("false deaths %d, flaps %d, false alives %d; want %d, %d, %d",
			len(v.falseDeaths), len(v.flaps), len(v.falseAlives), falseDeaths, flaps, falseAlives)
	}
}

func TestSoakCheckRunningKeyReadDeadIsFalseDeathAndFlap(t *testing.T) {
	v := newHistory(1, 1).call(0, callStart, 0).
		saw(0, 0, true, 1).saw(0, 0, false, 10).saw(0, 0, true, 12).
		read(0, 0, true).check()
	expectCounts(t, v, 1, 1, 0)
	if f := v.falseDeaths[0]; f.at != sec(10) || !f.running || f.since != sec(0.01) {
		t.Errorf("false death %+v; want at 10s, running since 10ms", f)
	}
	if len(v.wrongFinal) != 0 || v.finalPairs != 1 || !v.failed() {
		t.Errorf("final: %d wrong of %d, failed %v; want 0 of 1, failed", len(v.wrongFinal), v.finalPairs, v.failed())
	}
}

func TestSoakCheckCleanHistoryPasses(t *testing.T) {
	// Agent 0 runs throughout; agent 1 is killed and seen dead at the
	// next poll; agent 2 is stopped quietly and expires; agent 3 is
	// started once the watcher watches it.
	v := newHistory(4, 1).call(0, callStart, 0).call(1, callStart, 0).call(2, callStart, 0).
		saw(0, 0, true, 1).saw(0, 1, true, 1).saw(0, 2, true, 1).saw(0, 3, false, 1).
		call(1, callKill, 10).saw(0, 1, false, 11.5).
		call(2, callStop, 10).saw(0, 2, false, 14).
		call(3, callStart, 20).saw(0, 3, true, 21).
		read(0, 0, true).read(0, 1, false).read(0, 2, false).read(0, 3, true).check()
	expectCounts(t, v, 0, 0, 0)
	if v.kills.judged != 1 || v.kills.late != 0 || v.stops.judged != 1 || v.stops.late != 0 {
		t.Errorf("kills %+v, stops %+v; want one of each judged, none late", v.kills, v.stops)
	}
	if v.kills.maxDelay != sec(1.49) || v.stops.maxDelay != sec(3.99) {
		t.Errorf("delays: kill %v, stop %v; want 1.49s and 3.99s", v.kills.maxDelay, v.stops.maxDelay)
	}
	if len(v.wrongFinal) != 0 || v.finalPairs != 4 || v.repeats != 0 || v.failed() {
		t.Errorf("final: %d wrong of %d, %d repeats, failed %v; want a pass", len(v.wrongFinal), v.finalPairs, v.repeats, v.failed())
	}
}

func TestSoakCheckRestartMustCauseNoEvent(t *testing.T) {
	restart := func() *history {
		return newHistory(1, 1).call(0, callStart, 0).saw(0, 0, true, 1).
			call(0, callStop, 5).call(0, callStart, 5.01)
	}
	v := restart().check()
	expectCounts(t, v, 0, 0, 0)
	if v.stops.judged != 0 || v.stops.unjudged != 1 {
		t.Errorf("stops %+v; want the restart's stop unjudged", v.stops)
	}
	// Even while the new sequence's first flush could be late, the old
	// one's last ping keeps the key alive.
	v = restart().saw(0, 0, false, 5.95).saw(0, 0, true, 7).check()
	expectCounts(t, v, 1, 1, 0)
	if f := v.falseDeaths[0]; !f.running || len(f.recent) != 2 || f.recent[0].kind != callStop || f.recent[1].kind != callStart {
		t.Errorf("false death %+v; want running, after a stop and a start", f)
	}
}

func TestSoakCheckKilledKeyMayReadDeadUntilItsNewFirstPing(t *testing.T) {
	killed := func() *history {
		return newHistory(1, 1).call(0, callStart, 0).saw(0, 0, true, 1).
			call(0, callKill, 5).call(0, callStart, 5.5)
	}
	// A read made before the new sequence's first ping was written.
	v := killed().saw(0, 0, false, 5.6).saw(0, 0, true, 6).check()
	expectCounts(t, v, 0, 0, 0)
	if v.kills.unjudged != 1 {
		t.Errorf("kills %+v; want the kill unjudged, cut short by the start", v.kills)
	}
	// Long after the first ping: a false death, and the alive after it a
	// flap.
	v = killed().saw(0, 0, false, 7.8).saw(0, 0, true, 8).check()
	expectCounts(t, v, 1, 1, 0)
}

func TestSoakCheckQuietStopCannotReadDeadAtOnce(t *testing.T) {
	stopped := func() *history {
		return newHistory(1, 1).call(0, callStart, 0).saw(0, 0, true, 1).call(0, callStop, 5)
	}
	v := stopped().saw(0, 0, false, 5.5).check()
	expectCounts(t, v, 1, 0, 0)
	if f := v.falseDeaths[0]; f.running || len(f.recent) != 2 || f.recent[1].kind != callStop {
		t.Errorf("false death %+v; want not running, last call the stop", f)
	}
	v = stopped().saw(0, 0, false, 6.5).check()
	expectCounts(t, v, 0, 0, 0)
}

func TestSoakCheckInitialReportMayLagAFlushAndAPoll(t *testing.T) {
	// The watcher's last poll came before the first ping was written.
	v := newHistory(1, 1).call(0, callStart, 0).saw(0, 0, false, 4).saw(0, 0, true, 4.5).check()
	expectCounts(t, v, 0, 0, 0)
	v = newHistory(1, 1).call(0, callStart, 0).saw(0, 0, false, 4.5).saw(0, 0, true, 5).check()
	expectCounts(t, v, 1, 1, 0)
	// A later report has no such allowance.
	v = newHistory(1, 1).call(0, callStart, 0).saw(0, 0, false, 0.5).saw(0, 0, false, 3.5).saw(0, 0, true, 4).check()
	expectCounts(t, v, 1, 1, 0)
	if v.repeats != 1 {
		t.Errorf("%d repeats, want 1", v.repeats)
	}
	// A repeat alone fails the soak: nothing changed, nothing should
	// have been sent.
	v = newHistory(1, 1).call(0, callStart, 0).saw(0, 0, true, 1).saw(0, 0, true, 3).check()
	expectCounts(t, v, 0, 0, 0)
	if v.repeats != 1 || !v.failed() {
		t.Errorf("%d repeats, failed %v; want 1, failed", v.repeats, v.failed())
	}
}

func TestSoakCheckAliveAfterAKillIsFalse(t *testing.T) {
	v := newHistory(1, 1).call(0, callStart, 0).saw(0, 0, true, 1).
		call(0, callKill, 10).saw(0, 0, false, 11).saw(0, 0, true, 12).check()
	expectCounts(t, v, 0, 0, 1)
	// A failed kill may have left the key pinging until it expires.
	v = newHistory(1, 1).call(0, callStart, 0).saw(0, 0, true, 1).
		failedCall(0, callKill, 10).saw(0, 0, false, 11).saw(0, 0, true, 12).check()
	expectCounts(t, v, 0, 0, 0)
}

func TestSoakCheckLateDeaths(t *testing.T) {
	v := newHistory(3, 2).
		call(0, callStart, 0).call(1, callStart, 0).call(2, callStart, 0).
		// Agent 0's kill: within the bound at watcher 0, late but within
		// the slack at watcher 1.
		call(0, callKill, 10).saw(0, 0, false, 11).saw(1, 0, false, 13.5).
		// Agent 1's kill: beyond the slack at watcher 0, never at 1.
		call(1, callKill, 20).saw(0, 1, false, 26).
		// Agent 2's quiet stop: within its bound at both.
		call(2, callStop, 30).saw(0, 2, false, 36).saw(1, 2, false, 37).
		check()
	if v.kills.judged != 4 || v.kills.late != 3 || v.kills.failing != 2 {
		t.Errorf("kills %+v; want 4 judged, 3 late, 2 failing", v.kills)
	}
	if v.stops.judged != 2 || v.stops.late != 0 {
		t.Errorf("stops %+v; want 2 judged, none late", v.stops)
	}
	var never *lateDeath
	for i, l := range v.late {
		if !l.seen {
			never = &v.late[i]
		}
	}
	if never == nil || never.agent != 1 || never.watcher != 1 || !never.failing || never.delay != sec(99.99-20) {
		t.Errorf("late deaths %+v; want agent 1 never seen by watcher 1, failing, for 79.98s", v.late)
	}
	if !v.failed() {
		t.Error("late deaths beyond the slack do not fail the soak")
	}
}

func TestSoakCheckDeathReportedBeforeTheCallCounts(t *testing.T) {
	// The watcher already said dead (a false death) before the kill: the
	// kill is seen at once.
	v := newHistory(1, 1).call(0, callStart, 0).saw(0, 0, true, 1).saw(0, 0, false, 5).
		call(0, callKill, 10).check()
	expectCounts(t, v, 1, 0, 0)
	if v.kills.judged != 1 || v.kills.late != 0 || v.kills.maxDelay != 0 {
		t.Errorf("kills %+v; want one judged at once", v.kills)
	}
}

func TestSoakCheckFinalState(t *testing.T) {
	h := newHistory(4, 1).
		call(0, callStart, 0).saw(0, 0, true, 1).
		call(1, callStart, 0).saw(0, 1, true, 1).call(1, callKill, 50).
		call(2, callStart, 0).saw(0, 2, true, 1).call(2, callStop, 98).
		call(3, callStart, 0).saw(0, 3, true, 1)
	h.r.finalReads = append(h.r.finalReads, finalRead{watcher: 0, agent: 3, failed: true})
	v := h.read(0, 0, true).read(0, 1, false).read(0, 2, true).check()
	// Agent 1's death was never reported; agent 2 stopped too recently to
	// judge; Alive failed for agent 3.
	if v.finalPairs != 3 || len(v.wrongFinal) != 2 {
		t.Fatalf("final: %d wrong of %d, %+v; want 2 of 3", len(v.wrongFinal), v.finalPairs, v.wrongFinal)
	}
	if m := v.wrongFinal[0]; m.agent != 1 || m.want || m.reported != "alive" || m.alive != "dead" {
		t.Errorf("first mismatch %+v; want agent 1, reported alive, Alive dead", m)
	}
	if m := v.wrongFinal[1]; m.agent != 3 || !m.want || m.reported != "alive" || m.alive != "error" {
		t.Errorf("second mismatch %+v; want agent 3, Alive failed", m)
	}
}
