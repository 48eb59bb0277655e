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
//	store, err := mongostore.New(client.Database("juju").Collection("presence"))
//	...
//	batcher := liveness.NewPingBatcher(store)
//	pinger := liveness.NewPinger(store, modelUUID, "machine-0", batcher)
//	watcher := liveness.NewWatcher(store, modelUUID)
package mongostore

import (
	"context"
	"errors"

	"fmt"
	jujuerrors "github.com/juju/errors"
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

var (
	_ liveness.Store            = (*Store)(nil)
	_ liveness.SharedConnection = (*Store)(nil)
)

// Connection implements liveness.SharedConnection: the stores of one client
// reach the server through one pool of connections, so the workers of all
// of them share one measure of the server's clock.
func (s *Store) Connection() any { return s.db.Client() }

// New returns the store of the collections that hang off base: base.seqs,
// base.beings and base.pings. A nil base is a mistake in the arguments:
// errors.Is(err, errors.NotValid) holds (github.com/juju/errors).
func New(base *mongo.Collection) (*Store, error) {
	if base == nil {
		return nil, jujuerrors.NotValidf("nil base collection")
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
	}, nil
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

// ReadSlotsOfModels implements liveness.Store with one lookup by _id,
// whose first batch can hold every document named.
func (s *Store) ReadSlotsOfModels(ctx context.Context, modelUUIDs []string, slots []int64) ([][]byte, error) {
	ids := make([]string, 0, len(modelUUIDs)*len(slots))
	for _, model := range modelUUIDs {
		ids = appendIDs(ids, model, slots)
	}
	var docs [][]byte
	err := each(ctx, s.pings, idIn(ids), nil, len(ids)+1, func(doc []byte) {
		docs = append(docs, append([]byte(nil), doc...))
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read slots %v of %d models from %s: %w", slots, len(modelUUIDs), s.names.Pings, err)
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

// BeingsOf implements liveness.Store with one lookup by _id.
func (s *Store) BeingsOf(ctx context.Context, modelUUID string, seqs []int64, fn func(doc []byte)) error {
	if err := each(ctx, s.beings, idsIn(modelUUID, seqs), beingFields, layout.Batch, fn); err != nil {
		return fmt.Errorf("cannot read %d beings of model %q from %s: %w", len(seqs), modelUUID, s.names.Beings, err)
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
	if err := each(ctx, s.beings, idIn(ids), beingFields, len(ids)+1, fn); err != nil {
		return fmt.Errorf("cannot read %d beings of %d models from %s: %w", len(ids), len(seqs), s.names.Beings, err)
	}
	return nil
}

// AllBeings implements liveness.Store with one range of ids, read
// layout.RangeBatch documents a round trip.
func (s *Store) AllBeings(ctx context.Context, modelUUID string, fn func(doc []byte)) error {
	if err := each(ctx, s.beings, modelIDs(modelUUID), beingFields, layout.RangeBatch, fn); err != nil {
		return fmt.Errorf("cannot read the beings of model %q from %s: %w", modelUUID, s.names.Beings, err)
	}
	return nil
}

// oldSlots matches the model's slot documents whose slot is below before.
func oldSlots(modelUUID string, before int64) bson.D {
	return append(modelIDs(modelUUID), bson.E{Key: "slot", Value: bson.D{{Key: "$lt", Value: before}}})
}

// CountOldSlots implements liveness.Store.
func (s *Store) CountOldSlots(ctx context.Context, modelUUID string, before int64) (int, error) {
	n, err := s.pings.CountDocuments(ctx, oldSlots(modelUUID, before))
	if err != nil {
		return 0, fmt.Errorf("cannot count pings of model %q older than slot %d in %s: %w", modelUUID, before, s.names.Pings, err)
	}
	return int(n), nil
}

// RemoveOldSlots implements liveness.Store.
func (s *Store) RemoveOldSlots(ctx context.Context, modelUUID string, before int64) (int, error) {
	n, err := deleteMany(ctx, s.pings, oldSlots(modelUUID, before))
	if err != nil {
		return n, fmt.Errorf("cannot prune pings of model %q older than slot %d from %s: %w", modelUUID, before, s.names.Pings, err)
	}
	return n, nil
}

// RemoveBeings implements liveness.Store.
func (s *Store) RemoveBeings(ctx context.Context, modelUUID string, seqs []int64) (int, error) {
	n, err := deleteMany(ctx, s.beings, idsIn(modelUUID, seqs))
	if err != nil {
		return n, fmt.Errorf("cannot remove %d superseded beings of model %q from %s: %w", len(seqs), modelUUID, s.names.Beings, err)
	}
	return n, nil
}

// deleteMany removes the documents query matches in c, and returns how
// many it removed.
func deleteMany(ctx context.Context, c *mongo.Collection, query bson.D) (int, error) {
	result, err := c.DeleteMany(ctx, query)
	if result == nil {
		return 0, err
	}
	return int(result.DeletedCount), err
}

// RemoveModel implements liveness.Store. Every collection is tried; the
// failures are reported together, each with its collection, and each
// remains its cause (errors.Is finds a context's error).
func (s *Store) RemoveModel(ctx context.Context, modelUUID string) error {
	var failures []any
	for _, c := range []struct {
		coll *mongo.Collection
		name string
	}{{s.seqs, s.names.Seqs}, {s.beings, s.names.Beings}, {s.pings, s.names.Pings}} {
		if _, err := deleteMany(ctx, c.coll, modelIDs(modelUUID)); err != nil {
			failures = append(failures, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf(strings.Repeat("; %w", len(failures))[2:], failures...)
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
	return idIn(appendIDs(make([]string, 0, len(ns)), modelUUID, ns))
}

// idIn matches the documents whose _id is one of ids.
func idIn(ids []string) bson.D {
	return bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}
}

// appendIDs appends the _ids of a model's documents named by the numbers
// ns to ids.
func appendIDs(ids []string, modelUUID string, ns []int64) []string {
	for _, n := range ns {
		ids = append(ids, layout.DocID(modelUUID, n))
	}
	return ids
}
