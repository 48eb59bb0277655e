package liveness_test

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/juju/clock/testclock"
	"github.com/juju/mgo/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/internal/testserver"
	"github.com/presence-go/presence/liveness"
	"github.com/presence-go/presence/mgostore"
	"github.com/presence-go/presence/mongostore"
)

// The behavioural tests of this package run the workers on the real test
// database through each face a program can use: the Juju-compatible one
// over github.com/juju/mgo/v2 (mgostore) and the official
// driver's (mongostore). Whatever the face under test, fixtures are written
// and read through the official driver, which every server takes, on the
// same database, so that a test says the same thing on both faces.

func TestMain(m *testing.M) { testserver.Main(m) }

// period is the slot length of these tests: Juju's default.
const period = 30 * time.Second

// start is where every test clock begins: 15 s into a slot, so one
// period's advance always lands in the middle of the next slot.
var start = time.Unix(1700000025, 0)

// startSlot is the slot the test clock starts in.
var startSlot = slot.Of(start.Unix(), int64(period/time.Second))

// waitTimeout bounds every wait for another goroutine in these tests.
const waitTimeout = 10 * time.Second

const (
	modelA = "a7c1c8a2-6d0e-4d57-8d55-1b1f8d3c9e01"
	modelB = "b3f2d9e4-1c2a-4b8e-9f6d-2e3a4b5c6d02"
)

// The faces, named as their subtests are.
const (
	mgoFace      = "mgo"
	officialFace = "official"
)

// faces lists every face, in the order their subtests run.
var faces = []string{mgoFace, officialFace}

// baseName is the base collection of every store in these tests, as in
// Juju: the workers use presence.seqs, presence.beings and presence.pings.
const baseName = "presence"

// env is one test's presence setup on one face: a fresh database, the
// face's store on it, a handle on the same database for fixtures, a driven
// clock, and the workers the test started, stopped at the end of the test.
type env struct {
	t *testing.T
	// store is the face's store: the workers under test use it, and only
	// they.
	store liveness.Store
	// db is the same database through the official driver, on a client of
	// its own: fixtures are written and read through it whatever the face.
	db *mongo.Database
	// warm opens a connection of the store's driver, so that a test can
	// count goroutines from there.
	warm func() error
	// face names the store's face; storeOf returns another store of the
	// same connection, of the base collection named base.
	face    string
	storeOf func(t *testing.T, base string) liveness.Store

	*driven
}

// driven is a test clock and the count of timers the running workers hold
// on it; the envs of one database share one.
type driven struct {
	clock *testclock.Clock

	mu     sync.Mutex
	timers int // guarded by mu
}

// forEachFace runs fn as a subtest per face, each on a database of its
// own. The mgo face is skipped, saying why, when the server takes no
// commands from mgo.
func forEachFace(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, face := range faces {
		t.Run(face, func(t *testing.T) {
			fn(t, newEnv(t, face, false))
		})
	}
}

// skipUnlessLegacy skips t when the server takes no commands from mgo.
func skipUnlessLegacy(t *testing.T, server *testserver.Server) {
	t.Helper()
	if !server.LegacyOK() {
		t.Skipf("skipped on the mgo face: the server named by %s is MongoDB 5.1 or later, which takes no OP_QUERY commands", testserver.EnvMongoDB)
	}
}

// Fault tests cut the server on purpose, and every operation that meets
// the cut waits until its driver gives up: on the mgo face until a sync of
// the cluster finds no server, bounded by faultSyncTimeout, and on the
// official face for a server to select, bounded by faultSelectionTimeout.
// The drivers' defaults, chosen for production, would make each such
// operation cost several seconds.
const (
	faultSyncTimeout      = 2 * time.Second
	faultSelectionTimeout = time.Second
	// faultHeartbeat is how often the official driver checks a server it
	// cannot reach, so that it sees the server back soon after a cut.
	faultHeartbeat = 500 * time.Millisecond
)

