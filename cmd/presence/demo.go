package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/juju/mgo/v2"
	"github.com/juju/names/v4"

	"github.com/presence-go/presence"
	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/internal/testserver"
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
	fs.StringVar(&c.url, "url", "", "MongoDB URL to run against instead of the embedded database")
	fs.StringVar(&c.db, "db", "presence_demo", "database for the demo's collections")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long to wait for the server given by --url")
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
		return usagef("--agents, --models and --watchers must be at least 1")
	case c.kills < 0 || c.stops < 0 || c.kills+c.stops > c.agents:
		return usagef("--kills and --stops must be non-negative and add up to at most --agents")
	case c.period < time.Second || c.period%time.Second != 0:
		return usagef("--period %v: must be a whole number of seconds, at least 1s", c.period)
	case c.flush <= 0 || c.flush >= c.period:
		return usagef("--flush %v: must be positive and below --period", c.flush)
	case c.url != "" && c.timeout <= 0:
		return usagef("--timeout %v: must be positive", c.timeout)
	}
	if from, to := c.window(); to <= from {
		return usagef("--duration %v is too short for --period %v: it needs at least %v",
			c.duration, c.period, 5*c.period+c.flush+2*time.Second)
	}
	return nil
}

// action is one stop or kill of the schedule.
type action struct {
	at    time.Duration // since the scenario started
	kill  bool          // KillForTesting, else Stop
	agent int
}

func (a action) verb() string {
	if a.kill {
		return "kill"
	}
	return "stop"
}

// plan draws the schedule: distinct agents, times uniform in [from, to).
func plan(rng *rand.Rand, agents, kills, stops int, from, to time.Duration) []action {
	chosen := rng.Perm(agents)[:kills+stops]
	actions := make([]action, len(chosen))
	for i, agent := range chosen {
		at := from + time.Duration(rng.Int63n(int64(to-from)))
		actions[i] = action{at: at.Round(10 * time.Millisecond), kill: i < kills, agent: agent}
	}
	sort.SliceStable(actions, func(i, j int) bool { return actions[i].at < actions[j].at })
	return actions
}

// predicted returns the bounds the design gives for the delay between an
// action and the moment a watcher reports the key dead. A kill writes a
// dead bit, which the watcher reads at its next sync, at most one period
// later. A stopped pinger's last ping keeps its key alive until the slot
// after the one it pinged ends: between one period less the ping window
// (pingers ping early in every slot) and two periods plus a flush after
// the stop; the watcher, which reads every
// period, may take up to one period more to look.
func predicted(kill bool, period, flush time.Duration) (lo, hi, withPoll time.Duration) {
	if kill {
		return 0, period, period
	}
	lo = period - slot.PingWindow(period)
	hi = 2*period + flush
	return lo, hi, hi + period
}

// outcome is what the watchers made of one action.
type outcome struct {
	action
	model int
	key   string
	done  time.Time   // when the stop or kill was asked for
	seen  []time.Time // per watcher of the model: first dead report after done
	err   error
}

// delay returns how long until every watcher had reported, or false.
func (o *outcome) delay() (time.Duration, bool) {
	if o.done.IsZero() {
		return 0, false
	}
	var last time.Time
	for _, t := range o.seen {
		if t.IsZero() {
			return 0, false
		}
		if t.After(last) {
			last = t
		}
	}
	return last.Sub(o.done), true
}

// modelView is the live state of one model, as its first watcher sees it.
type modelView struct {
	uuid   string
	alive  map[string]bool
	events int // changes from all of the model's watchers
}

// tracker gathers the watchers' events; mu guards everything in it.
type tracker struct {
	mu      sync.Mutex
	models  []*modelView
	pending []map[string]*outcome // per model, by key
	done    int                   // actions carried out
	// seenAlive records, per model and watcher, the keys reported alive,
	// to tell a false death (a key reported dead while it still pings)
	// from the first report of a key not yet pinging.
	seenAlive   [][]map[string]bool
	falseDeaths []string
}

func (t *tracker) observe(model, watcher int, c presence.Change, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.models[model]
	m.events++
	if watcher == 0 {
		m.alive[c.Key] = c.Alive
	}
	wasAlive := t.seenAlive[model][watcher][c.Key]
	t.seenAlive[model][watcher][c.Key] = c.Alive
	if c.Alive {
		return
	}
	o := t.pending[model][c.Key]
	if o == nil || o.done.IsZero() {
		if wasAlive {
			t.falseDeaths = append(t.falseDeaths, fmt.Sprintf("%s in model %s (watcher %d)", c.Key, m.uuid[:8], watcher))
		}
		return
	}
	if o.seen[watcher].IsZero() {
		o.seen[watcher] = at
	}
}

