package sim

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presence-go/presence/internal/memstore"
	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/liveness"
)

// Config says what one run of the simulator does.
type Config struct {
	// Seed draws everything: the fleet, the schedule of actions, faults
	// and clock moves, and the workers' own random numbers.
	Seed uint64
	// Duration is how long a run lasts in simulated time.
	Duration time.Duration
	// Faults turns on faults of the database and of the clocks.
	Faults bool
	// TraceLines is how many lines of trace the run keeps (400 when 0).
	TraceLines int
	// TraceOps, when set, traces every write and read of slot documents
	// in the window [From, To) of simulated time, for a replay.
	TraceOps struct{ From, To time.Duration }
}

// Result is what a run found.
type Result struct {
	Seed       uint64
	Violations []violation
	// Trace is the end of the run's trace: what was done, and what the
	// workers logged, last.
	Trace   []string
	Summary []string
}

// world is one run: the server, the controllers, the models and their
// agents, the oracle, and the driver that acts on them.
type world struct {
	cfg    Config
	rng    *rand.Rand
	period time.Duration
	b      bounds
	server *memstore.Server
	o      *oracle
	logger *slog.Logger
	start  time.Time

	ctls   []*controller
	models []string
	agents []*agent

	// clockMu guards serverOffset: how far the server's clock reads from
	// true time.
	clockMu      sync.Mutex
	serverOffset time.Duration

	stopping atomic.Bool
	// lastReads holds when each store last read each model's slots:
	// "store/model" → time.Time.
	lastReads sync.Map
	wg        sync.WaitGroup // the run's goroutines of its own

	traceMu sync.Mutex
	ring    []string
	next    int
}

// traceLines is how many lines of trace a run keeps by default.
const traceLines = 400

// Run runs the simulator once. It must be called inside a testing/synctest
// bubble, whose clock is the simulation's true time.
func Run(cfg Config) Result {
	w := newWorld(cfg)
	w.run()
	res := Result{Seed: cfg.Seed, Trace: w.traceTail(), Summary: w.o.summary()}
	w.o.mu.Lock()
	res.Violations = append(res.Violations, w.o.violations...)
	w.o.mu.Unlock()
	return res
}

func newWorld(cfg Config) *world {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	period := []time.Duration{10 * time.Second, 30 * time.Second, 30 * time.Second}[rng.IntN(3)]
	if cfg.TraceLines <= 0 {
		cfg.TraceLines = traceLines
	}
	w := &world{cfg: cfg, rng: rng, period: period, start: time.Now(), ring: make([]string, cfg.TraceLines)}
	w.logger = slog.New(&traceHandler{w: w})
	w.server = memstore.NewServer()
	w.server.SetClock(w.serverNow)

	nModels := 3 + rng.IntN(3)
	for m := 0; m < nModels; m++ {
		w.models = append(w.models, fakeUUID(rng))
	}
	nCtls := 3 + rng.IntN(2)
	longestFlush := slot.MaxFlushInterval(period)
	for i := 0; i < nCtls; i++ {
		c := &controller{
			w:  w,
			id: i,
			// Hosts' clocks may be hours off, and drift by up to 200 ppm.
			clock:    newLocalClock(time.Duration(rng.NormFloat64()*float64(time.Hour)), (rng.Float64()*2-1)*2e-4),
			flush:    time.Duration(float64(longestFlush) * (0.1 + 0.9*rng.Float64())),
			seed:     rng.Uint64(),
			watchers: map[int]*watcherRun{},
		}
		c.store = w.server.NewStore("c" + strconv.Itoa(i))
		c.store.SetFaults(c.faultOf)
		w.ctls = append(w.ctls, c)
	}
	// The oracle holds every controller to the longest flush interval of
	// them: the bounds that depend on it are the loosest.
	flush := time.Duration(0)
	for _, c := range w.ctls {
		flush = max(flush, c.flush)
	}
	w.b = newBounds(period, flush, 30*time.Second, 30*time.Second+period)
	w.o = newOracle(w.b, w.models, w.serverNow, w.trace)
	w.server.Observe(w.observe)

	perModel := 6 + rng.IntN(7)
	for m := range w.models {
		for j := 0; j < perModel; j++ {
			a := &agent{id: len(w.agents), model: m, ctl: w.ctls[rng.IntN(nCtls)], lock: make(chan struct{}, 1)}
			a.key = keyOf(a.id)
			a.graceful = rng.IntN(5) == 0
			w.agents = append(w.agents, a)
		}
	}
	// One agent of the run is configured with the wrong slot period.
	bad := &agent{id: len(w.agents), model: 0, ctl: w.ctls[0], badPeriod: true, lock: make(chan struct{}, 1)}
	bad.key = keyOf(bad.id)
	w.agents = append(w.agents, bad)
	return w
}

