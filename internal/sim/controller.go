package sim

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presence-go/presence/internal/memstore"
	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/liveness"
)

// controller is one simulated controller: its clock, its connection to the
// server, its batcher, the pingers of the agents it hosts and a watcher
// of every model, all the library's own workers.
type controller struct {
	w     *world
	id    int
	clock *localClock
	store *memstore.Store
	flush time.Duration
	// seed seeds the random numbers of each of the controller's workers,
	// a source per worker, so that what one draws does not depend on when
	// another drew.
	seed uint64

	// mu guards the fields below, which the driver changes.
	mu       sync.Mutex
	batcher  *liveness.PingBatcher
	rec      *recorder
	watchers map[int]*watcherRun
	// restarting is set while the driver restarts the controller's
	// batcher, so that its death is not taken for a failure.
	restarting bool
	// closed is set once the run ends: no new batcher starts.
	closed bool
	// batchers and watcherStarts count the workers started.
	batchers, watcherStarts uint64
	// fault is the connection's fault while one lasts.
	fault    memstore.Fault
	faultEnd time.Time
	// outageFrom and outageEnd bound an outage in which every operation
	// fails at once.
	outageFrom, outageEnd time.Time
}

// opts returns the options of every worker of the controller.
// slack returns the write slack of the controller's batcher.
func (c *controller) slack() time.Duration { return slot.WriteSlack(c.w.period, c.flush) }

// opts returns the options of a worker of the controller; worker names it
// among the controller's workers, for its random numbers.
func (c *controller) opts(worker uint64, extra ...liveness.Option) []liveness.Option {
	return append([]liveness.Option{
		liveness.WithClock(c.clock),
		liveness.WithPeriod(c.w.period),
		liveness.WithRandSource(rand.NewPCG(c.seed, worker)),
		liveness.WithLogger(c.w.logger),
	}, extra...)
}

// Workers' numbers, for their random sources: the batcher's, each
// watcher's (by model), and each pinger's (by agent and start).
const (
	batcherWorker = 1 << 40
	watcherWorker = 2 << 40
	pingerWorker  = 3 << 40
)

// startBatcher starts a new batcher for the controller, and a goroutine
// that tells the driver if it dies of a fault.
func (c *controller) startBatcher() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.batchers++
	pb := liveness.NewPingBatcher(c.store, c.opts(batcherWorker+c.batchers, liveness.WithFlushInterval(c.flush))...)
	rec := &recorder{ctl: c, pb: pb}
	c.batcher, c.rec = pb, rec
	c.mu.Unlock()
	c.w.goOwned(func() {
		err := pb.Wait()
		c.mu.Lock()
		intended := c.restarting || c.w.stopping.Load()
		c.mu.Unlock()
		if err == nil || intended {
			return
		}
		c.w.trace("c%d's batcher died: %v", c.id, err)
		c.w.o.batcherDied(pb)
		c.w.o.addFault(fault{ctl: c.id, kind: "batcher died", from: time.Now().Add(-c.w.b.tolerance - c.w.b.slack), to: time.Now().Add(2 * c.w.period), excuses: true})
		c.w.batcherDied(c)
	})
}

// recorder is the PingRecorder the controller's pingers ping through: its
// batcher, whose accepted pings it tells the oracle of. It can make the
// next ping stall, as an overloaded host would, and make a ping race a
// Stop of the batcher.
type recorder struct {
	ctl      *controller
	pb       *liveness.PingBatcher
	stall    atomic.Int64 // nanoseconds the next ping waits before it is handed over
	raceStop atomic.Bool  // the next ping starts a Stop of the batcher as it pings
}

// Period passes the batcher's on, so that a pinger of another period is
// refused as it would be by the batcher itself.
func (r *recorder) Period() time.Duration { return r.pb.Period() }

// Ping implements liveness.PingRecorder.
func (r *recorder) Ping(modelUUID string, slotNum int64, fieldKey string, fieldBit uint64) error {
	if d := time.Duration(r.stall.Swap(0)); d > 0 {
		time.Sleep(d)
	}
	racing := r.raceStop.Swap(false)
	if racing {
		// The batcher is told to stop as the ping comes: the ping is
		// either refused or written by the final flush.
		r.ctl.w.trace("c%d's batcher stops as a ping comes", r.ctl.id)
		pb := r.pb
		r.ctl.w.goOwned(func() {
			time.Sleep(500 * time.Microsecond) // while the ping is being taken
			pb.Kill()
			r.ctl.w.restartController(r.ctl)
		})
	}
	err := r.pb.Ping(modelUUID, slotNum, fieldKey, fieldBit)
	if racing {
		r.ctl.w.trace("c%d: the ping racing its batcher's stop: %v", r.ctl.id, err)
	}
	if err == nil {
		r.ctl.w.o.accept(r.ctl.id, r.pb, pingRef{docKey{modelUUID, slotNum}, mustField(fieldKey), fieldBit})
	}
	return err
}

// watcherRun is one watcher of a model and the goroutine that hands what
// it says to the oracle.
type watcherRun struct {
	id   watcherID
	w    *liveness.Watcher
	ch   chan liveness.Change
	done chan struct{}
}

