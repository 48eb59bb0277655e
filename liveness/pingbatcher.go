package liveness

import (
	"context"
	"sync/atomic"
	"time"

	"gopkg.in/tomb.v2"

	"github.com/presence-go/presence/internal/mutate"
	"github.com/presence-go/presence/internal/slot"
)

// PingBatcher aggregates several pingers to update the database on a fixed
// schedule.
//
// Pings are ORed together in memory and written with $bit or, one upsert
// per (model, slot) document per flush that has something new for it. A
// ping of a sequence already written into the previous slot is a refresh,
// held and written with the others once the slot's ping window is over; a
// steady fleet so costs about one write per document per slot. Other pings
// are written by the next flush, and a bit already written is never
// written again. Because OR is idempotent, a flush that fails keeps its
// pings and retries them with the next one; only pings of slots that no
// watcher reads any more, on the server's clock, are dropped.
type PingBatcher struct {
	store Store
	cfg   config
	tomb  tomb.Tomb
	// clock is the server's clock, shared with the controller's other
	// workers; nil for a batcher made dead.
	clock *serverClock

	// closed is set once the batcher is dying, so that Ping can refuse
	// without touching the tomb's lock.
	closed atomic.Bool

	// shards hold the pings not yet written. A ping goes to the shard of
	// its bit position, so that agents pinging at once rarely wait for the
	// same lock; a flush empties every shard and merges their buckets.
	shards [pingShards]pingShard

	// syncs carries Sync requests to the loop; each gets the flush's error.
	syncs chan chan error

	stats batcherStats

	// The fields below belong to the loop.
	outage  outage     // writes not acknowledged, and failed flushes in a row
	plan    *writePlan // what has been written and what waits
	old     *oldFrame  // what the grace after a move writes in the old frame
	farLog  time.Time  // when pings far from now were last logged
	timeout time.Duration
}

// batcherStats are counters read by Report; updated atomically.
type batcherStats struct {
	flushes, writes, failures, dropped, far atomic.Int64
	// unacked is when (local Unix nanoseconds) the oldest write not yet
	// acknowledged began; zero when every write is.
	unacked atomic.Int64
}

// NewPingBatcher creates a worker that will batch ping requests and write
// them to store's pings collection: every flush interval
// (DefaultFlushInterval unless WithFlushInterval says otherwise), drawn
// each time between 0.8 and 1.2 times the interval so that the batchers of
// several controllers do not write in step. A nil store gives a batcher
// that is already dead with the reason.
func NewPingBatcher(store Store, opts ...Option) *PingBatcher {
	if err := checkStore(store); err != nil {
		return NewDeadPingBatcher(err, opts...)
	}
	cfg := batcherConfig(newConfig(opts))
	pb := &PingBatcher{
		store:   store,
		cfg:     cfg,
		clock:   acquireServerClock(store, cfg),
		syncs:   make(chan chan error),
		plan:    newWritePlan(cfg.period),
		old:     newOldFrame(cfg.period),
		timeout: flushTimeout(cfg),
	}
	for i := range pb.shards {
		pb.shards[i].pending = make(map[bucketKey]*bucket)
	}
	pb.tomb.Go(pb.loop)
	return pb
}

// batcherConfig fits the flush interval to the slot period and sets the
// default outage tolerance of a batcher: the write slack. A write that
// fails for longer would let live keys read dead, so the batcher then
// stops with an error for its owner to act on rather than retry quietly.
func batcherConfig(cfg config) config {
	if longest := slot.MaxFlushInterval(cfg.period); cfg.flushInterval > longest {
		cfg.logger.Warn("presence: flush interval too long for the slot period; shortened",
			"flush-interval", cfg.flushInterval, "period", cfg.period, "used", longest,
			"reason", "a ping must be written well inside the slot it is for")
		cfg.flushInterval = longest
	}
	if !cfg.toleranceSet {
		cfg.tolerance = slot.WriteSlack(cfg.period, cfg.flushInterval)
	}
	return cfg
}

// flushTimeout bounds each write of a flush: the operation timeout, but
// never more than the write slack, so that a write that hangs is known to
// have failed while the slack lasts rather than after it.
func flushTimeout(cfg config) time.Duration {
	if mutate.Enabled && mutate.Active(mutate.HangIsNoOutage) {
		return cfg.opTimeout
	}
	return min(cfg.opTimeout, slot.WriteSlack(cfg.period, cfg.flushInterval))
}

// NewDeadPingBatcher returns a PingBatcher that is already stopped with an
// error: Wait and Stop return err at once, and Ping and Sync an error for
// which both errors.Is(e, err) and errors.Is(e, ErrStopped) hold. Of the
// options, only WithJujuFace matters.
func NewDeadPingBatcher(err error, opts ...Option) *PingBatcher {
	pb := &PingBatcher{cfg: newConfig(opts)}
	pb.closed.Store(true)
	pb.tomb.Kill(err)
	pb.tomb.Go(func() error { return err })
	pb.tomb.Wait()
	return pb
}

// Period returns the slot period the batcher plans its writes by. A
// Pinger refuses to start with a recorder that has a Period other than its
// own; a PingRecorder that wraps a batcher should pass it on. This goes
// beyond Juju's API.
func (pb *PingBatcher) Period() time.Duration { return pb.cfg.period }

