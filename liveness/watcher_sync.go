package liveness

import (
	"context"
	"slices"
	"time"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/internal/livestate"
	"github.com/presence-go/presence/internal/mutate"
	"github.com/presence-go/presence/internal/slot"
)

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
	read, err := w.readSlots(ctx)
	if err != nil {
		return err
	}
	unknown := w.unknownSeqs(read)
	found, err := w.lookup(ctx, read, unknown)
	if err != nil {
		return err
	}
	w.commit(read, unknown, found)
	w.logUnresolved()
	return nil
}

// readSlots reads the model's live slot documents and works out what
// they change in the view.
func (w *Watcher) readSlots(ctx context.Context) (*livestate.Read, error) {
	f, err := w.clock.get(ctx)
	if err != nil {
		return nil, err
	}
	slots := liveSlots(f, w.cfg.clock.Now(), w.cfg.period)
	raw, err := w.store.ReadSlots(ctx, w.modelUUID, slots)
	if err != nil {
		return nil, err
	}
	return w.readDocs(raw, slots), nil
}

// liveSlots returns the slots a watcher reads at local time now in frame
// f: the current and the previous slot on the server's clock, and, within
// the grace after a move of the frame, those of the old frame too, which
// the pingers of controllers that have not seen the move yet still ping.
// A key alive in either frame reads alive.
func liveSlots(f frame, now time.Time, period time.Duration) []int64 {
	periodSeconds := slot.Seconds(period)
	previous, current := slot.Live(f.slot(now, period), periodSeconds)
	slots := []int64{previous, current}
	for _, old := range f.graceSlots(now, period) {
		oldPrevious, oldCurrent := slot.Live(old, periodSeconds)
		for _, s := range []int64{oldPrevious, oldCurrent} {
			if !slices.Contains(slots, s) {
				slots = append(slots, s)
			}
		}
	}
	return slots
}

// readDocs works out what raw, the slot documents read for slots, change
// in the view, reporting the corrupt ones.
func (w *Watcher) readDocs(raw [][]byte, slots []int64) *livestate.Read {
	docs := make([]livestate.Doc, 0, len(raw))
	problems := make(map[int64][]string)
	ids := make(map[int64]string, len(raw))
	for _, doc := range raw {
		d, id, docProblems := layout.SplitSlotDoc(doc, w.modelUUID, slots)
		if id == "" {
			continue // not one of the documents asked for
		}
		docs = append(docs, d)
		ids[d.Slot] = id
		problems[d.Slot] = append(problems[d.Slot], docProblems...)
	}
	read := w.view.Read(docs, func(slot int64, problem string) {
		problems[slot] = append(problems[slot], problem)
	})
	for slotNum, list := range problems {
		if len(list) > 0 {
			w.corrupt.report(w.store.Names().Pings, ids[slotNum], list)
		}
	}
	return read
}

// unknownSeqs returns the sequences the read leaves in the view whose key
// is not known: new ones, and those still waiting for their being.
func (w *Watcher) unknownSeqs(read *livestate.Read) []int64 {
	var unknown []int64
	for _, c := range read.Changes() {
		if _, ok := w.tracker.KeyOf(c.Seq); !ok && c.State != livestate.Unseen {
			if _, waiting := w.unresolved[c.Seq]; !waiting {
				unknown = append(unknown, c.Seq)
			}
		}
	}
	for seq := range w.unresolved {
		if read.StateOf(seq) != livestate.Unseen {
			unknown = append(unknown, seq)
		}
	}
	return unknown
}

