// Package storetest pins down what the presence engine relies on from a
// liveness.Store, operation by operation, with exact results: the bytes of
// the documents it writes, the ids a read matches, what a removal counts,
// which model a document belongs to. Each adapter runs it on the real test
// database, and package memstore runs it in memory, which proves that the
// in-memory store behaves as the real ones do:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Subject{Open: ..., IsDuplicate: ...})
//	}
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/internal/bsonraw"
	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/liveness"
)

// Subject is a Store implementation under test.
type Subject struct {
	// Open returns a store on empty collections, for the test t alone,
	// and a function that inserts doc, raw BSON with a string _id, into
	// the store's collection with the given suffix (layout.SeqsSuffix,
	// BeingsSuffix or PingsSuffix), as another program would. Both fail
	// t when they cannot.
	Open func(t *testing.T) (store liveness.Store, insert func(suffix string, doc []byte))

	// IsDuplicate tells whether err is the store's error for inserting a
	// document whose _id exists.
	IsDuplicate func(err error) bool
}

// Run runs every test of the suite on s, each as a subtest on a store of
// its own.
func Run(t *testing.T, s Subject) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store, insert := s.Open(t)
			c.run(t, &fixture{Store: store, insert: insert, isDup: s.IsDuplicate})
		})
	}
}

// cases lists the tests of the suite, in the order they run.
var cases = []struct {
	name string
	run  func(t *testing.T, f *fixture)
}{
	{"Names", testNames},
	{"ServerTime", testServerTime},
	{"NextSeqCountsFromOnePerModel", testNextSeqCountsFromOnePerModel},
	{"NextSeqConcurrent", testNextSeqConcurrent},
	{"NextSeqContinuesAnInt32Counter", testNextSeqContinuesAnInt32Counter},
	{"InsertBeingDocument", testInsertBeingDocument},
	{"InsertBeingDuplicate", testInsertBeingDuplicate},
	{"WriteSlotsDocumentBytes", testWriteSlotsDocumentBytes},
	{"WriteSlotsOrIsIdempotentAndAccumulates", testWriteSlotsOrIsIdempotentAndAccumulates},
	{"WriteSlotsKeepsFieldsInPlace", testWriteSlotsKeepsFieldsInPlace},
	{"WriteSlotsBulk", testWriteSlotsBulk},
	{"WriteSlotsUnorderedPastFailures", testWriteSlotsUnorderedPastFailures},
	{"ReadSlotsByID", testReadSlotsByID},
	{"ReadSlotsOfModelsByID", testReadSlotsOfModelsByID},
	{"SlotsFromBoundaries", testSlotsFromBoundaries},
	{"CountAndRemoveOldSlots", testCountAndRemoveOldSlots},
	{"BeingsOfByID", testBeingsOfByID},
	{"BeingsOfModelsByID", testBeingsOfModelsByID},
	{"BeingsProjected", testBeingsProjected},
	{"AllBeingsOfOneModel", testAllBeingsOfOneModel},
	{"RemoveBeings", testRemoveBeings},
	{"RemoveModelKeepsToItsIDs", testRemoveModelKeepsToItsIDs},
	{"CancelledContext", testCancelledContext},
}

// Models whose ids start alike: "m" is a prefix of "m2" and of "mm", and
// "m;" names the first id past m's range ("m:" up to "m;").
const (
	modelM  = "m"
	modelM2 = "m2"
	modelMM = "mm"
	modelMS = "m;"
)

// fixture is one test's store, with helpers that fail the test on errors.
type fixture struct {
	liveness.Store
	insert func(suffix string, doc []byte)
	isDup  func(error) bool
}

// write writes ws in one WriteSlots call.
func (f *fixture) write(t *testing.T, ws ...liveness.SlotWrite) {
	t.Helper()
	if err := f.WriteSlots(context.Background(), ws); err != nil {
		t.Fatalf("WriteSlots: %v", err)
	}
}

// slotDocs returns the model's slot documents of slots, by _id.
func (f *fixture) slotDocs(t *testing.T, model string, slots ...int64) map[string][]byte {
	t.Helper()
	docs, err := f.ReadSlots(context.Background(), model, slots)
	if err != nil {
		t.Fatalf("ReadSlots(%q, %v): %v", model, slots, err)
	}
	return byID(t, docs)
}

// slotDoc returns the model's slot document of slot, failing t when there
// is none.
func (f *fixture) slotDoc(t *testing.T, model string, slot int64) []byte {
	t.Helper()
	id := layout.DocID(model, slot)
	doc, ok := f.slotDocs(t, model, slot)[id]
	if !ok {
		t.Fatalf("no slot document %s", id)
	}
	return doc
}

// slotDocsOfModels returns the slot documents of slots of models, by _id.
func (f *fixture) slotDocsOfModels(t *testing.T, models []string, slots ...int64) map[string][]byte {
	t.Helper()
	docs, err := f.ReadSlotsOfModels(context.Background(), models, slots)
	if err != nil {
		t.Fatalf("ReadSlotsOfModels(%q, %v): %v", models, slots, err)
	}
	return byID(t, docs)
}

