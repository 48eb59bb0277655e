package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/internal/layout"
)

// The server's clock, the sequence counters and the beings.

func testServerTime(t *testing.T, f *fixture) {
	before := time.Now()
	got, err := f.ServerTime(context.Background())
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	// The test server shares this machine's clock.
	if got.Before(before.Add(-time.Second)) || got.After(after.Add(time.Second)) {
		t.Errorf("server time %v is not within a second of [%v, %v]", got, before, after)
	}
	// A BSON date carries milliseconds.
	if got.Nanosecond()%int(time.Millisecond) != 0 {
		t.Errorf("server time %v is finer than a millisecond", got)
	}
}

func testNextSeqCountsFromOnePerModel(t *testing.T, f *fixture) {
	for _, step := range []struct {
		model string
		want  int64
	}{
		{modelM, 1}, {modelM, 2}, {modelM2, 1}, {modelMM, 1}, {modelM, 3}, {modelMS, 1}, {modelM2, 2},
	} {
		if got := f.nextSeq(t, step.model); got != step.want {
			t.Errorf("NextSeq(%q) = %d, want %d", step.model, got, step.want)
		}
	}
}

// testNextSeqConcurrent takes sequences from several goroutines at once:
// each value is handed out once.
func testNextSeqConcurrent(t *testing.T, f *fixture) {
	const workers, calls = 4, 25
	got := make(chan int64, workers*calls)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				seq, err := f.NextSeq(context.Background(), modelM)
				if err != nil {
					errs <- err
					return
				}
				got <- seq
			}
		}()
	}
	wg.Wait()
	close(got)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var seqs []int64
	for seq := range got {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for i, seq := range seqs {
		if seq != int64(i+1) {
			t.Fatalf("sequences handed out: %v, want 1 to %d once each", seqs, workers*calls)
		}
	}
	if len(seqs) != workers*calls {
		t.Fatalf("%d sequences handed out, want %d", len(seqs), workers*calls)
	}
}

// testNextSeqContinuesAnInt32Counter increments a counter another program
// wrote as an int32: the servers add in int64.
func testNextSeqContinuesAnInt32Counter(t *testing.T, f *fixture) {
	f.insert(layout.SeqsSuffix, marshal(t, bson.D{{Key: "_id", Value: layout.SeqsID(modelM)}, {Key: "seq", Value: int32(41)}}))
	for _, want := range []int64{42, 43} {
		if got := f.nextSeq(t, modelM); got != want {
			t.Errorf("NextSeq = %d, want %d", got, want)
		}
	}
}

func testInsertBeingDocument(t *testing.T, f *fixture) {
	f.being(t, modelM, 5, "machine-5")
	f.being(t, modelM2, 5, "unit-a/0")
	wantDoc(t, "being m:5", f.beingsOf(t, modelM, 5)["m:5"], bson.D{
		{Key: "_id", Value: "m:5"}, {Key: "seq", Value: int64(5)}, {Key: "key", Value: "machine-5"},
	})
	wantDoc(t, "being m2:5", f.beingsOf(t, modelM2, 5)["m2:5"], bson.D{
		{Key: "_id", Value: "m2:5"}, {Key: "seq", Value: int64(5)}, {Key: "key", Value: "unit-a/0"},
	})
}

// testInsertBeingDuplicate inserts a being whose _id exists: the store
// reports the duplicate, and the being stays as it was.
func testInsertBeingDuplicate(t *testing.T, f *fixture) {
	f.being(t, modelM, 7, "first")
	err := f.InsertBeing(context.Background(), modelM, 7, "second")
	if err == nil || !f.isDup(err) {
		t.Errorf("inserting being m:7 again: got %v, want a duplicate key error", err)
	}
	wantDoc(t, "being m:7", f.beingsOf(t, modelM, 7)["m:7"], bson.D{
		{Key: "_id", Value: "m:7"}, {Key: "seq", Value: int64(7)}, {Key: "key", Value: "first"},
	})
}