// commit applies the read to the view and the tracker: the moved
// sequences, and the keys found for the unknown ones. It then queues one
// Change for each key whose liveness differs from before.
func (w *Watcher) commit(read *livestate.Read, unknown []int64, found []seqKey) {
	read.Apply()
	w.tracker.Begin()
	for _, c := range read.Changes() {
		if mutate.Enabled && mutate.Active(mutate.RestartFlap) && c.State == livestate.Unseen {
			if key, ok := w.tracker.KeyOf(c.Seq); ok && w.tracker.Alive(key) {
				w.queue(key, false)
			}
		}
		w.tracker.Update(c.Seq, c.State)
	}
	for _, f := range found {
		w.tracker.Set(f.seq, f.key, w.view.StateOf(f.seq))
	}
	w.tracker.End(w.queue)
	for _, seq := range unknown {
		if _, ok := w.tracker.KeyOf(seq); ok {
			delete(w.unresolved, seq)
		} else if _, waiting := w.unresolved[seq]; !waiting {
			w.unresolved[seq] = false
		}
	}
	for seq := range w.unresolved {
		if w.view.StateOf(seq) == livestate.Unseen {
			delete(w.unresolved, seq)
		}
	}
}

// queue sends Change{key, alive} to every channel watching key, and to
// every channel watching the whole model.
func (w *Watcher) queue(key string, alive bool) {
	for _, ch := range w.watches[key] {
		w.pending = append(w.pending, event{ch, Change{key, alive}, false})
		w.stats.events++
	}
	for _, ch := range w.modelWatches {
		w.pending = append(w.pending, event{ch, Change{key, alive}, true})
		w.stats.events++
	}
}

// seqKey is a sequence and the key its being names.
type seqKey struct {
	seq int64
	key string
}

// lookup finds the keys of seqs in their being documents: by id, a batch
// at a time, or, when they are many and a good part of the model (a
// watcher starting, or a whole model restarting), by reading all the
// model's beings, which the _id index serves in one pass. Beings of
// sequences the read does not leave in the view, or already known, are
// passed over; sequences with no sound being are left out of the result.
func (w *Watcher) lookup(ctx context.Context, read *livestate.Read, seqs []int64) ([]seqKey, error) {
	if len(seqs) == 0 {
		return nil, nil
	}
	keys := w.keysFor(read)
	var err error
	if readWholeModel(len(seqs), w.tracker.SeqCount()) {
		err = w.store.AllBeings(ctx, w.modelUUID, keys.take)
	} else {
		err = inBatches(seqs, func(batch []int64) error {
			return w.store.BeingsOf(ctx, w.modelUUID, batch, keys.take)
		})
	}
	if err != nil {
		return nil, err
	}
	return keys.found, nil
}

// keyFinder gathers the keys of the sequences a read leaves unresolved
// from their being documents, reporting the corrupt ones.
type keyFinder struct {
	w     *Watcher
	read  *livestate.Read
	found []seqKey
}

// keysFor returns a keyFinder for the sequences read leaves in the view
// whose keys the watcher does not know.
func (w *Watcher) keysFor(read *livestate.Read) *keyFinder {
	return &keyFinder{w: w, read: read}
}

// unresolved reports whether seq is live in the read and its key unknown.
func (k *keyFinder) unresolved(seq int64) bool {
	_, known := k.w.tracker.KeyOf(seq)
	return !known && k.read.StateOf(seq) != livestate.Unseen
}

// take reads one being document; it neither keeps nor modifies doc.
func (k *keyFinder) take(doc []byte) {
	w := k.w
	id, seq, key, err := layout.DecodeBeing(doc, w.modelUUID, k.unresolved)
	if err != nil {
		w.corrupt.report(w.store.Names().Beings, id, []string{err.Error()})
		return
	}
	if !k.unresolved(seq) {
		return
	}
	k.found = append(k.found, seqKey{seq, key})
}

// readWholeModel tells whether the keys of unknown sequences are better
// read from all the model's beings than looked up by id, when the watcher
// already knows the keys of known sequences. A lookup costs the server one
// index seek per id (FerretDB scans the collection once per lookup
// command, comparing every being with every id); the range read costs
// every being of the model, about as many as the sequences known and
// unknown, in sequential batches. A few ids are always looked up; beyond
// rangeReadAbove, the range is read when the unknown sequences are at
// least a third of what it would return.
func readWholeModel(unknown, known int) bool {
	return unknown > rangeReadAbove && 2*unknown >= known
}

// rangeReadAbove is how many unknown sequences are always looked up by id.
const rangeReadAbove = 100

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
