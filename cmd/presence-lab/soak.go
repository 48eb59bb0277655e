package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"go.uber.org/goleak"

	"github.com/presence-go/presence/cmd/internal/cli"
	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/internal/testserver"
	"github.com/presence-go/presence/liveness"
)

const soakSummary = `Runs --agents agents spread over --models models on the embedded database,
through one ping batcher, with --watchers watchers per model, each watching
every key of its model on a channel of its own, for --duration. About --rate
times a second it acts on an agent drawn at random: restarts a running one
(Stop, then Start at once), starts one stopped or killed earlier, stops one
quietly, kills one (KillForTesting), or starts a new one. Meanwhile, every 2
to 5 s, it cuts every database connection, or refuses connections for 0.1 to
0.5 s, or delays every reply by 50 to 300 ms for 1 to 2 s: none of these is
long enough for the library's bounds to let a running agent read dead, and
the workers tolerate outages of 30 s. The last part of the run has neither
actions nor faults, so that every death it caused can be judged. It ends
with a last batcher Sync and watcher Sync, stops everything and prints what
it found.

The truth: a pinger's state changes when its Start, Stop or KillForTesting
returns, though a read may see the change from the moment the call is made
(a start's first ping, a kill's dead bit can be written before it returns).
Watchers report asynchronously, so a report is judged against what a read
of the database may have found:
  - a Change may describe a read made up to 1 s before it arrived (a read
    under a latency spike), and Watch's first report the watcher's last
    poll, up to one period earlier still;
  - a killed key may read dead as soon as KillForTesting is called;
  - a key stopped quietly keeps its last ping: it may not read dead within
    period - ping window (its first quarter) - 0.1 s of the Stop, and may
    read alive up to 2 periods + flush after it;
  - a key started again after it could read dead may read dead until its
    first ping is written: up to 1.2 flush intervals + 1 s after Start
    returns (a flush a fault made fail is retried at the next);
so a restart of a running key (Stop, then Start) must cause no event at all:
the new sequence silently replaces the old one.

What it counts, and what fails the run (exit code 1):
  false deaths    dead reports that nothing above explains: the key was
                  running, or stopped quietly too recently; fail
  flaps           false deaths followed by an alive report with no death of
                  the pinger in between; fail
  false alives    alive reports that no run of the pinger explains; fail
  repeats         a Change saying what the previous one for the key said:
                  nothing changed, so nothing should have been sent; fail
  late deaths     a stop or kill reported dead more than the read lag (1 s)
                  past the library's bound (a kill is seen at the watcher's
                  next sync, within one period; a quiet stop within 2
                  periods + one poll + one flush); those later still by more
                  than one period (the slack: a read that a fault made fail
                  is retried at the next poll), or never seen, fail
  final state     after the last syncs, a watcher's last report or Alive
                  that differs from which pingers run; fail
  dead workers    a batcher, watcher or pinger that stopped by itself; fail
It also prints the number of goroutines before the workers started and after
everything stopped, and the warnings the library logged.

The seed fixes when actions and faults come and what they are; which agent
an action picks depends on which are free at that moment, so a replay is
close to the original, not identical.`

// soakConfig is the run the flags describe.
type soakConfig struct {
	driver           cli.Driver
	agents, models   int
	watchersPerModel int
	period, flush    time.Duration
	duration         time.Duration
	rate             float64 // actions a second
	faults           bool
	seed             int64
}

func (c *soakConfig) register(fs *flag.FlagSet) {
	cli.RegisterDriver(fs, &c.driver)
	fs.DurationVar(&c.duration, "duration", 3*time.Minute, "length of the run, setup not included")
	fs.IntVar(&c.agents, "agents", 300, "number of agents (pingers) at the start")
	fs.IntVar(&c.models, "models", 3, "number of models the agents are spread over")
	fs.IntVar(&c.watchersPerModel, "watchers", 2, "watchers per model")
	fs.Int64Var(&c.seed, "seed", 0, "seed of the schedule; 0 picks one (printed, to replay it)")
	fs.DurationVar(&c.period, "period", 2*time.Second, "slot period (whole seconds)")
	fs.DurationVar(&c.flush, "flush", 200*time.Millisecond, "batcher flush interval")
	fs.Float64Var(&c.rate, "rate", 5, "actions a second, on average")
	fs.BoolVar(&c.faults, "faults", true, "cut, refuse and slow the database's connections during the run")
}

// outageTolerance is how long the soak's workers keep retrying a failing
// database: far longer than any fault, so that none stops because of one.
const outageTolerance = 30 * time.Second

// bounds returns the library's bounds for c and the checker's allowances.
func (c *soakConfig) bounds() soakBounds {
	return soakBounds{
		period:         c.period,
		flush:          c.flush,
		pingWindow:     slot.PingWindow(c.period),
		readLag:        time.Second,
		flushLag:       c.flush*6/5 + time.Second,
		clockTolerance: 100 * time.Millisecond,
		slack:          c.period,
	}
}

// judged returns how long after a quiet stop its death is judged
// everywhere: no agent is started again sooner, and the run ends that
// long after its last action.
func (c *soakConfig) judged() time.Duration {
	b := c.bounds()
	return b.deathBound(true) + b.readLag + b.slack + time.Second
}

