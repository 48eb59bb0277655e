package testserver_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/juju/mgo/v2"
	"github.com/juju/mgo/v2/bson"
	mongobson "go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/presence-go/presence/internal/testserver"
)

// ownServer starts a server of the test's own, for tests that disturb it.
func ownServer(t *testing.T) *testserver.Server {
	t.Helper()
	s, err := testserver.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	if s.Bridge() == nil {
		t.Skip("external server: no bridge to disturb and no restart")
	}
	return s
}

func TestRestartKeepsDataAndAddress(t *testing.T) {
	s := ownServer(t)
	url := s.URL()
	session := s.Session(t)
	c := session.DB("restart").C("c")
	if err := c.Insert(bson.M{"_id": "kept"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.URL() != url {
		t.Fatalf("URL changed from %s to %s", url, s.URL())
	}
	session.Refresh()
	if n, err := c.FindId("kept").Count(); err != nil || n != 1 {
		t.Fatalf("after restart: count %d, %v", n, err)
	}
}

func TestBridgeRefusesAndDelays(t *testing.T) {
	s := ownServer(t)
	bridge := s.Bridge()
	session := s.Session(t)

	bridge.SetRefusing(true)
	info := &mgo.DialInfo{Addrs: []string{strings.TrimPrefix(s.URL(), "mongodb://")}, Direct: true, Timeout: time.Second}
	if refused, err := mgo.DialWithInfo(info); err == nil {
		refused.Close()
		t.Fatal("dial succeeded while the bridge refused connections")
	}
	if bridge.Stats().Refused == 0 {
		t.Fatal("no refused connection counted")
	}
	bridge.SetRefusing(false)
	session.Refresh()
	if err := session.Ping(); err != nil {
		t.Fatalf("after refusing stopped: %v", err)
	}

	const latency = 50 * time.Millisecond
	bridge.SetLatency(latency)
	start := time.Now()
	if err := session.Ping(); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < latency {
		t.Fatalf("ping took %v with %v latency", elapsed, latency)
	}
	bridge.SetLatency(0)

	bridge.ResetStats()
	if err := session.Ping(); err != nil {
		t.Fatal(err)
	}
	if got := bridge.Stats().Commands["ping"]; got != 1 {
		t.Fatalf("ping counted %d times, want 1", got)
	}
}

func TestDatabaseNamesAreDistinct(t *testing.T) {
	s := testserver.Shared(t)
	a, b := s.Database(t), s.Database(t)
	if a.Name == b.Name {
		t.Fatalf("two databases named %s", a.Name)
	}
	if len(a.Name) > 63 {
		t.Fatalf("name %q longer than 63", a.Name)
	}
}

func TestLegacyOKBehindTheBridge(t *testing.T) {
	s := testserver.Shared(t)
	if s.Bridge() == nil {
		t.Skip("external server: LegacyOK depends on its version")
	}
	if !s.LegacyOK() {
		t.Fatal("LegacyOK is false behind the bridge, which turns OP_QUERY into OP_MSG")
	}
}

func TestMongoDatabaseIsFreshAndDroppedWhenTheTestEnds(t *testing.T) {
	s := testserver.Shared(t)
	var name string
	t.Run("user", func(t *testing.T) {
		db := s.MongoDatabase(t)
		name = db.Name()
		if other := s.MongoDatabase(t); other.Name() == name {
			t.Fatalf("two databases named %s", name)
		}
		if n, err := db.Collection("c").CountDocuments(t.Context(), mongobson.D{}); err != nil || n != 0 {
			t.Fatalf("fresh database holds %d documents (%v)", n, err)
		}
		if _, err := db.Collection("c").InsertOne(t.Context(), mongobson.D{{Key: "_id", Value: 1}}); err != nil {
			t.Fatal(err)
		}
		names, err := db.Client().ListDatabaseNames(t.Context(), mongobson.D{})
		if err != nil || !slices.Contains(names, name) {
			t.Fatalf("database %s not listed while in use: %v, %v", name, names, err)
		}
	})
	if !strings.HasSuffix(name, "_user") || len(name) > 63 {
		t.Fatalf("database name %q: want the test's name, at most 63 bytes", name)
	}
	names, err := s.Client(t).ListDatabaseNames(t.Context(), mongobson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(names, name) {
		t.Fatalf("database %s still there after its test ended", name)
	}
}

func TestRestartWithTheOfficialDriver(t *testing.T) {
	s := ownServer(t)
	c := s.MongoDatabase(t).Collection("restart")
	ctx := t.Context()
	if _, err := c.InsertOne(ctx, mongobson.D{{Key: "_id", Value: "kept"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	// The client's pooled connection was dropped: the first operation may
	// fail on it, and the driver reconnects by itself.
	if _, err := c.InsertOne(ctx, mongobson.D{{Key: "_id", Value: "after"}}); err != nil {
		if !mongo.IsNetworkError(err) {
			t.Fatalf("first insert after the restart: %v, want a network error or none", err)
		}
		if _, err := c.InsertOne(ctx, mongobson.D{{Key: "_id", Value: "after"}}); err != nil {
			t.Fatalf("insert after the restart: %v", err)
		}
	}
	if n, err := c.CountDocuments(ctx, mongobson.D{}); err != nil || n != 2 {
		t.Fatalf("after restart: count %d, %v; want 2", n, err)
	}
}

func TestDirectURLBypassesTheBridge(t *testing.T) {
	s := testserver.Shared(t)
	if s.Bridge() == nil {
		if s.DirectURL() != s.URL() {
			t.Fatalf("external server: DirectURL %q, want its URL %q", s.DirectURL(), s.URL())
		}
		return
	}
	if s.DirectURL() == "" || s.DirectURL() == s.URL() {
		t.Fatalf("DirectURL %q: want FerretDB's own address, not the bridge's %s", s.DirectURL(), s.URL())
	}
	db := s.MongoDatabase(t)
	ctx := t.Context()
	if _, err := db.Collection("c").InsertOne(ctx, mongobson.D{{Key: "_id", Value: "written"}}); err != nil {
		t.Fatal(err)
	}

	client, err := mongo.Connect(options.Client().ApplyURI(s.DirectURL()).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := client.Disconnect(context.Background()); err != nil {
			t.Error(err)
		}
	})
	finds := s.Bridge().Stats().Commands["find"]
	if err := client.Database(db.Name()).Collection("c").FindOne(ctx, mongobson.D{{Key: "_id", Value: "written"}}).Err(); err != nil {
		t.Fatalf("reading through DirectURL: %v", err)
	}
	if got := s.Bridge().Stats().Commands["find"]; got != finds {
		t.Errorf("the bridge saw %d finds during a read through DirectURL", got-finds)
	}
}
