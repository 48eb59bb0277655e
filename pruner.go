package presence

import (
	"regexp"
	"strings"
	"time"

	"github.com/juju/errors"
	"github.com/juju/mgo/v2"
	"github.com/juju/mgo/v2/bson"
	"github.com/juju/names/v4"

	"github.com/presence-go/presence/internal/bitfield"
	"github.com/presence-go/presence/internal/slot"
)

// Pruner tracks the state of removing unworthy beings from the beings and
// pings collections. Being sequences are unworthy once their sequence has
// been superseded by a newer one for the same key, and pings once their
// slot is older than the live window.
type Pruner struct {
	modelUUID string
	beings    *mgo.Collection
	pings     *mgo.Collection
	delta     time.Duration
	cfg       config
	badInput  error

	// corrupt logs each corrupt document once per pruner, however often
	// Prune runs. One run at a time uses it.
	corrupt *corruptLog
}

// PruneCounts says how many documents of each kind a prune removes.
type PruneCounts struct {
	Beings int // being documents superseded by a newer sequence of their key
	Pings  int // slot documents older than the live window
}

// NewPruner returns an object that is ready to prune the beings collection
// of old sequences and the pings collection of old slots. delta is the
// database server's clock minus the local clock.
func NewPruner(modelUUID string, beings *mgo.Collection, pings *mgo.Collection, delta time.Duration) *Pruner {
	return NewPrunerWithOptions(modelUUID, beings, pings, delta)
}

// NewPrunerWithOptions is NewPruner with options (slot period, clock,
// logger).
func NewPrunerWithOptions(modelUUID string, beings, pings *mgo.Collection, delta time.Duration, opts ...Option) *Pruner {
	return newPruner(modelUUID, beings, pings, delta, newConfig(opts))
}

func newPruner(modelUUID string, beings, pings *mgo.Collection, delta time.Duration, cfg config) *Pruner {
	p := &Pruner{modelUUID: modelUUID, beings: beings, pings: pings, delta: delta, cfg: cfg}
	p.badInput = checkModelUUID(modelUUID)
	if p.badInput == nil && (checkBase(beings) != nil || checkBase(pings) != nil) {
		p.badInput = errors.New("presence: pruner needs both the beings and the pings collection")
	}
	p.corrupt = newCorruptLog(cfg.logger, modelUUID)
	return p
}

// modelPrefix matches the _id of every document of one model: the id is
// quoted, so its characters match themselves, and anchored with the ':'
// separator, so a model whose id extends another's is never matched.
func modelPrefix(modelUUID string) bson.RegEx {
	return bson.RegEx{Pattern: "^" + regexp.QuoteMeta(modelUUID) + ":"}
}

// Prune removes beings that have been superseded by another entry with a
// higher sequence for the same key, and pings outside the live window
// (older than three periods before the current slot). A superseded being
// is kept while its sequence still has a bit in a live slot.
//
// memCache is the caller's map of the sequences it knows, with their keys,
// as a watcher keeps one. It takes no part in deciding what is removed;
// once the removals are done, every sequence that no longer has a bit in a
// live slot is deleted from it, so that the caller's cache stays bounded.
// It may be nil.
func (p *Pruner) Prune(memCache map[int64]string) error {
	_, err := p.run(p.delta, memCache, true)
	return err
}

// Preview works out what Prune would remove now, by the same rules, and
// removes nothing; memCache is neither used nor changed.
func (p *Pruner) Preview(memCache map[int64]string) (PruneCounts, error) {
	return p.run(p.delta, nil, false)
}

// run finds what a prune removes, judging the age of slots with the
// server clock delta given, and, when remove is set, removes it and trims
// memCache to the live sequences.
func (p *Pruner) run(delta time.Duration, memCache map[int64]string, remove bool) (PruneCounts, error) {
	var counts PruneCounts
	if p.badInput != nil {
		return counts, p.badInput
	}
	session := p.beings.Database.Session.Copy()
	defer session.Close()
	pings := on(session, p.pings)
	beings := on(session, p.beings)

	periodSeconds := slot.Seconds(p.cfg.period)
	current := slot.At(p.cfg.clock.Now(), delta, p.cfg.period)
	var err error
	if counts.Pings, err = p.oldPings(pings, current-3*periodSeconds, remove); err != nil {
		return counts, err
	}
	// A margin of one more period covers watchers whose clocks differ.
	live, err := p.liveSeqs(pings, current-2*periodSeconds)
	if err != nil {
		return counts, err
	}
	superseded, err := p.superseded(beings, live)
	if err != nil {
		return counts, err
	}
	if !remove {
		counts.Beings = len(superseded)
		return counts, nil
	}
	if counts.Beings, err = p.removeBeings(beings, superseded); err != nil {
		return counts, err
	}
	for seq := range memCache {
		if !live[seq] {
			delete(memCache, seq)
		}
	}
	return counts, nil
}

