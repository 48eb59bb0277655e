package wirebridge_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/juju/mgo/v2"
	"github.com/juju/mgo/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/presence-go/presence/internal/testserver"
	"github.com/presence-go/presence/internal/wirebridge"
)

// These tests drive the bridge's controls through a real driver against the
// FerretDB that the test server starts.

func TestMain(m *testing.M) { testserver.Main(m) }

// waitLong bounds every wait on the server; reaching it means the test failed.
const waitLong = 30 * time.Second

// sharedBridge returns the shared test server and its bridge, skipping
// against an external server. The controls a test may leave set are undone
// when it ends.
func sharedBridge(t *testing.T) (*testserver.Server, *wirebridge.Bridge) {
	t.Helper()
	s := testserver.Shared(t)
	b := s.Bridge()
	if b == nil {
		t.Skip("external server: no bridge")
	}
	t.Cleanup(func() {
		b.SetClockOffset(0)
		b.SetLatency(0)
		b.SetRefusing(false)
	})
	return s, b
}

// async runs f in a goroutine and returns a channel that gets its error.
func async(f func() error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	return done
}

// await returns what async's f returned, failing the test if it takes
// longer than waitLong.
func await(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(waitLong):
		t.Fatal("operation still running")
		return nil
	}
}

// notDone fails the test if f already returned.
func notDone(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s returned (%v) while writes were held", what, err)
	default:
	}
}

