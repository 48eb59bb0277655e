package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/presence-go/presence/internal/wirebridge"
	"github.com/presence-go/presence/liveness"
)

// soakAgent is one agent of the soak: a key of a model and its pinger.
type soakAgent struct {
	id     int
	model  int
	key    string
	pinger *liveness.Pinger
	// The fields below are guarded by soakRun.mu.
	running bool          // its last Start succeeded, and no Stop or kill was called since
	busy    bool          // a call of the soak's is in flight
	stopped bool          // it was stopped or killed at least once
	downAt  time.Duration // when it last stopped or was killed
}

// soakWatcher is one watcher of the soak and the goroutine that records
// what it sends.
type soakWatcher struct {
	id      int
	w       *liveness.Watcher
	model   int
	changes chan liveness.Change
	// drain asks the forwarder to record every change already queued,
	// then to close the channel it was sent.
	drain chan chan struct{}
}

// soakRun is one run of the soak.
type soakRun struct {
	cfg    soakConfig
	bounds soakBounds
	store  liveness.Store
	out    io.Writer
	opts   []liveness.Option
	uuids  []string
	// begun is when the soak began: every time recorded is measured from
	// it. runFrom is when the schedule of actions and faults began; it is
	// set once, under mu, before the schedule starts.
	begun, runFrom time.Time
	warnings       *warningCounter

	batcher  *liveness.PingBatcher
	watchers []*soakWatcher
	// stopForwarding ends the forwarders, which forwarding counts;
	// monitoring counts the goroutines that wait for workers to stop, and
	// acting the actions in flight, of which slots bounds the number.
	stopForwarding chan struct{}
	forwarding     sync.WaitGroup
	monitoring     sync.WaitGroup
	acting         sync.WaitGroup
	slots          chan struct{}

	// reports are the workers' Report figures, taken before they stopped.
	batcherReport  map[string]interface{}
	watcherReports []map[string]interface{}
	pingerReports  map[string]interface{}

	mu          sync.Mutex // guards the fields below
	agents      []*soakAgent
	byKey       []map[string]int // per model: agent by key
	record      soakRecord
	done        [soakActionKinds]int // actions carried out, by kind
	failedCalls [callKill + 1]int    // calls that returned an error, by kind
	deadWorkers []string
	faults      []fault // as carried out
	stopping    bool    // the workers are being stopped on purpose
	finalErrors []string
}

func newSoakRun(cfg soakConfig, store liveness.Store, out io.Writer) *soakRun {
	r := &soakRun{
		cfg:            cfg,
		bounds:         cfg.bounds(),
		store:          store,
		out:            out,
		begun:          time.Now(),
		warnings:       &warningCounter{counts: map[string]int{}},
		stopForwarding: make(chan struct{}),
		slots:          make(chan struct{}, 16),
	}
	r.opts = []liveness.Option{
		liveness.WithPeriod(cfg.period),
		liveness.WithOutageTolerance(outageTolerance),
		liveness.WithLogger(slog.New(r.warnings)),
	}
	return r
}

// since returns the time since the soak began.
func (r *soakRun) since() time.Duration { return time.Since(r.begun) }

// run carries out the soak: it starts the workers, runs the schedule,
// makes the final reads and stops everything. An error means the soak
// could not run; what it found is in r.record.
func (r *soakRun) run(ctx context.Context, bridge *wirebridge.Bridge) error {
	rng := newRand(r.cfg.seed)
	for range r.cfg.models {
		r.uuids = append(r.uuids, fakeUUID(rng))
		r.byKey = append(r.byKey, map[string]int{})
	}
	until := r.cfg.duration - r.cfg.judged()
	actions := planActions(rng, r.cfg.rate, r.cfg.models, until)
	var faults []fault
	if r.cfg.faults {
		faults = planFaults(rng, 0, until)
	}

	r.batcher = liveness.NewPingBatcher(r.store, append(r.opts, liveness.WithFlushInterval(r.cfg.flush))...)
	r.monitor("batcher", r.batcher.Wait)
	defer r.stopAll()
	started := time.Now()
	if err := r.startAgents(ctx); err != nil {
		return err
	}
	// The first pings are written before any watcher reads, so that
	// every watcher's first report of a running agent says alive.
	if err := r.batcher.Sync(); err != nil {
		return fmt.Errorf("cannot write the agents' first pings: %v", err)
	}
	r.startWatchers()
	for _, sw := range r.watchers {
		sw.w.Sync()
	}
	fmt.Fprintf(r.out, "started %d agents and %d watchers in %v; %d actions and %d faults to come\n",
		r.cfg.agents, len(r.watchers), time.Since(started).Round(time.Millisecond), len(actions), len(faults))

	r.mu.Lock() // a monitor may be reading it
	r.runFrom = time.Now()
	r.mu.Unlock()
	stopFaults := make(chan struct{})
	var faulting sync.WaitGroup
	if bridge != nil && len(faults) > 0 {
		faulting.Add(1)
		go func() {
			defer faulting.Done()
			r.injectFaults(bridge, faults, stopFaults)
		}()
	}
	interrupted := r.act(ctx, actions)
	close(stopFaults)
	faulting.Wait()
	r.acting.Wait()
	if interrupted {
		fmt.Fprintln(r.out, "interrupted: what follows covers the run so far")
	}
	r.finish()
	return nil
}

