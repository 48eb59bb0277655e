package testserver_test

import (
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/presence-go/presence/internal/testserver"
)

// These tests pin down, through the official driver (OP_MSG), the same
// server operations that the mgo conformance tests pin down through mgo.

func TestMongoConformanceInsert(t *testing.T) {
	c := testserver.Shared(t).MongoDatabase(t).Collection("insert")
	ctx := t.Context()
	_, err := c.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: "u:1"}, {Key: "seq", Value: int64(1)}, {Key: "key", Value: "a"}},
		bson.D{{Key: "_id", Value: "u:2"}, {Key: "seq", Value: int64(2)}, {Key: "key", Value: "b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cur, err := c.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var got []bson.M
	if err := cur.All(ctx, &got); err != nil {
		t.Fatal(err)
	}
	want := []bson.M{
		{"_id": "u:1", "seq": int64(1), "key": "a"},
		{"_id": "u:2", "seq": int64(2), "key": "b"},
	}
	// DeepEqual compares types too: seq must come back as int64.
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: "u:1"}}); !mongo.IsDuplicateKeyError(err) {
		t.Errorf("inserting a duplicate _id: got %v, want a duplicate key error", err)
	}
}

func TestMongoConformanceFindInWithProjectionAndGetMore(t *testing.T) {
	const n = 5000
	server := testserver.Shared(t)
	c := server.MongoDatabase(t).Collection("beings")
	ctx := t.Context()
	docs := make([]any, n)
	ids := make([]string, n)
	for i := range docs {
		ids[i] = fmt.Sprintf("u:%d", i)
		docs[i] = bson.D{{Key: "_id", Value: ids[i]}, {Key: "seq", Value: int64(i)}, {Key: "key", Value: fmt.Sprintf("key-%d", i)}, {Key: "extra", Value: "not wanted"}}
	}
	if _, err := c.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if b := server.Bridge(); b != nil {
		b.ResetStats()
	}

	opts := options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "key", Value: 1}}).SetBatchSize(700)
	cur, err := c.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	seen := make(map[string]bool, n)
	for cur.Next(ctx) {
		var doc bson.M
		if err := cur.Decode(&doc); err != nil {
			t.Fatal(err)
		}
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
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("got %d documents, want %d", len(seen), n)
	}
	if b := server.Bridge(); b != nil && b.Stats().Commands["getMore"] == 0 {
		t.Errorf("no getMore reached the bridge; batches were not exercised")
	}
}

func TestMongoConformanceFindAndModifyIncUpsertConcurrent(t *testing.T) {
	const workers, calls = 4, 100
	server := testserver.Shared(t)
	db := server.MongoDatabase(t)
	c := db.Collection("seqs")
	ctx := t.Context()

	values := make(chan int64, workers*calls)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		// A client of its own, so each worker has its own connection.
		wc := server.Client(t).Database(db.Name()).Collection(c.Name())
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)
			for range calls {
				var doc struct {
					Seq int64 `bson:"seq"`
				}
				update := bson.D{{Key: "$inc", Value: bson.D{{Key: "seq", Value: int64(1)}}}}
				if err := wc.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: "model:beings"}}, update, opts).Decode(&doc); err != nil {
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
	if err := c.FindOne(ctx, bson.D{{Key: "_id", Value: "model:beings"}}).Decode(&final); err != nil {
		t.Fatal(err)
	}
	if v, ok := final["seq"].(int64); !ok || v != workers*calls {
		t.Fatalf("final seq %v (%T), want int64 %d", final["seq"], final["seq"], workers*calls)
	}
}

