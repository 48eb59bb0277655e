package sim

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/liveness"
)

// bounds are the library's documented numbers that the oracle holds the
// workers to, worked out for one run's period and flush interval.
type bounds struct {
	period, flush time.Duration
	window        time.Duration // how far into a slot a pinger pings
	slack         time.Duration // how late a write may land with no live key read dead
	tolerance     time.Duration // a batcher's outage tolerance
	grace         time.Duration // how long after a move of its frame a controller keeps the old frame too
	remeasure     time.Duration // how often a controller measures the server's clock
	// silence is how long after a quiet Stop the key cannot read dead:
	// its last ping, at most a ping window into its slot, keeps it alive
	// until the slot after that one ends. A little is taken off for the
	// error of measuring the server's clock.
	silence time.Duration
	// visible is how long after a run ends a read may still find its key
	// alive: two periods and a flush.
	visible time.Duration
	// lag is how long before an answer the read that made it may have
	// been made, and how late after its deadline the oracle judges: a
	// read under a latency fault takes a few round trips.
	lag time.Duration
}

func newBounds(period, flush time.Duration, remeasure, grace time.Duration) bounds {
	b := bounds{
		period: period, flush: flush,
		window:    slot.PingWindow(period),
		slack:     slot.WriteSlack(period, flush),
		grace:     grace,
		remeasure: remeasure,
		lag:       2 * time.Second,
	}
	b.tolerance = b.slack
	b.silence = period - b.window - 100*time.Millisecond
	b.visible = 2*period + flush + b.lag
	return b
}

// deathBound returns how long after a run ended every watcher of its model
// must have reported its key dead: a kill, written at once, at the next
// read, a period later at most; a quiet stop once its last ping expires,
// two periods and a flush later, and a read after that.
func (b bounds) deathBound(kind endKind) time.Duration {
	switch kind {
	case endKill, endGraceful:
		return b.period + b.lag
	default:
		return 3*b.period + b.flush + b.lag
	}
}

// violation is one breach of a promise.
type violation struct {
	at     time.Duration // since the run began
	kind   string
	detail string
}

func (v violation) String() string {
	return fmt.Sprintf("%v: %s: %s", v.at, v.kind, v.detail)
}

// watcherID names one watcher: its controller and model.
type watcherID struct{ ctl, model int }

// watcherTruth is what one watcher has said.
type watcherTruth struct {
	running bool
	since   time.Time // when the current watcher of this id started
	said    map[string]bool
	// aliveAt is when it last said a key alive.
	aliveAt map[string]time.Time
	// deadAt is when it last said a key dead.
	deadAt map[string]time.Time
	// eventAt is when it last sent a Change of a key.
	eventAt map[string]time.Time
}

// docKey names a slot document.
type docKey struct {
	model string
	slot  int64
}

// pingRef is one sequence's bit in one slot document.
type pingRef struct {
	doc   docKey
	field uint64
	bit   uint64
}

// accepted is a ping a batcher accepted, and when.
type accepted struct {
	ref pingRef
	at  time.Time // true time of the Ping call
	ctl int
	// batcher is the controller's batcher that took it.
	batcher *liveness.PingBatcher
	// serverAt is the server's time then.
	serverAt time.Time
	checked  bool
}

// oracle holds the truth and judges what the workers say by it. It is
// safe for concurrent use: watchers' events arrive on goroutines of their
// own.
type oracle struct {
	b     bounds
	start time.Time
	// serverNow returns the server's true time.
	serverNow func() time.Time
	log       func(format string, args ...interface{})

	mu       sync.Mutex // guards the fields below
	keys     map[string]*keyTruth
	faults   []fault
	watchers map[watcherID]*watcherTruth
	landed   map[pingRef]time.Time
	runs     map[modelSeq]*run
	pending  []*accepted
	models   []string
	// lastPrune is when each model's old slots were last removed.
	lastPrune map[string]time.Time
	// moves are the server clock's steps.
	moves []step
	// high is the highest time the server's clock read before a step.
	high time.Time
	// measured are the times at which a controller's clock measured a
	// move of the server's: a controller whose measures fail sees a step
	// late, and the step's effects last from then.
	measured []time.Time
	// stalls are the pings the driver held back, as an overloaded host
	// would: a stalled ping leaves the key alive for less than the
	// silence after a quiet stop.
	stalls     []fault
	violations []violation
	counts     map[string]int
}

func newOracle(b bounds, models []string, serverNow func() time.Time, log func(string, ...interface{})) *oracle {
	o := &oracle{
		b: b, start: time.Now(), serverNow: serverNow, log: log,
		keys:      map[string]*keyTruth{},
		watchers:  map[watcherID]*watcherTruth{},
		landed:    map[pingRef]time.Time{},
		runs:      map[modelSeq]*run{},
		models:    models,
		lastPrune: map[string]time.Time{},
		counts:    map[string]int{},
	}
	for _, m := range models {
		o.lastPrune[m] = o.start
	}
	return o
}