// newEnv returns an env of the face on a fresh database. With faults set,
// the face's driver gives up sooner on an unreachable server.
func newEnv(t *testing.T, face string, faults bool) *env {
	server := testserver.Shared(t)
	d := newDriven(t)
	switch face {
	case mgoFace:
		skipUnlessLegacy(t, server)
		mdb := server.Database(t)
		if faults {
			mdb.Session.SetSyncTimeout(faultSyncTimeout)
		}
		return &env{
			t:       t,
			store:   mgoStore(t, mdb, baseName),
			db:      server.Client(t).Database(mdb.Name),
			warm:    mdb.Session.Ping,
			face:    mgoFace,
			storeOf: func(t *testing.T, base string) liveness.Store { return mgoStore(t, mdb, base) },
			driven:  d,
		}
	case officialFace:
		db := server.MongoDatabase(t)
		if faults {
			db = faultClient(t, server).Database(db.Name())
		}
		return &env{
			t:     t,
			store: officialStore(t, db.Collection(baseName)),
			db:    server.Client(t).Database(db.Name()),
			warm: func() error {
				return db.Client().Ping(context.Background(), nil)
			},
			face:    officialFace,
			storeOf: func(t *testing.T, base string) liveness.Store { return officialStore(t, db.Collection(base)) },
			driven:  d,
		}
	}
	t.Fatalf("no face %q", face)
	return nil
}

// faultClient returns a client of the official driver that gives up on an
// unreachable server after faultSelectionTimeout, disconnected when the
// test ends.
func faultClient(t *testing.T, server *testserver.Server) *mongo.Client {
	t.Helper()
	opts := server.ClientOptions().
		SetServerSelectionTimeout(faultSelectionTimeout).
		SetHeartbeatInterval(faultHeartbeat)
	client, err := mongo.Connect(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := fixtureContext()
		defer cancel()
		if err := client.Disconnect(ctx); err != nil {
			t.Errorf("disconnecting the fault tests' client: %v", err)
		}
	})
	return client
}

// bothFaces returns an env per face on one database, sharing one clock:
// workers of either see workers of the other. The test is skipped when the
// server takes no commands from mgo.
func bothFaces(t *testing.T) (onMgo, onOfficial *env) {
	return bothFacesOn(t, baseName, baseName)
}

// bothFacesOn is bothFaces with the stores of each face on base
// collections of their own.
func bothFacesOn(t *testing.T, mgoBase, officialBase string) (onMgo, onOfficial *env) {
	server := testserver.Shared(t)
	skipUnlessLegacy(t, server)
	d := newDriven(t)
	mdb := server.Database(t)
	fixtures := server.Client(t).Database(mdb.Name)
	client := server.Client(t)
	onMgo = &env{
		t: t, store: mgoStore(t, mdb, mgoBase), db: fixtures,
		warm: mdb.Session.Ping, driven: d, face: mgoFace,
		storeOf: func(t *testing.T, base string) liveness.Store { return mgoStore(t, mdb, base) },
	}
	onOfficial = &env{
		t: t, store: officialStore(t, client.Database(mdb.Name).Collection(officialBase)), db: fixtures,
		warm: func() error { return client.Ping(context.Background(), nil) }, driven: d, face: officialFace,
		storeOf: func(t *testing.T, base string) liveness.Store {
			return officialStore(t, client.Database(mdb.Name).Collection(base))
		},
	}
	return onMgo, onOfficial
}

// acrossFaces runs fn as a subtest per direction: workers on one face
// ("from") and on the other ("to"), on one database.
func acrossFaces(t *testing.T, fn func(t *testing.T, from, to *env)) {
	t.Helper()
	for _, dir := range []struct {
		name    string
		reverse bool
	}{{mgoFace + "-to-" + officialFace, false}, {officialFace + "-to-" + mgoFace, true}} {
		t.Run(dir.name, func(t *testing.T) {
			onMgo, onOfficial := bothFaces(t)
			if dir.reverse {
				fn(t, onOfficial, onMgo)
				return
			}
			fn(t, onMgo, onOfficial)
		})
	}
}