// monitor records a worker that stops by itself; wait is its Wait.
func (r *soakRun) monitor(name string, wait func() error) {
	r.monitoring.Add(1)
	go func() {
		defer r.monitoring.Done()
		err := wait()
		r.mu.Lock()
		defer r.mu.Unlock()
		switch {
		case !r.stopping:
			r.deadWorkers = append(r.deadWorkers, fmt.Sprintf("%s stopped by itself at %v: %v", name, r.at(r.since()), err))
		case err != nil:
			r.deadWorkers = append(r.deadWorkers, fmt.Sprintf("%s stopped with an error: %v", name, err))
		}
	}()
}

// at formats a time since the soak began as a time since the run began.
// The caller holds r.mu, or the schedule has begun.
func (r *soakRun) at(t time.Duration) string {
	if r.runFrom.IsZero() {
		return fmt.Sprintf("%.2fs before the run", (r.since() - t).Seconds())
	}
	return fmt.Sprintf("%.2fs", (t - r.runFrom.Sub(r.begun)).Seconds())
}

// addAgent adds an agent to model, with the next key of the model.
func (r *soakRun) addAgent(model int) *soakAgent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addAgentLocked(model)
}

func (r *soakRun) addAgentLocked(model int) *soakAgent {
	key := fmt.Sprintf("unit-%03d", len(r.byKey[model]))
	a := &soakAgent{id: len(r.agents), model: model, key: key}
	a.pinger = liveness.NewPinger(r.store, r.uuids[model], key, r.batcher, r.opts...)
	r.agents = append(r.agents, a)
	r.byKey[model][key] = a.id
	r.record.agentModel = append(r.record.agentModel, model)
	return a
}

