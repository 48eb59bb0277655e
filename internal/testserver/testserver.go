// Package testserver gives tests and the demo a real MongoDB-compatible
// server reachable with github.com/juju/mgo/v2 and with the official driver
// go.mongodb.org/mongo-driver/v2: FerretDB running in-process on SQLite in a
// temporary directory, behind a wirebridge.Bridge that translates mgo's
// OP_QUERY commands into OP_MSG and, for both drivers, makes FerretDB's
// writes atomic per document, as MongoDB's are, and splits update commands
// that FerretDB would deadlock on (see package wirebridge).
//
// When the environment variable PRESENCE_TEST_MONGODB holds a mongodb:// URL,
// that server (e.g. a real mongod) is used directly instead, with no FerretDB
// and no bridge. MongoDB 5.1 and later take no commands from mgo; LegacyOK
// tells tests whether the server does.
//
// A test package shares one server through Shared, and hands TestMain to
// Main so that the server is closed and leaked goroutines are reported:
//
//	func TestMain(m *testing.M) { testserver.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		db := testserver.Shared(t).Database(t) // *mgo.Database
//		...
//	}
//
//	func TestSomethingElse(t *testing.T) {
//		db := testserver.Shared(t).MongoDatabase(t) // *mongo.Database
//		...
//	}
//
// Every session and client these helpers hand out is closed when its test
// ends, so Main's check finds none of the drivers' goroutines.
package testserver

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// legacyOK is true when the server takes OP_QUERY commands (mgo's).
	legacyOK bool
	// bridge is nil against an external server.
	bridge *wirebridge.Bridge
	// dir holds FerretDB's files (and, in race builds, its binary); empty
	// against an external server.
	dir string

	// dbCount numbers the databases handed out by Database.
	dbCount atomic.Int64

	// mu guards ferret.
	mu     sync.Mutex
	ferret ferretProcess
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
		legacyOK, err := probeLegacy(external)
		if err != nil {
			return nil, fmt.Errorf("testserver: asking %s for its wire version: %w", EnvMongoDB, err)
		}
		return &Server{url: external, dialInfo: info, legacyOK: legacyOK}, nil
	}

	dir, err := os.MkdirTemp("", "presence-testserver-")
	if err != nil {
		return nil, fmt.Errorf("testserver: %w", err)
	}
	run, err := startFerret(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("testserver: %w", err)
	}
	bridge, err := wirebridge.New("127.0.0.1:0", run.Addr())
	if err != nil {
		run.Stop()
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{
		url:    "mongodb://" + bridge.Addr(),
		bridge: bridge,
		dir:    dir,
		ferret: run,
		// The bridge turns OP_QUERY commands into OP_MSG.
		legacyOK: true,
	}
	s.dialInfo = &mgo.DialInfo{Addrs: []string{bridge.Addr()}, Direct: true}
	return s, nil
}

// ferretProcess is one running FerretDB, in this process or in a child.
type ferretProcess interface {
	// Addr returns the host:port FerretDB listens on.
	Addr() string
	// Stop stops FerretDB and waits until it has closed its files.
	Stop()
}

// logOutput is where FerretDB's warnings go: nowhere unless EnvVerbose is set.
func logOutput() *os.File {
	if os.Getenv(EnvVerbose) != "" {
		return os.Stderr
	}
	return nil
}

// URL returns the mongodb:// URL clients dial.
func (s *Server) URL() string {
	return s.url
}

// DirectURL returns a mongodb:// URL that reaches the server with no
// bridge in between: FerretDB's own address (which changes at each
// Restart), or the external server's URL. FerretDB itself takes OP_MSG
// clients only, such as the official driver, and does not make its
// updates atomic: concurrent writes through this URL can lose bits or
// repeat sequence numbers, so it is for readers.
func (s *Server) DirectURL() string {
	if s.bridge == nil {
		return s.url
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ferret == nil {
		return ""
	}
	return "mongodb://" + s.ferret.Addr()
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
	// Fail an operation as soon as a sync of the cluster finds no server,
	// rather than after the whole sync timeout: fault tests cut the
	// server on purpose and expect the failure promptly.
	info.FailFast = true
	session, err := mgo.DialWithInfo(&info)
	if err != nil {
		return nil, fmt.Errorf("testserver: dialling %s: %w", s.url, err)
	}
	session.SetMode(mgo.Strong, true)
	session.SetSocketTimeout(socketTimeout)
	session.SetSyncTimeout(dialTimeout)
	return session, nil
}

// restartDropTimeout bounds how long Restart waits for clients to close
// their dropped connections: mgo's take well under a millisecond, the
// official driver's idle ones take the whole time.
const restartDropTimeout = 250 * time.Millisecond

// Restart stops FerretDB and starts it again on the same files, behind the
// same bridge address. As with a real server restart, open connections are
// dropped at once; mgo sessions need Refresh afterwards. Connections made
// during the restart wait until FerretDB is back (forever, until Close, if
// it cannot start again). Against an external server it is an error.
func (s *Server) Restart() error {
	if s.bridge == nil {
		return errors.New("testserver: cannot restart an external server")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Cut the clients off first, and let no new connection reach the old
	// server while it stops (those wait for the new one): FerretDB would
	// give open connections a few seconds before closing them, and mgo may
	// still pick from its pool a socket closed a moment before.
	s.bridge.SetUpstream("")
	s.bridge.DropConnectionsGracefully(restartDropTimeout)
	if s.ferret != nil {
		s.ferret.Stop()
		s.ferret = nil
	}
	run, err := startFerret(s.dir)
	if err != nil {
		return fmt.Errorf("testserver: %w", err)
	}
	s.ferret = run
	s.bridge.SetUpstream(run.Addr())
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
		s.ferret.Stop()
		s.ferret = nil
	}
	s.mu.Unlock()
	return errors.Join(err, os.RemoveAll(s.dir))
}
