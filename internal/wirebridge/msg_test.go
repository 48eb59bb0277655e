package wirebridge_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/juju/mgo/v2"
	mgobson "github.com/juju/mgo/v2/bson"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/presence-go/presence/internal/wirebridge"
)

// These tests drive the bridge with the official driver, which speaks
// OP_MSG, against the FerretDB that the test server starts.

// id is a filter on _id.
func id(v any) bson.D { return bson.D{{Key: "_id", Value: v}} }

// set is a $set update of one field.
func set(field string, v any) bson.D {
	return bson.D{{Key: "$set", Value: bson.D{{Key: field, Value: v}}}}
}

// all returns every document of c sorted by _id.
func all(t *testing.T, c *mongo.Collection) []bson.M {
	t.Helper()
	cur, err := c.Find(t.Context(), bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.M
	if err := cur.All(t.Context(), &docs); err != nil {
		t.Fatal(err)
	}
	return docs
}

func TestMsgHoldWritesHoldsEveryWriteButNotReads(t *testing.T) {
	s, b := sharedBridge(t)
	c := s.MongoDatabase(t).Collection("held")
	ctx := t.Context()
	if _, err := c.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: "to-update"}, {Key: "v", Value: int64(1)}}, id("to-delete")}); err != nil {
		t.Fatal(err)
	}

	h := b.HoldWrites()
	defer h.Release()
	bulk := make([]mongo.WriteModel, 2*wirebridge.MaxUpdateChunk+1)
	for i := range bulk {
		bulk[i] = mongo.NewUpdateOneModel().SetFilter(id(fmt.Sprintf("bulk-%02d", i))).SetUpdate(set("v", int64(i))).SetUpsert(true)
	}
	writes := map[string]func() error{
		"insert": func() error { _, err := c.InsertOne(ctx, id("inserted")); return err },
		"update": func() error { _, err := c.UpdateByID(ctx, "to-update", set("v", int64(2))); return err },
		"delete": func() error { _, err := c.DeleteOne(ctx, id("to-delete")); return err },
		"findAndModify": func() error {
			opts := options.FindOneAndUpdate().SetUpsert(true)
			err := c.FindOneAndUpdate(ctx, id("counter"), bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int64(1)}}}}, opts).Err()
			if errors.Is(err, mongo.ErrNoDocuments) {
				return nil // upserted: there was no document before
			}
			return err
		},
		"bulk update": func() error {
			_, err := c.BulkWrite(ctx, bulk, options.BulkWrite().SetOrdered(false))
			return err
		},
	}
	done := make(map[string]<-chan error)
	for name, write := range writes {
		done[name] = async(write)
	}
	if err := h.WaitHeld(len(writes), waitLong); err != nil {
		t.Fatal(err)
	}

	// Reads and handshakes go on; nothing held has reached the server.
	if err := c.Database().Client().Ping(ctx, nil); err != nil {
		t.Fatalf("ping while writes were held: %v", err)
	}
	want := []bson.M{{"_id": "to-delete"}, {"_id": "to-update", "v": int64(1)}}
	if got := all(t, c); !reflect.DeepEqual(got, want) {
		t.Fatalf("while held the collection holds %v, want %v", got, want)
	}
	for name, d := range done {
		notDone(t, d, name)
	}

	h.Release()
	for name, d := range done {
		if err := await(t, d); err != nil {
			t.Fatalf("%s after release: %v", name, err)
		}
	}
	want = []bson.M{}
	for i := range bulk {
		want = append(want, bson.M{"_id": fmt.Sprintf("bulk-%02d", i), "v": int64(i)})
	}
	want = append(want, bson.M{"_id": "counter", "n": int64(1)}, bson.M{"_id": "inserted"}, bson.M{"_id": "to-update", "v": int64(2)})
	if got := all(t, c); !reflect.DeepEqual(got, want) {
		t.Fatalf("after release the collection holds %v, want %v", got, want)
	}
}

