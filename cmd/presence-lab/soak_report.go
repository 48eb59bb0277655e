package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// maxListed is how many findings of each kind the summary lists.
const maxListed = 10

// printProgress prints a line on how the run goes.
func (r *soakRun) printProgress() {
	r.mu.Lock()
	defer r.mu.Unlock()
	actions, running := 0, 0
	for _, n := range r.done {
		actions += n
	}
	for _, a := range r.agents {
		if a.running {
			running++
		}
	}
	failed := 0
	for _, n := range r.failedCalls {
		failed += n
	}
	fmt.Fprintf(r.out, "%6.1fs  actions %d (%d calls failed)  faults %d  events %d  agents running %d of %d\n",
		time.Since(r.runFrom).Seconds(), actions, failed, len(r.faults), len(r.record.observations), running, len(r.agents))
}

// printSummary prints what the soak did and what v found.
func (r *soakRun) printSummary(v *soakVerdict) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.out
	fmt.Fprintf(out, "Summary (seed %d):\n", r.cfg.seed)

	actions := 0
	for _, n := range r.done {
		actions += n
	}
	fmt.Fprintf(out, "  actions: %d:", actions)
	for kind, n := range r.done {
		sep := ","
		if kind == 0 {
			sep = ""
		}
		fmt.Fprintf(out, "%s %d %v", sep, n, soakActionKind(kind))
	}
	fmt.Fprintf(out, "; calls that failed: %d starts, %d stops, %d kills\n",
		r.failedCalls[callStart], r.failedCalls[callStop], r.failedCalls[callKill])
	r.printFaults()
	running := 0
	for _, a := range r.agents {
		if a.running {
			running++
		}
	}
	fmt.Fprintf(out, "  agents: %d, %d running at the end; events: %d from %d watchers\n",
		len(r.agents), running, len(r.record.observations), len(r.watchers))

	r.printFindings("false deaths (dead while running, or too soon after a quiet stop)", v.falseDeaths, "dead")
	r.printFindings("flaps (dead, then alive, the pinger running throughout)", v.flaps, "alive again")
	r.printFindings("false alives (alive with no run of the pinger to explain it)", v.falseAlives, "alive")
	fmt.Fprintf(out, "  repeated states (a Change saying what the last one said): %d\n", v.repeats)
	r.printDeaths("kills", v.kills, false)
	r.printDeaths("quiet stops", v.stops, true)
	r.printLate(v.late)
	fmt.Fprintf(out, "  final state: %d (watcher, key) pairs compared with the truth, %d wrong\n", v.finalPairs, len(v.wrongFinal))
	for i, m := range v.wrongFinal {
		if i == maxListed {
			fmt.Fprintf(out, "    ... and %d more\n", len(v.wrongFinal)-maxListed)
			break
		}
		a := r.agents[m.agent]
		fmt.Fprintf(out, "    watcher %d: %s in model %s is %s; its last Change said %s, Alive says %s\n",
			m.watcher, a.key, r.uuids[a.model][:8], stateName(m.want), m.reported, m.alive)
	}
	for _, e := range r.finalErrors {
		fmt.Fprintf(out, "  %s\n", e)
	}
	if len(r.deadWorkers) == 0 {
		fmt.Fprintln(out, "  dead workers: none")
	} else {
		fmt.Fprintf(out, "  dead workers: %d\n", len(r.deadWorkers))
		for _, d := range r.deadWorkers {
			fmt.Fprintf(out, "    %s\n", d)
		}
	}
	r.warnings.mu.Lock()
	for _, msg := range sortedKeys(r.warnings.counts) {
		fmt.Fprintf(out, "  library warnings %q: %d\n", msg, r.warnings.counts[msg])
	}
	r.warnings.mu.Unlock()
}

// printFaults sums up the faults carried out. The caller holds r.mu.
func (r *soakRun) printFaults() {
	var count [faultKinds]int
	var total [faultKinds]time.Duration
	var longest [faultKinds]time.Duration
	var worstLatency time.Duration
	for _, f := range r.faults {
		count[f.kind]++
		total[f.kind] += f.length
		longest[f.kind] = max(longest[f.kind], f.length)
		worstLatency = max(worstLatency, f.latency)
	}
	if !r.cfg.faults {
		fmt.Fprintln(r.out, "  faults: off")
		return
	}
	fmt.Fprintf(r.out, "  faults: %d: %d %v; %d %v, %v in all, the longest %v; %d %v, %v in all, up to %v a reply\n",
		len(r.faults), count[faultDrop], faultDrop,
		count[faultOutage], faultOutage, total[faultOutage].Round(time.Millisecond), longest[faultOutage].Round(time.Millisecond),
		count[faultLatency], faultLatency, total[faultLatency].Round(time.Millisecond), worstLatency)
}