// call makes one call of a's pinger and records it, with what it changed.
func (r *soakRun) call(a *soakAgent, kind callKind) error {
	begin := r.since()
	var err error
	switch kind {
	case callStart:
		err = a.pinger.Start()
	case callStop:
		err = a.pinger.Stop()
	case callKill:
		err = a.pinger.KillForTesting()
	}
	end := r.since()
	// A kill that failed may have failed to write its dead bit (a fault),
	// or found its pinger already dead, which Wait tells.
	var died error
	switch {
	case kind == callStop && err != nil:
		died = err
	case kind == callKill && err != nil:
		died = a.pinger.Wait()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record.calls = append(r.record.calls, call{agent: a.id, kind: kind, begin: begin, end: end, failed: err != nil})
	if err != nil {
		r.failedCalls[kind]++
	}
	if died != nil {
		r.deadWorkers = append(r.deadWorkers, fmt.Sprintf("pinger of %s in model %s had stopped by itself by %v: %v", a.key, r.uuids[a.model][:8], r.at(end), died))
	}
	switch {
	case kind == callStart && err == nil:
		a.running = true
	case kind != callStart && a.running:
		a.running, a.stopped, a.downAt = false, true, end
	}
	return err
}

// startAgents adds and starts the agents of the configuration, a few at a
// time.
func (r *soakRun) startAgents(ctx context.Context) error {
	agent := func(i int) *soakAgent { return r.addAgent(i % r.cfg.models) }
	start := func(a *soakAgent) error { return r.call(a, callStart) }
	return startAll(ctx, r.cfg.agents, agent, start)
}

// startWatchers starts the watchers, each watching every key of its
// model, and their forwarders.
func (r *soakRun) startWatchers() {
	for m, uuid := range r.uuids {
		for range r.cfg.watchersPerModel {
			sw := &soakWatcher{
				id:      len(r.watchers),
				w:       liveness.NewWatcher(r.store, uuid, r.opts...),
				model:   m,
				changes: make(chan liveness.Change, 4096),
				drain:   make(chan chan struct{}),
			}
			r.watchers = append(r.watchers, sw)
			r.mu.Lock()
			r.record.watcherModel = append(r.record.watcherModel, m)
			r.mu.Unlock()
			r.monitor(fmt.Sprintf("watcher %d of model %s", sw.id, uuid[:8]), sw.w.Wait)
			r.forwarding.Add(1)
			go r.forward(sw)
		}
	}
	r.mu.Lock()
	agents := append([]*soakAgent(nil), r.agents...)
	r.mu.Unlock()
	for _, sw := range r.watchers {
		for _, a := range agents {
			if a.model == sw.model {
				sw.w.Watch(a.key, sw.changes)
			}
		}
	}
}

// forward records what sw sends until the soak ends.
func (r *soakRun) forward(sw *soakWatcher) {
	defer r.forwarding.Done()
	reported := map[string]bool{} // keys reported at least once
	record := func(c liveness.Change) {
		at := r.since()
		initial := !reported[c.Key]
		reported[c.Key] = true
		r.mu.Lock()
		defer r.mu.Unlock()
		agent, ok := r.byKey[sw.model][c.Key]
		if !ok {
			r.finalErrors = append(r.finalErrors, fmt.Sprintf("watcher %d reported key %q, which it does not watch", sw.id, c.Key))
			return
		}
		r.record.observations = append(r.record.observations, observation{watcher: sw.id, agent: agent, alive: c.Alive, initial: initial, at: at})
	}
	for {
		select {
		case c := <-sw.changes:
			record(c)
		case done := <-sw.drain:
			for queued := true; queued; {
				select {
				case c := <-sw.changes:
					record(c)
				default:
					queued = false
				}
			}
			close(done)
		case <-r.stopForwarding:
			return
		}
	}
}

// act carries out the schedule until its end, or until ctx is done, and
// then waits out the rest of the run. It reports whether ctx ended it.
func (r *soakRun) act(ctx context.Context, actions []soakAction) (interrupted bool) {
	progress := time.NewTicker(15 * time.Second)
	defer progress.Stop()
	end := time.NewTimer(r.cfg.duration)
	defer end.Stop()
	next := time.NewTimer(0)
	defer next.Stop()
	i := 0
	for {
		select {
		case <-ctx.Done():
			return true
		case <-end.C:
			return false
		case <-progress.C:
			r.printProgress()
		case <-next.C:
			for i < len(actions) && actions[i].at <= time.Since(r.runFrom) {
				select {
				case r.slots <- struct{}{}:
				case <-ctx.Done():
					return true
				}
				r.dispatch(actions[i])
				i++
			}
			if i < len(actions) {
				next.Reset(actions[i].at - time.Since(r.runFrom))
			}
		}
	}
}

// dispatch picks the agent for action x and carries the action out in a
// goroutine of its own, holding a slot. An action that finds no agent to
// act on starts a new one instead.
func (r *soakRun) dispatch(x soakAction) {
	r.mu.Lock()
	kind := x.kind
	var eligible []*soakAgent
	for _, a := range r.agents {
		if a.busy {
			continue
		}
		switch kind {
		case actRestart, actStop, actKill:
			if a.running {
				eligible = append(eligible, a)
			}
		case actStartStopped:
			// Only once its death was judged everywhere.
			if !a.running && a.stopped && r.since()-a.downAt > r.cfg.judged() {
				eligible = append(eligible, a)
			}
		}
	}
	var a *soakAgent
	if len(eligible) > 0 {
		a = eligible[x.pick%len(eligible)]
	} else {
		kind = actNew
		a = r.addAgentLocked(x.model)
	}
	a.busy = true
	r.done[kind]++
	r.mu.Unlock()

	r.acting.Add(1)
	go func() {
		defer r.acting.Done()
		defer func() { <-r.slots }()
		switch kind {
		case actRestart:
			if r.call(a, callStop) == nil {
				r.call(a, callStart)
			}
		case actStartStopped:
			r.call(a, callStart)
		case actStop:
			r.call(a, callStop)
		case actKill:
			r.call(a, callKill)
		case actNew:
			for _, sw := range r.watchers {
				if sw.model == a.model {
					sw.w.Watch(a.key, sw.changes)
				}
			}
			r.call(a, callStart)
		}
		r.mu.Lock()
		a.busy = false
		r.mu.Unlock()
	}()
}

// injectFaults carries out faults on bridge, on schedule, until stop is
// closed; it leaves the bridge serving without delay.
func (r *soakRun) injectFaults(bridge *wirebridge.Bridge, faults []fault, stop <-chan struct{}) {
	defer func() {
		bridge.SetRefusing(false)
		bridge.SetLatency(0)
	}()
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-stop:
			return false
		}
	}
	for _, f := range faults {
		if !wait(f.at - time.Since(r.runFrom)) {
			return
		}
		done := f
		done.at = r.since()
		switch f.kind {
		case faultDrop:
			bridge.DropConnections()
		case faultOutage:
			bridge.SetRefusing(true)
			bridge.DropConnections()
			wait(f.length)
			bridge.SetRefusing(false)
		case faultLatency:
			bridge.SetLatency(f.latency)
			wait(f.length)
			bridge.SetLatency(0)
		}
		done.length = r.since() - done.at
		r.mu.Lock()
		r.faults = append(r.faults, done)
		r.mu.Unlock()
	}
}

