package benchsuite

import (
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/liveness"
)

// A fleet run plays minutes of a controller's life on a driven clock:
// real Pingers started through the library, one PingBatcher, one Watcher
// per model following every key of its model, and, on a schedule drawn
// from a seed, agents restarting (Stop then Start: a new sequence), being
// killed (KillForTesting) and stopping quietly, each killed or stopped
// agent starting again some slots later. Every worker runs its own
// loop on the driven clock; the run moves the clock from one timer to the
// next once every worker waits again, so the database sees the traffic of
// real time. The run itself checks every Change the watchers send
// against what it did to the agents.

// progress, set by BENCHSUITE_PROGRESS, has long runs say how far they
// are on stderr.
var progress = os.Getenv("BENCHSUITE_PROGRESS") != ""

// runPlan says what a fleet run does.
type runPlan struct {
	agents, models int
	slots          int // how long the run lasts, in periods
	measureFrom    int // the slot the figures start at
	// actionsFrom and actionsUntil bound, in slots, when agents are
	// restarted, killed and stopped; each kind happens this many times
	// per slot, at random instants.
	actionsFrom, actionsUntil float64
	restarts, kills, stops    int
	killRevival, stopRevival  int  // slots after which a killed or stopped agent starts again
	countBytes                bool // send the traffic through a wireCounter
	// modelsPerDatabase spreads the models over databases of this many
	// models each (see routedStore); 0 keeps them in one.
	modelsPerDatabase int
	// sharedReader has the watchers share their periodic reads, as they
	// do by default; without it each polls its own model, as before the
	// shared reader.
	sharedReader bool
	seed         uint64
}

// runResult is what a fleet run measured over the slots from measureFrom
// on: per second of the driven clock, CPU of this process (the library,
// both drivers' work, the wire bridge) and database commands as the
// bridge counted them.
type runResult struct {
	seconds         float64 // driven seconds measured
	real            time.Duration
	startReal       time.Duration // real time to start every pinger
	cpu             time.Duration // of this process, over the measured seconds
	counts          counts
	bytes           wireBytes
	killDelays      []time.Duration // kill → Change, driven
	stopDelays      []time.Duration // quiet stop → Change, driven
	restarts, kills int
	stops           int
	falseDeaths     int // dead Changes for keys whose pinger ran
	falseLives      int // alive Changes for keys that had not started again
	missedDeaths    int // killed or stopped keys never reported dead before they started again
	prunes          int // deletes of old slot documents by the run, among the counted writes
	pruneReads      int // reads the watchers' pruners asked for (SlotsFrom, AllBeings), among the counted reads
	requests        int // reads the workers asked of their store: as many as one database would receive
}

// agentState is what the run did to one agent last.
type agentState int

const (
	running agentState = iota
	killed
	stopped
)

// runAgent is one agent of a run.
type runAgent struct {
	model  int
	key    string
	pinger *liveness.Pinger
	state  agentState
	// busyUntil keeps one action at a time on an agent: none is drawn for
	// it before then.
	busyUntil time.Time
}

// truth is what the Change checker knows of each key; the run updates it
// before each action takes effect, the checker as Changes arrive.
type truth struct {
	mu          sync.Mutex
	initialized map[string]bool      // the key's first Change (from Watch) arrived
	pendingDown map[string]time.Time // killed or stopped at, not yet reported dead
	downKind    map[string]agentState
	pendingUp   map[string]bool // started again, not yet reported alive
	model       map[string]int
	res         *runResult
	reads       *readLog
}

func (t *truth) change(c liveness.Change) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case !t.initialized[c.Key]:
		t.initialized[c.Key] = true
		if !c.Alive {
			t.res.falseDeaths++
		}
	case !c.Alive:
		at, ok := t.pendingDown[c.Key]
		if !ok {
			t.res.falseDeaths++
			return
		}
		delete(t.pendingDown, c.Key)
		delay := t.reads.last(t.model[c.Key]).Sub(at)
		if t.downKind[c.Key] == killed {
			t.res.killDelays = append(t.res.killDelays, delay)
		} else {
			t.res.stopDelays = append(t.res.stopDelays, delay)
		}
	default:
		if !t.pendingUp[c.Key] {
			t.res.falseLives++
			return
		}
		delete(t.pendingUp, c.Key)
	}
}