// printFindings lists findings under title. The caller holds r.mu.
func (r *soakRun) printFindings(title string, findings []finding, what string) {
	fmt.Fprintf(r.out, "  %s: %d\n", title, len(findings))
	for i, f := range findings {
		if i == maxListed {
			fmt.Fprintf(r.out, "    ... and %d more\n", len(findings)-maxListed)
			break
		}
		a := r.agents[f.agent]
		state := "not running"
		if f.running {
			state = "running since " + r.at(f.since)
		}
		last := "no call before"
		if len(f.recent) > 0 {
			last = "after " + r.calls(f.recent)
		}
		fmt.Fprintf(r.out, "    watcher %d: %s in model %s %s at %s; %s, %s%s\n",
			f.watcher, a.key, r.uuids[a.model][:8], what, r.at(f.at), state, last, r.faultNear(f.at))
	}
}

// calls describes calls: what each was, when it was made and returned.
func (r *soakRun) calls(calls []call) string {
	var parts []string
	for _, c := range calls {
		part := fmt.Sprintf("%v %s-%s", c.kind, r.at(c.begin), r.at(c.end))
		if c.failed {
			part += " (failed)"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}

// faultNear describes the last fault that began before t, if it was
// recent. The caller holds r.mu.
func (r *soakRun) faultNear(t time.Duration) string {
	const recent = 5 * time.Second
	for i := len(r.faults) - 1; i >= 0; i-- {
		f := r.faults[i]
		if f.at > t {
			continue
		}
		switch {
		case t <= f.at+f.length:
			return fmt.Sprintf("; during a fault (%v)", faultName(f))
		case t-(f.at+f.length) <= recent:
			return fmt.Sprintf("; %.2fs after a fault (%v)", (t - f.at - f.length).Seconds(), faultName(f))
		}
		return ""
	}
	return ""
}

func faultName(f fault) string {
	switch f.kind {
	case faultDrop:
		return "connections dropped"
	case faultOutage:
		return fmt.Sprintf("outage of %v", f.length.Round(time.Millisecond))
	default:
		return fmt.Sprintf("latency %v for %v", f.latency, f.length.Round(time.Millisecond))
	}
}

// printDeaths sums up how soon deaths of one kind were seen. The caller
// holds r.mu.
func (r *soakRun) printDeaths(name string, s deathStats, quiet bool) {
	b := r.bounds
	bound := b.deathBound(quiet)
	fmt.Fprintf(r.out, "  %s: %d judged (one per watcher of the model), %d cut short by a restart or the end; seen within %v at most; %d later than %v (bound %v + read lag %v), %d of them later than %v (+ slack %v) or never\n",
		name, s.judged, s.unjudged, s.maxDelay.Round(time.Millisecond), s.late, bound+b.readLag, bound, b.readLag,
		s.failing, bound+b.readLag+b.slack, b.slack)
}

// printLate lists the late deaths, those that fail first. The caller
// holds r.mu.
func (r *soakRun) printLate(late []lateDeath) {
	if len(late) == 0 {
		return
	}
	sort.SliceStable(late, func(i, j int) bool { return late[i].failing && !late[j].failing })
	fmt.Fprintln(r.out, "  late deaths:")
	for i, l := range late {
		if i == maxListed {
			fmt.Fprintf(r.out, "    ... and %d more\n", len(late)-maxListed)
			break
		}
		a := r.agents[l.agent]
		seen := fmt.Sprintf("seen after %v", l.delay.Round(time.Millisecond))
		if !l.seen {
			seen = fmt.Sprintf("not seen in %v", l.delay.Round(time.Millisecond))
		}
		verdict := "late"
		if l.failing {
			verdict = "FAILS"
		}
		fmt.Fprintf(r.out, "    watcher %d: %v of %s in model %s at %s %s: %s%s\n",
			l.watcher, l.kind, a.key, r.uuids[a.model][:8], r.at(l.begin), seen, verdict, r.faultNear(l.end))
	}
}

// printReports prints the workers' figures, taken before they stopped.
func (r *soakRun) printReports() {
	fmt.Fprintln(r.out, "Worker reports:")
	fmt.Fprintf(r.out, "  batcher: %s\n", formatReport(r.batcherReport))
	fmt.Fprintf(r.out, "  %d pingers, summed: %s\n", len(r.agents), formatReport(r.pingerReports))
	for i, report := range r.watcherReports {
		sw := r.watchers[i]
		fmt.Fprintf(r.out, "  watcher %d of model %s: %s\n", sw.id, r.uuids[sw.model][:8], formatReport(report))
	}
}

// failures lists why the soak fails, if it does.
func (r *soakRun) failures(v *soakVerdict) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var reasons []string
	add := func(n int, what string) {
		if n > 0 {
			reasons = append(reasons, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(len(v.falseDeaths), "false deaths")
	add(len(v.flaps), "flaps")
	add(len(v.falseAlives), "false alives")
	add(v.repeats, "repeated states")
	add(v.kills.failing+v.stops.failing, "deaths seen beyond the slack or never")
	add(len(v.wrongFinal), "wrong final states")
	add(len(r.deadWorkers), "dead workers")
	add(len(r.finalErrors), "errors in the final reads")
	return reasons
}