// mgoStore is the mgo face's store of the base collection named base.
func mgoStore(t *testing.T, db *mgo.Database, base string) liveness.Store {
	t.Helper()
	store, err := mgostore.New(db.C(base))
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// officialStore is the official face's store of the base collection c.
func officialStore(t *testing.T, c *mongo.Collection) liveness.Store {
	t.Helper()
	store, err := mongostore.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// newDriven returns a test clock at start whose alarms are drained until
// the test ends.
func newDriven(t *testing.T) *driven {
	d := &driven{clock: testclock.NewClock(start)}
	// The clock reports every new timer on a bounded channel and panics
	// when it is full; these tests count timers instead, so drain it.
	stop := make(chan struct{})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			select {
			case <-d.clock.Alarms():
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-drained
	})
	return d
}

// sub returns e for a subtest of e's test: its helpers report to t.
func (e *env) sub(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

func (e *env) opts(extra ...liveness.Option) []liveness.Option {
	return append([]liveness.Option{
		liveness.WithClock(e.clock),
		liveness.WithClockSkew(false),
		liveness.WithPeriod(period),
	}, extra...)
}

func (d *driven) addTimers(n int) {
	d.mu.Lock()
	d.timers += n
	d.mu.Unlock()
}

// batcher starts a ping batcher that writes only when synced: its own
// timer is an hour long.
func (e *env) batcher() *liveness.PingBatcher {
	pb := liveness.NewPingBatcher(e.store, e.opts(liveness.WithFlushInterval(time.Hour))...)
	e.addTimers(1)
	e.t.Cleanup(func() {
		if err := pb.Stop(); err != nil {
			e.t.Errorf("stopping batcher: %v", err)
		}
	})
	return pb
}

func (e *env) watcher(model string) *liveness.Watcher {
	w := liveness.NewWatcher(e.store, model, e.opts(liveness.WithPruning(false))...)
	e.addTimers(1)
	e.t.Cleanup(func() {
		if err := w.Stop(); err != nil {
			e.t.Errorf("stopping watcher: %v", err)
		}
	})
	return w
}

// pinger returns a started pinger. Stop it through env.stop so the timer
// count stays right.
func (e *env) pinger(model, key string, pb *liveness.PingBatcher) *liveness.Pinger {
	e.t.Helper()
	p := e.newPinger(model, key, pb)
	e.startPinger(p)
	return p
}

func (e *env) newPinger(model, key string, pb *liveness.PingBatcher) *liveness.Pinger {
	p := liveness.NewPinger(e.store, model, key, pb, e.opts()...)
	e.t.Cleanup(func() { p.Stop() })
	return p
}

func (e *env) startPinger(p *liveness.Pinger) {
	e.t.Helper()
	if err := p.Start(); err != nil {
		e.t.Fatalf("starting pinger: %v", err)
	}
	e.addTimers(1)
}

func (e *env) stop(p *liveness.Pinger) {
	e.t.Helper()
	if err := p.Stop(); err != nil {
		e.t.Fatalf("stopping pinger: %v", err)
	}
	e.addTimers(-1)
}

func (e *env) kill(p *liveness.Pinger) {
	e.t.Helper()
	if err := p.KillForTesting(); err != nil {
		e.t.Fatalf("killing pinger: %v", err)
	}
	e.addTimers(-1)
}

func (e *env) pruner(model string) *liveness.Pruner {
	return liveness.NewPruner(e.store, model, 0, e.opts()...)
}

// advance moves the clock on by d once every running worker waits on it,
// then waits until they all wait again: by then each pinger whose timer
// fired has handed its ping to the batcher.
func (e *env) advance(d time.Duration) {
	e.t.Helper()
	e.mu.Lock()
	n := e.timers
	e.mu.Unlock()
	if err := e.clock.WaitAdvance(d, waitTimeout, n); err != nil {
		e.t.Fatalf("advancing the clock: %v", err)
	}
	if err := e.clock.WaitAdvance(0, waitTimeout, n); err != nil {
		e.t.Fatalf("waiting for the workers after advancing the clock: %v", err)
	}
}

// flushAndSync writes the batched pings and has each watcher read them.
func flushAndSync(t *testing.T, pb *liveness.PingBatcher, ws ...*liveness.Watcher) {
	t.Helper()
	if err := pb.Sync(); err != nil {
		t.Fatalf("batcher sync: %v", err)
	}
	for _, w := range ws {
		w.Sync()
	}
}

func assertChange(t *testing.T, ch <-chan liveness.Change, want liveness.Change) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("got change %+v, want %+v", got, want)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("no change arrived; want %+v", want)
	}
}

// watch has w watch key on a new channel, checks that the first event
// says whether key is alive, and returns the channel.
func watch(t *testing.T, w *liveness.Watcher, key string, alive bool) chan liveness.Change {
	t.Helper()
	ch := make(chan liveness.Change, 10)
	w.Watch(key, ch)
	assertChange(t, ch, liveness.Change{Key: key, Alive: alive})
	return ch
}

// assertNoChange checks that nothing is queued for ch. Callers Sync the
// watcher first: Sync returns only once every event is delivered, so an
// event that is not in ch by then will not come.
func assertNoChange(t *testing.T, ch <-chan liveness.Change) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("unexpected change %+v", got)
	default:
	}
}