func TestMongoConformanceSetAndBitOrUpsert(t *testing.T) {
	c := testserver.Shared(t).MongoDatabase(t).Collection("pings")
	ctx := t.Context()
	for _, bit := range []uint{0, 40, 62} {
		update := bson.D{
			{Key: "$set", Value: bson.D{{Key: "slot", Value: int64(1230)}}},
			{Key: "$bit", Value: bson.D{{Key: "alive.1f", Value: bson.D{{Key: "or", Value: int64(1) << bit}}}}},
		}
		if _, err := c.UpdateByID(ctx, "model:1230", update, options.UpdateOne().SetUpsert(true)); err != nil {
			t.Fatalf("bit %d: %v", bit, err)
		}
	}
	var doc struct {
		Alive bson.M `bson:"alive"`
		Slot  any    `bson:"slot"`
	}
	if err := c.FindOne(ctx, bson.D{{Key: "_id", Value: "model:1230"}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	got, ok := doc.Alive["1f"].(int64)
	if !ok || len(doc.Alive) != 1 {
		t.Fatalf("alive is %v (1f is %T), want only an int64 1f", doc.Alive, doc.Alive["1f"])
	}
	if want := int64(0x4000010000000001); got != want {
		t.Fatalf("alive.1f = %#x, want %#x", got, want)
	}
	if slot, ok := doc.Slot.(int64); !ok || slot != 1230 {
		t.Fatalf("slot is %v (%T), want int64 1230", doc.Slot, doc.Slot)
	}
}

func TestMongoConformanceUnorderedBulkUpsertOverExisting(t *testing.T) {
	const n = 1500
	server := testserver.Shared(t)
	c := server.MongoDatabase(t).Collection("bulk")
	ctx := t.Context()
	docs := make([]any, n)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: fmt.Sprintf("m:%d", i)}, {Key: "v", Value: int64(0)}}
	}
	if _, err := c.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if b := server.Bridge(); b != nil {
		b.ResetStats()
	}

	models := make([]mongo.WriteModel, n)
	for i := range models {
		models[i] = mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: fmt.Sprintf("m:%d", i)}}).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: int64(i + 1)}}}}).
			SetUpsert(true)
	}
	result, err := c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	if err != nil {
		t.Fatal(err)
	}
	if result.MatchedCount != n || result.ModifiedCount != n || result.UpsertedCount != 0 {
		t.Fatalf("matched %d, modified %d, upserted %d; want %d, %d, 0", result.MatchedCount, result.ModifiedCount, result.UpsertedCount, n, n)
	}
	if b := server.Bridge(); b != nil {
		st := b.Stats()
		if st.UpdateStatements != n || st.MaxUpdateStatements != n || st.Commands["update"] != 1 {
			t.Errorf("bridge counted %d update statements, at most %d per command, in %d commands; want %d, %d, 1",
				st.UpdateStatements, st.MaxUpdateStatements, st.Commands["update"], n, n)
		}
	}
	cur, err := c.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		ID string `bson:"_id"`
		V  int64  `bson:"v"`
	}
	if err := cur.All(ctx, &got); err != nil {
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

func TestMongoConformanceDeleteManyAnchoredRegex(t *testing.T) {
	c := testserver.Shared(t).MongoDatabase(t).Collection("remove")
	ctx := t.Context()
	var docs []any
	for slot := int64(1); slot <= 5; slot++ {
		for _, prefix := range []string{"uuid", "uuid2", "xuuid"} {
			docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("%s:%d", prefix, slot)}, {Key: "slot", Value: slot}})
		}
	}
	if _, err := c.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	anchored := bson.D{{Key: "$regex", Value: "^uuid:"}}
	res, err := c.DeleteMany(ctx, bson.D{{Key: "_id", Value: anchored}, {Key: "slot", Value: bson.D{{Key: "$lt", Value: int64(3)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.DeletedCount != 2 {
		t.Fatalf("deleted %d with slot < 3, want 2", res.DeletedCount)
	}
	res, err = c.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.Regex{Pattern: "^uuid:"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.DeletedCount != 3 {
		t.Fatalf("deleted %d, want 3", res.DeletedCount)
	}
	if n, err := c.CountDocuments(ctx, bson.D{}); err != nil || n != 10 {
		t.Fatalf("%d documents left (%v), want 10", n, err)
	}
	if n, err := c.CountDocuments(ctx, bson.D{{Key: "_id", Value: anchored}}); err != nil || n != 0 {
		t.Fatalf("%d uuid: documents left (%v), want 0", n, err)
	}
}

func TestMongoConformanceHelloAndIsMasterLocalTime(t *testing.T) {
	admin := testserver.Shared(t).Client(t).Database("admin")
	for _, command := range []string{"isMaster", "hello"} {
		var result struct {
			LocalTime time.Time `bson:"localTime"`
		}
		before := time.Now()
		if err := admin.RunCommand(t.Context(), bson.D{{Key: command, Value: 1}}).Decode(&result); err != nil {
			t.Fatalf("%s: %v", command, err)
		}
		after := time.Now()
		if result.LocalTime.Before(before.Add(-time.Second)) || result.LocalTime.After(after.Add(time.Second)) {
			t.Fatalf("%s: localTime %v not within 1s of [%v, %v]", command, result.LocalTime, before, after)
		}
	}
}

func TestMongoConformanceRecoveryAfterDroppedConnections(t *testing.T) {
	server := testserver.Shared(t)
	bridge := server.Bridge()
	if bridge == nil {
		t.Skip("no bridge in front of an external server: cannot drop its connections")
	}
	c := server.MongoDatabase(t).Collection("recovery")
	ctx := t.Context()
	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	bridge.DropConnections()
	// The pooled connection is dead: the next operation on it fails with
	// a network error, and the driver clears its pool and reconnects by
	// itself, with no call like mgo's Refresh. Only if the driver's
	// monitor happened to find the drop first (its heartbeat comes every
	// 10 s) does that operation go through on a new connection.
	want := int64(2)
	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}}); err != nil {
		if !mongo.IsNetworkError(err) {
			t.Fatalf("insert on a dropped connection: %v, want a network error", err)
		}
		want--
	}
	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: 3}}); err != nil {
		t.Fatalf("insert after the drop: %v", err)
	}
	if n, err := c.CountDocuments(ctx, bson.D{}); err != nil || n != want+1 {
		t.Fatalf("count %d (%v), want %d", n, err, want+1)
	}
}

func TestMongoRefusedServerFailsPromptlyAndRecovers(t *testing.T) {
	// Well below the driver's default server selection timeout of 30s.
	const prompt = 15 * time.Second
	s := ownServer(t)
	bridge := s.Bridge()
	c := s.MongoDatabase(t).Collection("refused")
	ctx := t.Context()
	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}

	bridge.SetRefusing(true)
	bridge.DropConnections()
	// The first operation fails on its dead pooled connection; the next
	// finds no server to select.
	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}}); err == nil {
		t.Fatal("insert on a dropped connection succeeded")
	}
	start := time.Now()
	_, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: 3}})
	if err == nil {
		t.Fatal("insert succeeded while the server refused connections")
	}
	if elapsed := time.Since(start); elapsed > prompt {
		t.Fatalf("failing took %v, want at most %v (%v)", elapsed, prompt, err)
	}
	bridge.SetRefusing(false)
	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: 4}}); err != nil {
		t.Fatalf("after refusing stopped: %v", err)
	}
	if n, err := c.CountDocuments(ctx, bson.D{}); err != nil || n != 2 {
		t.Fatalf("count %d (%v), want 2", n, err)
	}
}