func TestMsgHoldWritesKeepsArrivalOrderAcrossProtocols(t *testing.T) {
	const writers = 4
	s, b := sharedBridge(t)
	db := s.MongoDatabase(t)
	c := db.Collection("order")
	session := s.Session(t)

	h := b.HoldWrites()
	defer h.Release()
	results := make([]int64, writers)
	var done []<-chan error
	for i := range writers {
		var write func() error
		if i%2 == 0 {
			write = func() error {
				var doc struct {
					N int64 `bson:"n"`
				}
				opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)
				err := c.FindOneAndUpdate(t.Context(), id("counter"), bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int64(1)}}}}, opts).Decode(&doc)
				results[i] = doc.N
				return err
			}
		} else {
			own := session.Copy()
			defer own.Close()
			write = func() error {
				var doc struct {
					N int64 `bson:"n"`
				}
				change := mgo.Change{Update: mgobson.M{"$inc": mgobson.M{"n": int64(1)}}, Upsert: true, ReturnNew: true}
				_, err := own.DB(db.Name()).C(c.Name()).FindId("counter").Apply(change, &doc)
				results[i] = doc.N
				return err
			}
		}
		done = append(done, async(write))
		// Writer i arrives before writer i+1.
		if err := h.WaitHeld(i+1, waitLong); err != nil {
			t.Fatal(err)
		}
	}
	h.Release()
	for i, d := range done {
		if err := await(t, d); err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if want := []int64{1, 2, 3, 4}; !reflect.DeepEqual(results, want) {
		t.Fatalf("writers (official driver, mgo, ...) got %v in arrival order, want %v", results, want)
	}
}

func TestMsgDroppedConnectionEndsHeldWrite(t *testing.T) {
	s, b := sharedBridge(t)
	c := s.MongoDatabase(t).Collection("dropped")
	ctx := t.Context()

	h := b.HoldWrites()
	defer h.Release()
	done := async(func() error { _, err := c.InsertOne(ctx, id("never")); return err })
	if err := h.WaitHeld(1, waitLong); err != nil {
		t.Fatal(err)
	}
	b.DropConnections()
	if err := await(t, done); !mongo.IsNetworkError(err) {
		t.Fatalf("held insert on a dropped connection: %v, want a network error", err)
	}
	h.Release()

	if _, err := c.InsertOne(ctx, id("after")); err != nil {
		t.Fatalf("insert after the drop: %v", err)
	}
	if want := []bson.M{{"_id": "after"}}; !reflect.DeepEqual(all(t, c), want) {
		t.Fatalf("collection holds %v, want %v: the dropped held insert reached the server", all(t, c), want)
	}
}

func TestMsgClockOffsetShiftsLocalTime(t *testing.T) {
	s, b := sharedBridge(t)
	admin := s.Client(t).Database("admin")
	for _, offset := range []time.Duration{-90 * time.Second, 2 * time.Hour} {
		b.SetClockOffset(offset)
		for _, command := range []string{"isMaster", "hello"} {
			var reply struct {
				LocalTime time.Time `bson:"localTime"`
			}
			before := time.Now()
			if err := admin.RunCommand(t.Context(), bson.D{{Key: command, Value: 1}}).Decode(&reply); err != nil {
				t.Fatalf("%s: %v", command, err)
			}
			after := time.Now()
			if reply.LocalTime.Before(before.Add(offset-time.Second)) || reply.LocalTime.After(after.Add(offset+time.Second)) {
				t.Fatalf("%s with offset %v: localTime %v, want within 1s of [%v, %v]", command, offset, reply.LocalTime, before.Add(offset), after.Add(offset))
			}
		}
	}
}

// splitFixture fills c for the split-update tests: documents with even
// numbers up to 38 exist with v 0, except that v is a string in 22 and 34
// so that $inc fails there.
func splitFixture(t *testing.T, c *mongo.Collection) {
	t.Helper()
	var docs []any
	for i := 0; i < 40; i += 2 {
		var v any = int64(0)
		if i == 22 || i == 34 {
			v = "not a number"
		}
		docs = append(docs, bson.D{{Key: "_id", Value: int32(i)}, {Key: "v", Value: v}})
	}
	if _, err := c.InsertMany(t.Context(), docs); err != nil {
		t.Fatal(err)
	}
}

// incStatement is update statement i of the split-update tests: $inc v by
// one on document i, upserted when missing.
func incStatement(i int) bson.D {
	return bson.D{
		{Key: "q", Value: id(int32(i))},
		{Key: "u", Value: bson.D{{Key: "$inc", Value: bson.D{{Key: "v", Value: int64(1)}}}}},
		{Key: "upsert", Value: true},
	}
}

