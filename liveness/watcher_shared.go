package liveness

import (
	"github.com/juju/clock"

	"github.com/presence-go/presence/internal/livestate"
)

// The watcher's side of its shared reader's rounds (see sharedReader):
// it asks for a poll when its period is up, and applies what each round
// brings it as it applies a read of its own, all or nothing.

// pendingPoll is a poll's read worked out on the view but not applied,
// waiting for the beings of its new sequences.
type pendingPoll struct {
	round   int64
	read    *livestate.Read
	unknown []int64
}

// askPoll asks the shared reader for a poll, unless a round that serves
// the watcher is under way (its read waits for beings). Until the outcome
// comes, a read of the watcher's is out: an outage counts from now, so
// that a poll that hangs makes the view stale after a period, as a read
// of its own that hangs does.
func (w *Watcher) askPoll() {
	w.outage.begin(w.cfg.clock.Now())
	if w.polling {
		return
	}
	w.polling = true
	if w.pendingPoll == nil {
		w.shared.ask()
	}
}

// takeDeliveries applies what the shared reader's rounds brought, in
// order.
func (w *Watcher) takeDeliveries(timer clock.Timer) error {
	for _, d := range w.shared.take() {
		if err := w.takeDelivery(d, timer); err != nil {
			return err
		}
	}
	return nil
}

// takeDelivery applies one round's delivery: a poll's documents, or the
// beings of the sequences the watcher asked for.
func (w *Watcher) takeDelivery(d delivery, timer clock.Timer) error {
	if d.lookup {
		return w.takeBeings(d, timer)
	}
	if d.ticket < w.ownReadEnd {
		// The poll began before the watcher's own read ended: its
		// documents may be older than the view.
		w.shared.reply(d.round, nil)
		w.superseded()
		return nil
	}
	if d.err != nil {
		w.shared.reply(d.round, nil)
		return w.pollFailed(d, timer)
	}
	w.pendingPoll = nil
	read := w.readDocs(d.docs, d.slots)
	unknown := w.unknownSeqs(read)
	switch {
	case len(unknown) == 0:
		w.shared.reply(d.round, nil)
		w.commit(read, nil, nil)
		return w.pollSucceeded(d, timer)
	case readWholeModel(len(unknown), w.tracker.SeqCount()):
		// A model starting or restarting whole: its beings are read on
		// one cursor, by the watcher, as a read of its own reads them,
		// rather than by id with every other model's.
		w.shared.reply(d.round, nil)
		ctx, cancel := w.cfg.op(w.ctx)
		found, err := w.lookup(ctx, read, unknown)
		cancel()
		if err != nil && w.ctx.Err() != nil {
			return nil
		}
		if err != nil {
			d.err = err
			return w.pollFailed(d, timer)
		}
		w.commit(read, unknown, found)
		return w.pollSucceeded(d, timer)
	}
	w.pendingPoll = &pendingPoll{round: d.round, read: read, unknown: unknown}
	w.shared.reply(d.round, unknown)
	return nil
}

// takeBeings applies the poll's read that waited for these beings, with
// the keys they name, or drops it when the lookup failed.
func (w *Watcher) takeBeings(d delivery, timer clock.Timer) error {
	p := w.pendingPoll
	if p == nil || p.round != d.round {
		// A read of the watcher's own was applied meanwhile.
		w.superseded()
		return nil
	}
	w.pendingPoll = nil
	if d.err != nil {
		return w.pollFailed(d, timer)
	}
	keys := w.keysFor(p.read)
	for _, doc := range d.docs {
		keys.take(doc)
	}
	w.commit(p.read, p.unknown, keys.found)
	return w.pollSucceeded(d, timer)
}

// superseded handles a round that a read of the watcher's own overtook:
// if the watcher asked for a poll, it asks again, since its view may be
// older than the read it asked for.
func (w *Watcher) superseded() {
	if w.polling {
		w.polling = false
		w.askPoll()
	}
}

// pollSucceeded records a poll applied to the view, and sets the timer a
// period on: the watchers a poll serves all ask for the next together.
func (w *Watcher) pollSucceeded(d delivery, timer clock.Timer) error {
	w.logUnresolved()
	w.readSucceeded(d.readAt, d.began)
	w.polling = false
	w.schedule(timer, w.nextRead())
	w.maybePrune()
	return nil
}

// pollFailed records a failed poll as a failed read of the watcher's,
// asked for or not, and sets the timer for the backoff. It returns an
// error once failures have lasted longer than the outage tolerance.
func (w *Watcher) pollFailed(d delivery, timer clock.Timer) error {
	w.pendingPoll = nil
	w.polling = false
	w.outage.begin(d.readAt)
	if err := w.readFailed(d.err); err != nil {
		return err
	}
	w.schedule(timer, w.retry)
	return nil
}
