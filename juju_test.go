package presence_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/juju/clock/testclock"
	"github.com/juju/errors"
	"github.com/juju/mgo/v2"
	"github.com/juju/mgo/v2/bson"
	"github.com/juju/names/v4"

	"github.com/presence-go/presence"
	"github.com/presence-go/presence/internal/testserver"
	"github.com/presence-go/presence/mgostore"
)

// jujuOpts are the options of workers built through this package in these
// tests: a clock standing at start, which no test advances, so that every
// write lands in startSlot.
func jujuOpts() []presence.Option {
	return []presence.Option{
		presence.WithClock(testclock.NewClock(start)),
		presence.WithClockSkew(false),
		presence.WithPeriod(period),
	}
}

// rawDocs returns the bytes of every document of c, sorted by _id.
func rawDocs(t *testing.T, c *mgo.Collection) [][]byte {
	t.Helper()
	var docs []bson.Raw
	if err := c.Find(nil).Sort("_id").All(&docs); err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, len(docs))
	for i, d := range docs {
		out[i] = d.Data
	}
	return out
}

// typedDoc renders a document with the Go type of every value, so that an
// int where an int64 belongs shows.
func typedDoc(doc bson.M) string {
	var b strings.Builder
	b.WriteString("{")
	for k, v := range doc {
		if m, ok := v.(bson.M); ok {
			b.WriteString(k + ": " + typedDoc(m) + ", ")
			continue
		}
		fmt.Fprintf(&b, "%s: %v (%T), ", k, v, v)
	}
	b.WriteString("}")
	return b.String()
}

// sameDoc compares documents with strictness on types: an int where an
// int64 is expected is a mismatch.
func sameDoc(got, want bson.M) bool {
	if len(got) != len(want) {
		return false
	}
	for k, wv := range want {
		gv, ok := got[k]
		if !ok {
			return false
		}
		if wm, ok := wv.(bson.M); ok {
			gm, ok := gv.(bson.M)
			if !ok || !sameDoc(gm, wm) {
				return false
			}
			continue
		}
		if gv != wv {
			return false
		}
	}
	return true
}

// assertDocs checks every document of c, in _id order, field by field and
// type by type.
func assertDocs(t *testing.T, c *mgo.Collection, want ...bson.M) {
	t.Helper()
	var got []bson.M
	if err := c.Find(nil).Sort("_id").All(&got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: got %d documents %v, want %d %v", c.FullName, len(got), got, len(want), want)
	}
	for i := range want {
		if !sameDoc(got[i], want[i]) {
			t.Errorf("%s[%d]:\n got  %s\n want %s", c.FullName, i, typedDoc(got[i]), typedDoc(want[i]))
		}
	}
}

