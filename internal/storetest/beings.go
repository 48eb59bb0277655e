package storetest

import (
	"context"
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/liveness"
)

// Reading and removing beings, removing a model, and a cancelled context.

// testBeingsOfByID reads beings by sequence: missing ones, ones named
// twice and other models' are left out.
func testBeingsOfByID(t *testing.T, f *fixture) {
	for seq := int64(1); seq <= 3; seq++ {
		f.being(t, modelM, seq, "k")
	}
	f.being(t, modelM2, 7, "k")
	f.being(t, modelMM, 7, "k")
	wantIDs(t, "beings 3, 1, 7, 1 of m", f.beingsOf(t, modelM, 3, 1, 7, 1), "m:1", "m:3")
	wantIDs(t, "being 7 of m", f.beingsOf(t, modelM, 7))
	wantIDs(t, "no beings of m", f.beingsOf(t, modelM))
}

// testBeingsOfModelsByID reads the beings of several models' sequences in
// one request: the named ones that exist come back, once, and none of
// another model's, however alike their ids.
func testBeingsOfModelsByID(t *testing.T, f *fixture) {
	for seq := int64(1); seq <= 3; seq++ {
		f.being(t, modelM, seq, "k")
		f.being(t, modelM2, seq, "k")
	}
	f.being(t, modelMM, 7, "k")
	got := f.beingsOfModels(t,
		liveness.ModelSeqs{ModelUUID: modelM, Seqs: []int64{3, 1, 7, 1}},
		liveness.ModelSeqs{ModelUUID: modelM2, Seqs: []int64{2}},
		liveness.ModelSeqs{ModelUUID: "none", Seqs: []int64{1}},
	)
	wantIDs(t, "beings 3, 1, 7, 1 of m and 2 of m2", got, "m:1", "m:3", "m2:2")
	wantIDs(t, "being 7 of m and m2", f.beingsOfModels(t,
		liveness.ModelSeqs{ModelUUID: modelM, Seqs: []int64{7}}, liveness.ModelSeqs{ModelUUID: modelM2, Seqs: []int64{7}}))
	wantIDs(t, "no models", f.beingsOfModels(t))
	wantIDs(t, "a model with no sequences", f.beingsOfModels(t, liveness.ModelSeqs{ModelUUID: modelM}))
}

// testBeingsProjected reads a being another program wrote with a field of
// its own, by sequence and with the model's: only _id, seq and key come
// back, in the document's order.
func testBeingsProjected(t *testing.T, f *fixture) {
	f.insert(layout.BeingsSuffix, marshal(t, bson.D{
		{Key: "_id", Value: "m:9"}, {Key: "key", Value: "k9"}, {Key: "extra", Value: "not wanted"}, {Key: "seq", Value: int64(9)},
	}))
	want := bson.D{{Key: "_id", Value: "m:9"}, {Key: "key", Value: "k9"}, {Key: "seq", Value: int64(9)}}
	wantDoc(t, "BeingsOf", f.beingsOf(t, modelM, 9)["m:9"], want)
	wantDoc(t, "AllBeings", f.allBeings(t, modelM)["m:9"], want)
	wantDoc(t, "BeingsOfModels", f.beingsOfModels(t, liveness.ModelSeqs{ModelUUID: modelM, Seqs: []int64{9}})["m:9"], want)
}

// testAllBeingsOfOneModel reads all of a model's beings: every one of its
// range of ids, once, and none of the models whose ids start alike.
func testAllBeingsOfOneModel(t *testing.T, f *fixture) {
	for seq := int64(1); seq <= 12; seq++ {
		f.being(t, modelM, seq, "k")
	}
	for _, model := range []string{modelM2, modelMM, modelMS} {
		f.being(t, model, 1, "k")
	}
	// The model's sequence counter lives in another collection.
	f.nextSeq(t, modelM)
	// A being id that is not a number is still in the model's range.
	f.insert(layout.BeingsSuffix, marshal(t, bson.D{{Key: "_id", Value: "m:x"}, {Key: "seq", Value: int64(99)}, {Key: "key", Value: "odd"}}))
	want := []string{"m:x"}
	for seq := int64(1); seq <= 12; seq++ {
		want = append(want, layout.DocID(modelM, seq))
	}
	wantIDs(t, "all beings of m", f.allBeings(t, modelM), want...)
	wantIDs(t, "all beings of m;", f.allBeings(t, modelMS), "m;:1")
	wantIDs(t, "all beings of a model with none", f.allBeings(t, "none"))
}

// testRemoveBeings removes beings by sequence: the count is of those
// removed, and other models' stay.
func testRemoveBeings(t *testing.T, f *fixture) {
	for seq := int64(1); seq <= 4; seq++ {
		f.being(t, modelM, seq, "k")
		f.being(t, modelM2, seq, "k")
	}
	ctx := context.Background()
	if n, err := f.RemoveBeings(ctx, modelM, []int64{2, 4, 9, 2}); err != nil || n != 2 {
		t.Errorf("RemoveBeings(m, 2, 4, 9, 2) = %d, %v; want 2", n, err)
	}
	if n, err := f.RemoveBeings(ctx, modelM, []int64{2}); err != nil || n != 0 {
		t.Errorf("RemoveBeings(m, 2) again = %d, %v; want 0", n, err)
	}
	wantIDs(t, "beings of m", f.allBeings(t, modelM), "m:1", "m:3")
	wantIDs(t, "beings of m2", f.allBeings(t, modelM2), "m2:1", "m2:2", "m2:3", "m2:4")
}

