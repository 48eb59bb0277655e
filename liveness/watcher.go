package liveness

import (
	"context"
	"fmt"
	"time"

	"gopkg.in/tomb.v2"

	"github.com/presence-go/presence/internal/livestate"
	"github.com/presence-go/presence/internal/mutate"
)

// A Watcher can watch any number of pinger keys for liveness changes.
//
// It reads the two live slot documents of its model every period (or when
// asked), works out which keys are alive, and sends a Change to every
// channel watching a key whose liveness changed. One goroutine owns all its
// state; the methods only send it requests. The watchers of one store,
// clock and period share their periodic reads (see WithSharedReader);
// each still reads its model alone for its first read and when asked.
//
// A watcher answers only from what it has read. Until its first read
// succeeds, Alive and Watch wait for it (a watcher whose database stays
// away longer than its outage tolerance stops, and they return; the
// Context forms of Alive, AliveKeys and Sync return when their context
// ends, for a caller that cannot wait that long); once
// reads fail for longer than a period, Alive returns an error instead of
// an answer that may be stale, and Watch sends its first event after the
// next successful read. Failed reads are retried after one second, then
// after twice as long each time, up to a period.
type Watcher struct {
	store     Store
	modelUUID string
	cfg       config
	tomb      tomb.Tomb
	// ctx is cancelled when the watcher starts dying, ending the database
	// operation in flight.
	ctx context.Context

	// request carries Watch, Unwatch, Alive, Sync and Report requests to
	// the loop.
	request chan interface{}
	// syncNow carries StartSync's nudges; one pending nudge is enough.
	syncNow chan struct{}

	// clock is the server's clock, shared with the controller's other
	// workers; nil for a watcher made dead.
	clock *serverClock
	// reader polls for the watcher, and for every other watcher of the
	// same store, clock and period; nil when the watcher polls on its own.
	reader *sharedReader

	// The fields below belong to the loop goroutine.
	lastRead     time.Time          // when the view was last read (clock time); zero before the first read
	lastErr      error              // why the last read failed, while reads fail
	outage       outage             // failed reads in a row
	retry        time.Duration      // wait before the next read after a failure; zero after a success
	deferred     []interface{}      // Watch, Unwatch and Alive requests waiting for a fresh view, in order
	view         livestate.View     // what the last read found in the live slots
	tracker      *livestate.Tracker // seq ⇄ key, and liveness per key
	unresolved   map[int64]bool     // seqs in the window whose being is not found yet (value: logged)
	watches      map[string][]chan<- Change
	modelWatches []chan<- Change // channels following every key of the model
	pending      []event         // changes not yet delivered, in order
	waiters      []chan struct{} // Sync calls waiting for pending to empty
	corrupt      *corruptLog
	pruner       *Pruner    // kept across prunes; one prune runs at a time
	pruning      bool       // a prune runs in its own goroutine
	pruneSince   int        // periods since the last prune started
	pruneDone    chan error // the prune goroutine's result
	stats        watcherStats
	readDue      time.Time     // when the next read of the period is due (clock time)
	shared       *subscription // the watcher's place in reader, from its first read on
	polling      bool          // it asked reader for a poll whose outcome has not come
	pendingPoll  *pendingPoll  // a poll's read waiting for the beings of its new sequences
	ownReadEnd   int64         // reader's ticket as the watcher's last own read ended
}

// watcherStats are the loop's figures for Report.
type watcherStats struct {
	syncs, events, prunes, pruneFailures int64
	lastSyncDuration                     time.Duration
}

// event is one Change on its way to one channel; model is set for the
// events of a whole-model watch, which UnwatchModel drops.
type event struct {
	ch     chan<- Change
	change Change
	model  bool
}

type reqWatch struct {
	key string
	ch  chan<- Change
}

type reqUnwatch struct {
	key string
	ch  chan<- Change
}

type reqWatchModel struct {
	ch chan<- Change
}

type reqUnwatchModel struct {
	ch chan<- Change
}

type reqAliveKeys struct {
	result chan aliveKeysResult
	wait   bool // wait for the first read rather than answer nil
}

type aliveKeysResult struct {
	keys []string
	err  error
}

type reqAlive struct {
	key    string
	result chan aliveResult
}

type aliveResult struct {
	alive bool
	err   error
}

type reqSync struct {
	done chan struct{}
}

type reqReport struct {
	result chan map[string]interface{}
}

