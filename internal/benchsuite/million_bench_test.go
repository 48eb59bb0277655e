package benchsuite

import (
	"context"
	"math/rand/v2"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/liveness"
)

// million is the fleet of the one-model scale target: a million agents,
// whose slot document has 15,874 fields.
const million = 1000000

// BenchmarkMillionPing measures PingBatcher.Ping for a model of a
// million agents: each op pings for the next agent, in turn, into one
// slot. The batcher's pages grow to the slot document's 15,874 fields
// during the first million ops and stay there; allocs/op is what is left
// of that growth spread over b.N.
func BenchmarkMillionPing(b *testing.B) {
	benchmarkMillionPing(b, func(agents []int) {})
}

// BenchmarkMillionPingShuffled is BenchmarkMillionPing with the agents
// pinging in a random order, the same every run, as a controller's
// pingers do over the slot's first quarter: no ping is near the one
// before.
func BenchmarkMillionPingShuffled(b *testing.B) {
	benchmarkMillionPing(b, func(agents []int) {
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(agents), func(i, j int) {
			agents[i], agents[j] = agents[j], agents[i]
		})
	})
}

func benchmarkMillionPing(b *testing.B, order func(agents []int)) {
	d := sharedServer(b).newDatabase(b, "millionping")
	pb := liveness.NewPingBatcher(faces[1].store(b, d), frozenOpts()...)
	defer stopWorker(b, pb)
	fieldKeys := make([]string, million)
	fieldBits := make([]uint64, million)
	for i := range fieldKeys {
		// Each agent's field name is its own string, as each Pinger's is.
		fieldKeys[i], fieldBits[i] = fieldOf(b, int64(i+1))
	}
	agents := make([]int, million)
	for i := range agents {
		agents[i] = i
	}
	order(agents)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a := agents[i]
		if err := pb.Ping(fleetModel, benchSlot, fieldKeys[a], fieldBits[a]); err != nil {
			b.Fatal(err)
		}
		if i++; i == million {
			i = 0
		}
	}
}

// BenchmarkMillionSlotWrite measures the flush of one slot of a million
// agents of one model, through the official face: one upsert whose $bit
// names 15,874 fields. It then reads the document back and checks every
// bit. upserts/op counts the update statements that reached the server;
// doc-KB is the size of the document written.
func BenchmarkMillionSlotWrite(b *testing.B) {
	s := sharedServer(b)
	fieldKeys := make([]string, million)
	fieldBits := make([]uint64, million)
	for i := range fieldKeys {
		fieldKeys[i], fieldBits[i] = fieldOf(b, int64(i+1))
	}
	var docBytes int
	var upserts int
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		d := s.newDatabase(b, "millionwrite")
		pb := liveness.NewPingBatcher(faces[1].store(b, d), frozenOpts()...)
		for j := range fieldKeys {
			if err := pb.Ping(fleetModel, benchSlot, fieldKeys[j], fieldBits[j]); err != nil {
				b.Fatal(err)
			}
		}
		before := s.snapshot()
		b.StartTimer()
		if err := pb.Sync(); err != nil {
			b.Fatalf("flushing a million pings: %v", err)
		}
		b.StopTimer()
		upserts += s.since(before).upserts
		stopWorker(b, pb)
		docBytes = checkMillionDoc(b, d)
		b.StartTimer()
	}
	b.StopTimer()
	if s.counted() {
		b.ReportMetric(float64(upserts)/float64(b.N), "upserts/op")
	}
	b.ReportMetric(float64(docBytes)/1e3, "doc-KB")
}

// checkMillionDoc reads the slot document of a million agents back and
// checks that every sequence has its bit; it returns the document's size.
func checkMillionDoc(b *testing.B, d *database) int {
	b.Helper()
	var raw bson.Raw
	err := d.mongo.Collection("presence.pings").FindOne(context.Background(),
		bson.D{{Key: "_id", Value: layout.DocID(fleetModel, benchSlot)}}).Decode(&raw)
	if err != nil {
		b.Fatalf("reading the slot document back: %v", err)
	}
	alive, ok := raw.Lookup("alive").DocumentOK()
	if !ok {
		b.Fatalf("the slot document has no alive part")
	}
	elems, err := alive.Elements()
	if err != nil {
		b.Fatal(err)
	}
	want := million/layout.BitsPerField + 1
	if len(elems) != want {
		b.Fatalf("the slot document has %d fields, want %d", len(elems), want)
	}
	seqs := 0
	for _, e := range elems {
		word, ok := e.Value().Int64OK()
		if !ok {
			b.Fatalf("field %s is %s, not an int64", e.Key(), e.Value().Type)
		}
		for ; word != 0; word &= word - 1 {
			seqs++
		}
	}
	if seqs != million {
		b.Fatalf("the slot document holds %d sequences, want %d", seqs, million)
	}
	return len(raw)
}
