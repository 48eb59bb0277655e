package memstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/internal/bsonraw"
	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/internal/memstore"
	"github.com/presence-go/presence/liveness"
)

func marshal(t *testing.T, doc bson.D) []byte {
	t.Helper()
	b, err := bson.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestObserveSeesEveryOperationInOrder makes writes and reads of two
// stores and checks what the observer saw of each, in order, stamped with
// the server's clock.
func TestObserveSeesEveryOperationInOrder(t *testing.T) {
	server := memstore.NewServer()
	a, b := server.NewStore("a"), server.NewStore("b")
	at := time.Date(2030, 1, 2, 3, 4, 5, 6_789_000, time.UTC)
	server.SetClock(func() time.Time { return at })
	var events []memstore.Event
	server.Observe(func(e memstore.Event) { events = append(events, e) })

	ctx := context.Background()
	alive := []liveness.FieldBits{{Field: "0", Bits: 2}}
	dead := []liveness.FieldBits{{Field: "1", Bits: 1}}
	if _, err := a.NextSeq(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	if err := a.InsertBeing(ctx, "m", 1, "k"); err != nil {
		t.Fatal(err)
	}
	if err := b.InsertBeing(ctx, "m", 1, "k"); !errors.Is(err, memstore.ErrDuplicateKey) {
		t.Fatalf("duplicate insert = %v", err)
	}
	if err := a.WriteSlots(ctx, []liveness.SlotWrite{{ModelUUID: "m", Slot: 30, Alive: alive}, {ModelUUID: "m2", Slot: 60, Dead: dead}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadSlots(ctx, "m", []int64{0, 30}); err != nil {
		t.Fatal(err)
	}
	if n, err := b.RemoveOldSlots(ctx, "m", 31); err != nil || n != 1 {
		t.Fatalf("RemoveOldSlots = %d, %v", n, err)
	}
	server.Observe(nil)
	if _, err := a.NextSeq(ctx, "m"); err != nil {
		t.Fatal(err)
	}

	slot30 := marshal(t, bson.D{{Key: "_id", Value: "m:30"}, {Key: "alive", Value: bson.D{{Key: "0", Value: int64(2)}}}, {Key: "slot", Value: int64(30)}})
	want := []memstore.Event{
		{Store: "a", Op: memstore.OpNextSeq, ModelUUID: "m", Seq: 1},
		{Store: "a", Op: memstore.OpInsertBeing, ModelUUID: "m", Seq: 1, Key: "k"},
		{Store: "b", Op: memstore.OpInsertBeing, ModelUUID: "m", Seq: 1, Key: "k"},
		{Store: "a", Op: memstore.OpWriteSlots, ModelUUID: "m", Slot: 30, Alive: alive},
		{Store: "a", Op: memstore.OpWriteSlots, ModelUUID: "m2", Slot: 60, Dead: dead},
		{Store: "b", Op: memstore.OpReadSlots, ModelUUID: "m", Docs: [][]byte{slot30}},
		{Store: "b", Op: memstore.OpRemoveOldSlots, ModelUUID: "m", Slot: 31, N: 1},
	}
	if len(events) != len(want) {
		t.Fatalf("observed %d events, want %d: %+v", len(events), len(want), events)
	}
	for i, e := range events {
		w := want[i]
		if e.Store != w.Store || e.Op != w.Op || e.ModelUUID != w.ModelUUID || e.Slot != w.Slot || e.Seq != w.Seq ||
			e.Key != w.Key || e.N != w.N || !slices.Equal(e.Alive, w.Alive) || !slices.Equal(e.Dead, w.Dead) ||
			!slices.EqualFunc(e.Docs, w.Docs, bytes.Equal) {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
		if wantTime := at.Truncate(time.Millisecond); !e.Time.Equal(wantTime) {
			t.Errorf("event %d at %v, want %v", i, e.Time, wantTime)
		}
	}
	// Each write's event carries the document it left; a refused one none.
	for event, want := range map[int][]byte{
		0: marshal(t, bson.D{{Key: "_id", Value: "m:beings"}, {Key: "seq", Value: int64(1)}}),
		1: marshal(t, bson.D{{Key: "_id", Value: "m:1"}, {Key: "seq", Value: int64(1)}, {Key: "key", Value: "k"}}),
		3: slot30,
		4: marshal(t, bson.D{{Key: "_id", Value: "m2:60"}, {Key: "dead", Value: bson.D{{Key: "1", Value: int64(1)}}}, {Key: "slot", Value: int64(60)}}),
	} {
		if !bytes.Equal(events[event].Doc, want) {
			t.Errorf("event %d carries %x, want %x", event, events[event].Doc, want)
		}
	}
	if events[2].Doc != nil || !errors.Is(events[2].Err, memstore.ErrDuplicateKey) {
		t.Errorf("the refused insert's event has document %x and error %v", events[2].Doc, events[2].Err)
	}
}

func TestServerTimeFollowsTheServerClock(t *testing.T) {
	s := memstore.New()
	at := time.Date(2030, 1, 2, 3, 4, 5, 6_789_000, time.FixedZone("east", 3600))
	s.Server().SetClock(func() time.Time { return at })
	got, err := s.ServerTime(context.Background())
	if want := time.Date(2030, 1, 2, 2, 4, 5, 6_000_000, time.UTC); err != nil || got != want {
		t.Errorf("ServerTime = %v, %v; want %v, as a BSON date carries it", got, err, want)
	}
	at = at.Add(time.Hour)
	if got, _ := s.ServerTime(context.Background()); got.Hour() != 3 {
		t.Errorf("ServerTime after the clock stepped = %v", got)
	}
	s.Server().SetClock(nil)
	if got, _ := s.ServerTime(context.Background()); time.Since(got) > time.Minute {
		t.Errorf("ServerTime on the default clock = %v", got)
	}
}

// TestPutAndInspect writes documents as another program would, and reads
// them back.
func TestPutAndInspect(t *testing.T) {
	server := memstore.NewServer()
	for _, c := range []struct {
		name string
		doc  []byte
	}{
		{"malformed", []byte{9, 0, 0, 0, 0}},
		{"no _id", marshal(t, bson.D{{Key: "seq", Value: int64(1)}})},
		{"a number _id", marshal(t, bson.D{{Key: "_id", Value: int64(1)}})},
	} {
		if err := server.Put(memstore.Beings, c.doc); err == nil {
			t.Errorf("Put of a document with %s succeeded", c.name)
		}
	}
	if err := server.Put(memstore.Collection(7), marshal(t, bson.D{{Key: "_id", Value: "m:1"}})); err == nil {
		t.Error("Put into no collection succeeded")
	}
	docs := []bson.D{
		{{Key: "_id", Value: "m:2"}, {Key: "junk", Value: true}},
		{{Key: "_id", Value: "m:10"}, {Key: "seq", Value: "ten"}},
		{{Key: "_id", Value: "m:2"}, {Key: "seq", Value: int64(2)}},
	}
	for _, d := range docs {
		if err := server.Put(memstore.Beings, marshal(t, d)); err != nil {
			t.Fatal(err)
		}
	}
	got := server.Docs(memstore.Beings)
	want := [][]byte{marshal(t, docs[1]), marshal(t, docs[2])} // by _id, "m:10" before "m:2"
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("Docs = %x, want %x", got, want)
	}
	doc, ok := server.Doc(memstore.Beings, "m:2")
	if !ok || !bytes.Equal(doc, want[1]) {
		t.Fatalf("Doc(m:2) = %x, %v", doc, ok)
	}
	doc[len(doc)-2] = 'X'
	if again, _ := server.Doc(memstore.Beings, "m:2"); !bytes.Equal(again, want[1]) {
		t.Error("changing what Doc returned changed the server's document")
	}
	if !server.Remove(memstore.Beings, "m:2") || server.Remove(memstore.Beings, "m:2") {
		t.Error("Remove of m:2 twice: want true, then false")
	}
	if _, ok := server.Doc(memstore.Pings, "m:10"); ok {
		t.Error("m:10 is in pings too")
	}
}

// TestAllBeingsReadsInBatches reads a model of more beings than one batch
// holds while beings are added from the callback: as with a cursor, each
// batch is a read of its own, and a being added past the batches read is
// seen, one added before them is not.
func TestAllBeingsReadsInBatches(t *testing.T) {
	s := memstore.New()
	ctx := context.Background()
	// Ids order as strings: "m:100000" after "m:1" … before "m:2".
	for seq := int64(100000); seq < 100000+layout.RangeBatch+5; seq++ {
		if err := s.InsertBeing(ctx, "m", seq, "k"); err != nil {
			t.Fatal(err)
		}
	}
	var batches []int
	s.Server().Observe(func(e memstore.Event) {
		if e.Op == memstore.OpAllBeings {
			batches = append(batches, len(e.Docs))
		}
	})
	seen := make(map[int64]bool)
	err := s.AllBeings(ctx, "m", func(doc []byte) {
		e, _, _ := bsonraw.Lookup(doc, "seq")
		seq, _ := e.Int64()
		seen[seq] = true
		if len(seen) == 1 {
			// The callback runs with no lock held.
			for _, late := range []int64{9, 1} {
				if err := s.InsertBeing(ctx, "m", late, "late"); err != nil {
					t.Error(err)
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{layout.RangeBatch, 6}; !slices.Equal(batches, want) {
		t.Errorf("batches of %v beings, want %v", batches, want)
	}
	if !seen[9] || seen[1] || len(seen) != layout.RangeBatch+6 {
		t.Errorf("saw %d beings, 9: %v, 1: %v; want all the first ones and 9, not 1", len(seen), seen[9], seen[1])
	}
}

// TestConcurrentWritesLoseNoBits ORs bits into one document from several
// stores at once: each write is atomic on its document.
func TestConcurrentWritesLoseNoBits(t *testing.T) {
	server := memstore.NewServer()
	const writers, bits = 6, 10
	var wg sync.WaitGroup
	for w := range writers {
		store := server.NewStore(fmt.Sprint("writer-", w))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range bits {
				write := liveness.SlotWrite{ModelUUID: "m", Slot: 30, Alive: []liveness.FieldBits{{Field: "0", Bits: 1 << (w*bits + b)}}}
				if err := store.WriteSlots(context.Background(), []liveness.SlotWrite{write}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	doc, _ := server.Doc(memstore.Pings, "m:30")
	alive, _, _ := bsonraw.Lookup(doc, "alive")
	sub, _ := alive.Doc()
	field, _, _ := bsonraw.Lookup(sub, "0")
	if got, _ := field.Int64(); got != 1<<(writers*bits)-1 {
		t.Errorf("alive.0 = %#x, want %#x", got, int64(1)<<(writers*bits)-1)
	}
}
