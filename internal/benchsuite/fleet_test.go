package benchsuite

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/liveness"
)

// benchPeriod is the slot period of every worker of the suite: Juju's.
const benchPeriod = liveness.DefaultPeriod

// benchSlot is the slot the frozen clock stands in.
var benchSlot = slot.At(benchStart, 0, benchPeriod)

// fleetModel is the model every seeded fleet belongs to.
const fleetModel = "5eed0000-0000-4000-8000-00000000be4c"

// keyOfSeq names the agent of a seeded sequence, as Juju names machines.
func keyOfSeq(seq int64) string { return "machine-" + strconv.FormatInt(seq, 10) }

// fleet is a model of n live keys, machine-1 … machine-n, whose
// sequences are 1 … n, all pinged in the current slot: what a watcher
// starting on a running model finds. Fleets are seeded in bulk, not by
// starting real pingers (100,000 pingers would cost 200,000 round trips):
// being documents go in a thousand per insert command, and the slot
// document is written whole, with the bits a batcher would have ORed into
// it, its fields in index order as a batcher writes them.
type fleet struct {
	db *database
	n  int
	// followers are watchers of the fleet, one per face, kept running
	// for the benchmarks of steady syncs once started.
	followers map[string]*liveness.Watcher
	// dead is the dead part that kills 1% of the keys (every hundredth
	// sequence), for the benchmarks that change the fleet.
	dead bson.D
}

// fleets holds the seeded fleets by size, shared by every benchmark of
// the binary so that each size is seeded once; their databases live
// until the server stops.
var fleets struct {
	sync.Mutex
	bySize map[int]*fleet
}

// sharedFleet returns the fleet of n keys, seeding it on first use.
func sharedFleet(b *testing.B, n int) *fleet {
	b.Helper()
	fleets.Lock()
	defer fleets.Unlock()
	if f := fleets.bySize[n]; f != nil {
		return f
	}
	s := sharedServer(b)
	began := time.Now()
	f := &fleet{db: s.keptDatabase(fmt.Sprintf("fleet%d", n)), n: n}
	if err := f.seed(); err != nil {
		b.Fatalf("seeding %d keys: %v", n, err)
	}
	if fleets.bySize == nil {
		fleets.bySize = make(map[int]*fleet)
	}
	fleets.bySize[n] = f
	b.Logf("seeded %d keys in %v", n, time.Since(began).Round(time.Millisecond))
	return f
}

func (f *fleet) seed() error {
	ctx := context.Background()
	alive, dead := map[int64]uint64{}, map[int64]uint64{}
	for seq := int64(1); seq <= int64(f.n); seq++ {
		index, bit := seq/layout.BitsPerField, uint64(1)<<uint(seq%layout.BitsPerField)
		alive[index] |= bit
		if seq%100 == 0 {
			dead[index] |= bit
		}
	}
	f.dead = fieldsDoc(dead)
	db := f.db.mongo
	if _, err := db.Collection("presence.seqs").InsertOne(ctx, bson.D{
		{Key: "_id", Value: layout.SeqsID(fleetModel)}, {Key: "seq", Value: int64(f.n)},
	}); err != nil {
		return err
	}
	if _, err := db.Collection("presence.pings").InsertOne(ctx, bson.D{
		{Key: "_id", Value: layout.DocID(fleetModel, benchSlot)},
		{Key: "slot", Value: benchSlot},
		{Key: "alive", Value: fieldsDoc(alive)},
	}); err != nil {
		return err
	}
	return insertBeings(ctx, f.db, fleetModel, 1, int64(f.n), keyOfSeq)
}

// insertBeings writes the being documents of sequences first..last of a
// model, a thousand per insert command.
func insertBeings(ctx context.Context, d *database, model string, first, last int64, key func(int64) string) error {
	beings := d.mongo.Collection("presence.beings")
	const perInsert = layout.Batch
	docs := make([]any, 0, perInsert)
	for seq := first; seq <= last; seq++ {
		docs = append(docs, bson.D{
			{Key: "_id", Value: layout.DocID(model, seq)},
			{Key: "seq", Value: seq},
			{Key: "key", Value: key(seq)},
		})
		if len(docs) == perInsert || seq == last {
			if _, err := beings.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
				return err
			}
			docs = docs[:0]
		}
	}
	return nil
}

// fieldsDoc lays out the words of a slot document's part in index order.
func fieldsDoc(words map[int64]uint64) bson.D {
	doc := make(bson.D, 0, len(words))
	for index := int64(0); len(doc) < len(words); index++ {
		if word, ok := words[index]; ok {
			doc = append(doc, bson.E{Key: strconv.FormatInt(index, 16), Value: int64(word)})
		}
	}
	return doc
}

// setKilled writes or removes the dead part of the fleet's slot document,
// turning 1% of the keys dead or alive again.
func (f *fleet) setKilled(b *testing.B, killed bool) {
	b.Helper()
	update := bson.D{{Key: "$unset", Value: bson.D{{Key: "dead", Value: 1}}}}
	if killed {
		update = bson.D{{Key: "$set", Value: bson.D{{Key: "dead", Value: f.dead}}}}
	}
	pings := f.db.mongo.Collection("presence.pings")
	if _, err := pings.UpdateByID(context.Background(), layout.DocID(fleetModel, benchSlot), update); err != nil {
		b.Fatalf("changing the slot document: %v", err)
	}
}

// follower returns a watcher of the fleet on the face that already
// follows every key, starting it on first use. It runs until the server
// closes.
func (f *fleet) follower(b *testing.B, fc face) *liveness.Watcher {
	b.Helper()
	fleets.Lock()
	defer fleets.Unlock()
	if w := f.followers[fc.name]; w != nil {
		return w
	}
	w := startWatcher(b, fc.store(b, f.db), f.n)
	if f.followers == nil {
		f.followers = make(map[string]*liveness.Watcher)
	}
	f.followers[fc.name] = w
	sharedServer(b).onClose(func() { w.Stop() })
	return w
}

// frozenOpts are the options of workers that act only when asked: a
// frozen clock, no skew measure, no pruning, and a batcher that writes
// only when synced.
func frozenOpts() []liveness.Option {
	return []liveness.Option{
		liveness.WithClock(frozenClock{}),
		liveness.WithClockSkew(false),
		liveness.WithPeriod(benchPeriod),
		liveness.WithPruning(false),
		liveness.WithFlushInterval(time.Hour),
		liveness.WithOperationTimeout(operationTimeout),
	}
}
