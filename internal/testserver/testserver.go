// Package testserver gives tests and the demo a real MongoDB-compatible
// server reachable with github.com/juju/mgo/v2: FerretDB running in-process
// on SQLite in a temporary directory, behind a wirebridge.Bridge that
// translates mgo's OP_QUERY commands into OP_MSG and makes FerretDB's writes
// atomic per document, as MongoDB's are (see package wirebridge).
//
// When the environment variable PRESENCE_TEST_MONGODB holds a mongodb:// URL,
// that server (e.g. a real mongod 4.4 or 5.0) is used directly instead, with
// no FerretDB and no bridge.
//
// A test package shares one server through Shared, and hands TestMain to
// Main so that the server is closed and leaked goroutines are reported:
//
//	func TestMain(m *testing.M) { testserver.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		db := testserver.Shared(t).Database(t)
//		...
//	}
package testserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/juju/mgo/v2"

	"github.com/presence-go/presence/internal/wirebridge"
)

// EnvMongoDB names the environment variable that points the tests at an
// external server instead of an in-process FerretDB.
const EnvMongoDB = "PRESENCE_TEST_MONGODB"

// EnvVerbose, when set to a non-empty value, sends FerretDB's log to stderr.
const EnvVerbose = "PRESENCE_TEST_VERBOSE"

const (
	// dialTimeout bounds how long Dial waits for the server.
	dialTimeout = 15 * time.Second
	// socketTimeout is set on every session; it is far above the slowest
	// bulk write the tests make, so a slow write never looks like a dead
	// server.
	socketTimeout = time.Minute
)

// Server is a database server for tests. Its methods are safe for
// concurrent use, except Restart and Close, which must not overlap with
// each other.
type Server struct {
	// url is what clients dial: the bridge, or the external server.
	url string
	// dialInfo is parsed from url once.
	dialInfo *mgo.DialInfo
	// bridge is nil against an external server.
	bridge *wirebridge.Bridge
	// dir holds FerretDB's SQLite files; empty against an external server.
	dir string

	// dbCount numbers the databases handed out by Database.
	dbCount atomic.Int64

	// mu guards ferret.
	mu     sync.Mutex
	ferret *ferretRun
}

// ferretRun is one running FerretDB instance.
type ferretRun struct {
	addr   string
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
}

// Start starts a server: FerretDB and a bridge on loopback ports, or
// nothing but a handle on the server named by PRESENCE_TEST_MONGODB.
func Start() (*Server, error) {
	if external := os.Getenv(EnvMongoDB); external != "" {
		if !strings.HasPrefix(external, "mongodb://") {
			return nil, fmt.Errorf("testserver: %s=%q is not a mongodb:// URL", EnvMongoDB, external)
		}
		info, err := mgo.ParseURL(external)
		if err != nil {
			return nil, fmt.Errorf("testserver: %s: %w", EnvMongoDB, err)
		}
		return &Server{url: external, dialInfo: info}, nil
	}

	dir, err := os.MkdirTemp("", "presence-testserver-")
	if err != nil {
		return nil, fmt.Errorf("testserver: %w", err)
	}
	run, err := startFerret(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	bridge, err := wirebridge.New("127.0.0.1:0", run.addr)
	if err != nil {
		run.stop()
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{
		url:    "mongodb://" + bridge.Addr(),
		bridge: bridge,
		dir:    dir,
		ferret: run,
	}
	s.dialInfo = &mgo.DialInfo{Addrs: []string{bridge.Addr()}, Direct: true}
	return s, nil
}

// startFerret runs FerretDB on the SQLite files in dir.
func startFerret(dir string) (*ferretRun, error) {
	var logOut io.Writer = io.Discard
	if os.Getenv(EnvVerbose) != "" {
		logOut = os.Stderr
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Handler:   "sqlite",
		SQLiteURL: (&url.URL{Scheme: "file", Opaque: dir + "/"}).String(),
	})
	if err != nil {
		return nil, fmt.Errorf("testserver: starting FerretDB: %w", err)
	}
	// New has bound the listener already, so the URI is known before Run.
	u, err := url.Parse(f.MongoDBURI())
	if err != nil {
		return nil, fmt.Errorf("testserver: FerretDB address: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &ferretRun{addr: u.Host, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(run.done)
		f.Run(ctx)
	}()
	return run, nil
}

// stop stops FerretDB and waits until it has closed its listener,
// connections and database files.
func (r *ferretRun) stop() {
	r.cancel()
	<-r.done
}

// URL returns the mongodb:// URL clients dial.
func (s *Server) URL() string {
	return s.url
}

// Bridge returns the bridge in front of FerretDB, for fault injection and
// counters; nil against an external server.
func (s *Server) Bridge() *wirebridge.Bridge {
	return s.bridge
}

// Dial returns a new session in Strong mode with a generous socket timeout.
// The caller closes it.
func (s *Server) Dial() (*mgo.Session, error) {
	info := *s.dialInfo
	info.Timeout = dialTimeout
	session, err := mgo.DialWithInfo(&info)
	if err != nil {
		return nil, fmt.Errorf("testserver: dialling %s: %w", s.url, err)
	}
	session.SetMode(mgo.Strong, true)
	session.SetSocketTimeout(socketTimeout)
	session.SetSyncTimeout(dialTimeout)
	return session, nil
}

// Restart stops FerretDB and starts it again on the same files, behind the
// same bridge address. Open connections are dropped, as with a real server
// restart; sessions need Refresh afterwards. Against an external server it
// is an error.
func (s *Server) Restart() error {
	if s.bridge == nil {
		return errors.New("testserver: cannot restart an external server")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ferret != nil {
		s.ferret.stop()
		s.ferret = nil
	}
	run, err := startFerret(s.dir)
	if err != nil {
		return err
	}
	s.ferret = run
	s.bridge.SetUpstream(run.addr)
	s.bridge.DropConnections()
	return nil
}

// Close stops the bridge and FerretDB and removes their files. Against an
// external server it does nothing.
func (s *Server) Close() error {
	if s.bridge == nil {
		return nil
	}
	err := s.bridge.Close()
	s.mu.Lock()
	if s.ferret != nil {
		s.ferret.stop()
		s.ferret = nil
	}
	s.mu.Unlock()
	return errors.Join(err, os.RemoveAll(s.dir))
}