// NewWatcher returns a Watcher of the model's keys in store. A watcher
// given an unusable store or model UUID is returned dead, with the reason
// as its error.
func NewWatcher(store Store, modelUUID string, opts ...Option) *Watcher {
	cfg := newConfig(opts)
	if err := cfg.face.checkWorker(store, modelUUID); err != nil {
		w := newDeadWatcher(err, cfg)
		w.modelUUID = modelUUID
		return w
	}
	w := &Watcher{
		store:      store,
		modelUUID:  modelUUID,
		cfg:        cfg,
		request:    make(chan interface{}),
		syncNow:    make(chan struct{}, 1),
		tracker:    livestate.NewTracker(),
		unresolved: make(map[int64]bool),
		pruneDone:  make(chan error),
		watches:    make(map[string][]chan<- Change),
		corrupt:    newCorruptLog(cfg.logger, modelUUID),
		clock:      acquireServerClock(store, cfg),
	}
	if mutate.Enabled && mutate.Active(mutate.LonelyBatcherClock) {
		w.clock.release()
		w.clock = privateServerClock(store, cfg)
	} else {
		w.reader = acquireSharedReader(store, cfg)
	}
	w.ctx = w.tomb.Context(context.Background())
	w.tomb.Go(func() error {
		defer w.clock.release()
		if w.reader != nil {
			defer w.reader.release()
		}
		return w.loop()
	})
	return w
}

// NewDeadWatcher returns a new watcher that is already dead and always
// returns the given error from its Err method: its Dead channel is closed
// and Wait returns at once. Of the options, only WithJujuFace matters.
func NewDeadWatcher(err error, opts ...Option) *Watcher {
	return newDeadWatcher(err, newConfig(opts))
}

func newDeadWatcher(err error, cfg config) *Watcher {
	w := &Watcher{cfg: cfg}
	w.tomb.Kill(err)
	w.tomb.Go(func() error { return err })
	w.tomb.Wait()
	return w
}

// String names the watcher and its model.
func (w *Watcher) String() string {
	return fmt.Sprintf("presence.Watcher(%s)", w.modelUUID)
}

// Kill asks the watcher to stop and returns at once.
func (w *Watcher) Kill() {
	w.tomb.Kill(nil)
}

// Wait returns when the watcher has stopped, with its error.
func (w *Watcher) Wait() error {
	return w.tomb.Wait()
}

// Stop stops all the watcher activities and returns its error.
func (w *Watcher) Stop() error {
	w.tomb.Kill(nil)
	return w.tomb.Wait()
}

// Dead returns a channel that is closed when the watcher has stopped.
func (w *Watcher) Dead() <-chan struct{} {
	return w.tomb.Dead()
}

// Err returns the error with which the watcher stopped. It returns nil if
// the watcher stopped cleanly, tomb.ErrStillAlive if the watcher is still
// running properly, or the respective error if the watcher is terminating
// or has terminated with an error.
func (w *Watcher) Err() error {
	return w.tomb.Err()
}

// send hands a request to the loop; it reports false once the watcher is
// dying, when nobody will answer.
func (w *Watcher) send(req interface{}) bool {
	select {
	case w.request <- req:
		return true
	case <-w.tomb.Dying():
		return false
	}
}

// waitingForRead says what a call whose context ended was waiting for.
const waitingForRead = "waiting for the watcher to read the database"

// ask hands req to the loop and waits for the answer it sends on result.
// It reports answered false once the watcher is dying, when nobody will
// answer, and returns ctx.Err() if ctx ends first.
func ask[T any](ctx context.Context, w *Watcher, req interface{}, result <-chan T) (r T, answered bool, err error) {
	select {
	case w.request <- req:
	case <-w.tomb.Dying():
		return r, false, nil
	case <-ctx.Done():
		return r, false, ctx.Err()
	}
	select {
	case r = <-result:
		return r, true, nil
	case <-w.tomb.Dying():
		return r, false, nil
	case <-ctx.Done():
		return r, false, ctx.Err()
	}
}

// Watch starts watching the liveness of key. An event will be sent onto ch
// to report the initial status for the key, and from then on a new event
// will be sent whenever a change is detected. Change values sent to the
// channel must be consumed, or the whole watcher will block.
//
// The initial event reports what the watcher has read: if it has not read
// the database yet, or reads have failed for longer than a period, it is
// sent after the next successful read. Watching the same key on the same
// channel twice registers it once but sends the initial status again. A
// nil channel, and any call once the watcher is stopped, are ignored.
func (w *Watcher) Watch(key string, ch chan<- Change) {
	if ch == nil {
		return
	}
	w.send(reqWatch{key, ch})
}

// Unwatch stops watching the liveness of key via ch, and drops the events
// for that key still queued for ch. Unwatching what was never watched, or
// calling it once the watcher is stopped, does nothing.
func (w *Watcher) Unwatch(key string, ch chan<- Change) {
	if ch == nil {
		return
	}
	w.send(reqUnwatch{key, ch})
}

