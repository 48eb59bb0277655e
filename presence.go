package presence

import (
	"context"
	"log/slog"
	"time"

	"github.com/juju/clock"
	"github.com/juju/errors"
	"github.com/juju/mgo/v2"
	"github.com/juju/names/v4"

	"github.com/presence-go/presence/liveness"
	"github.com/presence-go/presence/mgostore"
)

// The workers and their types are those of package liveness, which this
// package drives through github.com/juju/mgo/v2; the names below are the
// same types, so values pass freely between code written for either.
type (
	// Change holds a liveness change notification.
	Change = liveness.Change
	// PingRecorder records that the sequence encoded by (fieldKey,
	// fieldBit) is alive in a slot of a model; a PingBatcher is one.
	PingRecorder = liveness.PingRecorder
	// Pinger periodically reports that a specific key is alive.
	Pinger = liveness.Pinger
	// PingBatcher aggregates several pingers to update the database on a
	// fixed schedule.
	PingBatcher = liveness.PingBatcher
	// Watcher can watch any number of pinger keys for liveness changes.
	Watcher = liveness.Watcher
	// Pruner removes superseded beings and old pings of one model.
	Pruner = liveness.Pruner
	// PruneCounts says how many documents of each kind a prune removes.
	PruneCounts = liveness.PruneCounts
	// Option tunes a worker beyond what the Juju-compatible constructors
	// can carry.
	Option = liveness.Option
	// Reporter is a worker that describes itself.
	Reporter = liveness.Reporter
)

const (
	// DefaultPeriod is the length of a time slot, as in Juju.
	DefaultPeriod = liveness.DefaultPeriod
	// DefaultFlushInterval is how often a PingBatcher writes by default.
	DefaultFlushInterval = liveness.DefaultFlushInterval
	// DefaultOperationTimeout bounds each database operation of a worker.
	DefaultOperationTimeout = liveness.DefaultOperationTimeout
	// MaxKeyLength is the longest key, in bytes, a Pinger accepts; a
	// Watcher answers about any key.
	MaxKeyLength = liveness.MaxKeyLength
)

// WithPeriod sets the slot length; see liveness.WithPeriod.
func WithPeriod(period time.Duration) Option { return liveness.WithPeriod(period) }

// WithClock sets the clock every timer and timestamp goes through.
func WithClock(clk clock.Clock) Option { return liveness.WithClock(clk) }

// WithLogger sets where warnings go; by default nothing is logged.
func WithLogger(logger *slog.Logger) Option { return liveness.WithLogger(logger) }

// WithFlushInterval sets how often a PingBatcher writes; see
// liveness.WithFlushInterval.
func WithFlushInterval(interval time.Duration) Option { return liveness.WithFlushInterval(interval) }

// WithClockSkew turns on or off the measure of the server's clock.
func WithClockSkew(measure bool) Option { return liveness.WithClockSkew(measure) }

// WithPruning turns on or off the pruning a Watcher does now and then.
func WithPruning(prune bool) Option { return liveness.WithPruning(prune) }

// WithOutageTolerance sets how long a worker retries a failing database;
// see liveness.WithOutageTolerance.
func WithOutageTolerance(d time.Duration) Option { return liveness.WithOutageTolerance(d) }

// WithOperationTimeout bounds each database operation; over mgo, the
// session's socket timeout does.
func WithOperationTimeout(d time.Duration) Option { return liveness.WithOperationTimeout(d) }

// WithGracefulStop makes a Pinger's Stop record its sequence dead, so
// watchers see the key dead at once; see liveness.WithGracefulStop. Beyond
// Juju's API.
func WithGracefulStop(graceful bool) Option { return liveness.WithGracefulStop(graceful) }

// The states a caller branches on, compared with errors.Is; they are
// liveness's, so either face's errors match either package's. The
// workers here return Juju's texts: a stopped batcher's Ping and Sync
// "PingBatcher is stopped", Alive on a stopped watcher "cannot check
// liveness: watcher is dying", and Start on a running pinger "pinger
// already started".
var (
	// ErrStopped is why a PingBatcher that has stopped refuses Ping and
	// Sync; see liveness.ErrStopped.
	ErrStopped = liveness.ErrStopped
	// ErrDying is why a stopped Watcher cannot answer Alive.
	ErrDying = liveness.ErrDying
	// ErrAlreadyStarted is why Start fails on a Pinger that runs.
	ErrAlreadyStarted = liveness.ErrAlreadyStarted
)

// jujuFace returns opts and, last so that it wins, the option that makes a
// worker follow Juju where Juju and package liveness differ: Juju's error
// texts, and any model id Juju took.
func jujuFace(opts []Option) []Option {
	return append(opts[:len(opts):len(opts)], liveness.WithJujuFace(true))
}

