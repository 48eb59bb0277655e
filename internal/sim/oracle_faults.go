package sim

import (
	"time"
)

// The oracle's record of faults and clock steps, and what they excuse.

// addFault records a fault or clock event.
func (o *oracle) addFault(f fault) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.faults = append(o.faults, f)
	o.countLocked("fault " + f.kind)
}

// step is one step of the server's clock, by how much, and until when
// (true time) slots it wrote before may come round again.
type step struct {
	at    time.Time
	by    time.Duration
	until time.Time
}

// serverStep records a step of the server's clock by by, made just now.
// After a step back, the slots of the server's time before the step come
// round again, with the pings they hold, until the server's clock has
// passed the highest time it read before: o.high.
func (o *oracle) serverStep(by time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	before := o.serverNow().Add(-by)
	if before.After(o.high) {
		o.high = before
	}
	st := step{at: now, by: by, until: now}
	if behind := o.high.Sub(o.serverNow()); behind > 0 {
		st.until = now.Add(behind)
	}
	o.moves = append(o.moves, st)
	o.countLocked("server clock steps")
}

// moveMeasured records that a controller measured a move of the server's
// clock.
func (o *oracle) moveMeasured() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.measured = append(o.measured, time.Now())
}

// steppedLocked reports whether the server's clock stepped in [from, to],
// or shortly before, while controllers may have been in another frame.
func (o *oracle) steppedLocked(from, to time.Time) bool {
	for _, m := range o.moves {
		if !m.at.Before(from.Add(-2*o.b.remeasure-o.b.period)) && !m.at.After(to) {
			return true
		}
	}
	return false
}

// afterStepLocked returns how much longer than the documented bounds a key
// may read alive at t after a step of the server's clock: within the grace
// after it, a watcher reads the old frame's slots too; and after a step
// back by X, the slots of the X before the step come round again, with
// the pings they hold, for up to X, the grace and a few periods more.
func (o *oracle) afterStepLocked(t time.Time) time.Duration {
	var extra time.Duration
	for i, m := range o.moves {
		if m.at.After(t) {
			continue
		}
		// A controller sees the step at its next measure (later when its
		// measures fail), writes the old frame's slot and the next
		// through its grace, and those slots stay live for two periods
		// more, read at the latest a period later.
		window := 2*o.b.remeasure + o.b.grace + 4*o.b.period
		until := m.until
		for _, at := range o.measured {
			if at.After(m.at) && (i+1 == len(o.moves) || at.Before(o.moves[i+1].at)) {
				until = maxTime(until, at.Add(m.until.Sub(m.at)))
			}
		}
		if end := until.Add(window); t.Before(end) {
			extra = max(extra, end.Sub(m.at))
		}
	}
	return extra
}

// stalled records that controller ctl's next ping is held back for d.
func (o *oracle) stalled(ctl int, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	o.stalls = append(o.stalls, fault{ctl: ctl, kind: "stall", from: now, to: now.Add(d + o.b.period)})
	o.countLocked("stalls")
}

// silenceLocked returns how long after a quiet stop at end of a pinger of
// controller ctl its key cannot read dead: less the longest stall of its
// last ping.
func (o *oracle) silenceLocked(ctl int, end time.Time) time.Duration {
	silence := o.b.silence
	for _, st := range o.stalls {
		if st.ctl == ctl && !st.to.Before(end.Add(-o.b.period)) && !st.from.After(end) {
			silence -= st.to.Sub(st.from)
		}
	}
	return silence
}

// hostSteppedLocked reports whether the clock of controller ctl stepped in
// a way that still touches [from, to].
func (o *oracle) hostSteppedLocked(from, to time.Time, ctl int) bool {
	for _, f := range o.faults {
		if f.kind == hostStep && f.ctl == ctl && !f.to.Before(from) && !f.from.After(to) {
			return true
		}
	}
	return false
}

// excusedLocked reports whether a fault the library does not promise to
// hide touched one of ctls in [from, to].
func (o *oracle) excusedLocked(from, to time.Time, ctls ...int) bool {
	for _, f := range o.faults {
		if !f.excuses || f.to.Before(from) || f.from.After(to) {
			continue
		}
		if f.ctl < 0 {
			return true
		}
		for _, c := range ctls {
			if f.ctl == c {
				return true
			}
		}
	}
	return false
}

// faultedLocked reports whether any fault at all, or a step of the
// server's clock, touched ctl in [from, to].
func (o *oracle) faultedLocked(from, to time.Time, ctl int) bool {
	for _, f := range o.faults {
		if (f.ctl == ctl || f.ctl < 0) && !f.to.Before(from) && !f.from.After(to) {
			return true
		}
	}
	// Until a controller measures a step of the server's clock (at its
	// next measure, which a failure may put off), its frame is not the
	// server's.
	for _, m := range o.moves {
		if !m.at.Before(from.Add(-2*o.b.remeasure-o.b.period)) && !m.at.After(to) {
			return true
		}
	}
	return false
}
