package testserver_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/juju/mgo/v2"
	"github.com/juju/mgo/v2/bson"

	"github.com/presence-go/presence/internal/testserver"
)

// The conformance tests pin down, through the real driver, every server
// operation the presence library relies on, with exact results.

func TestConformanceInsert(t *testing.T) {
	c := testserver.Shared(t).Database(t).C("insert")
	err := c.Insert(
		bson.M{"_id": "u:1", "seq": int64(1), "key": "a"},
		bson.M{"_id": "u:2", "seq": int64(2), "key": "b"},
	)
	if err != nil {
		t.Fatal(err)
	}
	var got []bson.M
	if err := c.Find(nil).Sort("_id").All(&got); err != nil {
		t.Fatal(err)
	}
	want := []bson.M{
		{"_id": "u:1", "seq": int64(1), "key": "a"},
		{"_id": "u:2", "seq": int64(2), "key": "b"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, d := range got {
		if _, ok := d["seq"].(int64); !ok {
			t.Errorf("seq of %v is %T, want int64", d["_id"], d["seq"])
		}
	}
	if err := c.Insert(bson.M{"_id": "u:1"}); !mgo.IsDup(err) {
		t.Errorf("inserting a duplicate _id: got %v, want a duplicate key error", err)
	}
}

func TestConformanceFindInWithProjectionAndGetMore(t *testing.T) {
	const n = 5000
	c := testserver.Shared(t).Database(t).C("beings")
	docs := make([]any, n)
	ids := make([]string, n)
	for i := range docs {
		ids[i] = fmt.Sprintf("u:%d", i)
		docs[i] = bson.M{"_id": ids[i], "seq": int64(i), "key": fmt.Sprintf("key-%d", i), "extra": "not wanted"}
	}
	if err := c.Insert(docs...); err != nil {
		t.Fatal(err)
	}

	iter := c.Find(bson.M{"_id": bson.M{"$in": ids}}).Select(bson.M{"_id": 1, "key": 1}).Batch(700).Iter()
	seen := make(map[string]bool, n)
	var doc bson.M
	for iter.Next(&doc) {
		id, _ := doc["_id"].(string)
		var i int
		if _, err := fmt.Sscanf(id, "u:%d", &i); err != nil {
			t.Fatalf("unexpected document %v", doc)
		}
		if len(doc) != 2 || doc["key"] != fmt.Sprintf("key-%d", i) {
			t.Fatalf("document %v: want exactly _id and key-%d", doc, i)
		}
		if seen[id] {
			t.Fatalf("document %s returned twice", id)
		}
		seen[id] = true
		doc = nil
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("got %d documents, want %d", len(seen), n)
	}
	if b := testserver.Shared(t).Bridge(); b != nil && b.Stats().Commands["getMore"] == 0 {
		t.Errorf("no getMore reached the bridge; batches were not exercised")
	}
}

func TestConformanceFindAndModifyIncUpsertConcurrent(t *testing.T) {
	const workers, calls = 4, 100
	server := testserver.Shared(t)
	db := server.Database(t)
	c := db.C("seqs")

	values := make(chan int64, workers*calls)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			session := db.Session.Copy() // a socket of its own
			defer session.Close()
			wc := c.With(session)
			for range calls {
				var doc struct {
					Seq int64 `bson:"seq"`
				}
				change := mgo.Change{Update: bson.M{"$inc": bson.M{"seq": int64(1)}}, Upsert: true, ReturnNew: true}
				if _, err := wc.FindId("model:beings").Apply(change, &doc); err != nil {
					errs <- err
					return
				}
				values <- doc.Seq
			}
		}()
	}
	wg.Wait()
	close(values)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var got []int64
	for v := range values {
		got = append(got, v)
	}
	slices.Sort(got)
	got = slices.Compact(got)
	if len(got) != workers*calls || got[0] != 1 || got[len(got)-1] != workers*calls {
		t.Fatalf("got %d distinct values from %v to %v, want exactly 1..%d", len(got), got[0], got[len(got)-1], workers*calls)
	}
	var final bson.M
	if err := c.FindId("model:beings").One(&final); err != nil {
		t.Fatal(err)
	}
	if v, ok := final["seq"].(int64); !ok || v != workers*calls {
		t.Fatalf("final seq %v (%T), want int64 %d", final["seq"], final["seq"], workers*calls)
	}
}