// serverNow is the server's clock: true time off by the offset the driver
// sets.
func (w *world) serverNow() time.Time {
	w.clockMu.Lock()
	defer w.clockMu.Unlock()
	return time.Now().Add(w.serverOffset)
}

// observe hands what lands in the database to the oracle.
func (w *world) observe(e memstore.Event) {
	if t := time.Since(w.start); t >= w.cfg.TraceOps.From && t < w.cfg.TraceOps.To {
		switch e.Op {
		case memstore.OpWriteSlots:
			w.trace("op: %s writes %.8s:%d alive %v dead %v", e.Store, e.ModelUUID, e.Slot, e.Alive, e.Dead)
		case memstore.OpReadSlots:
			w.trace("op: %s reads %.8s, %d documents, server time %d", e.Store, e.ModelUUID, len(e.Docs), e.Time.Unix())
		case memstore.OpReadSlotsOfModels:
			w.trace("op: %s reads %d models, %d documents, server time %d", e.Store, len(e.Models), len(e.Docs), e.Time.Unix())
		case memstore.OpServerTime:
			w.trace("op: %s reads the server's clock", e.Store)
		case memstore.OpRemoveOldSlots:
			w.trace("op: %s prunes %.8s: %d documents before slot %d", e.Store, e.ModelUUID, e.N, e.Slot)
		}
	}
	switch e.Op {
	case memstore.OpWriteSlots:
		if e.Err != nil || e.Doc == nil {
			return
		}
		for _, f := range e.Alive {
			w.o.land(docKey{e.ModelUUID, e.Slot}, mustField(f.Field), f.Bits)
		}
	case memstore.OpRemoveOldSlots:
		if e.Err == nil {
			w.o.pruned(e.ModelUUID, e.Slot)
		}
	case memstore.OpReadSlots:
		if e.Err == nil {
			w.lastReads.Store(e.Store+"/"+e.ModelUUID, time.Now())
		}
	case memstore.OpReadSlotsOfModels:
		if e.Err == nil {
			for _, m := range e.Models {
				w.lastReads.Store(e.Store+"/"+m, time.Now())
			}
		}
	}
}

// run starts the fleet, drives it for the configured duration, stops it
// and makes the last checks.
func (w *world) run() {
	w.trace("seed %d: period %v, %d controllers, %d models, %d agents", w.cfg.Seed, w.period, len(w.ctls), len(w.models), len(w.agents))
	for m, uuid := range w.models {
		w.trace("model %d: %s", m, uuid)
	}
	for _, c := range w.ctls {
		w.trace("c%d: clock %v off, drift %.0f ppm, flush every %v", c.id, c.clock.skew.Round(time.Second), c.clock.drift*1e6, c.flush)
		c.startBatcher()
	}
	for _, a := range w.agents {
		if a.badPeriod || w.rng.IntN(4) > 0 {
			a.start(w)
		}
	}
	for _, c := range w.ctls {
		for m := range w.models {
			c.startWatcher(m)
		}
	}
	end := w.start.Add(w.cfg.Duration)
	checked := map[*run]bool{}
	nextStorage := w.start.Add(5 * time.Minute)
	for time.Now().Before(end) {
		time.Sleep(time.Duration(w.rng.ExpFloat64() * float64(2*time.Second)))
		w.act()
		w.o.checkWrites(nil)
		for _, wk := range w.o.checkDeaths(checked) {
			w.ctls[wk.id.ctl].describeKey(wk.id.model, wk.key)
		}
		if time.Now().After(nextStorage) {
			w.checkStorage()
			nextStorage = nextStorage.Add(5 * time.Minute)
		}
	}
	w.finish()
}

