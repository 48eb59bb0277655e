// Package mongostore lets the presence workers of package liveness run on
// the official MongoDB driver, go.mongodb.org/mongo-driver/v2: it is the
// liveness.Store of the collections that hang off a base collection, as in
// Juju (base.seqs, base.beings, base.pings).
//
// It writes the same documents as the Juju-compatible face of package
// presence, which runs on github.com/juju/mgo/v2, so workers on either face
// see workers on the other. It reaches every MongoDB server the driver
// does (4.4 and later, 7.0 and 8.x among them); reads and writes go to the
// primary whatever the collection's read preference, because a read from
// a lagging secondary would show live agents dead.
//
//	client, err := mongo.Connect(options.Client().ApplyURI(url))
//	...
//	store := mongostore.New(client.Database("juju").Collection("presence"))
//	batcher := liveness.NewPingBatcher(store)
//	pinger := liveness.NewPinger(store, modelUUID, "machine-0", batcher)
//	watcher := liveness.NewWatcher(store, modelUUID)
package mongostore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/liveness"
)

// Store implements liveness.Store over three collections of the official
// driver. It is safe for concurrent use, and may be shared by every worker
// of a process.
type Store struct {
	db                  *mongo.Database
	seqs, beings, pings *mongo.Collection
	names               liveness.Names
}

var _ liveness.Store = (*Store)(nil)

// New returns the store of the collections that hang off base. A nil base
// gives a store that every worker reports as a mistake in its arguments
// (errors.Is(err, errors.NotValid) holds, github.com/juju/errors).
func New(base *mongo.Collection) liveness.Store {
	if base == nil {
		return liveness.BrokenStore(errors.New("nil base collection"))
	}
	db := base.Database()
	primary := options.Collection().SetReadPreference(readpref.Primary())
	fullName := db.Name() + "." + base.Name()
	return &Store{
		db:     db,
		seqs:   db.Collection(base.Name()+layout.SeqsSuffix, primary),
		beings: db.Collection(base.Name()+layout.BeingsSuffix, primary),
		pings:  db.Collection(base.Name()+layout.PingsSuffix, primary),
		names: liveness.Names{
			Seqs:   fullName + layout.SeqsSuffix,
			Beings: fullName + layout.BeingsSuffix,
			Pings:  fullName + layout.PingsSuffix,
		},
	}
}

// Names implements liveness.Store.
func (s *Store) Names() liveness.Names { return s.names }

// ServerTime implements liveness.Store with isMaster's localTime (hello
// does not report it everywhere).
func (s *Store) ServerTime(ctx context.Context) (time.Time, error) {
	var result struct {
		LocalTime time.Time `bson:"localTime"`
	}
	cmd := bson.D{{Key: "isMaster", Value: 1}}
	if err := s.db.RunCommand(ctx, cmd, options.RunCmd().SetReadPreference(readpref.Primary())).Decode(&result); err != nil {
		return time.Time{}, fmt.Errorf("cannot read the database server's clock: %w", err)
	}
	if result.LocalTime.IsZero() {
		return time.Time{}, errors.New("the database server reported no localTime")
	}
	return result.LocalTime, nil
}

// NextSeq implements liveness.Store.
func (s *Store) NextSeq(ctx context.Context, modelUUID string) (int64, error) {
	var doc struct {
		Seq int64 `bson:"seq"`
	}
	update := bson.D{{Key: "$inc", Value: bson.D{{Key: "seq", Value: int64(1)}}}}
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)
	err := s.seqs.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: layout.SeqsID(modelUUID)}}, update, opts).Decode(&doc)
	if err != nil {
		return 0, fmt.Errorf("cannot take a sequence for model %q from %s: %w", modelUUID, s.names.Seqs, err)
	}
	return doc.Seq, nil
}

// InsertBeing implements liveness.Store.
func (s *Store) InsertBeing(ctx context.Context, modelUUID string, seq int64, key string) error {
	doc := bson.D{
		{Key: "_id", Value: layout.DocID(modelUUID, seq)},
		{Key: "seq", Value: seq},
		{Key: "key", Value: key},
	}
	if _, err := s.beings.InsertOne(ctx, doc); err != nil {
		return fmt.Errorf("cannot record being %d for key %q in %s: %w", seq, key, s.names.Beings, err)
	}
	return nil
}

// WriteSlots implements liveness.Store with one unordered bulk write of
// upserts.
func (s *Store) WriteSlots(ctx context.Context, writes []liveness.SlotWrite) error {
	models := make([]mongo.WriteModel, len(writes))
	for i, w := range writes {
		models[i] = mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: layout.DocID(w.ModelUUID, w.Slot)}}).
			SetUpdate(bson.Raw(w.Update())).
			SetUpsert(true)
	}
	if _, err := s.pings.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("cannot write %d ping documents to %s: %w", len(writes), s.names.Pings, err)
	}
	return nil
}

