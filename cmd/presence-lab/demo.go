package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"sync"
	"time"

	"github.com/presence-go/presence/cmd/internal/cli"
	"github.com/presence-go/presence/internal/testserver"
	"github.com/presence-go/presence/liveness"
)

const demoSummary = `Starts the embedded database (or uses --url), runs --agents agents spread
over --models models through one ping batcher, with a short slot period so
that expiry shows in seconds, and --watchers watchers per model. On a
schedule drawn from --seed, it stops some agents quietly (they expire) and
kills others (KillForTesting: a dead bit is written). A live view shows, per
model, the keys alive and dead and the events per second. At the end, for
each stop and kill, it prints the delay until every watcher of the model had
reported the key dead, next to what the design predicts, and the figures the
workers report.`

// demoConfig is the scenario the flags describe.
type demoConfig struct {
	driver           cli.Driver
	url, db          string
	timeout          time.Duration
	agents, models   int
	watchersPerModel int
	kills, stops     int
	period, flush    time.Duration
	duration         time.Duration
	seed             int64
}

func (c *demoConfig) register(fs *flag.FlagSet) {
	cli.RegisterDriver(fs, &c.driver)
	fs.StringVar(&c.url, "url", "", "MongoDB URL to run against instead of the embedded database")
	fs.StringVar(&c.db, "db", "presence_demo", "database for the demo's collections")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long to wait for the server")
	fs.IntVar(&c.agents, "agents", 300, "number of agents (pingers)")
	fs.IntVar(&c.models, "models", 3, "number of models the agents are spread over")
	fs.IntVar(&c.watchersPerModel, "watchers", 2, "watchers per model, as if on as many controllers")
	fs.IntVar(&c.kills, "kills", 12, "agents killed with KillForTesting during the run")
	fs.IntVar(&c.stops, "stops", 12, "agents stopped quietly during the run")
	fs.DurationVar(&c.period, "period", 2*time.Second, "slot period (whole seconds)")
	fs.DurationVar(&c.flush, "flush", 200*time.Millisecond, "batcher flush interval")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "length of the scenario")
	fs.Int64Var(&c.seed, "seed", 0, "seed of the schedule; 0 picks one (printed, to replay it)")
}

// window returns when in the scenario stops and kills may happen: after
// every watcher had time to see all agents alive, and early enough for the
// slowest detection the design allows to land before the end.
func (c *demoConfig) window() (from, to time.Duration) {
	from = 2 * c.period
	to = c.duration - (3*c.period + c.flush + 2*time.Second)
	return from, to
}

func (c *demoConfig) check() error {
	switch {
	case c.agents < 1 || c.models < 1 || c.watchersPerModel < 1:
		return cli.Usagef("--agents, --models and --watchers must be at least 1")
	case c.kills < 0 || c.stops < 0 || c.kills+c.stops > c.agents:
		return cli.Usagef("--kills and --stops must be non-negative and add up to at most --agents")
	case c.period < time.Second || c.period%time.Second != 0:
		return cli.Usagef("--period %v: must be a whole number of seconds, at least 1s", c.period)
	case c.flush <= 0 || c.flush >= c.period:
		return cli.Usagef("--flush %v: must be positive and below --period", c.flush)
	case c.timeout <= 0:
		return cli.Usagef("--timeout %v: must be positive", c.timeout)
	}
	if from, to := c.window(); to <= from {
		return cli.Usagef("--duration %v is too short for --period %v: it needs at least %v",
			c.duration, c.period, 5*c.period+c.flush+2*time.Second)
	}
	return nil
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", demoSummary, stderr)
	var cfg demoConfig
	cfg.register(fs)
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := cfg.check(); err != nil {
		return err
	}
	if cfg.seed == 0 {
		cfg.seed = time.Now().UnixNano()%1_000_000 + 1
	}

	url := cfg.url
	if url == "" {
		fmt.Fprintln(stdout, "starting the embedded database...")
		server, err := testserver.Start()
		if err != nil {
			return fmt.Errorf("cannot start the embedded database: %v", err)
		}
		defer server.Close()
		url = server.URL()
	}
	cn, err := cli.Dial(ctx, cfg.driver, url, cfg.db, cfg.timeout)
	if err != nil {
		return err
	}
	defer cn.Close()
	return demo(ctx, cfg, cn.Store("presence"), stdout)
}

