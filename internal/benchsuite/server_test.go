package benchsuite

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/juju/mgo/v2"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/presence-go/presence/internal/testserver"
	"github.com/presence-go/presence/internal/wirebridge"
)

// The suite runs its own FerretDB, in a child process, behind a wire
// bridge in this one. internal/testserver runs FerretDB in the test
// process (outside race builds), where its CPU and heap would be counted
// as the library's: a controller's CPU per second and a watcher's heap
// are figures of this suite. The bridge stays in process: it is what
// counts commands, and it serialises writes as MongoDB's per-document
// atomicity would; its CPU (a loopback proxy reading command headers) is
// counted with the controller's and is small beside the drivers'.

// server is the database of the suite.
type server struct {
	url    string
	bridge *wirebridge.Bridge // nil against PRESENCE_TEST_MONGODB
	dir    string             // FerretDB's files and binary; "" against an external server
	child  *exec.Cmd
	stdin  io.WriteCloser // closing it stops the child
	dbs    atomic.Int64   // numbers the databases handed out
	mgo    *mgo.Session   // shared by every benchmark; copied per operation
	mongo  *mongo.Client  // shared by every benchmark

	mu      sync.Mutex
	kept    []*database // dropped when the server closes
	closers []func()    // run first when the server closes
}

// onClose has fn run when the server closes, before anything else.
func (s *server) onClose(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closers = append(s.closers, fn)
}

var shared struct {
	once   sync.Once
	server *server
	err    error
}

// sharedServer returns the suite's server, starting it on first use.
func sharedServer(tb testing.TB) *server {
	tb.Helper()
	shared.once.Do(func() { shared.server, shared.err = startServer() })
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	return shared.server
}

// closeShared stops the server if it was started.
func closeShared() {
	if shared.server != nil {
		shared.server.close()
	}
}

func startServer() (*server, error) {
	if url := os.Getenv(testserver.EnvMongoDB); url != "" {
		s := &server{url: url}
		return s, s.dial(false)
	}
	dir, err := os.MkdirTemp("", "presence-benchsuite-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir}
	if err := s.startFerret(); err != nil {
		s.close()
		return nil, err
	}
	return s, s.dial(true)
}

// ferretServerPackage is the command that runs FerretDB on its own.
const ferretServerPackage = "github.com/presence-go/presence/internal/testserver/ferretserver"

// startFerret builds and runs the ferretserver command, and puts a bridge
// in front of it.
func (s *server) startFerret() error {
	bin := filepath.Join(s.dir, "ferretserver")
	build := exec.Command("go", "build", "-o", bin, ferretServerPackage)
	if _, file, _, ok := runtime.Caller(0); ok {
		build.Dir = filepath.Dir(file)
	}
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v\n%s", ferretServerPackage, err, out)
	}
	data := filepath.Join(s.dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	s.child = exec.Command(bin, "-dir", data)
	if os.Getenv(testserver.EnvVerbose) != "" {
		s.child.Stderr = os.Stderr
	}
	var err error
	if s.stdin, err = s.child.StdinPipe(); err != nil {
		return err
	}
	stdout, err := s.child.StdoutPipe()
	if err != nil {
		return err
	}
	if err := s.child.Start(); err != nil {
		return fmt.Errorf("running ferretserver: %w", err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		return fmt.Errorf("ferretserver did not start (said %q, %v)", line, err)
	}
	s.bridge, err = wirebridge.New("127.0.0.1:0", addr)
	if err != nil {
		return err
	}
	s.url = "mongodb://" + s.bridge.Addr()
	return nil
}

// Timeouts of the suite's clients: reading a million beings takes minutes
// on the test server.
const (
	dialTimeout      = 15 * time.Second
	operationTimeout = 10 * time.Minute
)

func (s *server) dial(direct bool) error {
	info, err := mgo.ParseURL(s.url)
	if err != nil {
		return err
	}
	info.Timeout = dialTimeout
	info.Direct = direct
	if s.mgo, err = mgo.DialWithInfo(info); err != nil {
		return fmt.Errorf("dialling %s with mgo: %w", s.url, err)
	}
	s.mgo.SetMode(mgo.Strong, true)
	s.mgo.SetSocketTimeout(operationTimeout)
	s.mgo.SetSyncTimeout(dialTimeout)
	opts := options.Client().ApplyURI(s.url).
		SetReadPreference(readpref.Primary()).
		SetConnectTimeout(dialTimeout).
		SetDirect(direct)
	if s.mongo, err = mongo.Connect(opts); err != nil {
		return fmt.Errorf("connecting to %s: %w", s.url, err)
	}
	return nil
}

func (s *server) close() {
	for _, fn := range s.closers {
		fn()
	}
	ctx, cancel := context.WithTimeout(context.Background(), operationTimeout)
	defer cancel()
	for _, d := range s.kept {
		d.mongo.Drop(ctx)
	}
	if s.mgo != nil {
		s.mgo.Close()
	}
	if s.mongo != nil {
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		s.mongo.Disconnect(ctx)
		cancel()
	}
	if s.bridge != nil {
		s.bridge.Close()
	}
	if s.child != nil && s.child.Process != nil {
		s.stdin.Close()
		done := make(chan struct{})
		go func() { s.child.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			s.child.Process.Kill()
			<-done
		}
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// database is one database of the server, through both drivers.
type database struct {
	name  string
	mgo   *mgo.Database
	mongo *mongo.Database
}

// newDatabase returns a database no other benchmark uses, dropped when tb
// ends.
func (s *server) newDatabase(tb testing.TB, what string) *database {
	tb.Helper()
	name := fmt.Sprintf("b%d_%s", s.dbs.Add(1), what)
	d := &database{name: name, mgo: s.mgo.DB(name), mongo: s.mongo.Database(name)}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), operationTimeout)
		defer cancel()
		if err := d.mongo.Drop(ctx); err != nil {
			tb.Errorf("dropping %s: %v", name, err)
		}
	})
	return d
}

