package presence

import (
	"slices"

	"github.com/juju/errors"
	"github.com/juju/mgo/v2"
	"github.com/juju/mgo/v2/bson"

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
	session := w.base.Database.Session.Copy()
	defer session.Close()

	window, err := w.readWindow(on(session, w.cols.pings))
	if err != nil {
		return err
	}
	moved := w.diff(window)
	unknown := w.unknownSeqs(moved, window)
	beings := on(session, w.cols.beings)
	found, err := w.lookup(beings, unknown)
	if err != nil {
		return err
	}
	w.commit(window, moved, unknown, found)
	w.logUnresolved(beings)
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
func (w *Watcher) readWindow(pings *mgo.Collection) (livestate.Window, error) {
	periodSeconds := slot.Seconds(w.cfg.period)
	previous, current := slot.Live(slot.At(w.cfg.clock.Now(), w.delta, w.cfg.period), periodSeconds)
	var docs []pingDoc
	ids := []string{docID(w.modelUUID, previous), docID(w.modelUUID, current)}
	if err := pings.Find(bson.D{{Name: "_id", Value: bson.D{{Name: "$in", Value: ids}}}}).All(&docs); err != nil {
		return nil, errors.Annotatef(err, "presence: cannot read slots %d and %d of model %q from %s", previous, current, w.modelUUID, pings.FullName)
	}
	window := livestate.Window{}
	for i := range docs {
		w.addSlot(window, &docs[i])
	}
	return window, nil
}

// addSlot ORs one slot document into window, skipping what is corrupt.
func (w *Watcher) addSlot(window livestate.Window, doc *pingDoc) {
	alive, dead, problems := decodePingDoc(doc)
	window.Add(alive, dead)
	if len(problems) > 0 {
		w.corrupt.report(w.cols.pings.FullName, doc.ID, problems)
	}
}

// lookup finds the keys of seqs in their being documents: by id, in one
// query, or, when there are more than one batch's worth (a watcher
// starting on a large model), by reading the model's beings in one range
// of ids, which the _id index serves in a single pass. Sequences with no
// sound being are left out of the result.
func (w *Watcher) lookup(beings *mgo.Collection, seqs []int64) (map[int64]string, error) {
	found := make(map[int64]string, len(seqs))
	if len(seqs) == 0 {
		return found, nil
	}
	wanted := make(map[int64]bool, len(seqs))
	for _, seq := range seqs {
		wanted[seq] = true
	}
	keep := func(doc bson.M) {
		seq, key, err := decodeBeing(doc)
		if err == nil && doc["_id"] != docID(w.modelUUID, seq) {
			err = errors.New("seq does not match _id")
		}
		if err != nil {
			w.corrupt.report(beings.FullName, doc["_id"], []string{err.Error()})
			return
		}
		if wanted[seq] {
			found[seq] = key
		}
	}
	if len(seqs) > lookupBatch {
		return found, w.lookupModel(beings, keep)
	}
	ids := make([]string, len(seqs))
	for i, seq := range seqs {
		ids[i] = docID(w.modelUUID, seq)
	}
	var docs []bson.M
	query := bson.D{{Name: "_id", Value: bson.D{{Name: "$in", Value: ids}}}}
	if err := beings.Find(query).Select(beingFields).All(&docs); err != nil {
		return nil, errors.Annotatef(err, "presence: cannot look up %d beings of model %q in %s", len(ids), w.modelUUID, beings.FullName)
	}
	for _, doc := range docs {
		keep(doc)
	}
	return found, nil
}

// lookupModel reads every being of the model, "<uuid>:" up to but not
// including "<uuid>;" (';' follows ':').
func (w *Watcher) lookupModel(beings *mgo.Collection, keep func(bson.M)) error {
	query := bson.D{{Name: "_id", Value: bson.D{
		{Name: "$gte", Value: w.modelUUID + ":"},
		{Name: "$lt", Value: w.modelUUID + ";"},
	}}}
	iter := beings.Find(query).Select(beingFields).Batch(lookupBatch).Iter()
	var doc bson.M
	for iter.Next(&doc) {
		keep(doc)
		doc = nil
	}
	if err := iter.Close(); err != nil {
		return errors.Annotatef(err, "presence: cannot read the beings of model %q in %s", w.modelUUID, beings.FullName)
	}
	return nil
}

// logUnresolved says once of each live sequence that it has no being.
func (w *Watcher) logUnresolved(beings *mgo.Collection) {
	for seq, logged := range w.unresolved {
		if !logged {
			w.unresolved[seq] = true
			w.cfg.logger.Warn("presence: a live sequence has no being; it is ignored until one appears",
				"model", w.modelUUID, "seq", seq, "collection", beings.FullName)
		}
	}
}