// TestDocumentsMatchJuju checks what pingers and a batcher built through
// this package write, field by field and type by type, against the layout
// Juju uses; then, byte for byte, against what Juju's own operations (its
// counter's findAndModify, its being insert, its batcher's upsert and its
// KillForTesting's) write into another base of the same database.
func TestDocumentsMatchJuju(t *testing.T) {
	db := testserver.Shared(t).Database(t)
	base := db.C("presence")
	uuid := modelA.Id()
	pb := presence.NewPingBatcherWithOptions(base, append(jujuOpts(), presence.WithFlushInterval(time.Hour))...)
	defer pb.Stop()
	recorder := func() presence.PingRecorder { return pb }
	var pingers []*presence.Pinger
	for _, key := range []string{"first", "second"} {
		p := presence.NewPingerWithOptions(base, modelA, key, recorder, jujuOpts()...)
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		defer p.Stop()
		pingers = append(pingers, p)
	}
	if err := pb.Sync(); err != nil {
		t.Fatal(err)
	}

	assertDocs(t, db.C("presence.seqs"), bson.M{"_id": uuid + ":beings", "seq": int64(2)})
	assertDocs(t, db.C("presence.beings"),
		bson.M{"_id": uuid + ":1", "seq": int64(1), "key": "first"},
		bson.M{"_id": uuid + ":2", "seq": int64(2), "key": "second"},
	)
	slotID := fmt.Sprintf("%s:%d", uuid, startSlot)
	// Sequences 1 and 2 are bits 1 and 2 of field "0".
	assertDocs(t, db.C("presence.pings"), bson.M{
		"_id":   slotID,
		"slot":  startSlot,
		"alive": bson.M{"0": int64(1<<1 | 1<<2)},
	})

	if err := pingers[1].KillForTesting(); err != nil {
		t.Fatal(err)
	}
	assertDocs(t, db.C("presence.pings"), bson.M{
		"_id":   slotID,
		"slot":  startSlot,
		"alive": bson.M{"0": int64(1<<1 | 1<<2)},
		"dead":  bson.M{"0": int64(1 << 2)},
	})

	// The same through Juju's operations, under the base "juju".
	var counter struct {
		Seq int64 `bson:"seq"`
	}
	for i := 0; i < 2; i++ {
		inc := mgo.Change{Update: bson.D{{Name: "$inc", Value: bson.D{{Name: "seq", Value: int64(1)}}}}, Upsert: true, ReturnNew: true}
		if _, err := db.C("juju.seqs").FindId(uuid+":beings").Apply(inc, &counter); err != nil {
			t.Fatal(err)
		}
	}
	type beingInfo struct {
		DocID string `bson:"_id"`
		Seq   int64  `bson:"seq"`
		Key   string `bson:"key"`
	}
	if err := db.C("juju.beings").Insert(beingInfo{uuid + ":1", 1, "first"}, beingInfo{uuid + ":2", 2, "second"}); err != nil {
		t.Fatal(err)
	}
	for _, update := range []bson.D{
		{{Name: "$set", Value: bson.D{{Name: "slot", Value: startSlot}}}, {Name: "$bit", Value: bson.D{{Name: "alive.0", Value: bson.D{{Name: "or", Value: int64(1<<1 | 1<<2)}}}}}},
		{{Name: "$set", Value: bson.D{{Name: "slot", Value: startSlot}}}, {Name: "$bit", Value: bson.D{{Name: "dead.0", Value: bson.D{{Name: "or", Value: int64(1 << 2)}}}}}},
	} {
		if _, err := db.C("juju.pings").UpsertId(slotID, update); err != nil {
			t.Fatal(err)
		}
	}
	for _, suffix := range []string{".seqs", ".beings", ".pings"} {
		ours, juju := rawDocs(t, db.C("presence"+suffix)), rawDocs(t, db.C("juju"+suffix))
		if len(ours) == 0 || len(ours) != len(juju) {
			t.Errorf("%s: %d documents, Juju's operations wrote %d", suffix, len(ours), len(juju))
			continue
		}
		for i := range ours {
			if !bytes.Equal(ours[i], juju[i]) {
				t.Errorf("%s: document %d differs from Juju's:\n ours %q\n Juju %q", suffix, i, ours[i], juju[i])
			}
		}
	}
}

// assertNotValid checks that err is a caller's mistake that names its
// problem.
func assertNotValid(t *testing.T, what string, err error, problem string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), problem) {
		t.Errorf("%s = %v, want an error about %q", what, err, problem)
		return
	}
	if !errors.Is(err, errors.NotValid) {
		t.Errorf("%s = %v, not a NotValid error", what, err)
	}
}

// badBases are collections no worker can use, with what their error says.
func badBases(db *mgo.Database) []struct {
	name  string
	base  *mgo.Collection
	errIs string
} {
	return []struct {
		name  string
		base  *mgo.Collection
		errIs string
	}{
		{"nil base", nil, "nil base collection"},
		{"base of no database", &mgo.Collection{Name: "presence"}, "nil base collection"},
		{"nameless base", db.C(""), "base collection has no name"},
	}
}

// TestJujuConstructorsReportABadBase gives each constructor taking an
// *mgo.Collection one it cannot use: the watcher is dead, the pinger
// cannot start and the batcher is stopped, each with a NotValid error
// naming the problem, at once and without a panic.
func TestJujuConstructorsReportABadBase(t *testing.T) {
	db := testserver.Shared(t).Database(t)
	for _, c := range badBases(db) {
		w := presence.NewWatcher(c.base, modelA)
		assertNotValid(t, c.name+": watcher", w.Wait(), c.errIs)

		dead := presence.NewDeadPingBatcher(errors.New("unused"))
		p := presence.NewPinger(c.base, modelA, "k", func() presence.PingRecorder { return dead })
		assertNotValid(t, c.name+": pinger's Start", p.Start(), c.errIs)

		pb := presence.NewPingBatcher(c.base, time.Second)
		assertNotValid(t, c.name+": batcher", pb.Wait(), c.errIs)
	}
}