func TestConformanceSetAndBitOrUpsert(t *testing.T) {
	c := testserver.Shared(t).Database(t).C("pings")
	var want int64
	for _, bit := range []uint{0, 40, 62} {
		want |= 1 << bit
		update := bson.M{
			"$set": bson.M{"slot": int64(1230)},
			"$bit": bson.M{"alive.1f": bson.M{"or": int64(1) << bit}},
		}
		if _, err := c.UpsertId("model:1230", update); err != nil {
			t.Fatalf("bit %d: %v", bit, err)
		}
	}
	var doc bson.M
	if err := c.FindId("model:1230").One(&doc); err != nil {
		t.Fatal(err)
	}
	alive, ok := doc["alive"].(bson.M)
	if !ok {
		t.Fatalf("alive is %T in %v", doc["alive"], doc)
	}
	got, ok := alive["1f"].(int64)
	if !ok {
		t.Fatalf("alive.1f is %T (%v), want int64", alive["1f"], alive["1f"])
	}
	if got != want {
		t.Fatalf("alive.1f = %#x, want %#x", got, want)
	}
	if slot, ok := doc["slot"].(int64); !ok || slot != 1230 {
		t.Fatalf("slot is %v (%T), want int64 1230", doc["slot"], doc["slot"])
	}
}

func TestConformanceIncNestedField(t *testing.T) {
	c := testserver.Shared(t).Database(t).C("nested")
	for range 3 {
		if _, err := c.UpsertId("m:1", bson.M{"$inc": bson.M{"counts.a": int64(2)}}); err != nil {
			t.Fatal(err)
		}
	}
	var doc struct {
		Counts map[string]any `bson:"counts"`
	}
	if err := c.FindId("m:1").One(&doc); err != nil {
		t.Fatal(err)
	}
	if v, ok := doc.Counts["a"].(int64); !ok || v != 6 || len(doc.Counts) != 1 {
		t.Fatalf("counts = %v (a is %T), want {a: int64 6}", doc.Counts, doc.Counts["a"])
	}
}

func TestConformanceUnorderedBulkUpsertOverExisting(t *testing.T) {
	const n = 1500
	server := testserver.Shared(t)
	c := server.Database(t).C("bulk")
	docs := make([]any, n)
	for i := range docs {
		docs[i] = bson.M{"_id": fmt.Sprintf("m:%d", i), "v": int64(0)}
	}
	if err := c.Insert(docs...); err != nil {
		t.Fatal(err)
	}
	if b := server.Bridge(); b != nil {
		b.ResetStats()
	}

	bulk := c.Bulk()
	bulk.Unordered()
	for i := range n {
		bulk.Upsert(bson.M{"_id": fmt.Sprintf("m:%d", i)}, bson.M{"$set": bson.M{"v": int64(i + 1)}})
	}
	result, err := bulk.Run()
	if err != nil {
		t.Fatal(err)
	}
	if result.Matched != n || result.Modified != n {
		t.Fatalf("matched %d, modified %d; want %d and %d", result.Matched, result.Modified, n, n)
	}
	if b := server.Bridge(); b != nil {
		if got := b.Stats().UpdateStatements; got != n {
			t.Errorf("bridge counted %d update statements, want %d", got, n)
		}
	}
	var got []struct {
		ID string `bson:"_id"`
		V  int64  `bson:"v"`
	}
	if err := c.Find(nil).All(&got); err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d documents, want %d", len(got), n)
	}
	for _, d := range got {
		if d.ID != fmt.Sprintf("m:%d", d.V-1) {
			t.Fatalf("document %s has v=%d", d.ID, d.V)
		}
	}
}