func keyName(model int, key string) string { return fmt.Sprintf("%d/%s", model, key) }

// violate records a breach; o.mu must be held.
func (o *oracle) violateLocked(kind, format string, args ...interface{}) {
	v := violation{at: time.Since(o.start), kind: kind, detail: fmt.Sprintf(format, args...)}
	o.violations = append(o.violations, v)
	o.log("VIOLATION %s", v)
}

// count adds one to a figure of the run's summary; o.mu must be held.
func (o *oracle) countLocked(what string) { o.counts[what]++ }

// started records that an agent's pinger started with seq, pinging
// through controller ctl.
func (o *oracle) started(model int, key string, seq int64, ctl int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := o.key(model, key)
	r := &run{start: time.Now(), seq: seq, ctl: ctl}
	k.runs = append(k.runs, r)
	o.runs[modelSeq{o.models[model], seq}] = r
}

// modelSeq names a sequence of a model.
type modelSeq struct {
	model string
	seq   int64
}

// endedAt records that an agent's current run ended at at, how.
func (o *oracle) endedAt(model int, key string, how endKind, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r := o.key(model, key).current(); r != nil && r.ended == endNone {
		r.ended, r.end = how, at
	}
}

// returned records that the call that ended an agent's last run
// returned, and how the run ended after all.
func (o *oracle) returned(model int, key string, how endKind) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r := o.key(model, key).current(); r != nil && r.ended != endNone {
		r.ended, r.returned = how, time.Now()
	}
}

func (o *oracle) key(model int, key string) *keyTruth {
	name := keyName(model, key)
	k := o.keys[name]
	if k == nil {
		k = &keyTruth{model: model, key: key}
		o.keys[name] = k
	}
	return k
}

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

// watcherStarted records that the watcher of id (re)started.
func (o *oracle) watcherStarted(id watcherID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.watchers[id] = &watcherTruth{
		running: true, since: time.Now(),
		said: map[string]bool{}, aliveAt: map[string]time.Time{}, deadAt: map[string]time.Time{}, eventAt: map[string]time.Time{},
	}
}

// watcherStopped records that the watcher of id stopped.
func (o *oracle) watcherStopped(id watcherID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if w := o.watchers[id]; w != nil {
		w.running = false
	}
}

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

// accept records a ping batcher pb of controller ctl accepted.
func (o *oracle) accept(ctl int, pb *liveness.PingBatcher, ref pingRef) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pending = append(o.pending, &accepted{ref: ref, at: time.Now(), ctl: ctl, batcher: pb, serverAt: o.serverNow()})
}

// batcherDied forgets the pings batcher pb took and had not written: a
// batcher that stops with an error loses them, as its error says.
func (o *oracle) batcherDied(pb *liveness.PingBatcher) {
	o.mu.Lock()
	defer o.mu.Unlock()
	kept := o.pending[:0]
	for _, a := range o.pending {
		if a.batcher != pb {
			kept = append(kept, a)
		}
	}
	o.pending = kept
}

// land records bits a write ORed into a slot document.
func (o *oracle) land(doc docKey, field uint64, bits uint64) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	for b := uint64(1); b != 0 && b <= bits; b <<= 1 {
		if bits&b == 0 {
			continue
		}
		ref := pingRef{doc, field, b}
		if _, ok := o.landed[ref]; !ok {
			o.landed[ref] = now
		}
		if r := o.runs[modelSeq{doc.model, int64(field)*63 + int64(bits64(b))}]; r != nil && r.landed.IsZero() {
			r.landed = now
		}
	}
}

// pruned records that old slots of a model were removed.
func (o *oracle) pruned(model string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lastPrune[model] = time.Now()
	o.countLocked("prunes")
}