func (t *truth) down(key string, at time.Time, kind agentState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pendingDown[key] = at
	t.downKind[key] = kind
}

func (t *truth) up(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.pendingDown[key]; ok {
		t.res.missedDeaths++
		delete(t.pendingDown, key)
	}
	t.pendingUp[key] = true
}

// readLog is a liveness.Store that notes, on the way to the real one,
// when each model's watcher last read its slots: the instant a Change it
// sends was decided. (The next read of the model is a period later.) It
// also counts the reads only pruners ask for in a run: every model's
// beings at once, and its slots from a slot on.
type readLog struct {
	liveness.Store
	clock      *drivenClock
	mu         sync.Mutex
	models     map[string]int
	lastAt     []time.Time
	pruneReads int
}

func (l *readLog) ReadSlots(ctx context.Context, model string, slots []int64) ([][]byte, error) {
	l.mu.Lock()
	l.lastAt[l.models[model]] = l.clock.Now()
	l.mu.Unlock()
	return l.Store.ReadSlots(ctx, model, slots)
}

func (l *readLog) ReadSlotsOfModels(ctx context.Context, models []string, slots []int64) ([][]byte, error) {
	l.mu.Lock()
	now := l.clock.Now()
	for _, model := range models {
		l.lastAt[l.models[model]] = now
	}
	l.mu.Unlock()
	return l.Store.ReadSlotsOfModels(ctx, models, slots)
}

func (l *readLog) SlotsFrom(ctx context.Context, model string, from int64) ([][]byte, error) {
	l.countPruneRead()
	return l.Store.SlotsFrom(ctx, model, from)
}

func (l *readLog) AllBeings(ctx context.Context, model string, fn func([]byte)) error {
	l.countPruneRead()
	return l.Store.AllBeings(ctx, model, fn)
}

func (l *readLog) countPruneRead() {
	l.mu.Lock()
	l.pruneReads++
	l.mu.Unlock()
}

func (l *readLog) pruneReadCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pruneReads
}

func (l *readLog) last(model int) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastAt[model]
}

// action is something the run does at an instant of the driven clock.
type action struct {
	at  time.Time
	seq int // keeps actions of one instant in the order scheduled
	do  func() error
}

type actionHeap []action

func (h actionHeap) Len() int { return len(h) }
func (h actionHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h actionHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *actionHeap) Push(x any)   { *h = append(*h, x.(action)) }
func (h *actionHeap) Pop() any {
	old := *h
	a := old[len(old)-1]
	*h = old[:len(old)-1]
	return a
}

// armWait bounds how long a run waits for its workers to wait again: a
// watcher's first read of a large model, a flush of a thousand documents.
const armWait = 5 * time.Minute