func (c *soakConfig) check() error {
	switch {
	case c.agents < 1 || c.models < 1 || c.watchersPerModel < 1:
		return cli.Usagef("--agents, --models and --watchers must be at least 1")
	case c.period < time.Second || c.period%time.Second != 0:
		return cli.Usagef("--period %v: must be a whole number of seconds, at least 1s", c.period)
	case c.flush <= 0 || c.flush >= c.period:
		return cli.Usagef("--flush %v: must be positive and below --period", c.flush)
	case c.rate <= 0 || c.rate > 100:
		return cli.Usagef("--rate %v: must be above 0 and at most 100", c.rate)
	case c.duration < c.judged()+5*time.Second:
		return cli.Usagef("--duration %v is too short for --period %v: it needs at least %v",
			c.duration, c.period, c.judged()+5*time.Second)
	}
	return nil
}

func runSoak(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("soak", soakSummary, stderr)
	var cfg soakConfig
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
	fmt.Fprintln(stdout, "starting the embedded database...")
	server, err := testserver.Start()
	if err != nil {
		return fmt.Errorf("cannot start the embedded database: %v", err)
	}
	defer server.Close()
	if cfg.faults && server.Bridge() == nil {
		return fmt.Errorf("faults need the embedded database's bridge, absent with %s set: add --faults=false", testserver.EnvMongoDB)
	}
	return soak(ctx, cfg, server, soakDatabase, stdout)
}

// soak runs the soak against server, in database db, and prints its
// findings to out. It returns an error when the run failed.
func soak(ctx context.Context, cfg soakConfig, server *testserver.Server, db string, out io.Writer) error {
	fmt.Fprintf(out, "presence soak: seed %d, %d agents in %d models, %d watchers per model, period %v, flush %v, %v, %.3g actions/s, faults %v, driver %s\n",
		cfg.seed, cfg.agents, cfg.models, cfg.watchersPerModel, cfg.period, cfg.flush, cfg.duration, cfg.rate, onOff(cfg.faults), cfg.driver)
	// A first connection creates the database, so that what the server
	// runs for it is running before the count, and is closed. It leaves
	// nothing behind but the empty counter collection pingers would make.
	if err := warmUp(ctx, cfg.driver, server.URL(), db); err != nil {
		return fmt.Errorf("cannot create the soak's database: %v", err)
	}
	goroutinesBefore := steadyGoroutines()
	current := goleak.IgnoreCurrent()

	cn, err := cli.Dial(ctx, cfg.driver, server.URL(), db, soakDialTimeout)
	if err != nil {
		return err
	}
	r := newSoakRun(cfg, cn.Store("presence"), out)
	runErr := r.run(ctx, server.Bridge())
	// The connection's sockets, and the goroutines serving them, go with it.
	cn.Close()
	goroutinesAfter, leaked := settle(current)
	if runErr != nil {
		return runErr
	}

	v := checkSoak(r.bounds, &r.record)
	r.printSummary(v)
	fmt.Fprintf(out, "goroutines: %d before the workers started, %d after everything stopped\n", goroutinesBefore, goroutinesAfter)
	if leaked != nil {
		fmt.Fprintf(out, "  still running after %v:\n%s\n", settleTime, indent(leaked.Error(), "    "))
	}
	r.printReports()
	if reasons := r.failures(v); len(reasons) > 0 {
		fmt.Fprintf(out, "FAIL (seed %d): %s\n", cfg.seed, strings.Join(reasons, ", "))
		return fmt.Errorf("soak failed (seed %d): %s", cfg.seed, strings.Join(reasons, ", "))
	}
	fmt.Fprintf(out, "PASS (seed %d)\n", cfg.seed)
	return nil
}

// soakDatabase is the database the soak writes to on its own server.
const soakDatabase = "presence_soak"

// soakDialTimeout bounds how long the soak waits for its server, at the
// start and, with the official driver, to select it again after a fault.
const soakDialTimeout = 10 * time.Second

// warmUp takes and removes a sequence of a model of its own in database db
// through driver, then closes its connection.
func warmUp(ctx context.Context, driver cli.Driver, url, db string) error {
	cn, err := cli.Dial(ctx, driver, url, db, soakDialTimeout)
	if err != nil {
		return err
	}
	defer cn.Close()
	ctx, cancel := context.WithTimeout(ctx, soakDialTimeout)
	defer cancel()
	const model = "00000000-0000-0000-0000-000000000000" // the nil UUID: no soak model's
	store := cn.Store("presence")
	if _, err := store.NextSeq(ctx, model); err != nil {
		return err
	}
	return liveness.RemovePresenceForModel(ctx, store, model)
}

// steadyGoroutines waits until the number of goroutines has held still for
// a second, or settleTime is up, and returns it.
func steadyGoroutines() int {
	deadline := time.Now().Add(settleTime)
	n, since := runtime.NumGoroutine(), time.Now()
	for time.Since(since) < time.Second && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if m := runtime.NumGoroutine(); m != n {
			n, since = m, time.Now()
		}
	}
	return n
}

// settleTime bounds how long the soak waits for goroutines to end once
// everything stopped. mgo's cluster notices that its last session closed
// within about a second.
const settleTime = 10 * time.Second

// settle waits until no goroutine is left but those current had, and
// returns the number of goroutines then, and what is left running if some
// still are when settleTime is up.
func settle(current goleak.Option) (int, error) {
	deadline := time.Now().Add(settleTime)
	for {
		// mgo's per-server pinger notices that its server was closed only
		// when it next wakes, up to 15 seconds later; it holds no socket.
		err := goleak.Find(current, goleak.IgnoreAnyFunction("github.com/juju/mgo/v2.(*mongoServer).pinger"))
		if err == nil || time.Now().After(deadline) {
			return runtime.NumGoroutine(), err
		}
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// indent prefixes every line of s.
func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}