// keptDatabase returns a database no other benchmark uses, dropped when
// the server closes: for data shared by several benchmarks.
func (s *server) keptDatabase(what string) *database {
	name := fmt.Sprintf("b%d_%s", s.dbs.Add(1), what)
	d := &database{name: name, mgo: s.mgo.DB(name), mongo: s.mongo.Database(name)}
	s.mu.Lock()
	s.kept = append(s.kept, d)
	s.mu.Unlock()
	return d
}

// counts is what the bridge counted between two moments.
type counts struct {
	finds, getMores, updates, upserts, inserts, deletes, findAndModifies, others int
}

// snapshot returns the bridge's counters, zero against an external server.
func (s *server) snapshot() wirebridge.Stats {
	if s.bridge == nil {
		return wirebridge.Stats{Commands: map[string]int{}}
	}
	return s.bridge.Stats()
}

// since returns what reached the server since before.
func (s *server) since(before wirebridge.Stats) counts {
	after := s.snapshot()
	diff := func(name string) int { return after.Commands[name] - before.Commands[name] }
	c := counts{
		finds:           diff("find"),
		getMores:        diff("getMore"),
		updates:         diff("update"),
		upserts:         after.UpdateStatements - before.UpdateStatements,
		inserts:         diff("insert"),
		deletes:         diff("delete"),
		findAndModifies: diff("findAndModify"),
	}
	for name, n := range after.Commands {
		switch name {
		case "find", "getMore", "update", "insert", "delete", "findAndModify":
		default:
			c.others += n - before.Commands[name]
		}
	}
	return c
}

// reads counts the commands that read: finds and the getMores that fetch
// the rest of their results.
func (c counts) reads() int { return c.finds + c.getMores }

// counted reports whether the server's traffic is counted.
func (s *server) counted() bool { return s.bridge != nil }
