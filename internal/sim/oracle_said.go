package sim

import (
	"fmt"
	"time"
)

// The oracle's judgement of what the watchers say.

// said judges one thing a watcher said of a key: a Change it sent (event,
// initial for the first one of WatchModel) or an Alive answer (event
// false).
func (o *oracle) said(id watcherID, key string, alive, event bool) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	w := o.watchers[id]
	if w == nil {
		return
	}
	k := o.key(id.model, key)
	if event {
		o.countLocked("events")
		if before, ok := w.said[key]; ok && before == alive {
			o.violateLocked("repeated state", "watcher %v said %s %v twice in a row", id, key, alive)
		}
		w.said[key] = alive
		w.eventAt[key] = now
	} else {
		o.countLocked("probes")
	}
	if alive {
		w.aliveAt[key] = now
		visible := o.b.visible + o.afterStepLocked(now)
		if !event {
			visible += o.b.period // an answer comes from a view up to a period old
		}
		if !k.mayLive(now, visible) && !o.excusedLocked(now.Add(-visible), now, o.ctlsOf(k, id.ctl)...) {
			o.violateLocked("false life", "watcher %v said %s alive; %s", id, key, o.describeLocked(k, now))
		}
		return
	}
	w.deadAt[key] = now
	silence := o.b.silence
	if r := k.current(); r != nil && r.ended == endQuiet {
		silence = o.silenceLocked(r.ctl, r.end)
	}
	first, must := k.mustLive(now, silence, silence-o.b.flush*6/5-o.b.lag)
	if !must || first.landed.IsZero() {
		return // no ping of the key has landed yet
	}
	// The watcher must have read the key alive once it said so after the
	// first ping landed, or once it has read for a while since.
	established := !w.aliveAt[key].Before(first.landed)
	if !established && now.Sub(maxTime(first.landed, w.since)) < 2*o.b.period+o.b.lag {
		return // the watcher may not have read the key alive yet
	}
	window := 2*o.b.period + o.b.grace + o.b.slack
	if o.excusedLocked(now.Add(-window), now, o.ctlsOf(k, id.ctl)...) {
		o.countLocked("deaths excused by faults")
		return
	}
	o.violateLocked("false death", "watcher %v said %s dead; %s", id, key, o.describeLocked(k, now))
}

// staleAnswer judges an answer a watcher gave while every read of its
// controller has failed for failing, its last good read having taken
// effect at since: past a period and a retry, it must have been an error.
// A step of the host's clock, which makes a view look younger to a clock
// with no monotonic reading, excuses it.
func (o *oracle) staleAnswer(id watcherID, key string, alive bool, since time.Time, failing time.Duration) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if stale := now.Sub(since); stale > o.b.period+2*time.Second+o.b.lag && !o.hostSteppedLocked(since, now, id.ctl) {
		o.violateLocked("stale answer", "watcher %v answered %s %v, its last good read %v ago, every read failing for %v",
			id, key, alive, stale, failing)
	}
}

// ctlsOf returns the controllers whose faults may excuse what a watcher of
// controller watcher says of k: its own, and those of k's runs.
func (o *oracle) ctlsOf(k *keyTruth, watcher int) []int {
	ctls := []int{watcher}
	for _, r := range k.runs {
		ctls = append(ctls, r.ctl)
	}
	return ctls
}

// describeLocked tells k's runs near now, for a violation's detail.
func (o *oracle) describeLocked(k *keyTruth, now time.Time) string {
	s := "runs:"
	for _, r := range k.runs {
		if r.ended != endNone && now.Sub(r.end) > 5*o.b.period {
			continue
		}
		s += fmt.Sprintf(" [seq %d on c%d from %v", r.seq, r.ctl, r.start.Sub(o.start))
		if r.ended != endNone {
			s += fmt.Sprintf(" to %v (%s)", r.end.Sub(o.start), r.ended)
		}
		s += "]"
	}
	return s
}