func TestMsgSplitUpdateInDocumentSequenceMergesReplies(t *testing.T) {
	const n = 40
	s, b := sharedBridge(t)
	c := s.MongoDatabase(t).Collection("split")
	splitFixture(t, c)
	b.ResetStats()

	// The driver sends a bulk write's statements as a document sequence.
	models := make([]mongo.WriteModel, n)
	for i := range models {
		models[i] = mongo.NewUpdateOneModel().SetFilter(id(int32(i))).
			SetUpdate(bson.D{{Key: "$inc", Value: bson.D{{Key: "v", Value: int64(1)}}}}).SetUpsert(true)
	}
	result, err := c.BulkWrite(t.Context(), models, options.BulkWrite().SetOrdered(false))
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) {
		t.Fatalf("bulk write: %v, want a BulkWriteException", err)
	}
	var failed []int
	for _, we := range bwe.WriteErrors {
		failed = append(failed, we.Index)
	}
	if want := []int{22, 34}; !slices.Equal(failed, want) {
		t.Fatalf("write errors at %v, want %v", failed, want)
	}
	if result == nil {
		t.Fatal("no result with the bulk write's errors")
	}
	upserted := slices.Sorted(maps.Keys(result.UpsertedIDs))
	var wantUpserted []int64
	for i := 1; i < n; i += 2 {
		wantUpserted = append(wantUpserted, int64(i))
	}
	if !slices.Equal(upserted, wantUpserted) {
		t.Fatalf("upserted at %v, want %v", upserted, wantUpserted)
	}
	for i, upsertedID := range result.UpsertedIDs {
		if upsertedID != int32(i) {
			t.Fatalf("statement %d upserted _id %v, want %d", i, upsertedID, i)
		}
	}
	if result.MatchedCount != 18 || result.ModifiedCount != 18 || result.UpsertedCount != 20 {
		t.Fatalf("matched %d, modified %d, upserted %d; want 18, 18, 20", result.MatchedCount, result.ModifiedCount, result.UpsertedCount)
	}
	st := b.Stats()
	if st.MaxUpdateStatements != n || st.UpdateStatements != n || st.Commands["update"] != 1 {
		t.Fatalf("stats: max %d, statements %d, update commands %d; want %d, %d, 1", st.MaxUpdateStatements, st.UpdateStatements, st.Commands["update"], n, n)
	}
	for _, d := range all(t, c) {
		i, v := d["_id"].(int32), d["v"]
		switch {
		case i == 22 || i == 34:
			if v != "not a number" {
				t.Fatalf("document %d: v %v", i, v)
			}
		case v != int64(1):
			t.Fatalf("document %d: v %v (%T), want int64 1", i, v, v)
		}
	}
}

func TestMsgSplitUpdateInBodyMergesReplies(t *testing.T) {
	const n = 40
	s, _ := sharedBridge(t)
	db := s.MongoDatabase(t)
	c := db.Collection("split")
	splitFixture(t, c)

	// A command document carries its statements in the body.
	run := func(ordered bool) bson.M {
		t.Helper()
		statements := make(bson.A, n)
		for i := range statements {
			statements[i] = incStatement(i)
		}
		cmd := bson.D{{Key: "update", Value: c.Name()}, {Key: "updates", Value: statements}, {Key: "ordered", Value: ordered}}
		// The driver turns write errors into an error, and still hands
		// over the reply.
		raw, err := db.RunCommand(t.Context(), cmd).Raw()
		var we mongo.WriteException
		if !errors.As(err, &we) {
			t.Fatalf("update with failing statements: %v, want a WriteException", err)
		}
		var reply bson.M
		if err := bson.Unmarshal(raw, &reply); err != nil {
			t.Fatal(err)
		}
		return reply
	}
	indexes := func(reply bson.M, field string) []int32 {
		var out []int32
		list, _ := reply[field].(bson.A)
		for _, e := range list {
			entry, _ := e.(bson.D)
			for _, field := range entry {
				if field.Key == "index" {
					idx, _ := field.Value.(int32)
					out = append(out, idx)
				}
			}
		}
		return out
	}

	// Ordered: the server stops at the first error, in the second chunk.
	reply := run(true)
	if got := indexes(reply, "writeErrors"); !slices.Equal(got, []int32{22}) {
		t.Fatalf("ordered: write errors at %v, want [22] (reply %v)", got, reply)
	}
	var wantUpserted []int32
	for i := int32(1); i < 22; i += 2 {
		wantUpserted = append(wantUpserted, i)
	}
	if got := indexes(reply, "upserted"); !slices.Equal(got, wantUpserted) {
		t.Fatalf("ordered: upserted at %v, want %v", got, wantUpserted)
	}
	if reply["n"] != int32(22) || reply["nModified"] != int32(11) {
		t.Fatalf("ordered: n %v, nModified %v; want 22 and 11", reply["n"], reply["nModified"])
	}
	if err := c.FindOne(t.Context(), id(int32(23))).Err(); !errors.Is(err, mongo.ErrNoDocuments) {
		t.Fatalf("statement 23, after the ordered error, was applied: %v", err)
	}

	// Unordered: every statement runs; errors and upserts keep their
	// indexes in the whole command.
	reply = run(false)
	if got := indexes(reply, "writeErrors"); !slices.Equal(got, []int32{22, 34}) {
		t.Fatalf("unordered: write errors at %v, want [22 34]", got)
	}
	wantUpserted = nil
	for i := int32(23); i < n; i += 2 {
		wantUpserted = append(wantUpserted, i)
	}
	if got := indexes(reply, "upserted"); !slices.Equal(got, wantUpserted) {
		t.Fatalf("unordered: upserted at %v, want %v", got, wantUpserted)
	}
	if reply["n"] != int32(38) || reply["nModified"] != int32(29) {
		t.Fatalf("unordered: n %v, nModified %v; want 38 and 29", reply["n"], reply["nModified"])
	}
}

