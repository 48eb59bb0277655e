package storetest

import (
	"context"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/liveness"
)

// The slot documents. Every number the engine writes is an int64. A
// document the upsert creates holds _id, then the fields it sets in the
// byte order of their names (alive, dead, slot; and within alive and dead
// likewise); a document that exists keeps its fields in place, and gets
// the new ones after them. The test server and MongoDB 5.0 and later
// agree on that for names that are not all digits, which the tests use;
// MongoDB orders names of digits alone by number.

func testWriteSlotsDocumentBytes(t *testing.T, f *fixture) {
	f.write(t,
		liveness.SlotWrite{ModelUUID: modelM, Slot: 30, Alive: fields("b", 2, "1f", 1<<62), Dead: fields("2a", 4)},
		liveness.SlotWrite{ModelUUID: modelM, Slot: 60, Dead: fields("c", 1)},
	)
	wantDoc(t, "alive and dead", f.slotDoc(t, modelM, 30), bson.D{
		{Key: "_id", Value: "m:30"},
		{Key: "alive", Value: bson.D{{Key: "1f", Value: int64(1 << 62)}, {Key: "b", Value: int64(2)}}},
		{Key: "dead", Value: bson.D{{Key: "2a", Value: int64(4)}}},
		{Key: "slot", Value: int64(30)},
	})
	wantDoc(t, "dead only", f.slotDoc(t, modelM, 60), bson.D{
		{Key: "_id", Value: "m:60"},
		{Key: "dead", Value: bson.D{{Key: "c", Value: int64(1)}}},
		{Key: "slot", Value: int64(60)},
	})
}

// testWriteSlotsOrIsIdempotentAndAccumulates writes bits again, which
// changes nothing, then more bits, which are ORed in: new fields follow
// those there.
func testWriteSlotsOrIsIdempotentAndAccumulates(t *testing.T, f *fixture) {
	first := slotWrite(modelM, 30, "a", 0b0101)
	f.write(t, first)
	once := f.slotDoc(t, modelM, 30)
	f.write(t, first)
	wantDoc(t, "written twice", f.slotDoc(t, modelM, 30), bson.D{
		{Key: "_id", Value: "m:30"},
		{Key: "alive", Value: bson.D{{Key: "a", Value: int64(0b0101)}}},
		{Key: "slot", Value: int64(30)},
	})
	if twice := f.slotDoc(t, modelM, 30); string(twice) != string(once) {
		t.Errorf("the same write twice changed the document:\n once  %s\n twice %s", show(once), show(twice))
	}
	f.write(t, liveness.SlotWrite{ModelUUID: modelM, Slot: 30, Alive: fields("a", 0b0011, "3f", 1), Dead: fields("a", 0b0100)})
	wantDoc(t, "ORed", f.slotDoc(t, modelM, 30), bson.D{
		{Key: "_id", Value: "m:30"},
		{Key: "alive", Value: bson.D{{Key: "a", Value: int64(0b0111)}, {Key: "3f", Value: int64(1)}}},
		{Key: "slot", Value: int64(30)},
		{Key: "dead", Value: bson.D{{Key: "a", Value: int64(0b0100)}}},
	})
}

// testWriteSlotsKeepsFieldsInPlace writes into a document another program
// wrote, with an int32 field and a field the engine does not know: the
// int32 is ORed into an int64, the slot is set in place, and the rest is
// kept.
func testWriteSlotsKeepsFieldsInPlace(t *testing.T, f *fixture) {
	f.insert(layout.PingsSuffix, marshal(t, bson.D{
		{Key: "_id", Value: "m:30"},
		{Key: "slot", Value: int32(30)},
		{Key: "zz", Value: "kept"},
		{Key: "alive", Value: bson.D{{Key: "b", Value: int32(1)}}},
	}))
	f.write(t, liveness.SlotWrite{ModelUUID: modelM, Slot: 30, Alive: fields("b", 2, "a", 4), Dead: fields("c", 8)})
	wantDoc(t, "after the write", f.slotDoc(t, modelM, 30), bson.D{
		{Key: "_id", Value: "m:30"},
		{Key: "slot", Value: int64(30)},
		{Key: "zz", Value: "kept"},
		{Key: "alive", Value: bson.D{{Key: "b", Value: int64(3)}, {Key: "a", Value: int64(4)}}},
		{Key: "dead", Value: bson.D{{Key: "c", Value: int64(8)}}},
	})
}