// oldPings counts, or removes, the model's slot documents before oldest.
func (p *Pruner) oldPings(pings *mgo.Collection, oldest int64, remove bool) (int, error) {
	query := bson.D{
		{Name: "_id", Value: modelPrefix(p.modelUUID)},
		{Name: "slot", Value: bson.D{{Name: "$lt", Value: oldest}}},
	}
	if !remove {
		n, err := pings.Find(query).Count()
		if err != nil {
			return 0, errors.Annotatef(err, "presence: cannot count pings of model %q older than slot %d in %s", p.modelUUID, oldest, pings.FullName)
		}
		return n, nil
	}
	info, err := pings.RemoveAll(query)
	if err != nil {
		return 0, errors.Annotatef(err, "presence: cannot prune pings of model %q older than slot %d from %s", p.modelUUID, oldest, pings.FullName)
	}
	return info.Removed, nil
}

// liveSeqs returns every sequence with a bit in a slot from oldest on.
func (p *Pruner) liveSeqs(pings *mgo.Collection, oldest int64) (map[int64]bool, error) {
	query := bson.D{
		{Name: "_id", Value: modelPrefix(p.modelUUID)},
		{Name: "slot", Value: bson.D{{Name: "$gte", Value: oldest}}},
	}
	var docs []pingDoc
	if err := pings.Find(query).All(&docs); err != nil {
		return nil, errors.Annotatef(err, "presence: cannot read live pings of model %q from %s", p.modelUUID, pings.FullName)
	}
	live := make(map[int64]bool)
	for i := range docs {
		alive, dead, problems := decodePingDoc(&docs[i])
		if len(problems) > 0 {
			p.corrupt.report(pings.FullName, docs[i].ID, problems)
		}
		for _, words := range []map[int64]uint64{alive, dead} {
			for index, word := range words {
				bitfield.EachSeq(index, word, func(seq int64) { live[seq] = true })
			}
		}
	}
	return live, nil
}

// superseded reads the model's beings, a batch at a time, and returns the
// ids of those a newer sequence of the same key replaces, but for the live
// ones. The grouping is done here rather than in the
// database because the test server's $group has no $push.
func (p *Pruner) superseded(beings *mgo.Collection, live map[int64]bool) ([]string, error) {
	type seen struct {
		newest int64
		older  []int64
	}
	byKey := make(map[string]*seen)
	iter := beings.Find(bson.D{{Name: "_id", Value: modelPrefix(p.modelUUID)}}).
		Select(beingFields).
		Batch(lookupBatch).Iter()
	var doc bson.M
	for iter.Next(&doc) {
		seq, key, err := decodeBeing(doc)
		if err == nil && doc["_id"] != docID(p.modelUUID, seq) {
			err = errors.New("seq does not match _id")
		}
		if err != nil {
			p.corrupt.report(beings.FullName, doc["_id"], []string{err.Error()})
			doc = nil
			continue
		}
		doc = nil
		s := byKey[key]
		switch {
		case s == nil:
			byKey[key] = &seen{newest: seq}
		case seq > s.newest:
			s.older = append(s.older, s.newest)
			s.newest = seq
		default:
			s.older = append(s.older, seq)
		}
	}
	if err := iter.Close(); err != nil {
		return nil, errors.Annotatef(err, "presence: cannot read beings of model %q from %s", p.modelUUID, beings.FullName)
	}
	var ids []string
	for _, s := range byKey {
		for _, seq := range s.older {
			if live[seq] {
				continue
			}
			ids = append(ids, docID(p.modelUUID, seq))
		}
	}
	return ids, nil
}

func (p *Pruner) removeBeings(beings *mgo.Collection, ids []string) (int, error) {
	removed := 0
	for start := 0; start < len(ids); start += lookupBatch {
		batch := ids[start:min(start+lookupBatch, len(ids))]
		info, err := beings.RemoveAll(bson.D{{Name: "_id", Value: bson.D{{Name: "$in", Value: batch}}}})
		if err != nil {
			return removed, errors.Annotatef(err, "presence: cannot remove %d superseded beings of model %q from %s", len(batch), p.modelUUID, beings.FullName)
		}
		removed += info.Removed
	}
	return removed, nil
}

// RemovePresenceForModel removes all of the records of entities for a given
// model across all of the collections. Other models' documents are left
// alone, even when their id starts with this model's id. Errors from the
// collections are reported together, each with the collection it came from.
func RemovePresenceForModel(base *mgo.Collection, modelTag names.ModelTag) error {
	if err := checkBase(base); err != nil {
		return err
	}
	modelUUID, err := modelUUIDOf(modelTag)
	if err != nil {
		return err
	}
	cols := collectionsOf(base)
	var failures []string
	for _, c := range []*mgo.Collection{cols.seqs, cols.beings, cols.pings} {
		if _, err := c.RemoveAll(bson.D{{Name: "_id", Value: modelPrefix(modelUUID)}}); err != nil {
			failures = append(failures, c.FullName+": "+err.Error())
		}
	}
	if len(failures) > 0 {
		return errors.Errorf("presence: cannot remove model %q: %s", modelUUID, strings.Join(failures, "; "))
	}
	return nil
}

// A watcher prunes at random, on average once every pruneMeanPeriods slot
// periods (10 minutes at the default 30 s) and at least once every
// pruneMaxPeriods (an hour), so that the watchers of many controllers do
// not all prune at once.
const (
	pruneMeanPeriods = 20
	pruneMaxPeriods  = 120
)

// pruneDue tells a watcher whether to prune at this period, given how many
// periods passed since it last did and a random number in [0, 1).
func pruneDue(periodsSince int, random float64) bool {
	return periodsSince >= pruneMaxPeriods || random < 1.0/pruneMeanPeriods
}