// finish makes the final reads: a batcher Sync writes every running
// agent's ping, then every watcher syncs, its forwarder records what it
// sent, and Alive is asked of every key.
func (r *soakRun) finish() {
	err := r.batcher.Sync()
	r.mu.Lock()
	if err != nil {
		r.finalErrors = append(r.finalErrors, fmt.Sprintf("the final batcher Sync failed: %v", err))
	}
	r.record.finalAt = r.since()
	agents := append([]*soakAgent(nil), r.agents...)
	r.mu.Unlock()
	var reads []finalRead
	for _, sw := range r.watchers {
		sw.w.Sync()
		done := make(chan struct{})
		sw.drain <- done
		<-done
		for _, a := range agents {
			if a.model != sw.model {
				continue
			}
			alive, err := sw.w.Alive(a.key)
			reads = append(reads, finalRead{watcher: sw.id, agent: a.id, alive: alive, failed: err != nil})
		}
	}
	r.batcherReport = r.batcher.Report()
	for _, sw := range r.watchers {
		r.watcherReports = append(r.watcherReports, sw.w.Report())
	}
	r.pingerReports = map[string]interface{}{}
	for _, a := range agents {
		for k, v := range a.pinger.Report() {
			if f, ok := number(v); ok && k != "seq" {
				prev, _ := r.pingerReports[k].(float64)
				r.pingerReports[k] = prev + f
			}
		}
	}
	r.mu.Lock()
	r.record.finalReads = reads
	r.record.end = r.since()
	r.mu.Unlock()
}

// stopAll stops the watchers, their forwarders, the agents and the
// batcher, and waits for every goroutine of the soak's. It may be called
// again.
func (r *soakRun) stopAll() {
	r.mu.Lock()
	r.stopping = true
	agents := append([]*soakAgent(nil), r.agents...)
	r.mu.Unlock()
	for _, sw := range r.watchers {
		sw.w.Stop()
	}
	select {
	case <-r.stopForwarding:
	default:
		close(r.stopForwarding)
	}
	r.forwarding.Wait()
	for _, a := range agents {
		if err := a.pinger.Stop(); err != nil {
			r.mu.Lock()
			r.deadWorkers = append(r.deadWorkers, fmt.Sprintf("pinger of %s in model %s stopped with an error: %v", a.key, r.uuids[a.model][:8], err))
			r.mu.Unlock()
		}
	}
	if r.batcher != nil {
		r.batcher.Stop()
	}
	r.monitoring.Wait()
}

// warningCounter is a slog handler that counts the library's warnings by
// message.
type warningCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (h *warningCounter) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn
}

func (h *warningCounter) Handle(_ context.Context, rec slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[rec.Message]++
	return nil
}

func (h *warningCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *warningCounter) WithGroup(string) slog.Handler      { return h }