// TestRemovePresenceForModelRejectsBadInput removes a model from a base no
// store can be made of: a NotValid error naming the problem.
func TestRemovePresenceForModelRejectsBadInput(t *testing.T) {
	db := testserver.Shared(t).Database(t)
	for _, c := range badBases(db) {
		assertNotValid(t, c.name+": RemovePresenceForModel", presence.RemovePresenceForModel(c.base, modelA), c.errIs)
	}
}

// TestRemovePresenceForModelRemovesOneModel runs two models' pingers
// through this package, removes one model: none of its documents is left
// in any collection, and the other model's are all there.
func TestRemovePresenceForModelRemovesOneModel(t *testing.T) {
	db := testserver.Shared(t).Database(t)
	base := db.C("presence")
	pb := presence.NewPingBatcherWithOptions(base, append(jujuOpts(), presence.WithFlushInterval(time.Hour))...)
	defer pb.Stop()
	for _, model := range []names.ModelTag{modelA, modelB} {
		p := presence.NewPingerWithOptions(base, model, "k", func() presence.PingRecorder { return pb }, jujuOpts()...)
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		defer p.Stop()
	}
	if err := pb.Sync(); err != nil {
		t.Fatal(err)
	}
	count := func(model string) map[string]int {
		t.Helper()
		n := map[string]int{}
		for _, name := range []string{"presence.seqs", "presence.beings", "presence.pings"} {
			c, err := db.C(name).Find(bson.M{"_id": bson.RegEx{Pattern: "^" + model + ":"}}).Count()
			if err != nil {
				t.Fatal(err)
			}
			n[name] = c
		}
		return n
	}
	kept := count(modelB.Id())
	if err := presence.RemovePresenceForModel(base, modelA); err != nil {
		t.Fatal(err)
	}
	for name, n := range count(modelA.Id()) {
		if n != 0 {
			t.Errorf("%d documents of the removed model left in %s", n, name)
		}
	}
	for name, n := range count(modelB.Id()) {
		if n != 1 || kept[name] != 1 {
			t.Errorf("%s holds %d documents of the other model, %d before; want 1", name, n, kept[name])
		}
	}
}

// TestNewPrunerTakesTwoCollections prunes through the constructor Juju
// calls with its beings and pings collections: a superseded being and an
// old slot go, the newest being and the live slot stay. Without either
// collection, Prune reports a NotValid error naming the missing one.
func TestNewPrunerTakesTwoCollections(t *testing.T) {
	db := testserver.Shared(t).Database(t)
	beings, pings := db.C("presence.beings"), db.C("presence.pings")
	uuid := modelA.Id()
	if err := beings.Insert(
		bson.M{"_id": uuid + ":1", "seq": int64(1), "key": "k"},
		bson.M{"_id": uuid + ":2", "seq": int64(2), "key": "k"},
	); err != nil {
		t.Fatal(err)
	}
	old := startSlot - 10*30
	if err := pings.Insert(
		bson.M{"_id": fmt.Sprintf("%s:%d", uuid, old), "slot": old, "alive": bson.M{"0": int64(1 << 1)}},
		bson.M{"_id": fmt.Sprintf("%s:%d", uuid, startSlot), "slot": startSlot, "alive": bson.M{"0": int64(1 << 2)}},
	); err != nil {
		t.Fatal(err)
	}
	if err := presence.NewPrunerWithOptions(uuid, beings, pings, 0, jujuOpts()...).Prune(nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		coll *mgo.Collection
		want string
	}{{beings, uuid + ":2"}, {pings, fmt.Sprintf("%s:%d", uuid, startSlot)}} {
		var left []struct {
			ID string `bson:"_id"`
		}
		if err := c.coll.Find(nil).All(&left); err != nil {
			t.Fatal(err)
		}
		if len(left) != 1 || left[0].ID != c.want {
			t.Errorf("%s holds %v after a prune, want %s alone", c.coll.FullName, left, c.want)
		}
	}

	assertNotValid(t, "Prune without beings", presence.NewPruner(uuid, nil, pings, 0).Prune(nil), "nil beings collection")
	assertNotValid(t, "Prune without pings", presence.NewPruner(uuid, beings, nil, 0).Prune(nil), "nil pings collection")
}