func TestConformanceOrFind(t *testing.T) {
	c := testserver.Shared(t).Database(t).C("or")
	for i := range 6 {
		if err := c.Insert(bson.M{"_id": i, "a": i % 3, "b": i % 2}); err != nil {
			t.Fatal(err)
		}
	}
	var got []struct {
		ID int `bson:"_id"`
	}
	if err := c.Find(bson.M{"$or": []bson.M{{"a": 2}, {"b": 0, "a": 0}}}).Sort("_id").All(&got); err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, d := range got {
		ids = append(ids, d.ID)
	}
	if want := []int{0, 2, 5}; !slices.Equal(ids, want) {
		t.Fatalf("got %v, want %v", ids, want)
	}
}

func TestConformanceRemoveAllAnchoredRegex(t *testing.T) {
	c := testserver.Shared(t).Database(t).C("remove")
	var docs []any
	for slot := int64(1); slot <= 5; slot++ {
		docs = append(docs, bson.M{"_id": fmt.Sprintf("uuid:%d", slot), "slot": slot})
		docs = append(docs, bson.M{"_id": fmt.Sprintf("uuid2:%d", slot), "slot": slot})
		docs = append(docs, bson.M{"_id": fmt.Sprintf("xuuid:%d", slot), "slot": slot})
	}
	if err := c.Insert(docs...); err != nil {
		t.Fatal(err)
	}
	info, err := c.RemoveAll(bson.M{"_id": bson.M{"$regex": "^uuid:"}, "slot": bson.M{"$lt": int64(3)}})
	if err != nil {
		t.Fatal(err)
	}
	if info.Removed != 2 {
		t.Fatalf("removed %d with slot < 3, want 2", info.Removed)
	}
	info, err = c.RemoveAll(bson.M{"_id": bson.M{"$regex": "^uuid:"}})
	if err != nil {
		t.Fatal(err)
	}
	if info.Removed != 3 {
		t.Fatalf("removed %d, want 3", info.Removed)
	}
	if n, err := c.Count(); err != nil || n != 10 {
		t.Fatalf("%d documents left (%v), want 10", n, err)
	}
	if n, err := c.Find(bson.M{"_id": bson.M{"$regex": "^uuid:"}}).Count(); err != nil || n != 0 {
		t.Fatalf("%d uuid: documents left (%v), want 0", n, err)
	}
}

func TestConformanceIsMasterLocalTime(t *testing.T) {
	session := testserver.Shared(t).Session(t)
	var result struct {
		LocalTime time.Time `bson:"localTime"`
	}
	before := time.Now()
	if err := session.Run("isMaster", &result); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if result.LocalTime.Before(before.Add(-time.Second)) || result.LocalTime.After(after.Add(time.Second)) {
		t.Fatalf("localTime %v not within 1s of [%v, %v]", result.LocalTime, before, after)
	}
}

func TestConformanceRecoveryAfterDroppedConnections(t *testing.T) {
	server := testserver.Shared(t)
	bridge := server.Bridge()
	if bridge == nil {
		t.Skip("no bridge in front of an external server: cannot drop its connections")
	}
	db := server.Database(t)
	c := db.C("recovery")
	if err := c.Insert(bson.M{"_id": 1}); err != nil {
		t.Fatal(err)
	}
	bridge.DropConnections()
	// The session's socket is dead: the next operation fails, and the
	// session keeps failing until it is refreshed.
	if err := c.Insert(bson.M{"_id": 2}); err == nil {
		t.Fatal("insert on a dropped connection succeeded")
	}
	db.Session.Refresh()
	if err := c.Insert(bson.M{"_id": 3}); err != nil {
		t.Fatalf("after Refresh: %v", err)
	}
	if n, err := c.Count(); err != nil || n != 2 {
		t.Fatalf("count %d (%v), want 2", n, err)
	}
}
