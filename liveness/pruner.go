package liveness

import (
	"context"
	"time"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/internal/mutate"
	"github.com/presence-go/presence/internal/slot"
)

// Pruner tracks the state of removing unworthy beings from the beings and
// pings collections. Being sequences are unworthy once their sequence has
// been superseded by a newer one for the same key, and pings once their
// slot is older than the live window.
type Pruner struct {
	store     Store
	modelUUID string
	// delta is the caller's measure of the server's clock, used only when
	// the pruner does not measure it (WithClockSkew(false)).
	delta    time.Duration
	cfg      config
	badInput error
	// clock is the server's clock of the watcher that owns the pruner;
	// nil for a pruner of its own, which shares its store's for each run.
	clock *serverClock

	// corrupt logs each corrupt document once per pruner, however often
	// Prune runs. One run at a time uses it.
	corrupt *corruptLog
}

// PruneCounts says how many documents of each kind a prune removes.
type PruneCounts struct {
	Beings int // being documents superseded by a newer sequence of their key
	Pings  int // slot documents older than the live window
}

// NewPruner returns an object that is ready to prune the model's old
// sequences from the beings collection and old slots from the pings
// collection. delta is the database server's clock minus the local clock,
// as Juju's callers measured it; the pruner judges slots by the server
// clock it shares with the controller's other workers of the same store,
// measured, and uses delta only when told not to measure
// (WithClockSkew(false)).
func NewPruner(store Store, modelUUID string, delta time.Duration, opts ...Option) *Pruner {
	return newPruner(store, modelUUID, delta, newConfig(opts))
}

func newPruner(store Store, modelUUID string, delta time.Duration, cfg config) *Pruner {
	return &Pruner{
		store:     store,
		modelUUID: modelUUID,
		delta:     delta,
		cfg:       cfg,
		badInput:  cfg.face.checkWorker(store, modelUUID),
		corrupt:   newCorruptLog(cfg.logger, modelUUID),
	}
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
	return p.PruneContext(context.Background(), memCache)
}

// PruneContext is Prune with a context for its database operations.
func (p *Pruner) PruneContext(ctx context.Context, memCache map[int64]string) error {
	_, err := p.run(ctx, memCache, true)
	return err
}

// Preview works out what Prune would remove now, by the same rules, and
// removes nothing.
func (p *Pruner) Preview(ctx context.Context) (PruneCounts, error) {
	return p.run(ctx, nil, false)
}

// run finds what a prune removes, judging the age of slots with the
// pruner's server clock delta, and, when remove is set, removes it and
// trims memCache to the live sequences.
func (p *Pruner) run(ctx context.Context, memCache map[int64]string, remove bool) (PruneCounts, error) {
	var counts PruneCounts
	if p.badInput != nil {
		return counts, p.badInput
	}
	ctx, cancel := p.cfg.op(ctx)
	defer cancel()
	periodSeconds := slot.Seconds(p.cfg.period)
	serverNow, wait, err := p.serverNow(ctx)
	if err != nil || wait {
		return counts, err
	}
	current := slot.Of(serverNow.Unix(), periodSeconds)
	oldSlots := p.store.CountOldSlots
	if remove {
		oldSlots = p.store.RemoveOldSlots
	}
	if counts.Pings, err = oldSlots(ctx, p.modelUUID, current-3*periodSeconds); err != nil {
		return counts, annotatef(err, "pruner of model %q", p.modelUUID)
	}
	// A margin of one more period covers watchers whose clocks differ.
	live, err := p.liveSeqs(ctx, current-2*periodSeconds)
	if err != nil {
		return counts, annotatef(err, "pruner of model %q", p.modelUUID)
	}
	superseded, err := p.superseded(ctx, live)
	if err != nil {
		return counts, annotatef(err, "pruner of model %q", p.modelUUID)
	}
	if !remove {
		counts.Beings = len(superseded)
		return counts, nil
	}
	err = inBatches(superseded, func(batch []int64) error {
		removed, err := p.store.RemoveBeings(ctx, p.modelUUID, batch)
		counts.Beings += removed
		return err
	})
	if err != nil {
		return counts, annotatef(err, "pruner of model %q", p.modelUUID)
	}
	for seq := range memCache {
		if !live[seq] {
			delete(memCache, seq)
		}
	}
	return counts, nil
}