func TestMsgUnacknowledgedWriteGetsNoReply(t *testing.T) {
	s, _ := sharedBridge(t)
	db := s.MongoDatabase(t)
	// One connection, so that a reply the client did not expect would be
	// read as the answer to the next command.
	client, err := mongo.Connect(s.ClientOptions().SetMaxPoolSize(1))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	unacked := client.Database(db.Name()).Collection("unacked", options.Collection().SetWriteConcern(writeconcern.Unacknowledged()))
	ctx := t.Context()
	for i := range 3 {
		res, err := unacked.InsertOne(ctx, id(int32(i)))
		if err != nil {
			t.Fatalf("unacknowledged insert %d: %v", i, err)
		}
		if res.Acknowledged {
			t.Fatalf("insert %d was acknowledged", i)
		}
		// The same connection: the bridge has waited for the server's
		// reply to the insert before reading this.
		n, err := unacked.CountDocuments(ctx, bson.D{})
		if err != nil || n != int64(i+1) {
			t.Fatalf("after unacknowledged insert %d: count %d, %v", i, n, err)
		}
	}
}

func TestMsgLatencyRefusingAndStats(t *testing.T) {
	s, b := sharedBridge(t)
	client := s.Client(t)
	ctx := t.Context()
	if err := client.Ping(ctx, nil); err != nil {
		t.Fatal(err)
	}

	const latency = 50 * time.Millisecond
	b.SetLatency(latency)
	start := time.Now()
	if err := client.Ping(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < latency {
		t.Fatalf("ping took %v with %v latency", elapsed, latency)
	}
	b.SetLatency(0)

	b.ResetStats()
	if err := client.Ping(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := b.Stats().Commands["ping"]; got != 1 {
		t.Fatalf("ping counted %d times, want 1", got)
	}

	b.SetRefusing(true)
	refused, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Disconnect(context.Background())
	if err := refused.Ping(ctx, nil); err == nil {
		t.Fatal("ping succeeded while the bridge refused connections")
	}
	if b.Stats().Refused == 0 {
		t.Fatal("no refused connection counted")
	}
	b.SetRefusing(false)
	if err := refused.Ping(ctx, nil); err != nil {
		t.Fatalf("after refusing stopped: %v", err)
	}
}

func TestMsgClientAskingForCompressionWorks(t *testing.T) {
	s, b := sharedBridge(t)
	db := s.MongoDatabase(t)
	// The driver compresses only what the server's handshake offers to
	// decompress; FerretDB offers nothing, so the bridge, which closes
	// connections that send OP_COMPRESSED, never sees one.
	client, err := mongo.Connect(s.ClientOptions().SetCompressors([]string{"zstd", "zlib", "snappy"}))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	c := client.Database(db.Name()).Collection("compressed")
	b.ResetStats()
	if _, err := c.InsertOne(t.Context(), bson.D{{Key: "_id", Value: 1}, {Key: "big", Value: int64(1) << 62}}); err != nil {
		t.Fatal(err)
	}
	if want := []bson.M{{"_id": int32(1), "big": int64(1) << 62}}; !reflect.DeepEqual(all(t, c), want) {
		t.Fatalf("collection holds %v, want %v", all(t, c), want)
	}
	if st := b.Stats(); st.Commands["insert"] != 1 || st.Commands["find"] != 1 {
		t.Fatalf("commands %v: want one insert and one find", st.Commands)
	}
}
