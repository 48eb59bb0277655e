package liveness

import (
	"context"
	"slices"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/internal/livestate"
	"github.com/presence-go/presence/internal/slot"
)

// seqChange is a sequence whose state in the live slots moved.
type seqChange struct {
	seq   int64
	state livestate.State
}

// sync reads the live slots, works out what changed since the last sync and
// queues the resulting events.
//
// A sync is all or nothing: it first reads everything it needs, the slot
// documents and the beings of the sequences it has not met, and only then
// applies every sequence change and sends, for each key whose liveness
// moved, one Change from its state before the sync to its state after.
// So a restarted agent whose old sequence leaves the window as its new one
// arrives sends nothing, and a failed read leaves the view as it was, to
// be compared afresh by the next sync.
func (w *Watcher) sync() error {
	ctx, cancel := w.cfg.op(w.ctx)
	defer cancel()
	window, err := w.readWindow(ctx)
	if err != nil {
		return err
	}
	moved := w.diff(window)
	unknown := w.unknownSeqs(moved, window)
	found, err := w.lookup(ctx, unknown)
	if err != nil {
		return err
	}
	w.commit(window, moved, unknown, found)
	w.logUnresolved()
	return nil
}

// diff returns the sequences whose state moved between the view and window.
func (w *Watcher) diff(window livestate.Window) []seqChange {
	var moved []seqChange
	livestate.Changed(w.window, window, func(seq int64, st livestate.State) {
		moved = append(moved, seqChange{seq, st})
	})
	return moved
}

// unknownSeqs returns the sequences of window whose key is not known: new
// ones, and those still waiting for their being.
func (w *Watcher) unknownSeqs(moved []seqChange, window livestate.Window) []int64 {
	var unknown []int64
	for _, c := range moved {
		if _, ok := w.tracker.KeyOf(c.seq); !ok && c.state != livestate.Unseen {
			if _, waiting := w.unresolved[c.seq]; !waiting {
				unknown = append(unknown, c.seq)
			}
		}
	}
	for seq := range w.unresolved {
		if window.StateOf(seq) != livestate.Unseen {
			unknown = append(unknown, seq)
		}
	}
	return unknown
}

// commit makes window the view: it applies the moved sequences and the
// keys found for the unknown ones, then queues one Change for each key
// whose liveness differs from before.
func (w *Watcher) commit(window livestate.Window, moved []seqChange, unknown []int64, found map[int64]string) {
	before := make(map[string]bool)
	apply := func(seq int64, key string, st livestate.State) {
		if _, ok := before[key]; !ok {
			before[key] = w.tracker.Alive(key)
		}
		w.tracker.Set(seq, key, st)
	}
	for _, c := range moved {
		if key, ok := w.tracker.KeyOf(c.seq); ok {
			apply(c.seq, key, c.state)
		}
	}
	for seq, key := range found {
		apply(seq, key, window.StateOf(seq))
	}
	for _, seq := range unknown {
		if _, ok := found[seq]; ok {
			delete(w.unresolved, seq)
		} else if _, waiting := w.unresolved[seq]; !waiting {
			w.unresolved[seq] = false
		}
	}
	for seq := range w.unresolved {
		if window.StateOf(seq) == livestate.Unseen {
			delete(w.unresolved, seq)
		}
	}
	w.window = window

	keys := make([]string, 0, len(before))
	for key, was := range before {
		if w.tracker.Alive(key) != was {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	for _, key := range keys {
		w.queue(key, !before[key])
	}
}

// queue sends Change{key, alive} to every channel watching key.
func (w *Watcher) queue(key string, alive bool) {
	for _, ch := range w.watches[key] {
		w.pending = append(w.pending, event{ch, Change{key, alive}})
		w.stats.events++
	}
}

// readWindow reads the model's two live slot documents and returns their
// bits, skipping what is corrupt.
func (w *Watcher) readWindow(ctx context.Context) (livestate.Window, error) {
	periodSeconds := slot.Seconds(w.cfg.period)
	previous, current := slot.Live(slot.At(w.cfg.clock.Now(), w.delta, w.cfg.period), periodSeconds)
	docs, err := w.store.ReadSlots(ctx, w.modelUUID, []int64{previous, current})
	if err != nil {
		return nil, err
	}
	window := livestate.Window{}
	for _, doc := range docs {
		w.addSlot(window, doc)
	}
	return window, nil
}

// addSlot ORs one slot document into window, skipping what is corrupt.
func (w *Watcher) addSlot(window livestate.Window, doc []byte) {
	d, problems := decodeSlotDoc(doc)
	window.Add(d.alive, d.dead)
	if len(problems) > 0 {
		w.corrupt.report(w.store.Names().Pings, d.id, problems)
	}
}

// lookup finds the keys of seqs in their being documents: by id, or, when
// there are more than one batch's worth (a watcher starting on a large
// model), by reading all the model's beings, which the _id index serves in
// a single pass. Sequences with no sound being are left out of the result.
func (w *Watcher) lookup(ctx context.Context, seqs []int64) (map[int64]string, error) {
	found := make(map[int64]string, len(seqs))
	if len(seqs) == 0 {
		return found, nil
	}
	wanted := make(map[int64]bool, len(seqs))
	for _, seq := range seqs {
		wanted[seq] = true
	}
	query := seqs
	if len(seqs) > layout.Batch {
		query = nil // every being of the model
	}
	beings := w.store.Names().Beings
	err := w.store.Beings(ctx, w.modelUUID, query, func(doc []byte) {
		id, seq, key, err := decodeBeing(doc, w.modelUUID)
		if err != nil {
			w.corrupt.report(beings, id, []string{err.Error()})
			return
		}
		if wanted[seq] {
			found[seq] = key
		}
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

// logUnresolved says once of each live sequence that it has no being.
func (w *Watcher) logUnresolved() {
	for seq, logged := range w.unresolved {
		if !logged {
			w.unresolved[seq] = true
			w.cfg.logger.Warn("presence: a live sequence has no being; it is ignored until one appears",
				"model", w.modelUUID, "seq", seq, "collection", w.store.Names().Beings)
		}
	}
}