// finish stops every worker, the batchers last with their final flushes,
// and judges the pings they accepted.
func (w *world) finish() {
	w.stopping.Store(true)
	for _, a := range w.agents {
		a.stop(w, endQuiet)
	}
	for _, c := range w.ctls {
		c.stopWatchers()
	}
	for _, c := range w.ctls {
		c.mu.Lock()
		pb := c.batcher
		c.closed = true
		c.fault, c.faultEnd = memstore.Fault{}, time.Time{}
		c.mu.Unlock()
		if err := pb.Stop(); err == nil {
			w.o.checkWrites(pb)
		} else {
			w.o.batcherDied(pb)
		}
	}
	w.wg.Wait()
}

// goOwned runs fn in a goroutine the run waits for before it ends.
func (w *world) goOwned(fn func()) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		fn()
	}()
}

// after runs fn after d, in a goroutine the run owns.
func (w *world) after(d time.Duration, fn func()) {
	w.goOwned(func() {
		time.Sleep(d)
		fn()
	})
}

// batcherDied restarts a controller whose batcher died of an outage, as
// its supervisor would, a period later.
func (w *world) batcherDied(c *controller) {
	for _, a := range w.agents {
		if a.ctl == c {
			a.died(w)
		}
	}
	w.after(w.period, func() {
		if w.stopping.Load() {
			return
		}
		c.mu.Lock()
		dead := c.batcher
		c.restarting = true
		c.mu.Unlock()
		dead.Wait()
		c.startBatcher()
		c.mu.Lock()
		c.restarting = false
		c.mu.Unlock()
	})
}

// restartController stops a controller's batcher, with its pingers, and
// starts them again, as an upgrade of the controller would.
func (w *world) restartController(c *controller) {
	c.mu.Lock()
	if c.restarting || w.stopping.Load() {
		c.mu.Unlock()
		return
	}
	c.restarting = true
	pb := c.batcher
	c.mu.Unlock()
	var restart []*agent
	for _, a := range w.agents {
		if a.ctl == c && a.running() {
			a.stop(w, endQuiet)
			restart = append(restart, a)
		}
	}
	if err := pb.Stop(); err == nil {
		w.o.checkWrites(pb)
	} else {
		w.o.batcherDied(pb)
		// The pings it held are lost, as Stop's error says.
		w.trace("c%d's batcher stopped with %v", c.id, err)
		now := time.Now()
		w.o.addFault(fault{ctl: c.id, kind: "final flush failed", from: now.Add(-2 * w.period), to: now.Add(2 * w.period), excuses: true})
	}
	c.startBatcher()
	c.mu.Lock()
	c.restarting = false
	c.mu.Unlock()
	for _, a := range restart {
		a.start(w)
	}
}

// checkStorage hands the oracle every model's slot documents, by slot.
func (w *world) checkStorage() {
	slots := map[string][]int64{}
	for _, m := range w.models {
		slots[m] = nil
	}
	for _, doc := range w.server.Docs(memstore.Pings) {
		id := docID(doc)
		if i := strings.IndexByte(id, ':'); i > 0 {
			if n, err := strconv.ParseInt(id[i+1:], 10, 64); err == nil {
				slots[id[:i]] = append(slots[id[:i]], n)
			}
		}
	}
	w.o.checkStorage(slots)
}

// trace adds a line to the run's trace, stamped with the simulated time.
func (w *world) trace(format string, args ...interface{}) {
	line := fmt.Sprintf("%9.3fs ", time.Since(w.start).Seconds()) + fmt.Sprintf(format, args...)
	w.traceMu.Lock()
	defer w.traceMu.Unlock()
	w.ring[w.next%len(w.ring)] = line
	w.next++
}

// traceTail returns the trace kept, oldest first.
func (w *world) traceTail() []string {
	w.traceMu.Lock()
	defer w.traceMu.Unlock()
	var out []string
	for i := max(0, w.next-len(w.ring)); i < w.next; i++ {
		out = append(out, w.ring[i%len(w.ring)])
	}
	return out
}

// traceHandler writes the workers' warnings into the trace.
type traceHandler struct {
	w     *world
	attrs []slog.Attr
}

func (h *traceHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *traceHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	h.w.trace("log: %s", b.String())
	if strings.Contains(r.Message, "server's clock moved") {
		h.w.o.moveMeasured()
	}
	return nil
}

func (h *traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &traceHandler{w: h.w, attrs: append(h.attrs, attrs...)}
}

func (h *traceHandler) WithGroup(string) slog.Handler { return h }

// fakeUUID draws a version-4-shaped UUID from rng.
func fakeUUID(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := fmt.Sprintf("%x", b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

var _ = liveness.DefaultPeriod