// startWatcher starts a watcher of model m on the controller, following
// every key of the model. Its outage tolerance is ten periods, so that it
// lives through long outages and must answer with errors meanwhile.
func (c *controller) startWatcher(m int) {
	id := watcherID{c.id, m}
	c.mu.Lock()
	c.watcherStarts++
	worker := watcherWorker + c.watcherStarts
	c.mu.Unlock()
	lw := liveness.NewWatcher(c.store, c.w.models[m], c.opts(worker, liveness.WithOutageTolerance(10*c.w.period))...)
	wr := &watcherRun{id: id, w: lw, ch: make(chan liveness.Change, 4096), done: make(chan struct{})}
	c.w.o.watcherStarted(id)
	c.mu.Lock()
	c.watchers[m] = wr
	c.mu.Unlock()
	c.w.goOwned(func() {
		defer close(wr.done)
		for change := range wr.ch {
			if t := time.Since(c.w.start); t >= c.w.cfg.TraceOps.From && t < c.w.cfg.TraceOps.To {
				c.w.trace("op: watcher %v says %s %v", id, change.Key, change.Alive)
			}
			c.w.o.said(id, change.Key, change.Alive, true)
		}
	})
	lw.WatchModel(wr.ch)
	c.w.goOwned(func() {
		err := lw.Wait()
		c.w.o.watcherStopped(id)
		close(wr.ch)
		if err != nil && !c.w.stopping.Load() {
			c.w.trace("c%d's watcher of model %d died: %v", c.id, m, err)
			c.w.o.addFault(fault{ctl: c.id, kind: "watcher died", from: time.Now().Add(-10 * c.w.period), to: time.Now(), excuses: true})
			c.w.after(c.w.period, func() {
				if !c.w.stopping.Load() {
					c.startWatcher(m)
				}
			})
		}
	})
}

// stopWatchers stops every watcher of the controller.
func (c *controller) stopWatchers() {
	c.mu.Lock()
	runs := make([]*watcherRun, 0, len(c.watchers))
	for _, wr := range c.watchers {
		runs = append(runs, wr)
	}
	c.mu.Unlock()
	for _, wr := range runs {
		wr.w.Kill()
	}
	for _, wr := range runs {
		<-wr.done
	}
}

// faultOf is the rule the controller's store applies to every operation:
// the fault the driver set, while it lasts.
func (c *controller) faultOf(call memstore.Call) memstore.Fault {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !time.Now().Before(c.faultEnd) {
		return memstore.Fault{}
	}
	f := c.fault
	if !call.Op.IsWrite() {
		// A read that fails has not told its caller anything, whether or
		// not it reached the server: the oracle counts the reads that
		// took effect as the watchers' good ones.
		f.Landed = false
	}
	return f
}

// setOutage records that every operation fails from from, for d.
func (c *controller) setOutage(from time.Time, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outageFrom, c.outageEnd = from, from.Add(d)
}

// failingFor returns how long every operation of the controller has been
// failing at once, or zero.
func (c *controller) failingFor() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if now.Before(c.outageFrom) || !now.Before(c.outageEnd) {
		return 0
	}
	return now.Sub(c.outageFrom)
}

// setFault gives the controller's connection f for d.
func (c *controller) setFault(f memstore.Fault, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fault, c.faultEnd = f, time.Now().Add(d)
}

// watcher returns the controller's watcher of model m, or nil.
func (c *controller) watcher(m int) *watcherRun {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.watchers[m]
}

// probe asks the controller's watcher of model m whether key is alive, and
// hands the answer to the oracle.
func (c *controller) probe(m int, key string) {
	wr := c.watcher(m)
	if wr == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.w.period)
	defer cancel()
	alive, err := wr.w.AliveContext(ctx, key)
	if t := time.Since(c.w.start); t >= c.w.cfg.TraceOps.From && t < c.w.cfg.TraceOps.To {
		last, _ := c.w.lastReads.Load(c.store.Name() + "/" + c.w.models[m])
		c.w.trace("op: watcher %v answers %s %v, %v (last good read %v, failing for %v)", wr.id, key, alive, err, last, c.failingFor())
	}
	if err != nil {
		return // a stale view, a stopped watcher: no answer is no lie
	}
	// A watcher whose reads have all failed for longer than a period and
	// a retry since its last good read answers with an error, never from
	// its view.
	if failing := c.failingFor(); failing > 0 {
		since := time.Now().Add(-failing)
		if last, ok := c.w.lastReads.Load(c.store.Name() + "/" + c.w.models[m]); ok && last.(time.Time).After(since) {
			since = last.(time.Time)
		}
		c.w.o.staleAnswer(wr.id, key, alive, since, failing)
	}
	c.w.o.said(wr.id, key, alive, false)
}

// describeKey traces what the controller's watcher of model m knows of key.
func (c *controller) describeKey(m int, key string) {
	wr := c.watcher(m)
	if wr == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.w.period)
	defer cancel()
	states, err := wr.w.KeyStatesContext(ctx)
	for _, st := range states {
		if st.Key == key {
			c.w.trace("watcher %v sees %s as seq %d, alive %v, last slot %d", wr.id, key, st.Seq, st.Alive, st.LastSlot)
			return
		}
	}
	c.w.trace("watcher %v sees no sequence of %s (%v)", wr.id, key, err)
}

var errOutage = errors.New("sim: the database is unreachable")