func assertAlive(t *testing.T, w *liveness.Watcher, key string, want bool) {
	t.Helper()
	alive, err := w.Alive(key)
	if err != nil {
		t.Fatalf("Alive(%q): %v", key, err)
	}
	if alive != want {
		t.Fatalf("Alive(%q) = %v, want %v", key, alive, want)
	}
}

// within runs fn and fails the test if it has not returned after
// waitTimeout: caller mistakes must never block.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatalf("%s did not return within %v", what, waitTimeout)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// docID is the _id of a model's document numbered n (a sequence or a
// slot).
func docID(model string, n int64) string { return model + ":" + itoa(n) }

// fixtureTimeout bounds each fixture read or write.
const fixtureTimeout = 30 * time.Second

func fixtureContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), fixtureTimeout)
}

// insert writes fixture documents into the collection named coll.
func (e *env) insert(coll string, docs ...interface{}) {
	e.t.Helper()
	ctx, cancel := fixtureContext()
	defer cancel()
	if _, err := e.db.Collection(coll).InsertMany(ctx, docs); err != nil {
		e.t.Fatalf("inserting into %s: %v", coll, err)
	}
}

// count returns how many documents of coll match filter (all when nil).
func (e *env) count(coll string, filter ...bson.E) int {
	e.t.Helper()
	ctx, cancel := fixtureContext()
	defer cancel()
	query := bson.D{}
	query = append(query, filter...)
	n, err := e.db.Collection(coll).CountDocuments(ctx, query)
	if err != nil {
		e.t.Fatalf("counting %s: %v", coll, err)
	}
	return int(n)
}

// findID decodes the document of coll whose _id is id into out.
func (e *env) findID(coll, id string, out interface{}) {
	e.t.Helper()
	ctx, cancel := fixtureContext()
	defer cancel()
	if err := e.db.Collection(coll).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(out); err != nil {
		e.t.Fatalf("reading %s %q: %v", coll, id, err)
	}
}

// raw returns the bytes of the documents of coll that filter matches,
// sorted by _id.
func (e *env) raw(coll string, filter bson.D) [][]byte {
	e.t.Helper()
	ctx, cancel := fixtureContext()
	defer cancel()
	cursor, err := e.db.Collection(coll).Find(ctx, filter)
	if err != nil {
		e.t.Fatalf("reading %s: %v", coll, err)
	}
	var docs []bson.Raw
	if err := cursor.All(ctx, &docs); err != nil {
		e.t.Fatalf("reading %s: %v", coll, err)
	}
	sort.Slice(docs, func(i, j int) bool {
		return docs[i].Lookup("_id").String() < docs[j].Lookup("_id").String()
	})
	out := make([][]byte, len(docs))
	for i, d := range docs {
		out[i] = d
	}
	return out
}

// assertDoc checks that got holds the fields of want, no more, of the
// same types and values, in any order: the order of the fields of a
// document that updates made is the server's choice.
func assertDoc(t *testing.T, what string, got []byte, want bson.D) {
	t.Helper()
	wantRaw, err := bson.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := canonical(got), canonical(wantRaw); g != w {
		t.Errorf("%s:\n got  %s\n want %s", what, g, w)
	}
}

// canonical renders a document with its fields sorted by name, each with
// its BSON type, embedded documents likewise.
func canonical(doc bson.Raw) string {
	elems, err := doc.Elements()
	if err != nil {
		return "invalid document: " + err.Error()
	}
	fields := make([]string, len(elems))
	for i, e := range elems {
		v := e.Value()
		rendered := v.String()
		if v.Type == bson.TypeEmbeddedDocument {
			rendered = canonical(v.Document())
		}
		fields[i] = strconv.Quote(e.Key()) + ": " + rendered + " (" + v.Type.String() + ")"
	}
	sort.Strings(fields)
	return "{" + strings.Join(fields, ", ") + "}"
}

// assertIDs checks the _ids of every document of coll.
func (e *env) assertIDs(coll string, want ...string) {
	e.t.Helper()
	var got []string
	for _, doc := range e.raw(coll, bson.D{}) {
		id, ok := bson.Raw(doc).Lookup("_id").StringValueOK()
		if !ok {
			id = bson.Raw(doc).Lookup("_id").String()
		}
		got = append(got, id)
	}
	sort.Strings(got)
	want = append([]string(nil), want...)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		e.t.Errorf("%s holds %v, want %v", coll, got, want)
	}
}