// testWriteSlotsBulk writes several documents of two models in one bulk,
// one of them twice: each write reads what the one before it wrote.
func testWriteSlotsBulk(t *testing.T, f *fixture) {
	f.write(t,
		slotWrite(modelM, 30, "a", 1),
		slotWrite(modelM, 60, "a", 2),
		slotWrite(modelM, 30, "a", 4, "b", 1),
		liveness.SlotWrite{ModelUUID: modelM2, Slot: 30, Dead: fields("a", 8)},
	)
	wantDoc(t, "m:30, written twice", f.slotDoc(t, modelM, 30), bson.D{
		{Key: "_id", Value: "m:30"},
		{Key: "alive", Value: bson.D{{Key: "a", Value: int64(5)}, {Key: "b", Value: int64(1)}}},
		{Key: "slot", Value: int64(30)},
	})
	wantDoc(t, "m:60", f.slotDoc(t, modelM, 60), bson.D{
		{Key: "_id", Value: "m:60"},
		{Key: "alive", Value: bson.D{{Key: "a", Value: int64(2)}}},
		{Key: "slot", Value: int64(60)},
	})
	wantDoc(t, "m2:30", f.slotDoc(t, modelM2, 30), bson.D{
		{Key: "_id", Value: "m2:30"},
		{Key: "dead", Value: bson.D{{Key: "a", Value: int64(8)}}},
		{Key: "slot", Value: int64(30)},
	})
}

// testWriteSlotsUnorderedPastFailures writes a bulk in which two documents
// cannot take the OR (another program wrote a string where the engine
// expects a document, and a string where it expects a number): the bulk
// fails, those two stay as they were, and the others are written.
func testWriteSlotsUnorderedPastFailures(t *testing.T, f *fixture) {
	notADoc := marshal(t, bson.D{{Key: "_id", Value: "m:30"}, {Key: "alive", Value: "oops"}, {Key: "slot", Value: int64(30)}})
	notANumber := marshal(t, bson.D{{Key: "_id", Value: "m:60"}, {Key: "alive", Value: bson.D{{Key: "a", Value: "x"}}}, {Key: "slot", Value: int64(60)}})
	f.insert(layout.PingsSuffix, notADoc)
	f.insert(layout.PingsSuffix, notANumber)
	err := f.WriteSlots(context.Background(), []liveness.SlotWrite{
		slotWrite(modelM, 30, "a", 1),
		slotWrite(modelM, 90, "a", 1),
		slotWrite(modelM, 60, "a", 1),
		slotWrite(modelM, 120, "a", 1),
	})
	if err == nil {
		t.Error("WriteSlots into documents that cannot take the OR succeeded")
	}
	docs := f.slotDocs(t, modelM, 30, 60, 90, 120)
	wantIDs(t, "after the bulk", docs, "m:30", "m:60", "m:90", "m:120")
	if string(docs["m:30"]) != string(notADoc) || string(docs["m:60"]) != string(notANumber) {
		t.Errorf("documents that could not take the OR changed:\n %s\n %s", show(docs["m:30"]), show(docs["m:60"]))
	}
	for _, id := range []string{"m:90", "m:120"} {
		if docs[id] == nil {
			continue
		}
		slot := int64(90)
		if id == "m:120" {
			slot = 120
		}
		wantDoc(t, id+" past the failures", docs[id], bson.D{
			{Key: "_id", Value: id},
			{Key: "alive", Value: bson.D{{Key: "a", Value: int64(1)}}},
			{Key: "slot", Value: slot},
		})
	}
}

// testReadSlotsByID reads slots by id: missing ones, ones named twice and
// other models' are left out.
func testReadSlotsByID(t *testing.T, f *fixture) {
	f.write(t,
		slotWrite(modelM, 30, "a", 1), slotWrite(modelM, 60, "a", 1),
		slotWrite(modelM2, 30, "a", 1), slotWrite(modelMM, 60, "a", 1), slotWrite(modelMS, 30, "a", 1),
	)
	wantIDs(t, "slots 30, 90, 60, 30 of m", f.slotDocs(t, modelM, 30, 90, 60, 30), "m:30", "m:60")
	wantIDs(t, "slot 90 of m", f.slotDocs(t, modelM, 90))
	wantIDs(t, "no slots of m", f.slotDocs(t, modelM))
	wantIDs(t, "slots 30 and 60 of m2", f.slotDocs(t, modelM2, 30, 60), "m2:30")
}