// stoppedErr is what Ping and Sync return once the batcher is stopping:
// ErrStopped, with the error it stopped with if any.
func (pb *PingBatcher) stoppedErr() error {
	if err := pb.tomb.Err(); err != nil && err != tomb.ErrStillAlive {
		return pb.cfg.face.batcherStopped(err)
	}
	return pb.cfg.face.batcherStopped(nil)
}

// Sync asks for an immediate flush of the pings recorded so far, and returns
// once they are written, or with the error that prevented it (ErrStopped
// once the batcher is stopping). Several Sync calls at once share one
// flush.
func (pb *PingBatcher) Sync() error {
	return pb.SyncContext(context.Background())
}

// SyncContext is Sync, giving up waiting when ctx is done; the flush
// itself still happens.
func (pb *PingBatcher) SyncContext(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case pb.syncs <- reply:
	case <-pb.tomb.Dying():
		return pb.stoppedErr()
	case <-ctx.Done():
		return annotatef(ctx.Err(), "PingBatcher.Sync")
	}
	select {
	case err := <-reply:
		return err
	case <-pb.tomb.Dead():
		return pb.stoppedErr()
	case <-ctx.Done():
		return annotatef(ctx.Err(), "PingBatcher.Sync")
	}
}

func (pb *PingBatcher) loop() error {
	defer pb.closed.Store(true)
	defer pb.clock.release()
	moved := pb.clock.movesChan()
	for {
		timer := pb.cfg.clock.NewTimer(pb.jittered())
		var replies []chan error
		when := dueOnTime
		select {
		case <-pb.tomb.Dying():
			timer.Stop()
			return pb.finalFlush()
		case <-timer.Chan():
		case reply := <-pb.syncs:
			timer.Stop()
			replies = append(replies, reply)
			replies = pb.moreSyncs(replies)
			when = dueAll
		case <-moved:
			// The frame moved: what is held was held by the old frame's
			// reckoning; writing it now never eats the slack. And what
			// was alive in the old frame must stay so there.
			timer.Stop()
			moved = pb.clock.movesChan()
			when = dueAll
			if oldSlot, ok := pb.clock.current().lastLeftSlot(pb.cfg.clock.Now(), pb.cfg.period); ok {
				pb.old.carry(pb.plan, oldSlot)
			}
		}
		err := pb.flush(when)
		for _, reply := range replies {
			reply <- err
		}
		if err == nil {
			continue
		}
		if fatal := pb.outage.failed(pb.cfg, "PingBatcher", err, "collection", pb.store.Names().Pings); fatal != nil {
			return fatal
		}
	}
}

// finalFlush closes the batcher to new pings and writes everything it
// holds. A connection the server dropped fails the first operation on it,
// so a failed final flush is tried once more; if that fails too, its error
// is what Stop returns.
func (pb *PingBatcher) finalFlush() error {
	pb.closed.Store(true)
	err := pb.flush(dueAll)
	if err != nil {
		err = pb.flush(dueAll)
	}
	if err != nil {
		return annotatef(err, "final flush of the PingBatcher failed")
	}
	return tomb.ErrDying
}

// moreSyncs gathers the Sync requests already waiting, so they share a flush.
func (pb *PingBatcher) moreSyncs(replies []chan error) []chan error {
	for {
		select {
		case reply := <-pb.syncs:
			replies = append(replies, reply)
		default:
			return replies
		}
	}
}

func (pb *PingBatcher) jittered() time.Duration {
	return time.Duration(float64(pb.cfg.flushInterval) * (0.8 + 0.4*pb.cfg.rand()))
}

// Report returns figures about the batcher for introspection: pings
// taken, flushes that wrote, documents written, failed flushes, documents
// dropped as too old, documents pinged for slots far from the server's
// clock, documents with pings not yet taken by a flush, since when a write
// has gone unacknowledged (while one has), and the server clock's offset,
// error and moves.
func (pb *PingBatcher) Report() map[string]interface{} {
	pings, pending := pb.pendingCounts()
	r := map[string]interface{}{
		"pings":             pings,
		"flushes":           pb.stats.flushes.Load(),
		"documents-written": pb.stats.writes.Load(),
		"flush-failures":    pb.stats.failures.Load(),
		"documents-dropped": pb.stats.dropped.Load(),
		"documents-far":     pb.stats.far.Load(),
		"documents-pending": pending,
		"state":             "running",
	}
	if since := pb.stats.unacked.Load(); since != 0 {
		r["unacknowledged-since"] = time.Unix(0, since)
	}
	if pb.clock != nil {
		pb.clock.report(r)
	}
	if pb.closed.Load() {
		r["state"] = "stopped"
		if err := pb.tomb.Err(); err != nil && err != tomb.ErrStillAlive {
			r["error"] = err.Error()
		}
	}
	return r
}

// Kill asks the batcher to stop; it writes what it holds before it does.
// Pings are refused from then on.
func (pb *PingBatcher) Kill() {
	pb.tomb.Kill(nil)
}

// Wait returns when the batcher has stopped, with the first error it met.
func (pb *PingBatcher) Wait() error {
	return pb.tomb.Wait()
}

// Stop stops the batcher, after a last flush, and returns its error: the
// final flush's, when that failed and the pings it held are lost.
func (pb *PingBatcher) Stop() error {
	pb.tomb.Kill(nil)
	return pb.tomb.Wait()
}