// frame is a copy of what the live view shows.
type frame struct {
	alive, dead, events []int
	done                int
}

func (t *tracker) frame() frame {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := frame{done: t.done}
	for _, m := range t.models {
		a, d := 0, 0
		for _, alive := range m.alive {
			if alive {
				a++
			} else {
				d++
			}
		}
		f.alive = append(f.alive, a)
		f.dead = append(f.dead, d)
		f.events = append(f.events, m.events)
	}
	return f
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", demoSummary, stderr)
	var cfg demoConfig
	cfg.register(fs)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := cfg.check(); err != nil {
		return err
	}
	if cfg.seed == 0 {
		cfg.seed = time.Now().UnixNano()%1_000_000 + 1
	}

	var session *mgo.Session
	if cfg.url == "" {
		fmt.Fprintln(stdout, "starting the embedded database...")
		server, err := testserver.Start()
		if err != nil {
			return fmt.Errorf("cannot start the embedded database: %v", err)
		}
		defer server.Close()
		if session, err = server.Dial(); err != nil {
			return err
		}
	} else {
		var err error
		if session, err = dial(cfg.url, cfg.timeout); err != nil {
			return err
		}
	}
	defer session.Close()
	return demo(ctx, cfg, session.DB(cfg.db).C("presence"), stdout)
}

// demo runs the scenario against base and prints the live view and the
// summary to out.
func demo(ctx context.Context, cfg demoConfig, base *mgo.Collection, out io.Writer) error {
	rng := newRand(cfg.seed)
	from, to := cfg.window()
	actions := plan(rng, cfg.agents, cfg.kills, cfg.stops, from, to)
	opts := []presence.Option{presence.WithPeriod(cfg.period)}

	t := &tracker{}
	uuids := make([]string, cfg.models)
	for m := range uuids {
		uuids[m] = fakeUUID(rng)
		t.models = append(t.models, &modelView{uuid: uuids[m], alive: map[string]bool{}})
		t.pending = append(t.pending, map[string]*outcome{})
		perWatcher := make([]map[string]bool, cfg.watchersPerModel)
		for i := range perWatcher {
			perWatcher[i] = map[string]bool{}
		}
		t.seenAlive = append(t.seenAlive, perWatcher)
	}
	keyOf := func(agent int) (model int, key string) {
		return agent % cfg.models, fmt.Sprintf("unit-%03d", agent/cfg.models)
	}
	outcomes := make([]*outcome, len(actions))
	for i, a := range actions {
		m, key := keyOf(a.agent)
		outcomes[i] = &outcome{action: a, model: m, key: key, seen: make([]time.Time, cfg.watchersPerModel)}
		t.pending[m][key] = outcomes[i]
	}

	fmt.Fprintf(out, "presence demo: seed %d, %d agents in %d models, %d watchers per model, period %v, flush %v, %v\n",
		cfg.seed, cfg.agents, cfg.models, cfg.watchersPerModel, cfg.period, cfg.flush, cfg.duration)

	batcher := presence.NewPingBatcherWithOptions(base, append(opts, presence.WithFlushInterval(cfg.flush))...)
	defer batcher.Stop()
	recorder := func() presence.PingRecorder { return batcher }

	pingers := make([]*presence.Pinger, cfg.agents)
	for agent := range pingers {
		m, key := keyOf(agent)
		pingers[agent] = presence.NewPingerWithOptions(base, names.NewModelTag(uuids[m]), key, recorder, opts...)
	}
	defer func() {
		for _, p := range pingers {
			p.Stop()
		}
	}()
	started := time.Now()
	if err := startAll(ctx, pingers); err != nil {
		return err
	}
	fmt.Fprintf(out, "started %d agents in %v\n", len(pingers), time.Since(started).Round(time.Millisecond))

	// Watchers, one goroutine each forwarding its changes to the tracker.
	var watchers []*presence.Watcher
	stopForwarding := make(chan struct{})
	var forwarding sync.WaitGroup
	defer func() {
		for _, w := range watchers {
			w.Stop()
		}
		close(stopForwarding)
		forwarding.Wait()
	}()
	for m, uuid := range uuids {
		for i := 0; i < cfg.watchersPerModel; i++ {
			w := presence.NewWatcherWithOptions(base, names.NewModelTag(uuid), opts...)
			watchers = append(watchers, w)
			changes := make(chan presence.Change, 1024)
			for agent := m; agent < cfg.agents; agent += cfg.models {
				_, key := keyOf(agent)
				w.Watch(key, changes)
			}
			forwarding.Add(1)
			go func(m, i int) {
				defer forwarding.Done()
				for {
					select {
					case c := <-changes:
						t.observe(m, i, c, time.Now())
					case <-stopForwarding:
						return
					}
				}
			}(m, i)
		}
	}

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

// untilAction returns how long to wait from now for actions[next].
func untilAction(actions []action, next int, start time.Time) time.Duration {
	if next >= len(actions) {
		return time.Hour
	}
	return max(0, actions[next].at-time.Since(start))
}

// startAll starts the pingers a few at a time.
func startAll(ctx context.Context, pingers []*presence.Pinger) error {
	const parallel = 8
	work := make(chan *presence.Pinger)
	errs := make(chan error, len(pingers))
	var wg sync.WaitGroup
	for i := 0; i < parallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				errs <- p.Start()
			}
		}()
	}
