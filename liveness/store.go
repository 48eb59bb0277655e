package liveness

import (
	"context"
	"time"

	"github.com/presence-go/presence/internal/bsonraw"
)

// Store is what the workers need from a database: about ten operations on
// the three collections of one base (see the package doc for their
// documents). Package mongostore implements it over the official MongoDB
// driver; the root package presence over github.com/juju/mgo/v2. Both
// write the same documents, so workers on either see workers on the
// other.
//
// Documents are handed over as their raw BSON bytes, which both drivers
// provide, and decoded here, once, by code that knows no driver. Every
// method is safe for concurrent use, and bounded by its context where the
// driver takes one. Errors say what failed and in which collection; they
// carry no "presence:" prefix, which the workers add.
//
// The interface may gain methods as the engine needs them: implement it
// only next to this module, as its two adapters do.
type Store interface {
	// Names returns the full names of the collections, for messages.
	Names() Names

	// ServerTime returns the database server's clock (isMaster's
	// localTime).
	ServerTime(ctx context.Context) (time.Time, error)

	// NextSeq increments the model's sequence counter, creating it at 1,
	// and returns its new value (findAndModify, $inc, upsert, new).
	NextSeq(ctx context.Context, modelUUID string) (int64, error)

	// InsertBeing records which key a sequence pings for.
	InsertBeing(ctx context.Context, modelUUID string, seq int64, key string) error

	// WriteSlots ORs bits into slot documents, creating those missing, in
	// one unordered bulk request of one upsert per SlotWrite ($set slot,
	// $bit or). The engine sends at most 1,000 at a time.
	WriteSlots(ctx context.Context, writes []SlotWrite) error

	// ReadSlots returns the model's slot documents of the given slots that
	// exist, in any order (_id $in).
	ReadSlots(ctx context.Context, modelUUID string, slots []int64) ([][]byte, error)

	// SlotsFrom returns the model's slot documents whose slot field is at
	// least from.
	SlotsFrom(ctx context.Context, modelUUID string, from int64) ([][]byte, error)

	// Beings calls fn with each being document of the model whose sequence
	// is in seqs, or with every being document of the model when seqs is
	// nil, reading them a batch at a time. fn must not keep doc.
	Beings(ctx context.Context, modelUUID string, seqs []int64, fn func(doc []byte)) error

	// OldSlots counts, or when remove is set removes, the model's slot
	// documents whose slot field is below before.
	OldSlots(ctx context.Context, modelUUID string, before int64, remove bool) (int, error)

	// RemoveBeings removes the model's being documents of seqs, and
	// returns how many it removed.
	RemoveBeings(ctx context.Context, modelUUID string, seqs []int64) (int, error)

	// RemoveModel removes every document of the model from the three
	// collections, and no other model's.
	RemoveModel(ctx context.Context, modelUUID string) error
}

// Names are the full names ("db.collection") of a store's collections.
type Names struct {
	Seqs, Beings, Pings string
}

// SlotWrite is the bits to OR into one slot document: "alive.<Field>" or
// "dead.<Field>" gets Bits for each entry, and "slot" is set to Slot.
type SlotWrite struct {
	ModelUUID string
	Slot      int64
	Alive     []FieldBits
	Dead      []FieldBits
}

// Update returns the update that ORs w's bits into its slot document, as
// BSON bytes: {$set: {slot: Slot}, $bit: {"alive.<Field>": {or: Bits},
// "dead.<Field>": {or: Bits}}}, every number an int64. Stores send it as
// it is, so that every face writes the same update.
func (w SlotWrite) Update() []byte {
	var b bsonraw.Builder
	b.Begin("$set")
	b.Int64("slot", w.Slot)
	b.End()
	b.Begin("$bit")
	for _, part := range []struct {
		name   string
		fields []FieldBits
	}{{"alive.", w.Alive}, {"dead.", w.Dead}} {
		for _, f := range part.fields {
			b.Begin(part.name + f.Field)
			b.Int64("or", int64(f.Bits))
			b.End()
		}
	}
	b.End()
	return b.Bytes()
}

// FieldBits is the bits of one field of a slot document: sequence n is bit
// n%63 of field hex(n/63).
type FieldBits struct {
	Field string
	Bits  uint64
}