// beingsOfModels returns the being documents BeingsOfModels hands over,
// by _id.
func (f *fixture) beingsOfModels(t *testing.T, seqs ...liveness.ModelSeqs) map[string][]byte {
	t.Helper()
	var docs [][]byte
	err := f.BeingsOfModels(context.Background(), seqs, func(doc []byte) {
		docs = append(docs, bytes.Clone(doc))
	})
	if err != nil {
		t.Fatalf("BeingsOfModels(%v): %v", seqs, err)
	}
	return byID(t, docs)
}

// beingsOf returns the being documents BeingsOf hands over, by _id.
func (f *fixture) beingsOf(t *testing.T, model string, seqs ...int64) map[string][]byte {
	t.Helper()
	var docs [][]byte
	err := f.BeingsOf(context.Background(), model, seqs, func(doc []byte) {
		docs = append(docs, bytes.Clone(doc))
	})
	if err != nil {
		t.Fatalf("BeingsOf(%q, %v): %v", model, seqs, err)
	}
	return byID(t, docs)
}

// allBeings returns the being documents AllBeings hands over, by _id.
func (f *fixture) allBeings(t *testing.T, model string) map[string][]byte {
	t.Helper()
	var docs [][]byte
	err := f.AllBeings(context.Background(), model, func(doc []byte) {
		docs = append(docs, bytes.Clone(doc))
	})
	if err != nil {
		t.Fatalf("AllBeings(%q): %v", model, err)
	}
	return byID(t, docs)
}

// being inserts the being of seq through the store.
func (f *fixture) being(t *testing.T, model string, seq int64, key string) {
	t.Helper()
	if err := f.InsertBeing(context.Background(), model, seq, key); err != nil {
		t.Fatalf("InsertBeing(%q, %d, %q): %v", model, seq, key, err)
	}
}

// nextSeq takes the model's next sequence.
func (f *fixture) nextSeq(t *testing.T, model string) int64 {
	t.Helper()
	seq, err := f.NextSeq(context.Background(), model)
	if err != nil {
		t.Fatalf("NextSeq(%q): %v", model, err)
	}
	return seq
}

// byID indexes docs by their string _id, failing t on a document handed
// over twice or without one.
func byID(t *testing.T, docs [][]byte) map[string][]byte {
	t.Helper()
	m := make(map[string][]byte, len(docs))
	for _, doc := range docs {
		e, found, err := bsonraw.Lookup(doc, "_id")
		id, ok := e.Str()
		if err != nil || !found || !ok {
			t.Fatalf("document without a string _id: %s", show(doc))
		}
		if _, twice := m[id]; twice {
			t.Fatalf("document %s handed over twice", id)
		}
		m[id] = doc
	}
	return m
}

// ids returns the keys of m, sorted.
func ids(m map[string][]byte) []string {
	list := make([]string, 0, len(m))
	for id := range m {
		list = append(list, id)
	}
	slices.Sort(list)
	return list
}

// wantIDs fails t unless docs holds exactly the documents of want.
func wantIDs(t *testing.T, what string, docs map[string][]byte, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := ids(docs); !slices.Equal(got, want) {
		t.Errorf("%s: got documents %q, want %q", what, got, want)
	}
}

// wantDoc fails t unless got is exactly the bytes of want.
func wantDoc(t *testing.T, what string, got []byte, want bson.D) {
	t.Helper()
	if w := marshal(t, want); !bytes.Equal(got, w) {
		t.Errorf("%s:\n got  %s\n want %s", what, show(got), show(w))
	}
}

// marshal returns the bytes of doc, failing t if it has none.
func marshal(t *testing.T, doc bson.D) []byte {
	t.Helper()
	b, err := bson.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// show renders a document in canonical extended JSON, which names every
// number's type.
func show(doc []byte) string {
	if err := bsonraw.Validate(doc); err != nil {
		return fmt.Sprintf("malformed %x (%v)", doc, err)
	}
	return bson.Raw(doc).String()
}

// slotWrite returns the write of alive bits (name, bits pairs) into the
// model's slot document.
func slotWrite(model string, slot int64, alive ...any) liveness.SlotWrite {
	return liveness.SlotWrite{ModelUUID: model, Slot: slot, Alive: fields(alive...)}
}

// fields returns FieldBits from name, bits pairs.
func fields(pairs ...any) []liveness.FieldBits {
	var fs []liveness.FieldBits
	for i := 0; i+1 < len(pairs); i += 2 {
		fs = append(fs, liveness.FieldBits{Field: pairs[i].(string), Bits: uint64(pairs[i+1].(int))})
	}
	return fs
}

func testNames(t *testing.T, f *fixture) {
	names := f.Names()
	for _, c := range []struct{ name, suffix string }{
		{names.Seqs, layout.SeqsSuffix},
		{names.Beings, layout.BeingsSuffix},
		{names.Pings, layout.PingsSuffix},
	} {
		if !strings.HasSuffix(c.name, c.suffix) || len(c.name) == len(c.suffix) {
			t.Errorf("collection name %q: want a name ending in %q", c.name, c.suffix)
		}
	}
}