// testRemoveModelKeepsToItsIDs removes one model of several whose ids
// start alike: every document in its range of ids goes, from the three
// collections, and no other.
func testRemoveModelKeepsToItsIDs(t *testing.T, f *fixture) {
	models := []string{modelM, modelM2, modelMM, modelMS}
	for _, model := range models {
		f.nextSeq(t, model)
		f.being(t, model, 1, "k")
		f.write(t, slotWrite(model, 30, "a", 1))
	}
	f.insert(layout.BeingsSuffix, marshal(t, bson.D{{Key: "_id", Value: "m:x"}, {Key: "seq", Value: int64(2)}, {Key: "key", Value: "odd"}}))
	if err := f.RemoveModel(context.Background(), modelM); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "beings of m", f.allBeings(t, modelM))
	wantIDs(t, "slots of m", f.slotDocs(t, modelM, 30))
	if seq := f.nextSeq(t, modelM); seq != 1 {
		t.Errorf("NextSeq(m) after the removal = %d, want 1: its counter was kept", seq)
	}
	for _, model := range models[1:] {
		wantIDs(t, "beings of "+model, f.allBeings(t, model), layout.DocID(model, 1))
		wantIDs(t, "slots of "+model, f.slotDocs(t, model, 30), layout.DocID(model, 30))
		if seq := f.nextSeq(t, model); seq != 2 {
			t.Errorf("NextSeq(%q) after m's removal = %d, want 2", model, seq)
		}
	}
}

// testCancelledContext calls every operation with a cancelled context:
// each fails, saying why, and none takes effect.
func testCancelledContext(t *testing.T, f *fixture) {
	f.nextSeq(t, modelM)
	f.being(t, modelM, 1, "k")
	f.write(t, slotWrite(modelM, 30, "a", 1))
	before := f.slotDoc(t, modelM, 30)

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	noDoc := func([]byte) { t.Error("a read with a cancelled context handed over a document") }
	for op, call := range map[string]func(ctx context.Context) error{
		"ServerTime":  func(ctx context.Context) error { _, err := f.ServerTime(ctx); return err },
		"NextSeq":     func(ctx context.Context) error { _, err := f.NextSeq(ctx, modelM); return err },
		"InsertBeing": func(ctx context.Context) error { return f.InsertBeing(ctx, modelM, 2, "k") },
		"WriteSlots": func(ctx context.Context) error {
			return f.WriteSlots(ctx, []liveness.SlotWrite{slotWrite(modelM, 30, "b", 1), slotWrite(modelM, 60, "a", 1)})
		},
		"ReadSlots": func(ctx context.Context) error { _, err := f.ReadSlots(ctx, modelM, []int64{30}); return err },
		"ReadSlotsOfModels": func(ctx context.Context) error {
			_, err := f.ReadSlotsOfModels(ctx, []string{modelM}, []int64{30})
			return err
		},
		"SlotsFrom": func(ctx context.Context) error { _, err := f.SlotsFrom(ctx, modelM, 0); return err },
		"BeingsOfModels": func(ctx context.Context) error {
			return f.BeingsOfModels(ctx, []liveness.ModelSeqs{{ModelUUID: modelM, Seqs: []int64{1}}}, noDoc)
		},
		"BeingsOf":       func(ctx context.Context) error { return f.BeingsOf(ctx, modelM, []int64{1}, noDoc) },
		"AllBeings":      func(ctx context.Context) error { return f.AllBeings(ctx, modelM, noDoc) },
		"CountOldSlots":  func(ctx context.Context) error { _, err := f.CountOldSlots(ctx, modelM, 1<<62); return err },
		"RemoveOldSlots": func(ctx context.Context) error { _, err := f.RemoveOldSlots(ctx, modelM, 1<<62); return err },
		"RemoveBeings":   func(ctx context.Context) error { _, err := f.RemoveBeings(ctx, modelM, []int64{1}); return err },
		"RemoveModel":    func(ctx context.Context) error { return f.RemoveModel(ctx, modelM) },
	} {
		if err := call(cancelled); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: got %v, want context.Canceled", op, err)
		}
	}

	if seq := f.nextSeq(t, modelM); seq != 2 {
		t.Errorf("NextSeq after the cancelled calls = %d, want 2", seq)
	}
	wantIDs(t, "beings after the cancelled calls", f.allBeings(t, modelM), "m:1")
	wantIDs(t, "slots after the cancelled calls", f.slotDocs(t, modelM, 30, 60), "m:30")
	if after := f.slotDoc(t, modelM, 30); string(after) != string(before) {
		t.Errorf("slot document changed by a cancelled write:\n before %s\n after  %s", show(before), show(after))
	}
}
