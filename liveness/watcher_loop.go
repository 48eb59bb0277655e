package liveness

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/juju/clock"

	"github.com/presence-go/presence/internal/mutate"
	"gopkg.in/tomb.v2"
)

// firstRetry is how long a watcher waits before reading again after a
// failed read; each further failure doubles the wait, up to a period.
const firstRetry = time.Second

// loop owns the watcher's state. It reads the database at once, then every
// period (through its shared reader, if it has one), when asked, and
// sooner after a failure; in between it answers requests and delivers
// events.
func (w *Watcher) loop() error {
	if err := w.read(); err != nil {
		return err
	}
	var delivered <-chan struct{}
	if w.reader != nil {
		w.shared = w.reader.subscribe(w.modelUUID, w.cfg.opTimeout)
		defer w.shared.leave()
		delivered = w.shared.notify
	}
	timer := w.cfg.clock.NewTimer(w.nextRead())
	w.readDue = w.cfg.clock.Now().Add(w.nextRead())
	defer timer.Stop()
	for {
		var out chan<- Change
		var next Change
		if len(w.pending) > 0 {
			out, next = w.pending[0].ch, w.pending[0].change
		}
		select {
		case <-w.tomb.Dying():
			return tomb.ErrDying
		case <-timer.Chan():
			if err := w.readOfPeriod(timer); err != nil {
				return err
			}
		case <-delivered:
			if err := w.takeDeliveries(timer); err != nil {
				return err
			}
		case err := <-w.pruneDone:
			w.pruning = false
			w.stats.prunes++
			if err != nil {
				w.stats.pruneFailures++
				w.cfg.logger.Warn("presence: pruning failed; the next prune will retry", "model", w.modelUUID, "err", err)
			}
		case <-w.syncNow:
			if err := w.readAsked(timer); err != nil {
				return err
			}
		case req := <-w.request:
			if err := w.handle(req, timer); err != nil {
				return err
			}
		case out <- next:
			w.pending[0] = event{}
			w.pending = w.pending[1:]
		}
		w.releaseWaiters()
	}
}

// schedule sets the timer for the next read of the period, in d.
func (w *Watcher) schedule(timer clock.Timer, d time.Duration) {
	w.readDue = w.cfg.clock.Now().Add(d)
	timer.Reset(d)
}

// readOfPeriod reads when the timer fires: on its own, or by asking the
// shared reader for a poll, whose outcome sets the timer again. A fire
// that a later schedule came too late to stop sets the timer again for
// when the read is due.
func (w *Watcher) readOfPeriod(timer clock.Timer) error {
	now := w.cfg.clock.Now()
	if now.Before(w.readDue) {
		timer.Reset(w.readDue.Sub(now))
		return nil
	}
	if w.shared != nil {
		w.askPoll()
		return nil
	}
	if err := w.read(); err != nil {
		return err
	}
	w.maybePrune()
	w.schedule(timer, w.nextRead())
	return nil
}

// nextRead returns how long to wait before the next read: the backoff
// after a failure; after a success, until a period after the read began,
// so that a slow read leaves no view answered from for longer than a
// period before the next read is tried (and, if it fails, the view is
// stale).
func (w *Watcher) nextRead() time.Duration {
	if w.retry > 0 {
		return w.retry
	}
	return max(w.lastRead.Add(w.cfg.period).Sub(w.cfg.clock.Now()), 0)
}

// readAsked reads on a caller's request. A failure brings the next read
// forward to the backoff, rather than leaving it up to a period away.
func (w *Watcher) readAsked(timer clock.Timer) error {
	if err := w.read(); err != nil {
		return err
	}
	if w.retry > 0 {
		w.schedule(timer, w.retry)
	}
	return nil
}

// read brings the view up to date with a read of the watcher's own,
// measuring the clock skew first if that is still to do. A failure is
// logged and retried after a backoff; it is returned, ending the watcher,
// only once failures have lasted longer than the outage tolerance. After
// a success, the requests that waited for a fresh view are served.
func (w *Watcher) read() error {
	began := time.Now()
	start := w.cfg.clock.Now()
	w.outage.begin(start)
	if w.shared != nil {
		w.shared.ownReadBegins()
	}
	err := w.sync()
	if w.shared != nil {
		w.ownReadEnd = w.shared.ownReadEnded()
	}
	if err != nil && w.ctx.Err() != nil {
		return nil // the watcher is stopping: its read was cut short, not failed
	}
	if err != nil {
		return w.readFailed(err)
	}
	// A poll's read still waiting for its beings was worked out on the
	// view as it was: it no longer applies.
	w.pendingPoll = nil
	w.readSucceeded(start, began)
	if w.polling {
		// The poll asked for is still out: a read not yet acknowledged.
		w.outage.begin(w.cfg.clock.Now())
	}
	return nil
}