// WatchModel starts watching every key of the model on ch, without naming
// keys: ch receives the state of every key that has a sequence in the live
// slots (alive, or killed and not yet expired), in key order, then a Change
// whenever any key's liveness changes, including keys that appear later.
// Delivery is as for Watch: in order for each key, and the initial events
// wait for a successful read. A channel that also watches some keys with
// Watch receives their events twice. This goes beyond Juju's API.
func (w *Watcher) WatchModel(ch chan<- Change) {
	if ch == nil {
		return
	}
	w.send(reqWatchModel{ch})
}

// UnwatchModel stops what WatchModel(ch) started, and drops the events it
// queued for ch. Events of keys ch watches with Watch are kept.
func (w *Watcher) UnwatchModel(ch chan<- Change) {
	if ch == nil {
		return
	}
	w.send(reqUnwatchModel{ch})
}

// AliveKeys returns the keys alive as of the watcher's last read, sorted,
// in one call rather than one Alive per key. Like Alive, it waits for the
// watcher's first read, and returns an error while reads have failed for
// longer than a period, or once the watcher is stopped (ErrDying). This
// goes beyond Juju's API.
func (w *Watcher) AliveKeys() ([]string, error) {
	return w.AliveKeysContext(context.Background())
}

// AliveKeysContext is AliveKeys, giving up waiting when ctx ends: its
// error then wraps ctx.Err().
func (w *Watcher) AliveKeysContext(ctx context.Context) ([]string, error) {
	return w.aliveKeys(ctx, true)
}

// aliveKeys asks the loop for the alive keys; without wait, a watcher that
// has not read yet answers nil at once.
func (w *Watcher) aliveKeys(ctx context.Context, wait bool) ([]string, error) {
	result := make(chan aliveKeysResult, 1)
	r, answered, err := ask(ctx, w, reqAliveKeys{result, wait}, result)
	switch {
	case err != nil:
		return nil, annotatef(err, "cannot list the alive keys of model %q: %s", w.modelUUID, waitingForRead)
	case !answered:
		return nil, annotatef(ErrDying, "cannot list the alive keys of model %q", w.modelUUID)
	}
	return r.keys, r.err
}

// StartSync forces the watcher to load new events from the database. It
// does not wait for them.
func (w *Watcher) StartSync() {
	select {
	case w.syncNow <- struct{}{}:
	default:
	}
}

// Sync forces the watcher to load new events from the database and blocks
// until all events have been dispatched. On a stopped watcher it returns at
// once; when the read fails, it returns once the events already queued are
// delivered.
func (w *Watcher) Sync() {
	// Its only errors are a stopped watcher and a context that cannot end.
	_ = w.SyncContext(context.Background())
}

// SyncContext is Sync, giving up waiting when ctx ends: its error then
// wraps ctx.Err(). It returns an error too when the watcher is stopped.
// Like Sync, it does not say whether the read succeeded: Alive does.
func (w *Watcher) SyncContext(ctx context.Context) error {
	done := make(chan struct{})
	_, answered, err := ask(ctx, w, reqSync{done}, done)
	switch {
	case err != nil:
		return annotatef(err, "cannot sync the watcher of model %q", w.modelUUID)
	case !answered:
		return annotatef(ErrDying, "cannot sync the watcher of model %q", w.modelUUID)
	}
	return nil
}

// Report returns figures about the watcher for introspection, in the
// style of Juju's worker reports: keys watched and alive, syncs, failures,
// corrupt documents met, prunes, and the time and duration of the last sync.
// A stopped watcher reports only its model and error.
func (w *Watcher) Report() map[string]interface{} {
	result := make(chan map[string]interface{}, 1)
	if w.send(reqReport{result}) {
		select {
		case r := <-result:
			return r
		case <-w.tomb.Dying():
		}
	}
	r := map[string]interface{}{"model": w.modelUUID, "state": "stopped"}
	if err := w.tomb.Err(); err != nil && err != tomb.ErrStillAlive {
		r["error"] = err.Error()
	}
	return r
}

// Alive returns whether the key is currently considered alive by w, or an
// error in case the watcher is dying (ErrDying). Before its first read of
// the database it waits for that read; while reads have failed for longer
// than a period it returns an error saying since when, rather than an
// answer that may no longer be true. It takes any key: one no Pinger
// accepts is never alive.
func (w *Watcher) Alive(key string) (bool, error) {
	return w.AliveContext(context.Background(), key)
}

// AliveContext is Alive, giving up waiting when ctx ends: its error then
// wraps ctx.Err().
func (w *Watcher) AliveContext(ctx context.Context, key string) (bool, error) {
	result := make(chan aliveResult, 1)
	r, answered, err := ask(ctx, w, reqAlive{key, result}, result)
	switch {
	case err != nil:
		return false, annotatef(err, "cannot check liveness of %q in model %q: %s", key, w.modelUUID, waitingForRead)
	case !answered:
		return false, w.cfg.face.watcherDying(key, w.modelUUID)
	}
	return r.alive, r.err
}