// serverNow returns the server's time to judge slots by. wait is set
// within the grace after a move of the frame, when other controllers may
// still ping the slots of the old frame: nothing is pruned then.
func (p *Pruner) serverNow(ctx context.Context) (now time.Time, wait bool, err error) {
	local := p.cfg.clock.Now()
	if mutate.Enabled && mutate.Active(mutate.PrunerLocalClock) {
		return local, false, nil
	}
	if !p.cfg.measureSkew {
		return local.Add(p.delta), false, nil
	}
	clock := p.clock
	if clock == nil {
		clock = acquireServerClock(p.store, p.cfg)
		defer clock.release()
	}
	// A prune cannot be undone: it judges by a frame a fresh sample of the
	// server's clock confirms, not one up to a remeasure old, which a step
	// back of the server's clock since would put ahead of the slots the
	// other controllers ping.
	f, err := clock.confirm(ctx, p.cfg.period/2)
	if err != nil {
		return time.Time{}, false, annotatef(err, "pruner of model %q", p.modelUUID)
	}
	local = p.cfg.clock.Now()
	if f.movedWithin(local, frameGrace(p.cfg.period)) {
		p.cfg.logger.Warn("presence: not pruning: the database server's clock moved lately, and other controllers may still use the old frame",
			"model", p.modelUUID, "moved", f.movedAt())
		return time.Time{}, true, nil
	}
	return f.server(local), false, nil
}

// liveSeqs returns every sequence with a bit in a slot from oldest on.
func (p *Pruner) liveSeqs(ctx context.Context, oldest int64) (map[int64]bool, error) {
	docs, err := p.store.SlotsFrom(ctx, p.modelUUID, oldest)
	if err != nil {
		return nil, err
	}
	live := make(map[int64]bool)
	for _, doc := range docs {
		d, problems := layout.DecodeSlotDoc(doc)
		if len(problems) > 0 {
			p.corrupt.report(p.store.Names().Pings, d.ID, problems)
		}
		for _, words := range []map[int64]uint64{d.Alive, d.Dead} {
			for index, word := range words {
				layout.EachSeq(index, word, func(seq int64) { live[seq] = true })
			}
		}
	}
	return live, nil
}

// superseded reads all the model's beings and returns the
// sequences a newer sequence of the same key replaces, but for the live
// ones. The grouping is done here rather than in the database because the
// test server's $group has no $push.
func (p *Pruner) superseded(ctx context.Context, live map[int64]bool) ([]int64, error) {
	type seen struct {
		newest int64
		older  []int64
	}
	byKey := make(map[string]*seen)
	beings := p.store.Names().Beings
	err := p.store.AllBeings(ctx, p.modelUUID, func(doc []byte) {
		id, seq, key, err := layout.DecodeBeing(doc, p.modelUUID, nil)
		if err != nil {
			p.corrupt.report(beings, id, []string{err.Error()})
			return
		}
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
	})
	if err != nil {
		return nil, err
	}
	var seqs []int64
	for _, s := range byKey {
		for _, seq := range s.older {
			if !live[seq] {
				seqs = append(seqs, seq)
			}
		}
	}
	return seqs, nil
}

// RemovePresenceForModel removes all of the records of entities for a given
// model across all of the collections. Other models' documents are left
// alone, even when their id starts with this model's id. Of the options,
// only WithJujuFace matters.
func RemovePresenceForModel(ctx context.Context, store Store, modelUUID string, opts ...Option) error {
	f := newConfig(opts).face
	if err := checkStore(store); err != nil {
		return err
	}
	if err := f.checkModel(modelUUID); err != nil {
		return err
	}
	if err := store.RemoveModel(ctx, modelUUID); err != nil {
		return f.modelNotRemoved(modelUUID, err)
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