// demo runs the scenario against store and prints the live view and the
// summary to out.
func demo(ctx context.Context, cfg demoConfig, store liveness.Store, out io.Writer) error {
	rng := newRand(cfg.seed)
	from, to := cfg.window()
	actions := plan(rng, cfg.agents, cfg.kills, cfg.stops, from, to)

	uuids := make([]string, cfg.models)
	for m := range uuids {
		uuids[m] = fakeUUID(rng)
	}
	t := newTracker(cfg, uuids)
	outcomes := make([]*outcome, len(actions))
	for i, a := range actions {
		m, key := cfg.keyOf(a.agent)
		outcomes[i] = &outcome{action: a, model: m, key: key, seen: make([]time.Time, cfg.watchersPerModel)}
		t.pending[m][key] = outcomes[i]
	}

	fmt.Fprintf(out, "presence demo: seed %d, %d agents in %d models, %d watchers per model, period %v, flush %v, %v, driver %s\n",
		cfg.seed, cfg.agents, cfg.models, cfg.watchersPerModel, cfg.period, cfg.flush, cfg.duration, cfg.driver)

	ws, err := startWorkers(ctx, cfg, store, uuids, t, out)
	if err != nil {
		return err
	}
	defer ws.stop()
	batcher, pingers, watchers := ws.batcher, ws.pingers, ws.watchers

	view := newLiveView(out, cfg, t, actions)
	start := time.Now()
	end := time.NewTimer(cfg.duration)
	defer end.Stop()
	refresh := time.NewTicker(view.every)
	defer refresh.Stop()
	next := 0
	nextAction := time.NewTimer(untilAction(actions, next, start))
	defer nextAction.Stop()
	interrupted := false
loop:
	for {
		select {
		case <-ctx.Done():
			interrupted = true
			break loop
		case <-end.C:
			break loop
		case <-refresh.C:
			view.draw(time.Since(start))
		case <-nextAction.C:
			if next >= len(actions) {
				continue
			}
			o := outcomes[next]
			p := pingers[o.agent]
			t.mu.Lock()
			o.done = time.Now()
			t.done++
			t.mu.Unlock()
			if o.kill {
				o.err = p.KillForTesting()
			} else {
				o.err = p.Stop()
			}
			view.note(time.Since(start), o)
			next++
			if next < len(actions) {
				nextAction.Reset(untilAction(actions, next, start))
			}
		}
	}
	view.draw(time.Since(start))
	view.finish()
	if interrupted {
		fmt.Fprintln(out, "interrupted: the summary covers what happened so far")
	}

	// Stop the workers first, so that their reports are final.
	for _, p := range pingers {
		p.Stop()
	}
	t.mu.Lock()
	printSummary(out, cfg, uuids, outcomes)
	fmt.Fprintf(out, "keys reported dead while still pinging: %d (the design says 0)\n", len(t.falseDeaths))
	for _, d := range t.falseDeaths {
		fmt.Fprintf(out, "  %s\n", d)
	}
	fmt.Fprintf(out, "first reports of the watchers: %d alive, %d dead (the design says all alive: the agents' first pings are written before the watchers start)\n",
		t.firstAlive, t.firstDead)
	t.mu.Unlock()
	// Watchers report what they watch only while they run.
	watcherReports := reportsOf(watchers)
	for _, w := range watchers {
		w.Stop()
	}
	batcherErr := batcher.Stop()
	printReports(out, batcher, pingers, watcherReports, cfg.watchersPerModel, uuids)
	if batcherErr != nil {
		return fmt.Errorf("the batcher failed: %v", batcherErr)
	}
	return nil
}

// keyOf returns the model and the key of agent: agents are dealt to the
// models in turn.
func (c *demoConfig) keyOf(agent int) (model int, key string) {
	return agent % c.models, fmt.Sprintf("unit-%03d", agent/c.models)
}