// checkWrites judges the accepted pings whose time has come: each must
// land by the end of its slot's ping window (or its own arrival, if
// later) and a flush, unless a fault or a clock step touched its
// controller meanwhile. Pings of final, a batcher that stopped cleanly,
// are judged at once.
func (o *oracle) checkWrites(final *liveness.PingBatcher) {
	now := time.Now()
	serverNow := o.serverNow()
	periodSeconds := slot.Seconds(o.b.period)
	o.mu.Lock()
	defer o.mu.Unlock()
	kept := o.pending[:0]
	for _, a := range o.pending {
		if a.checked {
			continue
		}
		landedAt, landed := o.landed[a.ref]
		windowEnd := time.Unix(a.ref.doc.slot, 0).Add(o.b.window)
		handOver := a.serverAt
		if handOver.Before(windowEnd) {
			handOver = windowEnd
		}
		// The deadline in true time: the hand-over, on the server's
		// clock, less how far the server's clock was ahead when the ping
		// came, plus the longest flush wait and a little.
		deadline := a.at.Add(handOver.Sub(a.serverAt)).Add(o.b.flush*6/5 + o.b.lag/4)
		stillRead := a.ref.doc.slot+3*periodSeconds > slot.Of(serverNow.Unix(), periodSeconds)
		switch {
		case landed && !landedAt.After(deadline):
			continue // on time
		case !landed && now.Before(deadline) && final != a.batcher:
			kept = append(kept, a) // not due yet
			continue
		}
		to := now
		if landed {
			to = landedAt
		}
		if final == a.batcher && !landed {
			// The batcher stopped cleanly: its final flush wrote every
			// ping it held but those of slots no longer read.
			if stillRead && !o.steppedLocked(a.at, now) {
				o.violateLocked("lost ping", "controller %d's ping of %v (bit %#x of field %x), accepted at %v, not written by a final flush that succeeded",
					a.ctl, a.ref.doc, a.ref.bit, a.ref.field, a.at.Sub(o.start))
			}
			continue
		}
		if o.faultedLocked(a.at, to, a.ctl) || o.excusedLocked(a.at, to, a.ctl) {
			if !landed && stillRead && !o.excusedLocked(a.at, to, a.ctl) {
				kept = append(kept, a) // a fault delays it; it must land still
			}
			continue
		}
		switch {
		case landed:
			o.violateLocked("late write", "controller %d's ping of %v (bit %#x of field %x), accepted at %v, landed at %v, after %v",
				a.ctl, a.ref.doc, a.ref.bit, a.ref.field, a.at.Sub(o.start), landedAt.Sub(o.start), deadline.Sub(o.start))
		case stillRead:
			o.violateLocked("lost ping", "controller %d's ping of %v (bit %#x of field %x), accepted at %v, never landed",
				a.ctl, a.ref.doc, a.ref.bit, a.ref.field, a.at.Sub(o.start))
		}
	}
	o.pending = kept
	// Forget what landed in slots no longer read.
	horizon := slot.Of(serverNow.Unix(), periodSeconds) - 10*periodSeconds
	for ref := range o.landed {
		if ref.doc.slot < horizon {
			delete(o.landed, ref)
		}
	}
}

// checkDeaths judges, for every run that ended long enough ago, that every
// watcher of its model that ran throughout said its key dead by the
// documented bound. It returns the watchers and keys it found wanting,
// for the trace to say what they see.
func (o *oracle) checkDeaths(checked map[*run]bool) (wanting []watcherKey) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, k := range o.keys {
		r := k.current()
		if r == nil || r.ended == endNone || checked[r] {
			continue
		}
		bound := o.b.deathBound(r.ended)
		bound += o.afterStepLocked(r.end.Add(bound))
		// A kill is seen a period after its dead bit is written, which
		// may be a while after the call, when the pinger was busy.
		from := r.end
		if !r.returned.IsZero() && (r.ended == endKill || r.ended == endGraceful) {
			from = r.returned
		}
		deadline := from.Add(bound)
		if now.Before(deadline.Add(o.b.lag)) {
			continue
		}
		checked[r] = true
		for id, w := range o.watchers {
			if id.model != k.model || !w.running || w.since.After(r.end) {
				continue
			}
			if !w.said[k.key] || w.deadAt[k.key].After(r.end) {
				continue // said dead since, or never said alive
			}
			if o.excusedLocked(r.end.Add(-o.b.period), now, id.ctl, r.ctl) || o.faultedLocked(r.end, now, id.ctl) {
				continue // its reads failed: it may not have read since
			}
			o.violateLocked("death not seen", "watcher %v still says %s alive %v after its %s at %v (bound %v)",
				id, k.key, now.Sub(r.end), r.ended, r.end.Sub(o.start), bound)
			wanting = append(wanting, watcherKey{id, k.key})
		}
	}
	return wanting
}

// watcherKey names a key as one watcher sees it.
type watcherKey struct {
	id  watcherID
	key string
}

// checkStorage judges the slot documents per model: between two prunes,
// one new document per slot, and a few more for the live slots and a
// frame that moved.
func (o *oracle) checkStorage(slotsPerModel map[string]int) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	for model, n := range slotsPerModel {
		last := o.lastPrune[model]
		allowed := int(now.Sub(last)/o.b.period) + 10
		if n > allowed+len(o.moves)*4 {
			o.violateLocked("storage", "model %s holds %d slot documents, %v after its last prune", model, n, now.Sub(last))
		}
	}
}

// summary returns the run's figures, sorted by name.
func (o *oracle) summary() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var lines []string
	for what, n := range o.counts {
		lines = append(lines, fmt.Sprintf("%s: %d", what, n))
	}
	sort.Strings(lines)
	return lines
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// bits64 returns the position of the one bit of b.
func bits64(b uint64) int {
	n := 0
	for b > 1 {
		b >>= 1
		n++
	}
	return n
}