// TestStoppedWorkersTexts pins the whole text of the errors Juju's callers
// match (gocheck's ErrorMatches anchors the whole string): a stopped
// batcher's Ping and Sync, a dead batcher's, Alive on a stopped or dead
// watcher, Start on a running pinger, and a failed RemovePresenceForModel.
// errors.Is finds the sentinel of each state all the same.
func TestStoppedWorkersTexts(t *testing.T) {
	db := testserver.Shared(t).Database(t)
	base := db.C("presence")
	assertText := func(what string, err, sentinel error, want string) {
		t.Helper()
		if err == nil || err.Error() != want || (sentinel != nil && !errors.Is(err, sentinel)) {
			t.Errorf("%s = %v; want %q, for which errors.Is(err, %v) holds", what, err, want, sentinel)
		}
	}

	pb := presence.NewPingBatcherWithOptions(base, append(jujuOpts(), presence.WithFlushInterval(time.Hour))...)
	p := presence.NewPingerWithOptions(base, modelA, "k", func() presence.PingRecorder { return pb }, jujuOpts()...)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	err := p.Start()
	assertText("Start of a running pinger", err, presence.ErrAlreadyStarted, "pinger already started")
	if !errors.Is(err, errors.NotValid) {
		t.Errorf("Start of a running pinger = %v, not a NotValid error", err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := pb.Stop(); err != nil {
		t.Fatal(err)
	}
	assertText("Ping on a stopped batcher", pb.Ping("test-uuid", startSlot, "0", 8), presence.ErrStopped, "PingBatcher is stopped")
	assertText("Sync on a stopped batcher", pb.Sync(), presence.ErrStopped, "PingBatcher is stopped")

	testErr := fmt.Errorf("this is an error")
	dead := presence.NewDeadPingBatcher(testErr)
	assertText("Ping on a dead batcher", dead.Ping("test-uuid", startSlot, "0", 8), presence.ErrStopped, "this is an error")
	assertText("Sync on a dead batcher", dead.Sync(), presence.ErrStopped, "this is an error")
	assertText("Stop of a dead batcher", dead.Stop(), testErr, "this is an error")
	assertText("Ping on a batcher dead without error", presence.NewDeadPingBatcher(nil).Ping("test-uuid", startSlot, "0", 8),
		presence.ErrStopped, "PingBatcher is stopped")

	w := presence.NewWatcherWithOptions(base, modelA, jujuOpts()...)
	if err := w.Stop(); err != nil {
		t.Fatal(err)
	}
	_, err = w.Alive("a")
	assertText("Alive on a stopped watcher", err, presence.ErrDying, "cannot check liveness: watcher is dying")
	_, err = presence.NewDeadWatcher(testErr).Alive("a")
	assertText("Alive on a dead watcher", err, presence.ErrDying, "cannot check liveness: watcher is dying")

	// The server refuses the namespaces of a database named so.
	bad := db.Session.DB("bad/name").C("presence")
	store, err := mgostore.New(bad)
	if err != nil {
		t.Fatal(err)
	}
	storeErr := store.RemoveModel(context.Background(), modelA.Id())
	if storeErr == nil {
		t.Fatal("the server took a database named bad/name")
	}
	assertText("RemovePresenceForModel of a database the server refuses", presence.RemovePresenceForModel(bad, modelA), nil,
		fmt.Sprintf("errors removing presence for model %q: %v", modelA.Id(), storeErr))
}

// TestJujuModelIDsAreTaken runs every worker of this package on a model id
// of Juju's tests, which is not a UUID: Juju took any id, and so does this
// package.
func TestJujuModelIDsAreTaken(t *testing.T) {
	db := testserver.Shared(t).Database(t)
	base := db.C("presence")
	model := names.NewModelTag("test-uuid")
	pb := presence.NewPingBatcherWithOptions(base, append(jujuOpts(), presence.WithFlushInterval(time.Hour))...)
	defer pb.Stop()
	p := presence.NewPingerWithOptions(base, model, "k", func() presence.PingRecorder { return pb }, jujuOpts()...)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if err := pb.Sync(); err != nil {
		t.Fatal(err)
	}
	w := presence.NewWatcherWithOptions(base, model, append(jujuOpts(), presence.WithPruning(false))...)
	defer w.Stop()
	if alive, err := w.Alive("k"); err != nil || !alive {
		t.Errorf("Alive = %v, %v; want true", alive, err)
	}
	if err := presence.NewPrunerWithOptions(model.Id(), db.C("presence.beings"), db.C("presence.pings"), 0, jujuOpts()...).Prune(nil); err != nil {
		t.Errorf("Prune = %v", err)
	}
	if err := presence.RemovePresenceForModel(base, model); err != nil {
		t.Errorf("RemovePresenceForModel = %v", err)
	}
}