// readFailed records that a read failed with err, and sets the backoff.
// It returns an error once failures have lasted longer than the outage
// tolerance.
func (w *Watcher) readFailed(err error) error {
	w.lastErr = err
	w.retry = backoff(w.retry, w.cfg.period)
	return w.outage.failed(w.cfg, "watcher of model "+strconv.Quote(w.modelUUID), err, "model", w.modelUUID)
}

// readSucceeded records that a read begun at readAt (clock time; began on
// the wall clock) succeeded, and serves the requests that waited for
// a fresh view.
func (w *Watcher) readSucceeded(readAt, began time.Time) {
	w.outage.ended()
	w.lastErr = nil
	w.retry = 0
	// The view is of the database as it was at some moment of the read:
	// its age is counted from the read's start, so that a slow read does
	// not make an old view look fresh.
	w.lastRead = readAt
	w.stats.syncs++
	w.stats.lastSyncDuration = time.Since(began)
	deferred := w.deferred
	w.deferred = nil
	for _, req := range deferred {
		w.handle(req, nil)
	}
}

// backoff returns the wait before the next read after a failure, given
// the previous wait (zero after a success).
func backoff(previous, period time.Duration) time.Duration {
	if previous == 0 {
		return min(firstRetry, period)
	}
	return min(2*previous, period)
}

// fresh reports whether the view may be answered from: it has been read,
// and reads have not been failing for longer than a period since the last
// good one began.
func (w *Watcher) fresh() bool {
	if w.lastRead.IsZero() {
		return false
	}
	if mutate.Enabled && mutate.Active(mutate.StaleAnswers) {
		return true
	}
	return w.outage.since.IsZero() || w.cfg.clock.Now().Sub(w.lastRead) <= w.cfg.period
}

// handle serves one request. Requests that need a fresh view wait in
// deferred while there is none, in the order they came; timer is nil when
// deferred requests are replayed.
func (w *Watcher) handle(req interface{}, timer clock.Timer) error {
	switch req := req.(type) {
	case reqWatch:
		if !w.fresh() || len(w.deferred) > 0 {
			w.deferred = append(w.deferred, req)
			return nil
		}
		if !slices.Contains(w.watches[req.key], req.ch) {
			w.watches[req.key] = append(w.watches[req.key], req.ch)
		}
		w.pending = append(w.pending, event{req.ch, Change{req.key, w.tracker.Alive(req.key)}, false})
	case reqUnwatch:
		if len(w.deferred) > 0 {
			w.deferred = append(w.deferred, req)
			return nil
		}
		w.unwatch(req.key, req.ch)
	case reqWatchModel:
		if !w.fresh() || len(w.deferred) > 0 {
			w.deferred = append(w.deferred, req)
			return nil
		}
		if !slices.Contains(w.modelWatches, req.ch) {
			w.modelWatches = append(w.modelWatches, req.ch)
		}
		var keys []Change
		w.tracker.EachKey(func(key string, alive bool) { keys = append(keys, Change{key, alive}) })
		slices.SortFunc(keys, func(a, b Change) int { return strings.Compare(a.Key, b.Key) })
		for _, c := range keys {
			w.pending = append(w.pending, event{req.ch, c, true})
		}
	case reqUnwatchModel:
		if len(w.deferred) > 0 {
			w.deferred = append(w.deferred, req)
			return nil
		}
		w.unwatchModel(req.ch)
	case reqAliveKeys:
		switch {
		case w.lastRead.IsZero() && req.wait:
			w.deferred = append(w.deferred, req)
		case w.lastRead.IsZero():
			req.result <- aliveKeysResult{}
		case !w.fresh():
			req.result <- aliveKeysResult{err: w.staleError("")}
		default:
			keys := make([]string, 0, w.tracker.LiveCount())
			w.tracker.EachAlive(func(key string) { keys = append(keys, key) })
			slices.Sort(keys)
			req.result <- aliveKeysResult{keys: keys}
		}
	case reqAlive:
		switch {
		case w.lastRead.IsZero():
			w.deferred = append(w.deferred, req)
		case !w.fresh():
			req.result <- aliveResult{err: w.staleError(req.key)}
		default:
			req.result <- aliveResult{alive: w.tracker.Alive(req.key)}
		}
	case reqKeyStates:
		w.answerKeyStates(req)
	case reqReport:
		req.result <- w.report()
	case reqSync:
		if err := w.readAsked(timer); err != nil {
			close(req.done)
			return err
		}
		w.waiters = append(w.waiters, req.done)
	}
	return nil
}

