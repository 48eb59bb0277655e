package liveness

import (
	"context"
	"time"
)

// PruneNow has w consider a prune at once, as it does once a period, with
// the prune due whatever the draw, and waits for the prune if it started
// one. It reports whether it did. The watcher must not be running its
// loop: tests build it with NewIdleWatcher.
func (w *Watcher) PruneNow() (bool, error) {
	w.pruneSince = pruneMaxPeriods
	w.maybePrune()
	if !w.pruning {
		return false, nil
	}
	w.pruning = false
	return true, <-w.pruneDone
}

// SetRead records that w read the database at when, with the server's
// clock measured delta ahead of the local one.
func (w *Watcher) SetRead(when time.Time, delta time.Duration) {
	w.lastRead = when
	w.clock.adopt(sample{now: reading{server: when.Add(delta), local: when}, at: when})
}

// NewIdleWatcher returns a watcher of the model whose loop does nothing
// but wait to be stopped, for tests that call its steps themselves.
func NewIdleWatcher(store Store, modelUUID string, opts ...Option) *Watcher {
	cfg := newConfig(opts)
	w := &Watcher{
		store:     store,
		modelUUID: modelUUID,
		cfg:       cfg,
		pruneDone: make(chan error),
		corrupt:   newCorruptLog(cfg.logger, modelUUID),
		clock:     &serverClock{store: store, local: cfg.clock, logger: cfg.logger, moved: make(chan struct{})},
	}
	w.ctx = w.tomb.Context(context.Background())
	w.tomb.Go(func() error {
		<-w.tomb.Dying()
		return nil
	})
	return w
}

// ConnectionOf returns what names store's connection in the registry of
// server clocks: stores with equal ones share a clock.
func ConnectionOf(store Store) any { return connectionOf(store) }

// ReaderOf returns what names w's shared reader: watchers with equal ones
// share it. It is nil for a watcher that polls on its own.
func ReaderOf(w *Watcher) any {
	if w.reader == nil {
		return nil
	}
	return w.reader
}

// ReaderSharesClock reports whether w's shared reader works out slots by
// w's own server clock.
func ReaderSharesClock(w *Watcher) bool {
	return w.reader != nil && w.reader.clock == w.clock
}
