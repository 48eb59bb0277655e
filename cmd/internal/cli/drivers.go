package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/juju/mgo/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/presence-go/presence/liveness"
	"github.com/presence-go/presence/mgostore"
	"github.com/presence-go/presence/mongostore"
)

// The commands reach a server through one of two drivers. The official
// one, go.mongodb.org/mongo-driver/v2, speaks OP_MSG: it reaches MongoDB
// 4.4 and later (7.0, 8.x, Atlas) and FerretDB. github.com/juju/mgo/v2,
// which the Juju-compatible face of the library takes, speaks only the
// legacy OP_QUERY protocol that MongoDB 5.1 removed: it reaches MongoDB up
// to 5.0, and FerretDB only through the embedded database's bridge. Both
// write the same documents, so either reads what the other wrote.
const (
	Official Driver = "official"
	Mgo      Driver = "mgo"
)

// Driver is the value of --driver: Official or Mgo.
type Driver string

func (d *Driver) String() string { return string(*d) }

func (d *Driver) Set(s string) error {
	switch Driver(s) {
	case Official, Mgo:
		*d = Driver(s)
		return nil
	}
	return fmt.Errorf("must be %s or %s", Official, Mgo)
}

// RegisterDriver adds --driver to fs, the official driver by default.
func RegisterDriver(fs *flag.FlagSet, d *Driver) {
	*d = Official
	fs.Var(d, "driver", "MongoDB driver: "+string(Official)+" (MongoDB 4.4 and later, FerretDB) or "+
		string(Mgo)+" (github.com/juju/mgo/v2, as Juju: MongoDB up to 5.0)")
}

// Conn is an open connection to one database of a server.
type Conn interface {
	// Addr names the server's addresses, for messages.
	Addr() string
	// Store returns the presence store whose collections hang off base.
	Store(base string) liveness.Store
	// Collections lists the collections of the database.
	Collections(ctx context.Context) ([]string, error)
	// Close ends the connection, and the driver's goroutines with it.
	Close()
}

// Dial connects to database db of the server at url through driver,
// waiting up to timeout for the server to answer. A malformed URL is a
// usage error; a server that does not answer, a runtime failure naming its
// address.
func Dial(ctx context.Context, driver Driver, url, db string, timeout time.Duration) (Conn, error) {
	if driver == Mgo {
		return dialMgo(url, db, timeout)
	}
	return dialOfficial(ctx, url, db, timeout)
}

// officialConn is a connection through go.mongodb.org/mongo-driver/v2.
type officialConn struct {
	client  *mongo.Client
	db      *mongo.Database
	hosts   string
	timeout time.Duration
}

func dialOfficial(ctx context.Context, url, db string, timeout time.Duration) (*officialConn, error) {
	if !strings.HasPrefix(url, "mongodb://") && !strings.HasPrefix(url, "mongodb+srv://") {
		return nil, Usagef("bad URL %q: it must start with mongodb:// or mongodb+srv://", url)
	}
	cs, err := connstring.ParseAndValidate(url)
	if err != nil {
		return nil, Usagef("bad URL %q: %v", url, err)
	}
	// The driver ignores options it does not know; a misspelt one would
	// silently connect differently from what was meant.
	if len(cs.UnknownOptions) > 0 {
		unknown := make([]string, 0, len(cs.UnknownOptions))
		for name := range cs.UnknownOptions {
			unknown = append(unknown, name)
		}
		sort.Strings(unknown)
		return nil, Usagef("bad URL %q: unknown option %q", url, unknown[0])
	}
	// Reads go to the primary: a lagging secondary would show live keys
	// dead. The URL may ask for a direct connection; otherwise the driver
	// finds the primary of a replica set from any member given.
	opts := options.Client().ApplyURI(url).
		SetReadPreference(readpref.Primary()).
		SetServerSelectionTimeout(timeout).
		SetConnectTimeout(timeout)
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, Usagef("bad URL %q: %v", url, err)
	}
	c := &officialConn{client: client, db: client.Database(db), hosts: strings.Join(cs.Hosts, ","), timeout: timeout}
	pingCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := client.Ping(pingCtx, readpref.Primary()); err != nil {
		c.Close()
		return nil, fmt.Errorf("cannot reach %s within %v: %v", c.hosts, timeout, selectionFailure(err))
	}
	return c, nil
}

// selectionFailure shortens the driver's server selection error, which
// describes the whole topology, to the errors its servers last met.
func selectionFailure(err error) string {
	var sel topology.ServerSelectionError
	if !errors.As(err, &sel) {
		return err.Error()
	}
	var reasons []string
	for _, server := range sel.Desc.Servers {
		if server.LastError != nil {
			reasons = append(reasons, server.LastError.Error())
		}
	}
	if len(reasons) == 0 {
		return err.Error()
	}
	return strings.Join(reasons, "; ")
}

func (c *officialConn) Addr() string { return c.hosts }

func (c *officialConn) Store(base string) liveness.Store {
	s, err := mongostore.New(c.db.Collection(base))
	if err != nil {
		return liveness.BrokenStore(err)
	}
	return s
}

func (c *officialConn) Collections(ctx context.Context) ([]string, error) {
	return c.db.ListCollectionNames(ctx, bson.D{})
}

func (c *officialConn) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	// A failure here leaves nothing for the command to act on.
	_ = c.client.Disconnect(ctx)
}

// mgoConn is a connection through github.com/juju/mgo/v2.
type mgoConn struct {
	session *mgo.Session
	db      *mgo.Database
	addrs   string
}

// dialMgo connects to url within timeout. A single address is dialled
// directly, as the embedded database needs.
func dialMgo(url, db string, timeout time.Duration) (*mgoConn, error) {
	if !strings.HasPrefix(url, "mongodb://") {
		return nil, Usagef("bad URL %q: it must start with mongodb://", url)
	}
	info, err := mgo.ParseURL(url)
	if err != nil {
		return nil, Usagef("bad URL %q: %v", url, err)
	}
	if len(info.Addrs) == 0 {
		return nil, Usagef("bad URL %q: no server address", url)
	}
	if len(info.Addrs) == 1 && info.ReplicaSetName == "" {
		info.Direct = true
	}
	info.Timeout = timeout
	// Without it, mgo keeps trying an unreachable server for several
	// seconds past the timeout; with it, an operation fails as soon as a
	// sync of the cluster finds no server, which the library's workers
	// retry.
	info.FailFast = true
	addrs := strings.Join(info.Addrs, ",")
	session, err := mgo.DialWithInfo(info)
	if err != nil {
		// A server that takes no OP_QUERY commands (MongoDB 5.1 and later,
		// FerretDB without the bridge) looks unreachable to mgo too.
		return nil, fmt.Errorf("cannot reach %s within %v: %v (mgo reaches only servers that take OP_QUERY, such as MongoDB up to 5.0)", addrs, timeout, err)
	}
	session.SetMode(mgo.Strong, true)
	session.SetSyncTimeout(timeout)
	// mgo takes no context: the socket timeout bounds every operation,
	// and must stay above the slowest bulk write a batcher makes.
	session.SetSocketTimeout(timeout + 50*time.Second)
	return &mgoConn{session: session, db: session.DB(db), addrs: addrs}, nil
}

func (c *mgoConn) Addr() string { return c.addrs }

func (c *mgoConn) Store(base string) liveness.Store {
	s, err := mgostore.New(c.db.C(base))
	if err != nil {
		return liveness.BrokenStore(err)
	}
	return s
}

func (c *mgoConn) Collections(context.Context) ([]string, error) {
	return c.db.CollectionNames()
}

func (c *mgoConn) Close() { c.session.Close() }
