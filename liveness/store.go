package liveness

import (
	"context"
	"time"

	"github.com/presence-go/presence/internal/layout"
)

// Store is what the workers need from a database: a dozen operations on
// the three collections of one base (see the package doc for their
// documents). Package mongostore implements it over the official MongoDB
// driver, and package mgostore over github.com/juju/mgo/v2, which the
// Juju-compatible root package presence is built on. Both write the same
// documents, so workers on either see workers on the other.
//
// Documents are handed over as their raw BSON bytes, which both drivers
// provide, and decoded once, by package internal/layout, which knows no
// driver. Every
// method is one request to the database (a cursor's further batches
// aside): how many ids go into one request is the engine's business, so
// an implementation makes the call it is asked for and no more. Every
// method is safe for concurrent use, and bounded by its context where the
// driver takes one. Errors say what failed and in which collection; they
// carry no "presence:" prefix, which the workers add.
//
// The interface may gain methods as the engine needs them: implement it
// only next to this module, as its adapters do.
type Store interface {
	// Names returns the full names of the collections, for messages.
	Names() Names

	// ServerTime returns the database server's clock (isMaster's
	// localTime).
	ServerTime(ctx context.Context) (time.Time, error)

	// NextSeq increments the model's sequence counter, creating it at 1,
	// and returns its new value (findAndModify, $inc, upsert, new).
	NextSeq(ctx context.Context, modelUUID string) (int64, error)

	// InsertBeing records which key a sequence pings for. It fails, and
	// changes nothing, when the being exists (a duplicate _id).
	InsertBeing(ctx context.Context, modelUUID string, seq int64, key string) error

	// WriteSlots ORs bits into slot documents, creating those missing, in
	// one unordered bulk request of one upsert per SlotWrite ($set slot,
	// $bit or): every write that can land does, and the error reports
	// those that could not. The engine sends at most 1,000 at a time.
	WriteSlots(ctx context.Context, writes []SlotWrite) error

	// ReadSlots returns the model's slot documents of the given slots that
	// exist, in any order (_id $in).
	ReadSlots(ctx context.Context, modelUUID string, slots []int64) ([][]byte, error)

	// ReadSlotsOfModels returns the slot documents of the given slots of
	// each of the models that exist, in any order (_id $in over every
	// model's ids of those slots): one request for the live slots of many
	// models, which is how the watchers of one store share a poll. The
	// engine names at most 1,000 ids (models times slots) at a time.
	ReadSlotsOfModels(ctx context.Context, modelUUIDs []string, slots []int64) ([][]byte, error)

	// SlotsFrom returns the model's slot documents whose slot field is at
	// least from.
	SlotsFrom(ctx context.Context, modelUUID string, from int64) ([][]byte, error)

	// BeingsOf calls fn with the being document, projected onto _id, seq
	// and key, of each of the model's sequences seqs that has one, in any
	// order (_id $in). The engine asks for at most 1,000 at a time. fn
	// must neither keep nor modify doc.
	BeingsOf(ctx context.Context, modelUUID string, seqs []int64, fn func(doc []byte)) error

	// BeingsOfModels is BeingsOf for the sequences of several models in
	// one request (_id $in over every model's ids of its sequences), for
	// the watchers of one store that share a poll. The engine names at
	// most 1,000 sequences at a time. fn must neither keep nor modify doc.
	BeingsOfModels(ctx context.Context, seqs []ModelSeqs, fn func(doc []byte)) error

	// AllBeings calls fn with every being document of the model,
	// projected onto _id, seq and key, reading the model's range of ids on
	// one cursor. fn must neither keep nor modify doc.
	AllBeings(ctx context.Context, modelUUID string, fn func(doc []byte)) error

	// CountOldSlots returns how many of the model's slot documents have a
	// slot field below before.
	CountOldSlots(ctx context.Context, modelUUID string, before int64) (int, error)

	// RemoveOldSlots removes the model's slot documents whose slot field
	// is below before, and returns how many it removed.
	RemoveOldSlots(ctx context.Context, modelUUID string, before int64) (int, error)

	// RemoveBeings removes the model's being documents of seqs, and
	// returns how many it removed. The engine names at most 1,000 at a
	// time.
	RemoveBeings(ctx context.Context, modelUUID string, seqs []int64) (int, error)

	// RemoveModel removes every document of the model from the three
	// collections, and no other model's.
	RemoveModel(ctx context.Context, modelUUID string) error
}

// inBatches calls fn with seqs cut into consecutive pieces of at most
// layout.Batch sequences, the most one request names, and stops at the
// first error. It does not call fn when seqs is empty.
func inBatches(seqs []int64, fn func(batch []int64) error) error {
	for start := 0; start < len(seqs); start += layout.Batch {
		if err := fn(seqs[start:min(start+layout.Batch, len(seqs))]); err != nil {
			return err
		}
	}
	return nil
}

// ModelSeqs names sequences of one model.
type ModelSeqs struct {
	ModelUUID string
	Seqs      []int64
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
// BSON bytes (layout.SlotUpdate). Stores send it as it is, so that every
// face writes the same update.
func (w SlotWrite) Update() []byte {
	return layout.SlotUpdate(w.Slot, w.Alive, w.Dead)
}

// FieldBits is the bits of one field of a slot document, as package
// layout lays them out (sequence n is bit n%63 of field hex(n/63)).
type FieldBits = layout.FieldBits
