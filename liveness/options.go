package liveness

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/juju/clock"

	"github.com/presence-go/presence/internal/slot"
)

// DefaultPeriod is the length of a time slot, as in Juju. A pinger that
// stops is seen dead after at most two periods.
const DefaultPeriod = 30 * time.Second

// DefaultFlushInterval is how often a PingBatcher writes when it was built
// by a constructor that takes no interval.
const DefaultFlushInterval = time.Second

// DefaultOperationTimeout bounds each database operation of a worker.
const DefaultOperationTimeout = 30 * time.Second

// Option tunes a Pinger, PingBatcher, Watcher or Pruner. Options given a
// value out of range keep the default, and say so through the logger.
type Option func(*config)

// config is what the options set. Every worker takes a copy at construction.
type config struct {
	period        time.Duration
	clock         clock.Clock
	logger        *slog.Logger
	flushInterval time.Duration
	measureSkew   bool
	pruning       bool
	tolerance     time.Duration
	toleranceSet  bool
	opTimeout     time.Duration
	gracefulStop  bool
	sharedReader  bool
	random        *lockedRand // nil: the global source
	face          face
	rejected      []string
}

func newConfig(opts []Option) config {
	cfg := config{
		period:        DefaultPeriod,
		clock:         clock.WallClock,
		logger:        slog.New(slog.DiscardHandler),
		flushInterval: DefaultFlushInterval,
		measureSkew:   true,
		pruning:       true,
		opTimeout:     DefaultOperationTimeout,
		sharedReader:  true,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	if !cfg.toleranceSet {
		cfg.tolerance = cfg.period
	}
	for _, msg := range cfg.rejected {
		cfg.logger.Warn("presence: option ignored", "reason", msg)
	}
	cfg.rejected = nil
	return cfg
}

// WithPeriod sets the slot length. It must be a whole number of seconds, at
// least one; every pinger, batcher and watcher of a model must agree on it.
func WithPeriod(period time.Duration) Option {
	return func(c *config) {
		p, ok := slot.Normalize(period)
		if !ok || p != period {
			c.rejected = append(c.rejected, "period "+period.String()+" is not a whole number of seconds of at least 1s")
			return
		}
		c.period = p
	}
}

// WithClock sets the clock every timer and timestamp goes through, so tests
// can drive time.
func WithClock(clk clock.Clock) Option {
	return func(c *config) {
		if clk == nil {
			c.rejected = append(c.rejected, "nil clock")
			return
		}
		c.clock = clk
	}
}

// WithLogger sets where warnings (failed writes, corrupt documents) go.
// By default nothing is logged.
func WithLogger(logger *slog.Logger) Option {
	return func(c *config) {
		if logger == nil {
			return
		}
		c.logger = logger
	}
}

// WithFlushInterval sets how often a PingBatcher writes; each flush waits
// between 0.8 and 1.2 times this. It must be positive. A batcher shortens
// an interval longer than a quarter of its slot period to that quarter (and
// logs so), so that every ping is written well inside the slot it is for;
// give the batcher the same WithPeriod as its pingers.
func WithFlushInterval(interval time.Duration) Option {
	return func(c *config) {
		if interval <= 0 {
			c.rejected = append(c.rejected, "flush interval "+interval.String()+" is not positive")
			return
		}
		c.flushInterval = interval
	}
}

// WithClockSkew turns on or off the measure of the database server's clock
// against the local one (on by default). With it off, slots follow the
// local clock alone; tests that drive a clock use that.
func WithClockSkew(measure bool) Option {
	return func(c *config) { c.measureSkew = measure }
}

// WithPruning turns on or off the pruning a Watcher does now and then of
// its model's superseded beings and old pings (on by default).
func WithPruning(prune bool) Option {
	return func(c *config) { c.pruning = prune }
}

// WithOutageTolerance sets how long a worker keeps retrying a database that
// fails before it stops with an error.
//
// For a watcher it defaults to one slot period: one that cannot read for
// longer could no longer tell the truth (and answers Alive with an error
// meanwhile). For a PingBatcher it defaults to its write slack: how late a
// write of pings may land with no live key read dead, which is the period
// less the ping window (its first quarter, in which pingers ping) less the
// longest flush wait (1.2 flush intervals): 21.3 s at the defaults of 30 s
// and 1 s, 1.26 s at 2 s and 200 ms. A write that is slow but lands within
// the slack costs nothing; a batcher that cannot write for longer lets live
// agents read dead, so it stops with an error for its owner to act on.
func WithOutageTolerance(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.rejected = append(c.rejected, "outage tolerance "+d.String()+" is negative")
			return
		}
		c.tolerance = d
		c.toleranceSet = true
	}
}