// workers are the demo's batcher, agents and watchers, and the goroutines
// that hand the watchers' changes to the tracker.
type workers struct {
	batcher  *liveness.PingBatcher
	pingers  []*liveness.Pinger // by agent
	watchers []*liveness.Watcher
	// stopForwarding ends the forwarding goroutines, which forwarding
	// counts.
	stopForwarding chan struct{}
	forwarding     sync.WaitGroup
}

// startWorkers starts a batcher and every agent of cfg, in the models
// named by uuids, writes their first pings, then starts the watchers, each
// watching every key of its model on a channel of its own whose changes go
// to t.
func startWorkers(ctx context.Context, cfg demoConfig, store liveness.Store, uuids []string, t *tracker, out io.Writer) (*workers, error) {
	opts := []liveness.Option{liveness.WithPeriod(cfg.period)}
	ws := &workers{stopForwarding: make(chan struct{})}
	ws.batcher = liveness.NewPingBatcher(store, append(opts, liveness.WithFlushInterval(cfg.flush))...)
	ws.pingers = make([]*liveness.Pinger, cfg.agents)
	for agent := range ws.pingers {
		m, key := cfg.keyOf(agent)
		ws.pingers[agent] = liveness.NewPinger(store, uuids[m], key, ws.batcher, opts...)
	}
	started := time.Now()
	pinger := func(i int) *liveness.Pinger { return ws.pingers[i] }
	if err := startAll(ctx, len(ws.pingers), pinger, (*liveness.Pinger).Start); err != nil {
		ws.stop()
		return nil, err
	}
	// Write the agents' first pings before any watcher reads: otherwise a
	// watcher's first sync may come before the batcher's first flush, and
	// every agent would read dead until the watcher's next poll.
	if err := ws.batcher.Sync(); err != nil {
		ws.stop()
		return nil, fmt.Errorf("cannot write the agents' first pings: %v", err)
	}
	fmt.Fprintf(out, "started %d agents in %v\n", len(ws.pingers), time.Since(started).Round(time.Millisecond))

	for m, uuid := range uuids {
		for i := 0; i < cfg.watchersPerModel; i++ {
			w := liveness.NewWatcher(store, uuid, opts...)
			ws.watchers = append(ws.watchers, w)
			changes := make(chan liveness.Change, 1024)
			for agent := m; agent < cfg.agents; agent += cfg.models {
				_, key := cfg.keyOf(agent)
				w.Watch(key, changes)
			}
			ws.forwarding.Add(1)
			go func(m, i int) {
				defer ws.forwarding.Done()
				for {
					select {
					case c := <-changes:
						t.observe(m, i, c, time.Now())
					case <-ws.stopForwarding:
						return
					}
				}
			}(m, i)
		}
	}
	return ws, nil
}

// stop stops the watchers and their forwarding, then the agents, then the
// batcher. It may be called again.
func (ws *workers) stop() {
	for _, w := range ws.watchers {
		w.Stop()
	}
	select {
	case <-ws.stopForwarding:
	default:
		close(ws.stopForwarding)
	}
	ws.forwarding.Wait()
	for _, p := range ws.pingers {
		p.Stop()
	}
	ws.batcher.Stop()
}

// untilAction returns how long to wait from now for actions[next].
func untilAction(actions []action, next int, start time.Time) time.Duration {
	if next >= len(actions) {
		return time.Hour
	}
	return max(0, actions[next].at-time.Since(start))
}

// startAll starts n agents a few at a time: agent returns the i-th, in
// order, and start starts it. It hands out no more agents once ctx ends.
func startAll[A any](ctx context.Context, n int, agent func(i int) A, start func(A) error) error {
	const parallel = 8
	work := make(chan A)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range work {
				errs <- start(a)
			}
		}()
	}
feed:
	for i := range n {
		select {
		case work <- agent(i):
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := ctx.Err(); err != nil {
		return errors.New("interrupted while starting the agents")
	}
	for err := range errs {
		if err != nil {
			return fmt.Errorf("cannot start an agent: %v", err)
		}
	}
	return nil
}

// fakeUUID draws a version-4-shaped UUID from rng, so that a seed gives
// the same models.
func fakeUUID(rng *rand.Rand) string {
	b := make([]byte, 16)
	rng.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