feed:
	for _, p := range pingers {
		select {
		case work <- p:
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

// isTerminal reports whether w is a character device, where the live view
// redraws itself in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// liveView draws the state a few times a second on a terminal, or a plain
// line every second elsewhere.
type liveView struct {
	out     io.Writer
	cfg     demoConfig
	t       *tracker
	total   int
	tty     bool
	every   time.Duration
	lines   int      // lines of the last frame, to redraw over them
	samples []sample // the event counts of the last second's frames
}

func newLiveView(out io.Writer, cfg demoConfig, t *tracker, actions []action) *liveView {
	v := &liveView{out: out, cfg: cfg, t: t, total: len(actions), tty: isTerminal(out), every: time.Second}
	if v.tty {
		v.every = 250 * time.Millisecond
	}
	return v
}

func (v *liveView) draw(elapsed time.Duration) {
	f := v.t.frame()
	v.samples = append(v.samples, sample{elapsed, f.events})
	rates := eventRates(v.samples)
	v.samples = recent(v.samples, time.Second)
	if !v.tty {
		var parts []string
		for m := range f.alive {
			parts = append(parts, fmt.Sprintf("%s %d alive %d dead %.0f ev/s",
				v.t.models[m].uuid[:8], f.alive[m], f.dead[m], rates[m]))
		}
		fmt.Fprintf(v.out, "%5.1fs  %s  (%d/%d actions)\n", elapsed.Seconds(), strings.Join(parts, " | "), f.done, v.total)
		return
	}
	var b strings.Builder
	if v.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dF\x1b[J", v.lines)
	}
	fmt.Fprintf(&b, "%s %5.1fs / %v   stops and kills done: %d/%d\n",
		progressBar(elapsed, v.cfg.duration, 30), elapsed.Seconds(), v.cfg.duration, f.done, v.total)
	for m := range f.alive {
		fmt.Fprintf(&b, "  model %s   alive %4d   dead %4d   events/s %6.1f\n",
			v.t.models[m].uuid[:8], f.alive[m], f.dead[m], rates[m])
	}
	v.lines = 1 + len(f.alive)
	io.WriteString(v.out, b.String())
}

// note tells of an action as it happens, in plain output only: on a
// terminal the frame shows the count.
func (v *liveView) note(elapsed time.Duration, o *outcome) {
	if v.tty {
		return
	}
	fmt.Fprintf(v.out, "%5.1fs  %s %s in model %s\n", elapsed.Seconds(), o.verb(), o.key, v.t.models[o.model].uuid[:8])
}

func (v *liveView) finish() { fmt.Fprintln(v.out) }

// progressBar draws done/total as a bar of width cells.
func progressBar(done, total time.Duration, width int) string {
	filled := 0
	if total > 0 {
		filled = int(int64(width) * int64(min(done, total)) / int64(total))
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat("-", width-filled) + "]"
}

// newRand returns the schedule's random source for seed.
func newRand(seed int64) *rand.Rand { return rand.New(rand.NewSource(seed)) }

// sample is the count of events of every model at a moment of the run.
type sample struct {
	at     time.Duration
	events []int
}

// eventRates returns the events per second of every model between the
// first and the last samples.
func eventRates(samples []sample) []float64 {
	first, last := samples[0], samples[len(samples)-1]
	rates := make([]float64, len(last.events))
	span := (last.at - first.at).Seconds()
	if span <= 0 {
		return rates
	}
	for m := range rates {
		rates[m] = float64(last.events[m]-first.events[m]) / span
	}
	return rates
}

// recent drops the samples older than window before the last one, but
// keeps one at least that old, so that rates span the whole window.
func recent(samples []sample, window time.Duration) []sample {
	last := samples[len(samples)-1].at
	drop := 0
	for drop+1 < len(samples) && samples[drop+1].at <= last-window {
		drop++
	}
	return samples[drop:]
}
