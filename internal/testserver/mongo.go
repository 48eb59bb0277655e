package testserver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// This file gives tests the official driver, go.mongodb.org/mongo-driver/v2,
// beside mgo. It speaks OP_MSG; in front of FerretDB it goes through the
// bridge too, which serialises its writes and splits its update commands
// as it does mgo's.

const (
	// serverSelectionTimeout bounds how long an operation of the official
	// driver waits for a usable server: fault tests cut the server on
	// purpose and expect the failure promptly.
	serverSelectionTimeout = 3 * time.Second

	// cleanupTimeout bounds each database call a test's cleanup makes.
	cleanupTimeout = 30 * time.Second

	// firstWireVersionWithoutOpQuery is the wire version of MongoDB 5.1,
	// which stopped taking commands in OP_QUERY messages.
	firstWireVersionWithoutOpQuery = 14
)

// ClientOptions returns the options Connect uses: the server's URL, reads
// from the primary, a short server selection timeout, and a direct
// connection when the server is the bridge.
func (s *Server) ClientOptions() *options.ClientOptions {
	opts := options.Client().
		ApplyURI(s.url).
		SetReadPreference(readpref.Primary()).
		SetServerSelectionTimeout(serverSelectionTimeout).
		SetConnectTimeout(dialTimeout)
	if s.bridge != nil {
		opts.SetDirect(true)
	}
	return opts
}

// Connect returns a new client of the official driver. The caller
// disconnects it, which ends its background goroutines.
func (s *Server) Connect() (*mongo.Client, error) {
	client, err := mongo.Connect(s.ClientOptions())
	if err != nil {
		return nil, fmt.Errorf("testserver: connecting to %s: %w", s.url, err)
	}
	return client, nil
}

// Client returns a new client of the official driver that is disconnected
// when the test ends.
func (s *Server) Client(t testing.TB) *mongo.Client {
	t.Helper()
	client, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disconnect(t, client) })
	return client
}

// MongoDatabase returns a database no other test uses, named as Database
// names them, on an official driver client of its own. When the test ends
// the database is dropped and the client disconnected.
func (s *Server) MongoDatabase(t testing.TB) *mongo.Database {
	t.Helper()
	client, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	db := client.Database(databaseName(s.dbCount.Add(1), t.Name()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			t.Errorf("dropping test database %s: %v", db.Name(), err)
		}
		disconnect(t, client)
	})
	return db
}

func disconnect(t testing.TB, client *mongo.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := client.Disconnect(ctx); err != nil {
		t.Errorf("disconnecting a test client: %v", err)
	}
}

// LegacyOK reports whether the server takes commands from legacy OP_QUERY
// clients such as mgo: true for FerretDB behind the bridge and for MongoDB
// up to 5.0, false for MongoDB 5.1 and later.
func (s *Server) LegacyOK() bool {
	return s.legacyOK
}

// probeLegacy asks the server at url whether it still takes OP_QUERY
// commands, from the wire version its handshake reports.
func probeLegacy(url string) (bool, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(url).SetServerSelectionTimeout(dialTimeout))
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	defer client.Disconnect(ctx)
	var reply struct {
		MaxWireVersion int32 `bson:"maxWireVersion"`
	}
	err = client.Database("admin").RunCommand(ctx, bson.D{{Key: "isMaster", Value: 1}}).Decode(&reply)
	if err != nil {
		return false, err
	}
	return reply.MaxWireVersion < firstWireVersionWithoutOpQuery, nil
}
