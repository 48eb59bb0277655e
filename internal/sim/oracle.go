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

// pruned records that the slots of a model before slot before were
// removed. A prune whose removal landed late (a hang) removed what was old
// when it took its cut: it counts from then.
func (o *oracle) pruned(model string, before int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	cutAt := time.Unix(before, 0).Add(3 * o.b.period)
	late := o.serverNow().Sub(cutAt)
	if late < 0 {
		late = 0
	}
	o.lastPrune[model] = time.Now().Add(-late)
	o.countLocked("prunes")
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