// WithSharedReader turns on or off the reads a Watcher shares with the
// other watchers of its session's collections (on by default); see
// liveness.WithSharedReader. Beyond Juju's API.
func WithSharedReader(shared bool) Option { return liveness.WithSharedReader(shared) }

// MaxAliveKeySeries is the most alive keys of one watcher the collector
// exposes one series each.
const MaxAliveKeySeries = liveness.MaxAliveKeySeries

// NewCollector returns a Prometheus collector of the workers' reports; see
// liveness.NewCollector.
var NewCollector = liveness.NewCollector

// store returns the store of the collections hanging off base, or one
// standing for the reason they cannot be used, which the workers report as
// a caller's mistake.
func store(base *mgo.Collection) liveness.Store {
	s, err := mgostore.New(base)
	if err != nil {
		return liveness.BrokenStore(err)
	}
	return s
}

// NewPinger returns a new Pinger to report that key is alive. It starts
// reporting after Start is called.
func NewPinger(base *mgo.Collection, modelTag names.ModelTag, key string, recorderFunc func() PingRecorder) *Pinger {
	return NewPingerWithOptions(base, modelTag, key, recorderFunc)
}

// NewPingerWithOptions is NewPinger with options (slot period, clock,
// logger). A problem with the arguments is reported by Start.
func NewPingerWithOptions(base *mgo.Collection, modelTag names.ModelTag, key string, recorderFunc func() PingRecorder, opts ...Option) *Pinger {
	return liveness.NewPingerFunc(store(base), modelTag.Id(), key, recorderFunc, jujuFace(opts)...)
}

// NewPingBatcher creates a worker that will batch ping requests and prepare
// them for insertion into the pings collection. Pass in the base "presence"
// collection. flushInterval is how often the batch is written; it should be
// well below the slot period (30 s) so that live pingers never look
// missing. Each wait is drawn between 0.8 and 1.2 times flushInterval so
// that the batchers of several controllers do not write in step.
func NewPingBatcher(base *mgo.Collection, flushInterval time.Duration) *PingBatcher {
	return NewPingBatcherWithOptions(base, WithFlushInterval(flushInterval))
}

// NewPingBatcherWithOptions is NewPingBatcher with options (flush interval,
// slot period, clock, logger). The flush interval defaults to
// DefaultFlushInterval.
func NewPingBatcherWithOptions(base *mgo.Collection, opts ...Option) *PingBatcher {
	return liveness.NewPingBatcher(store(base), jujuFace(opts)...)
}

// NewDeadPingBatcher returns a PingBatcher that is already stopped with an
// error: Wait and Stop return err at once, and so, by text, do Ping and
// Sync, with an error of which errors.Is holds for err and ErrStopped.
func NewDeadPingBatcher(err error) *PingBatcher {
	return liveness.NewDeadPingBatcher(err, jujuFace(nil)...)
}

// NewWatcher returns a new Watcher. A watcher given an unusable base or
// model tag is returned dead, with the reason as its error.
func NewWatcher(base *mgo.Collection, modelTag names.ModelTag) *Watcher {
	return NewWatcherWithOptions(base, modelTag)
}

// NewWatcherWithOptions is NewWatcher with options (slot period, clock,
// logger, pruning).
func NewWatcherWithOptions(base *mgo.Collection, modelTag names.ModelTag, opts ...Option) *Watcher {
	return liveness.NewWatcher(store(base), modelTag.Id(), jujuFace(opts)...)
}

// NewDeadWatcher returns a new watcher that is already dead and always
// returns the given error from its Err method.
func NewDeadWatcher(err error) *Watcher { return liveness.NewDeadWatcher(err, jujuFace(nil)...) }

// NewPruner returns an object that is ready to prune the beings collection
// of old sequences and the pings collection of old slots. delta is the
// database server's clock minus the local clock.
func NewPruner(modelUUID string, beings *mgo.Collection, pings *mgo.Collection, delta time.Duration) *Pruner {
	return NewPrunerWithOptions(modelUUID, beings, pings, delta)
}

// NewPrunerWithOptions is NewPruner with options (slot period, clock,
// logger).
func NewPrunerWithOptions(modelUUID string, beings, pings *mgo.Collection, delta time.Duration, opts ...Option) *Pruner {
	var st liveness.Store
	if s, err := mgostore.NewPruning(beings, pings); err != nil {
		st = liveness.BrokenStore(errors.Annotate(err, "pruner needs both the beings and the pings collection"))
	} else {
		st = s
	}
	return liveness.NewPruner(st, modelUUID, delta, jujuFace(opts)...)
}

// RemovePresenceForModel removes all of the records of entities for a given
// model across all of the collections. Other models' documents are left
// alone, even when their id starts with this model's id. Errors from the
// collections are reported together, each with the collection it came from.
func RemovePresenceForModel(base *mgo.Collection, modelTag names.ModelTag) error {
	return liveness.RemovePresenceForModel(context.Background(), store(base), modelTag.Id(), jujuFace(nil)...)
}
