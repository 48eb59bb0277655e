package main

import (
	"flag"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/juju/mgo/v2"
	"github.com/juju/mgo/v2/bson"
)

// connFlags are the flags every command that reads a database shares.
type connFlags struct {
	url     string
	db      string
	base    string
	model   string
	period  time.Duration
	timeout time.Duration
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", "", "MongoDB URL of the server, e.g. mongodb://127.0.0.1:27017 (required)")
	fs.StringVar(&c.db, "db", "presence", "database that holds the presence collections")
	fs.StringVar(&c.base, "base", "presence", "base collection: the library uses BASE.seqs, BASE.beings and BASE.pings")
	fs.StringVar(&c.model, "model", "", "model UUID (required)")
	fs.DurationVar(&c.period, "period", 30*time.Second, "slot period the model's pingers use (whole seconds)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long to wait for the server")
}

// check validates the flags before any connection is made.
func (c *connFlags) check() error {
	if c.url == "" {
		return usagef("--url is required")
	}
	if err := checkModel(c.model); err != nil {
		return err
	}
	if c.db == "" || c.base == "" {
		return usagef("--db and --base must not be empty")
	}
	if c.period < time.Second || c.period%time.Second != 0 {
		return usagef("--period %v: must be a whole number of seconds, at least 1s", c.period)
	}
	if c.timeout <= 0 {
		return usagef("--timeout %v: must be positive", c.timeout)
	}
	return nil
}

// checkModel applies the library's rule: any non-empty id without the ':'
// separator.
func checkModel(model string) error {
	switch {
	case model == "":
		return usagef("--model is required: the UUID of the model")
	case strings.Contains(model, ":"):
		return usagef("invalid model UUID %q: it must not contain ':'", model)
	}
	return nil
}

// store is an open connection to the presence collections of one model.
type store struct {
	session *mgo.Session
	base    *mgo.Collection
	beings  *mgo.Collection
	pings   *mgo.Collection
	model   string
	period  time.Duration
}

func (s *store) Close() { s.session.Close() }

// open dials the server and checks that the collections the commands read
// exist, so that a wrong --db or --base is reported as such rather than as
// a model with nothing alive.
func (c *connFlags) open() (*store, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	session, err := dial(c.url, c.timeout)
	if err != nil {
		return nil, err
	}
	db := session.DB(c.db)
	names, err := db.CollectionNames()
	if err != nil {
		session.Close()
		return nil, fmt.Errorf("cannot list the collections of database %q: %v", c.db, err)
	}
	have := make(map[string]bool, len(names))
	for _, name := range names {
		have[name] = true
	}
	for _, suffix := range []string{".beings", ".pings"} {
		if !have[c.base+suffix] {
			session.Close()
			return nil, fmt.Errorf("collection %s.%s%s does not exist (wrong --db or --base?)", c.db, c.base, suffix)
		}
	}
	base := db.C(c.base)
	return &store{
		session: session,
		base:    base,
		beings:  db.C(c.base + ".beings"),
		pings:   db.C(c.base + ".pings"),
		model:   c.model,
		period:  c.period,
	}, nil
}

// dial connects to url within timeout. A single address is dialled
// directly, as the embedded database needs.
func dial(url string, timeout time.Duration) (*mgo.Session, error) {
	if !strings.HasPrefix(url, "mongodb://") {
		return nil, usagef("bad URL %q: it must start with mongodb://", url)
	}
	info, err := mgo.ParseURL(url)
	if err != nil {
		return nil, usagef("bad URL %q: %v", url, err)
	}
	if len(info.Addrs) == 0 {
		return nil, usagef("bad URL %q: no server address", url)
	}
	if len(info.Addrs) == 1 && info.ReplicaSetName == "" {
		info.Direct = true
	}
	info.Timeout = timeout
	session, err := mgo.DialWithInfo(info)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s within %v: %v", strings.Join(info.Addrs, ","), timeout, err)
	}
	session.SetMode(mgo.Strong, true)
	session.SetSyncTimeout(timeout)
	session.SetSocketTimeout(timeout + 50*time.Second)
	return session, nil
}

// serverNow returns the database server's clock, which decides the slots.
func serverNow(session *mgo.Session) (time.Time, error) {
	var result struct {
		LocalTime time.Time `bson:"localTime"`
	}
	if err := session.Run("isMaster", &result); err != nil {
		return time.Time{}, fmt.Errorf("cannot read the server's clock: %v", err)
	}
	if result.LocalTime.IsZero() {
		return time.Time{}, fmt.Errorf("the server reported no localTime")
	}
	return result.LocalTime, nil
}

// modelIDs matches every _id of the model: quoted, anchored on the ':'.
func modelIDs(model string) bson.D {
	return bson.D{{Name: "_id", Value: bson.RegEx{Pattern: "^" + regexp.QuoteMeta(model) + ":"}}}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