// WithOperationTimeout bounds each database operation a worker makes
// (DefaultOperationTimeout by default); a PingBatcher's writes are bounded
// by the write slack too, whichever is shorter. An operation that takes
// longer fails, and counts as a failure of the database. Over
// github.com/juju/mgo/v2, which takes no context, the bound is set as the
// socket timeout of the session copy each operation runs on.
func WithOperationTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.rejected = append(c.rejected, "operation timeout "+d.String()+" is not positive")
			return
		}
		c.opTimeout = d
	}
}

// op returns a context for one database operation: ctx bounded by the
// operation timeout.
func (c config) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opTimeout)
}

// WithGracefulStop makes a Pinger's Stop also record its sequence dead,
// after its last ping, so that watchers see the key dead at their next
// read instead of up to two periods later. A later Start takes a new
// sequence, and the key reads alive again. The price: a restart (Stop,
// then Start) shows watchers a dead→alive pair instead of nothing, and
// Stop makes one write. Off by default: Juju's Stop is silent, and the key
// expires. This goes beyond Juju's API.
func WithGracefulStop(graceful bool) Option {
	return func(c *config) { c.gracefulStop = graceful }
}

// WithSharedReader turns on or off the shared reader of a Watcher (on by
// default). With it on, the watchers of one store (one connection to the
// server, and the same collections), one clock and one slot period stop
// polling on their own: once a period, one poll reads the live slot
// documents of every model they watch, a thousand ids a request, and one
// lookup finds the keys of the sequences any of them has not met, so a
// controller that watches a thousand models reads its database a few
// times a period rather than a thousand. Each watcher keeps its own view,
// events, errors and pruning, and still reads its model alone for its
// first read, Sync and StartSync. Off, a watcher reads its own model
// every period, as Juju's did. This goes beyond Juju's API.
func WithSharedReader(shared bool) Option {
	return func(c *config) { c.sharedReader = shared }
}

// WithRandSource sets where a worker draws its random numbers (the jitter of
// flushes, the point of each slot at which a pinger pings, when a watcher
// prunes), so that a test or a simulation can replay a run. By default
// they come from math/rand/v2's global source. Workers may share a
// source; it is used under a lock.
func WithRandSource(src rand.Source) Option {
	return func(c *config) {
		if src == nil {
			c.rejected = append(c.rejected, "nil random source")
			return
		}
		c.random = &lockedRand{r: rand.New(src)}
	}
}

// lockedRand is a random source several workers may share.
type lockedRand struct {
	mu sync.Mutex // guards r
	r  *rand.Rand
}

// rand returns a random number in [0, 1) from the configured source.
func (c config) rand() float64 {
	if c.random == nil {
		return rand.Float64()
	}
	c.random.mu.Lock()
	defer c.random.mu.Unlock()
	return c.random.r.Float64()
}

// WithJujuFace makes a worker follow Juju's state/presence where it and
// this package differ, as the root package's workers do: errors carry
// Juju's exact texts where Juju had one ("PingBatcher is stopped", "cannot
// check liveness: watcher is dying", "pinger already started"), without
// the "presence: " prefix, and any model id Juju took is taken, such as
// "test-uuid", rather than UUIDs alone. The sentinels (ErrStopped, ErrDying,
// ErrAlreadyStarted) match on either face. Off by default; it is for code
// written against Juju's package, whose tests match Juju's texts, that
// runs on a Store of its choosing.
func WithJujuFace(juju bool) Option {
	return func(c *config) {
		c.face = livenessFace
		if juju {
			c.face = jujuFace
		}
	}
}