// testReadSlotsOfModelsByID reads slots of several models in one request:
// each named model's documents of the named slots come back, once, and
// no other model's, however alike their ids.
func testReadSlotsOfModelsByID(t *testing.T, f *fixture) {
	f.write(t,
		slotWrite(modelM, 30, "a", 1), slotWrite(modelM, 60, "a", 1), slotWrite(modelM, 90, "a", 1),
		slotWrite(modelM2, 30, "a", 1), slotWrite(modelMM, 60, "a", 1), slotWrite(modelMS, 30, "a", 1),
	)
	wantIDs(t, "slots 30 and 60 of m and m2", f.slotDocsOfModels(t, []string{modelM, modelM2}, 30, 60), "m:30", "m:60", "m2:30")
	wantIDs(t, "slots 60, 90, 60 of m, mm and m, and of a model with none",
		f.slotDocsOfModels(t, []string{modelM, modelMM, modelM, "none"}, 60, 90, 60), "m:60", "m:90", "mm:60")
	wantIDs(t, "slot 120 of every model", f.slotDocsOfModels(t, []string{modelM, modelM2, modelMM, modelMS}, 120))
	wantIDs(t, "no models", f.slotDocsOfModels(t, nil, 30))
	wantDoc(t, "m2:30 as read with others", f.slotDocsOfModels(t, []string{modelM, modelM2}, 30)["m2:30"], bson.D{
		{Key: "_id", Value: "m2:30"},
		{Key: "alive", Value: bson.D{{Key: "a", Value: int64(1)}}},
		{Key: "slot", Value: int64(30)},
	})
}

// testSlotsFromBoundaries reads the slots from a slot on: the bound is
// included, numbers of any type compare by value, other models' documents
// and slots that are not numbers are left out.
func testSlotsFromBoundaries(t *testing.T, f *fixture) {
	f.write(t,
		slotWrite(modelM, 30, "a", 1), slotWrite(modelM, 60, "a", 1), slotWrite(modelM, 90, "a", 1),
		slotWrite(modelM2, 90, "a", 1), slotWrite(modelMM, 90, "a", 1), slotWrite(modelMS, 90, "a", 1),
	)
	f.insert(layout.PingsSuffix, marshal(t, bson.D{{Key: "_id", Value: "m:120"}, {Key: "slot", Value: int32(120)}}))
	f.insert(layout.PingsSuffix, marshal(t, bson.D{{Key: "_id", Value: "m:150"}, {Key: "slot", Value: 150.0}}))
	f.insert(layout.PingsSuffix, marshal(t, bson.D{{Key: "_id", Value: "m:180"}, {Key: "slot", Value: "180"}}))
	f.insert(layout.PingsSuffix, marshal(t, bson.D{{Key: "_id", Value: "m:210"}}))
	for _, c := range []struct {
		from int64
		want []string
	}{
		{0, []string{"m:30", "m:60", "m:90", "m:120", "m:150"}},
		{60, []string{"m:60", "m:90", "m:120", "m:150"}},
		{61, []string{"m:90", "m:120", "m:150"}},
		{120, []string{"m:120", "m:150"}},
		{149, []string{"m:150"}},
		{151, nil},
	} {
		docs, err := f.SlotsFrom(context.Background(), modelM, c.from)
		if err != nil {
			t.Fatalf("SlotsFrom(%d): %v", c.from, err)
		}
		wantIDs(t, fmt.Sprintf("slots of m from %d", c.from), byID(t, docs), c.want...)
	}
}

// testCountAndRemoveOldSlots counts the slot documents below a slot, which
// removes nothing, then removes them: the bound is excluded, and other
// models' documents stay.
func testCountAndRemoveOldSlots(t *testing.T, f *fixture) {
	f.write(t,
		slotWrite(modelM, 30, "a", 1), slotWrite(modelM, 60, "a", 1), slotWrite(modelM, 90, "a", 1),
		slotWrite(modelM2, 30, "a", 1), slotWrite(modelMM, 30, "a", 1), slotWrite(modelMS, 30, "a", 1),
	)
	ctx := context.Background()
	for _, c := range []struct {
		before int64
		want   int
	}{{30, 0}, {31, 1}, {60, 1}, {61, 2}, {1 << 62, 3}} {
		if n, err := f.CountOldSlots(ctx, modelM, c.before); err != nil || n != c.want {
			t.Errorf("CountOldSlots(m, %d) = %d, %v; want %d", c.before, n, err, c.want)
		}
	}
	wantIDs(t, "after counting", f.slotDocs(t, modelM, 30, 60, 90), "m:30", "m:60", "m:90")
	if n, err := f.RemoveOldSlots(ctx, modelM, 61); err != nil || n != 2 {
		t.Errorf("RemoveOldSlots(m, 61) = %d, %v; want 2", n, err)
	}
	if n, err := f.RemoveOldSlots(ctx, modelM, 61); err != nil || n != 0 {
		t.Errorf("RemoveOldSlots(m, 61) again = %d, %v; want 0", n, err)
	}
	if n, err := f.CountOldSlots(ctx, modelM, 1<<62); err != nil || n != 1 {
		t.Errorf("CountOldSlots(m) after the removal = %d, %v; want 1", n, err)
	}
	wantIDs(t, "m after the removal", f.slotDocs(t, modelM, 30, 60, 90), "m:90")
	for _, model := range []string{modelM2, modelMM, modelMS} {
		wantIDs(t, model+" after m's removal", f.slotDocs(t, model, 30), layout.DocID(model, 30))
	}
}