// ReadSlots implements liveness.Store.
func (s *Store) ReadSlots(ctx context.Context, modelUUID string, slots []int64) ([][]byte, error) {
	var docs [][]byte
	err := each(ctx, s.pings, idsIn(modelUUID, slots), nil, layout.Batch, func(doc []byte) {
		docs = append(docs, append([]byte(nil), doc...))
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read slots %v of model %q from %s: %w", slots, modelUUID, s.names.Pings, err)
	}
	return docs, nil
}

// SlotsFrom implements liveness.Store.
func (s *Store) SlotsFrom(ctx context.Context, modelUUID string, from int64) ([][]byte, error) {
	query := append(modelIDs(modelUUID), bson.E{Key: "slot", Value: bson.D{{Key: "$gte", Value: from}}})
	var docs [][]byte
	err := each(ctx, s.pings, query, nil, layout.Batch, func(doc []byte) {
		docs = append(docs, append([]byte(nil), doc...))
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the pings of model %q from slot %d in %s: %w", modelUUID, from, s.names.Pings, err)
	}
	return docs, nil
}

// beingFields projects a being document onto what readers need.
var beingFields = bson.D{{Key: "seq", Value: 1}, {Key: "key", Value: 1}}

// Beings implements liveness.Store: by _id, a batch at a time, or the whole
// model in one range of ids.
func (s *Store) Beings(ctx context.Context, modelUUID string, seqs []int64, fn func(doc []byte)) error {
	var queries []bson.D
	if seqs == nil {
		queries = append(queries, modelIDs(modelUUID))
	}
	for start := 0; start < len(seqs); start += layout.Batch {
		queries = append(queries, idsIn(modelUUID, seqs[start:min(start+layout.Batch, len(seqs))]))
	}
	batch := layout.Batch
	if seqs == nil {
		batch = layout.RangeBatch
	}
	for _, query := range queries {
		if err := each(ctx, s.beings, query, beingFields, batch, fn); err != nil {
			return fmt.Errorf("cannot read the beings of model %q from %s: %w", modelUUID, s.names.Beings, err)
		}
	}
	return nil
}

// OldSlots implements liveness.Store.
func (s *Store) OldSlots(ctx context.Context, modelUUID string, before int64, remove bool) (int, error) {
	query := append(modelIDs(modelUUID), bson.E{Key: "slot", Value: bson.D{{Key: "$lt", Value: before}}})
	var n int64
	var err error
	if remove {
		var result *mongo.DeleteResult
		if result, err = s.pings.DeleteMany(ctx, query); result != nil {
			n = result.DeletedCount
		}
	} else {
		n, err = s.pings.CountDocuments(ctx, query)
	}
	if err != nil {
		return int(n), fmt.Errorf("cannot prune pings of model %q older than slot %d from %s: %w", modelUUID, before, s.names.Pings, err)
	}
	return int(n), nil
}

// RemoveBeings implements liveness.Store, a batch at a time.
func (s *Store) RemoveBeings(ctx context.Context, modelUUID string, seqs []int64) (int, error) {
	removed := 0
	for start := 0; start < len(seqs); start += layout.Batch {
		batch := seqs[start:min(start+layout.Batch, len(seqs))]
		result, err := s.beings.DeleteMany(ctx, idsIn(modelUUID, batch))
		if result != nil {
			removed += int(result.DeletedCount)
		}
		if err != nil {
			return removed, fmt.Errorf("cannot remove %d superseded beings of model %q from %s: %w", len(batch), modelUUID, s.names.Beings, err)
		}
	}
	return removed, nil
}

// RemoveModel implements liveness.Store. Every collection is tried; the
// failures are reported together, each with its collection.
func (s *Store) RemoveModel(ctx context.Context, modelUUID string) error {
	var failures []string
	for _, c := range []struct {
		coll *mongo.Collection
		name string
	}{{s.seqs, s.names.Seqs}, {s.beings, s.names.Beings}, {s.pings, s.names.Pings}} {
		if _, err := c.coll.DeleteMany(ctx, modelIDs(modelUUID)); err != nil {
			failures = append(failures, c.name+": "+err.Error())
		}
	}
	if len(failures) > 0 {
		return errors.New(strings.Join(failures, "; "))
	}
	return nil
}

// each calls fn with every document query matches in c, projected when
// projection is not nil, batch documents at a time.
func each(ctx context.Context, c *mongo.Collection, query, projection bson.D, batch int, fn func(doc []byte)) error {
	opts := options.Find().SetBatchSize(int32(batch))
	if projection != nil {
		opts.SetProjection(projection)
	}
	cursor, err := c.Find(ctx, query, opts)
	if err != nil {
		return err
	}
	defer cursor.Close(context.WithoutCancel(ctx))
	for cursor.Next(ctx) {
		fn(cursor.Current)
	}
	return cursor.Err()
}

// modelIDs matches the _ids of every document of a model.
func modelIDs(modelUUID string) bson.D {
	from, before := layout.ModelRange(modelUUID)
	return bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: from}, {Key: "$lt", Value: before}}}}
}

// idsIn matches the documents of a model named by the numbers ns.
func idsIn(modelUUID string, ns []int64) bson.D {
	ids := make([]string, len(ns))
	for i, n := range ns {
		ids[i] = layout.DocID(modelUUID, n)
	}
	return bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}
}
