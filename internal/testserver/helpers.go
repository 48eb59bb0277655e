package testserver

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/juju/mgo/v2"
	"go.uber.org/goleak"
)

// maxDatabaseName is the longest database name handed out; FerretDB and
// MongoDB both accept 63 bytes.
const maxDatabaseName = 63

// Session returns a new session that is closed when the test ends. The
// test is skipped when the server takes no commands from mgo (LegacyOK).
func (s *Server) Session(t testing.TB) *mgo.Session {
	t.Helper()
	s.skipUnlessLegacy(t)
	session, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(session.Close)
	return session
}

// Database returns a database no other test uses, on a session of its own.
// When the test ends the database is dropped and the session closed. The
// test is skipped when the server takes no commands from mgo (LegacyOK).
func (s *Server) Database(t testing.TB) *mgo.Database {
	t.Helper()
	s.skipUnlessLegacy(t)
	session, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	db := session.DB(databaseName(s.dbCount.Add(1), t.Name()))
	t.Cleanup(func() {
		// The test may have broken the session on purpose.
		session.Refresh()
		if err := db.DropDatabase(); err != nil {
			t.Errorf("dropping test database %s: %v", db.Name, err)
		}
		session.Close()
	})
	return db
}

func (s *Server) skipUnlessLegacy(t testing.TB) {
	t.Helper()
	if !s.legacyOK {
		t.Skipf("%s is MongoDB 5.1 or later, which takes no commands from mgo", EnvMongoDB)
	}
}

// databaseName builds a database name from a counter, unique within the
// process, and the test name, for whoever reads the server's files: only
// [a-z0-9_], at most maxDatabaseName bytes.
func databaseName(n int64, testName string) string {
	prefix := fmt.Sprintf("t%d_", n)
	var b strings.Builder
	b.WriteString(prefix)
	for _, r := range strings.ToLower(strings.TrimPrefix(testName, "Test")) {
		if b.Len() >= maxDatabaseName {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

var shared struct {
	once   sync.Once
	server *Server
	err    error
}

// Shared returns the test binary's server, starting it on first use. The
// test fails if it cannot start. Main closes it.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.once.Do(func() {
		shared.server, shared.err = Start()
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.server
}

// leakOptions lists goroutines that outlive their owners for reasons the
// tests cannot control.
var leakOptions = []goleak.Option{
	// mgo's per-server pinger notices that its server was closed only when
	// it next wakes, up to 15 seconds after the last session closed; there
	// is no way to wake it early. It holds no socket once the server is
	// closed.
	goleak.IgnoreAnyFunction("github.com/juju/mgo/v2.(*mongoServer).pinger"),
}

// Main runs the tests, closes the shared server, then fails the binary if
// any test failed or any goroutine was left running. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared.server != nil {
		if err := shared.server.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "testserver: closing shared server: %v\n", err)
			code = 1
		}
	}
	if code == 0 {
		if err := findLeaks(); err != nil {
			fmt.Fprintf(os.Stderr, "testserver: goroutines left running after the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// leakGrace is how long Main waits for goroutines to end before calling
// them leaked. mgo's cluster sync loop sleeps about a second between
// checks of whether its last session was closed.
const leakGrace = 5 * time.Second

// findLeaks reports goroutines still running after leakGrace.
func findLeaks() error {
	deadline := time.Now().Add(leakGrace)
	for {
		err := goleak.Find(leakOptions...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}
