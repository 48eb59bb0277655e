// Package mgostore is the liveness.Store of github.com/juju/mgo/v2, which
// the Juju-compatible face of presence (the root package) is built on. A
// controller on mgo may also use it directly, to run the workers of
// package liveness with their contexts and additions:
//
//	store, err := mgostore.New(session.DB("juju").C("presence"))
//	...
//	watcher := liveness.NewWatcher(store, modelUUID)
//
// Each operation copies the session of its collection, in Strong mode (on
// the primary), and closes the copy when done, as Juju's code does, so a
// store may be shared by every worker. mgo takes no context: an operation
// is bounded by the session's socket timeout, and only a context already
// done stops it before it starts. mgo speaks only the legacy OP_QUERY
// protocol, which MongoDB dropped in 5.1; for later servers use package
// mongostore.
package mgostore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	jujuerrors "github.com/juju/errors"
	"github.com/juju/mgo/v2"
	"github.com/juju/mgo/v2/bson"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/liveness"
)

// Store implements liveness.Store over three mgo collections.
type Store struct {
	seqs, beings, pings *mgo.Collection
}

var (
	_ liveness.Store            = (*Store)(nil)
	_ liveness.SharedConnection = (*Store)(nil)
)

// Connection implements liveness.SharedConnection: the stores made from
// collections of one session (the root package makes a store for every
// worker it builds) share one measure of the server's clock.
func (s *Store) Connection() any { return s.pings.Database.Session }

// New returns the store of the collections that hang off base: base.seqs,
// base.beings and base.pings. A base the driver cannot use (nil, of no
// database, or nameless) is a mistake in the arguments:
// errors.Is(err, errors.NotValid) holds (github.com/juju/errors).
func New(base *mgo.Collection) (*Store, error) {
	if err := check(base, "base"); err != nil {
		return nil, err
	}
	db := base.Database
	return &Store{
		seqs:   db.C(base.Name + layout.SeqsSuffix),
		beings: db.C(base.Name + layout.BeingsSuffix),
		pings:  db.C(base.Name + layout.PingsSuffix),
	}, nil
}

// NewPruning returns a store of the beings and pings collections alone, as
// Juju's pruner is given them. Operations on the sequence counters fail.
// Its errors are New's.
func NewPruning(beings, pings *mgo.Collection) (*Store, error) {
	if err := check(beings, "beings"); err != nil {
		return nil, err
	}
	if err := check(pings, "pings"); err != nil {
		return nil, err
	}
	return &Store{beings: beings, pings: pings}, nil
}

// check reports a collection the driver would panic on, as a caller's
// mistake; what names it.
func check(c *mgo.Collection, what string) error {
	switch {
	case c == nil || c.Database == nil || c.Database.Session == nil:
		return jujuerrors.NotValidf("nil %s collection", what)
	case c.Name == "":
		return jujuerrors.NotValidf("%s collection has no name", what)
	}
	return nil
}

// Names implements liveness.Store.
func (s *Store) Names() liveness.Names {
	names := liveness.Names{Beings: s.beings.FullName, Pings: s.pings.FullName}
	if s.seqs != nil {
		names.Seqs = s.seqs.FullName
	}
	return names
}

// with runs fn with c on a copy of its session, unless ctx is done. The
// copy reads from the primary whatever the session's mode: a read from a
// lagging secondary would show live agents dead. mgo takes no context, so
// when ctx has a deadline the copy's socket timeout is set to the time
// left until it: an operation that hangs then fails by the deadline its
// caller set (a flush's write within the write slack), as on the official
// driver, rather than at the session's own timeout.
func with(ctx context.Context, c *mgo.Collection, fn func(c *mgo.Collection) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	session := c.Database.Session.Copy()
	defer session.Close()
	if session.Mode() != mgo.Strong {
		session.SetMode(mgo.Strong, true)
	}
	if deadline, ok := ctx.Deadline(); ok {
		if left := time.Until(deadline); left > 0 {
			session.SetSocketTimeout(left)
		}
	}
	return fn(c.With(session))
}