// runFleet plays plan and returns what it measured.
func runFleet(b *testing.B, plan runPlan) runResult {
	s := sharedServer(b)
	client := s.mongo
	var wc *wireCounter
	if plan.countBytes {
		client, wc = countedClient(b)
	}
	start := time.Unix(slot.At(benchStart, 0, benchPeriod), 0)
	clock := newDrivenClock(start)
	res := &runResult{}
	models := make([]string, plan.models)
	perDatabase := plan.modelsPerDatabase
	if perDatabase == 0 {
		perDatabase = plan.models
	}
	routed := &routedStore{group: map[string]int{}}
	var dbs []*database
	for m := range models {
		models[m] = fmt.Sprintf("10ad0000-0000-4000-8000-%012d", m)
		if m%perDatabase == 0 {
			d := s.newDatabase(b, fmt.Sprintf("run%d_%d_%d", plan.agents, plan.models, len(dbs)))
			dbs = append(dbs, d)
			routed.stores = append(routed.stores, officialStore(b, client.Database(d.name).Collection("presence")))
		}
		routed.group[models[m]] = len(dbs) - 1
	}
	reads := &readLog{Store: routed, clock: clock, models: map[string]int{}, lastAt: make([]time.Time, plan.models)}
	for m := range models {
		reads.models[models[m]] = m
	}
	opts := []liveness.Option{
		liveness.WithClock(clock),
		liveness.WithClockSkew(false),
		liveness.WithPeriod(benchPeriod),
		liveness.WithOperationTimeout(operationTimeout),
	}
	rng := rand.New(rand.NewPCG(plan.seed, uint64(plan.agents)))
	t := &truth{
		initialized: map[string]bool{}, pendingDown: map[string]time.Time{}, downKind: map[string]agentState{},
		pendingUp: map[string]bool{}, model: map[string]int{}, res: res, reads: reads,
	}

	pb := liveness.NewPingBatcher(reads, opts...)
	armed := 1
	agents := make([]*runAgent, plan.agents)
	began := time.Now()
	for i := range agents {
		m := i % plan.models
		a := &runAgent{model: m, key: fmt.Sprintf("unit-%d-%d", m, i/plan.models)}
		a.pinger = liveness.NewPinger(reads, models[m], a.key, pb, opts...)
		if err := a.pinger.Start(); err != nil {
			b.Fatalf("starting %s: %v", a.key, err)
		}
		t.model[a.key] = m
		agents[i] = a
		armed++
	}
	res.startReal = time.Since(began)
	if progress {
		fmt.Fprintf(os.Stderr, "run of %d agents: started in %v\n", plan.agents, res.startReal.Round(time.Second))
	}
	if err := pb.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := clock.WaitArmed(armed, armWait); err != nil {
		b.Fatal(err)
	}

	changes := make(chan liveness.Change, 4*plan.agents+1024)
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		for c := range changes {
			t.change(c)
		}
	}()
	var actions actionHeap
	seq := 0
	schedule := func(at time.Time, do func() error) {
		seq++
		heap.Push(&actions, action{at, seq, do})
	}
	// Each watcher starts at its own instant of the first period, after
	// the first flush, as a controller's watchers would.
	watchers := make([]*liveness.Watcher, plan.models)
	byModel := make([][]*runAgent, plan.models)
	for _, a := range agents {
		byModel[a.model] = append(byModel[a.model], a)
	}
	for m := range watchers {
		at := start.Add(2*time.Second + time.Duration(rng.Int64N(int64(benchPeriod))))
		schedule(at, func() error {
			w := liveness.NewWatcher(reads, models[m], append(opts, liveness.WithSharedReader(plan.sharedReader))...)
			watchers[m] = w
			for _, a := range byModel[m] {
				w.Watch(a.key, changes)
			}
			armed++
			return nil
		})
	}

	slotAt := func(k float64) time.Time { return start.Add(time.Duration(k * float64(benchPeriod))) }
	// pick returns a running agent free of other actions, or nil.
	pick := func(at time.Time) *runAgent {
		for range 100 {
			a := agents[rng.IntN(len(agents))]
			if a.state == running && !a.busyUntil.After(at) {
				return a
			}
		}
		return nil
	}
	draw := func() time.Time {
		span := (plan.actionsUntil - plan.actionsFrom) * float64(benchPeriod)
		return slotAt(plan.actionsFrom).Add(time.Duration(rng.Float64() * span))
	}
	perSlot := plan.actionsUntil - plan.actionsFrom
	for range int(float64(plan.restarts) * perSlot) {
		schedule(draw(), func() error {
			a := pick(clock.Now())
			if a == nil {
				return nil
			}
			a.busyUntil = clock.Now().Add(3 * benchPeriod)
			res.restarts++
			if err := a.pinger.Stop(); err != nil {
				return err
			}
			return a.pinger.Start()
		})
	}
	for kind, n := range map[agentState]int{killed: plan.kills, stopped: plan.stops} {
		revival := plan.killRevival
		if kind == stopped {
			revival = plan.stopRevival
		}
		for range int(float64(n) * perSlot) {
			schedule(draw(), func() error {
				now := clock.Now()
				a := pick(now)
				if a == nil {
					return nil
				}
				a.state = kind
				a.busyUntil = now.Add(time.Duration(revival+2) * benchPeriod)
				armed--
				t.down(a.key, now, kind)
				var err error
				if kind == killed {
					res.kills++
					err = a.pinger.KillForTesting()
				} else {
					res.stops++
					err = a.pinger.Stop()
				}
				if err != nil {
					return err
				}
				schedule(now.Add(time.Duration(revival)*benchPeriod), func() error {
					a.state = running
					t.up(a.key)
					armed++
					return a.pinger.Start()
				})
				return nil
			})
		}
	}

	// Slot documents older than the live slots are deleted at each slot's
	// start, with one command for every model: the test server scans the
	// collection for every upsert and every read by _id, and a thousand
	// models add a thousand documents a slot, which the watchers' own
	// pruning (each prunes its model every twenty periods or so) would
	// let pile up for a while.
	measuring := false
	for k := 2; k <= plan.slots; k++ {
		before := start.Unix() + int64(k-1)*slot.Seconds(benchPeriod)
		schedule(slotAt(float64(k)), func() error {
			for _, d := range dbs {
				if measuring {
					res.prunes++
				}
				old := bson.D{{Key: "slot", Value: bson.D{{Key: "$lt", Value: before}}}}
				if _, err := s.mongo.Database(d.name).Collection("presence.pings").DeleteMany(context.Background(), old); err != nil {
					return err
				}
			}
			return nil
		})
	}

	end := slotAt(float64(plan.slots))
	measureAt := slotAt(float64(plan.measureFrom))
	var cpuFrom time.Duration
	var countsFrom = s.snapshot()
	var pruneReadsFrom int
	var requestsFrom int64
	var bytesFrom wireBytes
	var realFrom time.Time
	for {
		next, ok := clock.Next()
		if len(actions) > 0 && (!ok || !actions[0].at.After(next)) {
			next, ok = actions[0].at, true
		}
		if !ok || !next.Before(end) {
			break
		}
		if !measuring && !next.Before(measureAt) {
			clock.AdvanceTo(measureAt)
			if err := clock.WaitArmed(armed, armWait); err != nil {
				b.Fatal(err)
			}
			measuring, cpuFrom, countsFrom, realFrom = true, cpuTime(), s.snapshot(), time.Now()
			pruneReadsFrom, requestsFrom = reads.pruneReadCount(), routed.reads.Load()
			if wc != nil {
				bytesFrom = wc.snapshot()
			}
		}
		if progress && next.Sub(start)/benchPeriod != clock.Now().Sub(start)/benchPeriod {
			fmt.Fprintf(os.Stderr, "run of %d agents: slot %d at %v\n", plan.agents, next.Sub(start)/benchPeriod, time.Since(began).Round(time.Second))
		}
		clock.AdvanceTo(next)
		if err := clock.WaitArmed(armed, armWait); err != nil {
			b.Fatal(err)
		}
		for len(actions) > 0 && !actions[0].at.After(clock.Now()) {
			a := heap.Pop(&actions).(action)
			if err := a.do(); err != nil {
				b.Fatal(err)
			}
			if err := clock.WaitArmed(armed, armWait); err != nil {
				b.Fatal(err)
			}
		}
	}
	clock.AdvanceTo(end)
	if err := clock.WaitArmed(armed, armWait); err != nil {
		b.Fatal(err)
	}
	res.cpu = cpuTime() - cpuFrom
	res.real = time.Since(realFrom)
	res.counts = s.since(countsFrom)
	res.pruneReads = reads.pruneReadCount() - pruneReadsFrom
	res.requests = int(routed.reads.Load() - requestsFrom)
	if wc != nil {
		res.bytes = wc.snapshot().since(bytesFrom)
	}
	res.seconds = end.Sub(measureAt).Seconds()

	for _, w := range watchers {
		if w != nil {
			stopWorker(b, w)
		}
	}
	close(changes)
	<-checked
	for _, a := range agents {
		if err := a.pinger.Stop(); err != nil {
			b.Fatal(err)
		}
	}
	stopWorker(b, pb)
	t.mu.Lock()
	res.missedDeaths += len(t.pendingDown)
	t.mu.Unlock()
	return *res
}

// cpuTime returns the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// delayStats returns the mean, median and largest of delays, in seconds.
func delayStats(delays []time.Duration) (mean, median, largest float64) {
	if len(delays) == 0 {
		return 0, 0, 0
	}
	sorted := append([]time.Duration(nil), delays...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	return (sum / time.Duration(len(sorted))).Seconds(), sorted[len(sorted)/2].Seconds(), sorted[len(sorted)-1].Seconds()
}