// staleError says why the watcher cannot answer for key, or for every key
// when key is empty.
func (w *Watcher) staleError(key string) error {
	what := fmt.Sprintf("check liveness of %q", key)
	if key == "" {
		what = "list the alive keys"
	}
	if w.lastErr == nil {
		// A poll of the shared reader is out, and has not answered.
		return errorf("cannot %s in model %q: the database was last read at %s and a read has waited for an answer since %s",
			what, w.modelUUID, w.lastRead.Format(time.RFC3339), w.outage.since.Format(time.RFC3339))
	}
	return annotatef(w.lastErr, "cannot %s in model %q: the database was last read at %s and reads have failed since %s",
		what, w.modelUUID, w.lastRead.Format(time.RFC3339), w.outage.since.Format(time.RFC3339))
}

func (w *Watcher) unwatch(key string, ch chan<- Change) {
	chans := w.watches[key]
	if i := slices.Index(chans, ch); i >= 0 {
		chans = slices.Delete(chans, i, i+1)
	}
	if len(chans) == 0 {
		delete(w.watches, key)
	} else {
		w.watches[key] = chans
	}
	w.dropPending(func(e event) bool { return e.ch == ch && e.change.Key == key && !e.model })
}

func (w *Watcher) unwatchModel(ch chan<- Change) {
	if i := slices.Index(w.modelWatches, ch); i >= 0 {
		w.modelWatches = slices.Delete(w.modelWatches, i, i+1)
	}
	w.dropPending(func(e event) bool { return e.ch == ch && e.model })
}

// dropPending removes the queued events drop selects.
func (w *Watcher) dropPending(drop func(event) bool) {
	kept := w.pending[:0]
	for _, e := range w.pending {
		if !drop(e) {
			kept = append(kept, e)
		}
	}
	clear(w.pending[len(kept):])
	w.pending = kept
}

// releaseWaiters ends the Sync calls once every event is delivered.
func (w *Watcher) releaseWaiters() {
	if len(w.pending) > 0 || len(w.waiters) == 0 {
		return
	}
	for _, done := range w.waiters {
		close(done)
	}
	w.waiters = w.waiters[:0]
}

func (w *Watcher) report() map[string]interface{} {
	return map[string]interface{}{
		"model":              w.modelUUID,
		"state":              "running",
		"fresh":              w.fresh(),
		"keys-watched":       len(w.watches),
		"model-watches":      len(w.modelWatches),
		"keys-alive":         w.tracker.LiveCount(),
		"seqs-known":         w.tracker.SeqCount(),
		"seqs-unresolved":    len(w.unresolved),
		"events-pending":     len(w.pending),
		"requests-waiting":   len(w.deferred),
		"events":             w.stats.events,
		"syncs":              w.stats.syncs,
		"sync-failures":      w.outage.total,
		"corrupt-documents":  w.corrupt.count(),
		"prunes":             w.stats.prunes,
		"prune-failures":     w.stats.pruneFailures,
		"last-sync":          w.lastRead,
		"last-sync-duration": w.stats.lastSyncDuration,
		"shared-reader":      w.reader != nil,
	}
}

// maybePrune starts a prune of the model now and then, in a goroutine of
// the watcher's. It prunes only from a fresh view, with the watcher's
// server clock, so that the slots it judges old are judged in the frame
// the watcher reads by. Its outcome
// arrives on pruneDone; an error is only logged, since a prune that failed
// changes nothing a later one cannot do.
func (w *Watcher) maybePrune() {
	if !w.cfg.pruning || w.pruning || !w.fresh() || !w.outage.since.IsZero() {
		return
	}
	w.pruneSince++
	if !pruneDue(w.pruneSince, rand.Float64()) {
		return
	}
	w.pruneSince = 0
	w.pruning = true
	if w.pruner == nil {
		w.pruner = newPruner(w.store, w.modelUUID, 0, w.cfg)
		w.pruner.clock = w.clock
	}
	pruner := w.pruner
	w.tomb.Go(func() error {
		_, err := pruner.run(w.ctx, nil, true)
		select {
		case w.pruneDone <- err:
		case <-w.tomb.Dying():
		}
		return nil
	})
}