// ServerTime implements liveness.Store with isMaster's localTime.
func (s *Store) ServerTime(ctx context.Context) (time.Time, error) {
	var result struct {
		LocalTime time.Time `bson:"localTime"`
	}
	err := with(ctx, s.pings, func(c *mgo.Collection) error {
		return c.Database.Session.Run("isMaster", &result)
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot read the database server's clock: %w", err)
	}
	if result.LocalTime.IsZero() {
		return time.Time{}, errors.New("the database server reported no localTime")
	}
	return result.LocalTime, nil
}

// NextSeq implements liveness.Store.
func (s *Store) NextSeq(ctx context.Context, modelUUID string) (int64, error) {
	if s.seqs == nil {
		return 0, errors.New("no sequence collection: the store was made for pruning")
	}
	var doc struct {
		Seq int64 `bson:"seq"`
	}
	change := mgo.Change{
		Update:    bson.D{{Name: "$inc", Value: bson.D{{Name: "seq", Value: int64(1)}}}},
		Upsert:    true,
		ReturnNew: true,
	}
	err := with(ctx, s.seqs, func(c *mgo.Collection) error {
		_, err := c.FindId(layout.SeqsID(modelUUID)).Apply(change, &doc)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("cannot take a sequence for model %q from %s: %w", modelUUID, s.seqs.FullName, err)
	}
	return doc.Seq, nil
}

// InsertBeing implements liveness.Store.
func (s *Store) InsertBeing(ctx context.Context, modelUUID string, seq int64, key string) error {
	doc := bson.D{
		{Name: "_id", Value: layout.DocID(modelUUID, seq)},
		{Name: "seq", Value: seq},
		{Name: "key", Value: key},
	}
	err := with(ctx, s.beings, func(c *mgo.Collection) error { return c.Insert(doc) })
	if err != nil {
		return fmt.Errorf("cannot record being %d for key %q in %s: %w", seq, key, s.beings.FullName, err)
	}
	return nil
}

// WriteSlots implements liveness.Store with one unordered bulk of upserts.
func (s *Store) WriteSlots(ctx context.Context, writes []liveness.SlotWrite) error {
	err := with(ctx, s.pings, func(c *mgo.Collection) error {
		bulk := c.Bulk()
		bulk.Unordered()
		for _, w := range writes {
			bulk.Upsert(bson.D{{Name: "_id", Value: layout.DocID(w.ModelUUID, w.Slot)}}, bson.Raw{Kind: 0x03, Data: w.Update()})
		}
		_, err := bulk.Run()
		return err
	})
	if err != nil {
		return fmt.Errorf("cannot write %d ping documents to %s: %w", len(writes), s.pings.FullName, err)
	}
	return nil
}

// ReadSlots implements liveness.Store.
func (s *Store) ReadSlots(ctx context.Context, modelUUID string, slots []int64) ([][]byte, error) {
	docs, err := s.readRaw(ctx, s.pings, idsIn(modelUUID, slots), layout.Batch)
	if err != nil {
		return nil, fmt.Errorf("cannot read slots %v of model %q from %s: %w", slots, modelUUID, s.pings.FullName, err)
	}
	return docs, nil
}

// ReadSlotsOfModels implements liveness.Store with one lookup by _id,
// whose first batch can hold every document named.
func (s *Store) ReadSlotsOfModels(ctx context.Context, modelUUIDs []string, slots []int64) ([][]byte, error) {
	ids := make([]string, 0, len(modelUUIDs)*len(slots))
	for _, model := range modelUUIDs {
		ids = appendIDs(ids, model, slots)
	}
	docs, err := s.readRaw(ctx, s.pings, idIn(ids), len(ids)+1)
	if err != nil {
		return nil, fmt.Errorf("cannot read slots %v of %d models from %s: %w", slots, len(modelUUIDs), s.pings.FullName, err)
	}
	return docs, nil
}

// SlotsFrom implements liveness.Store.
func (s *Store) SlotsFrom(ctx context.Context, modelUUID string, from int64) ([][]byte, error) {
	query := append(modelIDs(modelUUID), bson.DocElem{Name: "slot", Value: bson.D{{Name: "$gte", Value: from}}})
	docs, err := s.readRaw(ctx, s.pings, query, layout.Batch)
	if err != nil {
		return nil, fmt.Errorf("cannot read the pings of model %q from slot %d in %s: %w", modelUUID, from, s.pings.FullName, err)
	}
	return docs, nil
}

// readRaw returns the documents query matches in c, as raw bytes, batch
// documents a round trip.
func (s *Store) readRaw(ctx context.Context, c *mgo.Collection, query bson.D, batch int) ([][]byte, error) {
	var docs [][]byte
	err := with(ctx, c, func(c *mgo.Collection) error {
		iter := c.Find(query).Batch(batch).Iter()
		var raw bson.Raw
		for iter.Next(&raw) {
			docs = append(docs, raw.Data)
			raw = bson.Raw{}
		}
		return iter.Close()
	})
	return docs, err
}

// modelIDs matches the _ids of every document of a model.
func modelIDs(modelUUID string) bson.D {
	from, before := layout.ModelRange(modelUUID)
	return bson.D{{Name: "_id", Value: bson.D{{Name: "$gte", Value: from}, {Name: "$lt", Value: before}}}}
}

// idsIn matches the documents of a model named by the numbers ns.
func idsIn(modelUUID string, ns []int64) bson.D {
	return idIn(appendIDs(make([]string, 0, len(ns)), modelUUID, ns))
}

// idIn matches the documents whose _id is one of ids.
func idIn(ids []string) bson.D {
	return bson.D{{Name: "_id", Value: bson.D{{Name: "$in", Value: ids}}}}
}

// appendIDs appends the _ids of a model's documents named by the numbers
// ns to ids.
func appendIDs(ids []string, modelUUID string, ns []int64) []string {
	for _, n := range ns {
		ids = append(ids, layout.DocID(modelUUID, n))
	}
	return ids
}

// beingFields projects a being document onto what readers need.
var beingFields = bson.D{{Name: "seq", Value: 1}, {Name: "key", Value: 1}}

// BeingsOf implements liveness.Store with one lookup by _id.
func (s *Store) BeingsOf(ctx context.Context, modelUUID string, seqs []int64, fn func(doc []byte)) error {
	if err := s.eachBeing(ctx, idsIn(modelUUID, seqs), layout.Batch, fn); err != nil {
		return fmt.Errorf("cannot read %d beings of model %q from %s: %w", len(seqs), modelUUID, s.beings.FullName, err)
	}
	return nil
}

// BeingsOfModels implements liveness.Store with one lookup by _id, whose
// first batch can hold every document named.
func (s *Store) BeingsOfModels(ctx context.Context, seqs []liveness.ModelSeqs, fn func(doc []byte)) error {
	ids := []string{}
	for _, m := range seqs {
		ids = appendIDs(ids, m.ModelUUID, m.Seqs)
	}
	if err := s.eachBeing(ctx, idIn(ids), len(ids)+1, fn); err != nil {
		return fmt.Errorf("cannot read %d beings of %d models from %s: %w", len(ids), len(seqs), s.beings.FullName, err)
	}
	return nil
}

// AllBeings implements liveness.Store with one range of ids, read
// layout.RangeBatch documents a round trip.
func (s *Store) AllBeings(ctx context.Context, modelUUID string, fn func(doc []byte)) error {
	if err := s.eachBeing(ctx, modelIDs(modelUUID), layout.RangeBatch, fn); err != nil {
		return fmt.Errorf("cannot read the beings of model %q from %s: %w", modelUUID, s.beings.FullName, err)
	}
	return nil
}

// eachBeing calls fn with every being document query matches, projected
// onto beingFields, batch documents a round trip.
func (s *Store) eachBeing(ctx context.Context, query bson.D, batch int, fn func(doc []byte)) error {
	return with(ctx, s.beings, func(c *mgo.Collection) error {
		iter := c.Find(query).Select(beingFields).Batch(batch).Iter()
		var raw bson.Raw
		for iter.Next(&raw) {
			fn(raw.Data)
			raw = bson.Raw{}
		}
		return iter.Close()
	})
}

// oldSlots matches the model's slot documents whose slot is below before.
func oldSlots(modelUUID string, before int64) bson.D {
	return append(modelIDs(modelUUID), bson.DocElem{Name: "slot", Value: bson.D{{Name: "$lt", Value: before}}})
}

// CountOldSlots implements liveness.Store.
func (s *Store) CountOldSlots(ctx context.Context, modelUUID string, before int64) (int, error) {
	var n int
	err := with(ctx, s.pings, func(c *mgo.Collection) error {
		var err error
		n, err = c.Find(oldSlots(modelUUID, before)).Count()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("cannot count pings of model %q older than slot %d in %s: %w", modelUUID, before, s.pings.FullName, err)
	}
	return n, nil
}

// RemoveOldSlots implements liveness.Store.
func (s *Store) RemoveOldSlots(ctx context.Context, modelUUID string, before int64) (int, error) {
	n, err := s.removeAll(ctx, s.pings, oldSlots(modelUUID, before))
	if err != nil {
		return n, fmt.Errorf("cannot prune pings of model %q older than slot %d from %s: %w", modelUUID, before, s.pings.FullName, err)
	}
	return n, nil
}

// RemoveBeings implements liveness.Store.
func (s *Store) RemoveBeings(ctx context.Context, modelUUID string, seqs []int64) (int, error) {
	n, err := s.removeAll(ctx, s.beings, idsIn(modelUUID, seqs))
	if err != nil {
		return n, fmt.Errorf("cannot remove %d superseded beings of model %q from %s: %w", len(seqs), modelUUID, s.beings.FullName, err)
	}
	return n, nil
}

// removeAll removes the documents query matches in c, and returns how
// many it removed.
func (s *Store) removeAll(ctx context.Context, c *mgo.Collection, query bson.D) (int, error) {
	var n int
	err := with(ctx, c, func(c *mgo.Collection) error {
		info, err := c.RemoveAll(query)
		if info != nil {
			n = info.Removed
		}
		return err
	})
	return n, err
}

// RemoveModel implements liveness.Store. Every collection is tried; the
// failures are reported together, each with its collection, and each
// remains its cause (errors.Is finds a context's error).
func (s *Store) RemoveModel(ctx context.Context, modelUUID string) error {
	var failures []any
	for _, c := range []*mgo.Collection{s.seqs, s.beings, s.pings} {
		if c == nil {
			continue
		}
		if _, err := s.removeAll(ctx, c, modelIDs(modelUUID)); err != nil {
			failures = append(failures, fmt.Errorf("%s: %w", c.FullName, err))
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf(strings.Repeat("; %w", len(failures))[2:], failures...)
	}
	return nil
}