func TestHoldWritesHoldsEveryWriteButNotReads(t *testing.T) {
	s, b := sharedBridge(t)
	db := s.Database(t)
	c := db.C("held")
	if err := c.Insert(bson.M{"_id": "to-update", "v": int64(1)}, bson.M{"_id": "to-delete"}); err != nil {
		t.Fatal(err)
	}

	h := b.HoldWrites()
	defer h.Release()
	// Each write on a session of its own, so that one held write does
	// not stand in the way of the next on the same socket.
	writes := map[string]func(*mgo.Collection) error{
		"insert": func(c *mgo.Collection) error { return c.Insert(bson.M{"_id": "inserted"}) },
		"update": func(c *mgo.Collection) error {
			return c.UpdateId("to-update", bson.M{"$set": bson.M{"v": int64(2)}})
		},
		"delete": func(c *mgo.Collection) error { return c.RemoveId("to-delete") },
		"findAndModify": func(c *mgo.Collection) error {
			_, err := c.FindId("counter").Apply(mgo.Change{Update: bson.M{"$inc": bson.M{"n": int64(1)}}, Upsert: true}, nil)
			return err
		},
	}
	done := make(map[string]<-chan error)
	for name, write := range writes {
		session := db.Session.Copy()
		defer session.Close()
		done[name] = async(func() error { return write(c.With(session)) })
	}
	if err := h.WaitHeld(len(writes), waitLong); err != nil {
		t.Fatal(err)
	}

	// Reads and handshakes go on; nothing held has reached the server.
	if err := db.Session.Run("isMaster", nil); err != nil {
		t.Fatalf("isMaster while writes were held: %v", err)
	}
	var docs []bson.M
	if err := c.Find(nil).Sort("_id").All(&docs); err != nil {
		t.Fatalf("find while writes were held: %v", err)
	}
	want := []bson.M{{"_id": "to-delete"}, {"_id": "to-update", "v": int64(1)}}
	if !reflect.DeepEqual(docs, want) {
		t.Fatalf("while held the collection holds %v, want %v", docs, want)
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
	docs = nil
	if err := c.Find(nil).Sort("_id").All(&docs); err != nil {
		t.Fatal(err)
	}
	want = []bson.M{{"_id": "counter", "n": int64(1)}, {"_id": "inserted"}, {"_id": "to-update", "v": int64(2)}}
	if !reflect.DeepEqual(docs, want) {
		t.Fatalf("after release the collection holds %v, want %v", docs, want)
	}
	if err := h.WaitHeld(1, time.Second); !errors.Is(err, wirebridge.ErrReleased) {
		t.Fatalf("WaitHeld after Release: %v, want ErrReleased", err)
	}
}

func TestHoldWritesReleasesInArrivalOrder(t *testing.T) {
	const writers = 4
	s, b := sharedBridge(t)
	db := s.Database(t)
	c := db.C("order")

	h := b.HoldWrites()
	defer h.Release()
	results := make([]int64, writers)
	var done []<-chan error
	for i := range writers {
		session := db.Session.Copy()
		defer session.Close()
		done = append(done, async(func() error {
			var doc struct {
				N int64 `bson:"n"`
			}
			change := mgo.Change{Update: bson.M{"$inc": bson.M{"n": int64(1)}}, Upsert: true, ReturnNew: true}
			_, err := c.With(session).FindId("counter").Apply(change, &doc)
			results[i] = doc.N
			return err
		}))
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
		t.Fatalf("writers got %v in arrival order, want %v", results, want)
	}
}

func TestHoldWritesDroppedConnectionEndsHeldWrite(t *testing.T) {
	s, b := sharedBridge(t)
	db := s.Database(t)
	c := db.C("dropped")

	h := b.HoldWrites()
	defer h.Release()
	writer := db.Session.Copy()
	defer writer.Close()
	done := async(func() error { return c.With(writer).Insert(bson.M{"_id": "never"}) })
	if err := h.WaitHeld(1, waitLong); err != nil {
		t.Fatal(err)
	}
	b.DropConnections()
	if err := await(t, done); err == nil {
		t.Fatal("a held insert succeeded on a dropped connection")
	}
	h.Release()

	db.Session.Refresh()
	if err := c.Insert(bson.M{"_id": "after"}); err != nil {
		t.Fatalf("insert after the drop: %v", err)
	}
	if n, err := c.FindId("never").Count(); err != nil || n != 0 {
		t.Fatalf("the dropped held insert reached the server: count %d, %v", n, err)
	}
}

func TestHoldWritesCloseDoesNotWaitForRelease(t *testing.T) {
	s, err := testserver.Start()
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	b := s.Bridge()
	if b == nil {
		t.Skip("external server: no bridge")
	}
	session := s.Session(t)
	h := b.HoldWrites()
	defer h.Release()
	done := async(func() error { return session.DB("close").C("c").Insert(bson.M{"_id": 1}) })
	if err := h.WaitHeld(1, waitLong); err != nil {
		t.Fatal(err)
	}
	closeDone := async(s.Close)
	closed = true
	if err := await(t, closeDone); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := await(t, done); err == nil {
		t.Fatal("a held insert succeeded through a closed bridge")
	}
	if err := h.WaitHeld(1, time.Second); err == nil {
		t.Fatal("WaitHeld on a closed bridge returned no error")
	}
}

func TestClockOffsetShiftsLocalTime(t *testing.T) {
	s, b := sharedBridge(t)
	session := s.Session(t)
	for _, offset := range []time.Duration{-90 * time.Second, 2 * time.Hour} {
		b.SetClockOffset(offset)
		for _, command := range []string{"isMaster", "ismaster", "hello"} {
			var reply struct {
				LocalTime time.Time `bson:"localTime"`
			}
			before := time.Now()
			if err := session.Run(command, &reply); err != nil {
				t.Fatalf("%s: %v", command, err)
			}
			after := time.Now()
			if reply.LocalTime.Before(before.Add(offset-time.Second)) || reply.LocalTime.After(after.Add(offset+time.Second)) {
				t.Fatalf("%s with offset %v: localTime %v, want within 1s of [%v, %v]", command, offset, reply.LocalTime, before.Add(offset), after.Add(offset))
			}
		}
	}

	// Every other field of the reply is left as the server sent it.
	replies := make([]bson.M, 2)
	for i, offset := range []time.Duration{0, time.Hour} {
		b.SetClockOffset(offset)
		if err := session.Run("isMaster", &replies[i]); err != nil {
			t.Fatal(err)
		}
		if _, ok := replies[i]["localTime"].(time.Time); !ok {
			t.Fatalf("localTime is %T in %v", replies[i]["localTime"], replies[i])
		}
		delete(replies[i], "localTime")
	}
	if !reflect.DeepEqual(replies[0], replies[1]) {
		t.Fatalf("reply without offset %v, with offset %v: only localTime may differ", replies[0], replies[1])
	}
}

// TestSetClockGivesTheServersTime checks that a clock given to the bridge
// is the server's clock, plus the offset, exactly to the millisecond.
func TestSetClockGivesTheServersTime(t *testing.T) {
	s, b := sharedBridge(t)
	session := s.Session(t)
	at := time.Date(2023, 11, 14, 22, 13, 45, 123e6, time.UTC)
	b.SetClock(func() time.Time { return at })
	defer b.SetClock(nil)
	for _, offset := range []time.Duration{0, -90 * time.Second} {
		b.SetClockOffset(offset)
		var reply struct {
			LocalTime time.Time `bson:"localTime"`
		}
		if err := session.Run("isMaster", &reply); err != nil {
			t.Fatal(err)
		}
		if want := at.Add(offset); !reply.LocalTime.Equal(want) {
			t.Errorf("offset %v: localTime %v, want %v", offset, reply.LocalTime, want)
		}
	}
	b.SetClockOffset(0)
}

func TestStatsMaxUpdateStatements(t *testing.T) {
	const n = 40
	s, b := sharedBridge(t)
	c := s.Database(t).C("max")
	b.ResetStats()

	bulk := c.Bulk()
	bulk.Unordered()
	for i := range n {
		bulk.Upsert(bson.M{"_id": i}, bson.M{"$set": bson.M{"v": int64(i)}})
	}
	if _, err := bulk.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpsertId(0, bson.M{"$set": bson.M{"v": int64(-1)}}); err != nil {
		t.Fatal(err)
	}
	st := b.Stats()
	if st.MaxUpdateStatements != n || st.UpdateStatements != n+1 || st.Commands["update"] != 2 {
		t.Fatalf("after a bulk of %d and a single update: max %d, statements %d, update commands %d",
			n, st.MaxUpdateStatements, st.UpdateStatements, st.Commands["update"])
	}

	b.ResetStats()
	if _, err := c.UpsertId(1, bson.M{"$set": bson.M{"v": int64(-1)}}); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.MaxUpdateStatements != 1 {
		t.Fatalf("after a reset and one single update: max %d, want 1", st.MaxUpdateStatements)
	}
}

func TestSplitUpdateRepliesAsMongoDBWould(t *testing.T) {
	const n = 40
	s, b := sharedBridge(t)
	c := s.Database(t).C("split")
	// Documents with even numbers exist, with a string v at 22 and 34 so
	// that $inc fails there.
	for i := 0; i < n; i += 2 {
		var v any = int64(0)
		if i == 22 || i == 34 {
			v = "not a number"
		}
		if err := c.Insert(bson.M{"_id": i, "v": v}); err != nil {
			t.Fatal(err)
		}
	}
	b.ResetStats()

	bulk := c.Bulk()
	bulk.Unordered()
	for i := range n {
		bulk.Upsert(bson.M{"_id": i}, bson.M{"$inc": bson.M{"v": int64(1)}})
	}
	_, err := bulk.Run()
	var bulkErr *mgo.BulkError
	if !errors.As(err, &bulkErr) {
		t.Fatalf("bulk: %v, want a BulkError", err)
	}
	var failed []int
	for _, c := range bulkErr.Cases() {
		failed = append(failed, c.Index)
	}
	if want := []int{22, 34}; !reflect.DeepEqual(failed, want) {
		t.Fatalf("failed statements %v, want %v", failed, want)
	}
	// Unordered: every other statement was applied, upserts included.
	var docs []struct {
		ID int `bson:"_id"`
		V  any `bson:"v"`
	}
	if err := c.Find(nil).Sort("_id").All(&docs); err != nil {
		t.Fatal(err)
	}
	if len(docs) != n {
		t.Fatalf("%d documents, want %d", len(docs), n)
	}
	for i, d := range docs {
		want := any(int64(1))
		if i == 22 || i == 34 {
			want = "not a number"
		}
		if d.ID != i || d.V != want {
			t.Fatalf("document %d is {%d, %v}, want v %v", i, d.ID, d.V, want)
		}
	}
	if st := b.Stats(); st.MaxUpdateStatements != n || st.Commands["update"] != 1 {
		t.Fatalf("stats: max %d, update commands %d; want %d and 1", st.MaxUpdateStatements, st.Commands["update"], n)
	}
}

func TestDropConnectionsGracefullyWaitsForClientsToClose(t *testing.T) {
	s, b := sharedBridge(t)
	// One run is a race the other way round: mgo may reuse a socket closed
	// by DropConnections a moment earlier. After a graceful drop it must
	// never do so.
	for range 20 {
		session := s.Session(t)
		if err := session.Ping(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		b.DropConnectionsGracefully(waitLong)
		if elapsed := time.Since(start); elapsed > waitLong/2 {
			t.Fatalf("mgo took %v to close its dropped connection", elapsed)
		}
		session.Refresh()
		if err := session.Ping(); err != nil {
			t.Fatalf("first ping after a graceful drop: %v", err)
		}
	}

	// The official driver's idle connections stay open until used: the
	// drop gives up after its timeout, and the driver recovers by itself.
	client := s.Client(t)
	if err := client.Ping(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	const timeout = 100 * time.Millisecond
	start := time.Now()
	b.DropConnectionsGracefully(timeout)
	if elapsed := time.Since(start); elapsed < timeout {
		t.Fatalf("drop returned after %v, before its timeout of %v, with an idle official driver connection", elapsed, timeout)
	}
	if err := client.Ping(t.Context(), nil); err != nil && !mongo.IsNetworkError(err) {
		t.Fatalf("ping on a dropped connection: %v, want a network error or none", err)
	}
	if err := client.Ping(t.Context(), nil); err != nil {
		t.Fatalf("ping after the drop: %v", err)
	}
}
