package presence_test

import (
	"strings"
	"testing"
	"time"

	"github.com/juju/mgo/v2/bson"
	"github.com/juju/names/v4"

	"github.com/presence-go/presence"
)

// within runs fn and fails the test if it has not returned after
// waitTimeout: the caller mistakes below must never block.
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

// TestWatcherOfMalformedModelIsDead builds watchers of an empty model tag
// and of one whose id holds the ':' separator: each is dead with an error
// that names the problem, and every method returns at once.
func TestWatcherOfMalformedModelIsDead(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		model names.ModelTag
		errIs string
	}{
		{names.ModelTag{}, "empty model UUID"},
		{names.NewModelTag("uuid:with-colon"), "contains ':'"},
	} {
		w := presence.NewWatcherWithOptions(e.base, c.model, e.opts()...)
		within(t, "Wait on a watcher of "+c.model.Id(), func() {
			if err := w.Wait(); err == nil || !strings.Contains(err.Error(), c.errIs) {
				t.Errorf("watcher of %q: Wait = %v, want an error about %q", c.model.Id(), err, c.errIs)
			}
		})
		within(t, "methods of a dead watcher", func() {
			ch := make(chan presence.Change)
			w.Watch("k", ch)
			w.Unwatch("k", ch)
			w.StartSync()
			w.Sync()
			if _, err := w.Alive("k"); err == nil {
				t.Errorf("watcher of %q: Alive gave no error", c.model.Id())
			}
			if err := w.Stop(); err == nil || !strings.Contains(err.Error(), c.errIs) {
				t.Errorf("watcher of %q: Stop = %v", c.model.Id(), err)
			}
		})
	}
}

// TestKeysWithDotsAndDollarsWork runs pingers whose keys hold characters
// that are special in MongoDB field names: keys are stored as values, so
// they work end to end, and their being documents carry them unchanged.
func TestKeysWithDotsAndDollarsWork(t *testing.T) {
	e := newEnv(t)
	pb := e.batcher()
	w := e.watcher(modelA)
	keys := []string{"machine.0", "$set", "a.$b.$", "unit-mysql/0#.$", "ключ", strings.Repeat("k", presence.MaxKeyLength)}
	pingers := make([]*presence.Pinger, len(keys))
	for i, key := range keys {
		pingers[i] = e.pinger(modelA, key, pb)
	}
	flushAndSync(t, pb, w)
	for _, key := range keys {
		assertAlive(t, w, key, true)
		n, err := e.db.C("presence.beings").Find(bson.M{"key": key}).Count()
		if err != nil || n != 1 {
			t.Errorf("being of key %.20q: %d found (%v), want 1", key, n, err)
		}
	}
	for _, p := range pingers {
		e.kill(p)
	}
	flushAndSync(t, pb, w)
	for _, key := range keys {
		assertAlive(t, w, key, false)
	}
}

// TestPingerRejectsMalformedModel gives a pinger a model id with ':' in
// it: Start fails and names the problem, and nothing is written.
func TestPingerRejectsMalformedModel(t *testing.T) {
	e := newEnv(t)
	pb := e.batcher()
	p := presence.NewPingerWithOptions(e.base, names.NewModelTag("a:b"), "k", func() presence.PingRecorder { return pb }, e.opts()...)
	if err := p.Start(); err == nil || !strings.Contains(err.Error(), "contains ':'") {
		t.Errorf("Start = %v, want an error about ':'", err)
	}
	if n := e.count("presence.seqs") + e.count("presence.beings"); n != 0 {
		t.Errorf("a pinger of a malformed model wrote %d documents", n)
	}
}

// TestWatcherIgnoresOddKeys watches and asks about keys no pinger can
// have: they are simply never alive.
func TestWatcherIgnoresOddKeys(t *testing.T) {
	e := newEnv(t)
	w := e.watcher(modelA)
	ch := make(chan presence.Change, 10)
	for _, key := range []string{"", "a\x00b", "a\xffb", strings.Repeat("k", 1<<20)} {
		w.Watch(key, ch)
		assertChange(t, ch, presence.Change{Key: key, Alive: false})
		assertAlive(t, w, key, false)
		w.Unwatch(key, ch)
	}
}

// TestWatchTwiceRegistersOnce watches one key on one channel twice: the
// current state comes twice, but a later change comes once.
func TestWatchTwiceRegistersOnce(t *testing.T) {
	e := newEnv(t)
	pb := e.batcher()
	w := e.watcher(modelA)
	ch := make(chan presence.Change, 10)
	w.Watch("k", ch)
	w.Watch("k", ch)
	assertChange(t, ch, presence.Change{Key: "k", Alive: false})
	assertChange(t, ch, presence.Change{Key: "k", Alive: false})
	e.pinger(modelA, "k", pb)
	flushAndSync(t, pb, w)
	assertChange(t, ch, presence.Change{Key: "k", Alive: true})
	w.Sync()
	assertNoChange(t, ch)
	if got := w.Report()["keys-watched"]; got != 1 {
		t.Errorf("keys-watched = %v, want 1", got)
	}
}

// TestUnwatchNeverWatchedIsNoOp unwatches keys and channels that were
// never watched, and a nil channel: nothing changes for the real watch.
func TestUnwatchNeverWatchedIsNoOp(t *testing.T) {
	e := newEnv(t)
	pb := e.batcher()
	w := e.watcher(modelA)
	ch := make(chan presence.Change, 10)
	w.Watch("k", ch)
	assertChange(t, ch, presence.Change{Key: "k", Alive: false})
	within(t, "Unwatch of what was never watched", func() {
		w.Unwatch("other", ch)
		w.Unwatch("k", make(chan presence.Change))
		w.Unwatch("k", nil)
		w.Watch("k", nil)
	})
	e.pinger(modelA, "k", pb)
	flushAndSync(t, pb, w)
	assertChange(t, ch, presence.Change{Key: "k", Alive: true})
}

// TestStopWithUnreadChannel stops a watcher blocked on delivering to a
// channel nobody reads: Stop still returns.
func TestStopWithUnreadChannel(t *testing.T) {
	e := newEnv(t)
	w := presence.NewWatcherWithOptions(e.base, modelA, e.opts(presence.WithPruning(false))...)
	w.Watch("k", make(chan presence.Change))
	within(t, "Stop of a watcher blocked on a channel", func() {
		if err := w.Stop(); err != nil {
			t.Errorf("Stop = %v", err)
		}
	})
}

// TestWatcherMethodsAfterStop calls every method of a stopped watcher:
// all return at once; Alive and Err say it stopped.
func TestWatcherMethodsAfterStop(t *testing.T) {
	e := newEnv(t)
	w := presence.NewWatcherWithOptions(e.base, modelA, e.opts(presence.WithPruning(false))...)
	if err := w.Stop(); err != nil {
		t.Fatal(err)
	}
	within(t, "methods of a stopped watcher", func() {
		ch := make(chan presence.Change)
		w.Watch("k", ch)
		w.Unwatch("k", ch)
		w.StartSync()
		w.Sync()
		if _, err := w.Alive("k"); err == nil {
			t.Errorf("Alive on a stopped watcher gave no error")
		}
		if err := w.Stop(); err != nil {
			t.Errorf("second Stop = %v", err)
		}
		if err := w.Wait(); err != nil {
			t.Errorf("Wait = %v", err)
		}
		w.Kill()
		<-w.Dead()
	})
}

// TestPingerStopTwiceAndRestart stops a pinger twice, then starts it
// again: it takes a new sequence and its key is alive once more.
func TestPingerStopTwiceAndRestart(t *testing.T) {
	e := newEnv(t)
	pb := e.batcher()
	w := e.watcher(modelA)
	p := e.pinger(modelA, "k", pb)
	first := p.Report()["seq"]
	e.stop(p)
	within(t, "Stop, Wait and Kill of a stopped pinger", func() {
		if err := p.Stop(); err != nil {
			t.Errorf("second Stop = %v", err)
		}
		if err := p.Wait(); err != nil {
			t.Errorf("Wait = %v", err)
		}
		p.Kill()
	})
	e.startPinger(p)
	second := p.Report()["seq"]
	if first != int64(1) || second != int64(2) {
		t.Errorf("sequences = %v then %v, want 1 then 2", first, second)
	}
	flushAndSync(t, pb, w)
	assertAlive(t, w, "k", true)
	// The key expires only once the restarted pinger stops too.
	e.advance(2 * period)
	flushAndSync(t, pb, w)
	assertAlive(t, w, "k", true)
	e.stop(p)
	e.advance(2 * period)
	flushAndSync(t, pb, w)
	assertAlive(t, w, "k", false)
}

// TestPingerNeverStartedStopsQuietly stops a pinger that never started:
// nothing happens and nothing is written.
func TestPingerNeverStartedStopsQuietly(t *testing.T) {
	e := newEnv(t)
	pb := e.batcher()
	p := e.newPinger(modelA, "k", pb)
	within(t, "Stop of a pinger never started", func() {
		if err := p.Stop(); err != nil {
			t.Errorf("Stop = %v", err)
		}
		if err := p.Wait(); err != nil {
			t.Errorf("Wait = %v", err)
		}
	})
	if n := e.count("presence.pings"); n != 0 {
		t.Errorf("a pinger never started wrote %d ping documents", n)
	}
}

// TestKillForTestingNeverStarted kills a pinger that never started, as
// Juju does: it takes a new sequence and writes it alive and dead, so the
// key reads dead even where an older sequence of it is still pinging.
func TestKillForTestingNeverStarted(t *testing.T) {
	e := newEnv(t)
	pb := e.batcher()
	w := e.watcher(modelA)
	e.pinger(modelA, "k", pb)
	flushAndSync(t, pb, w)
	assertAlive(t, w, "k", true)

	p := e.newPinger(modelA, "k", pb)
	if err := p.KillForTesting(); err != nil {
		t.Fatalf("KillForTesting = %v", err)
	}
	w.Sync()
	assertAlive(t, w, "k", false)
	var doc struct {
		Alive map[string]int64 `bson:"alive"`
		Dead  map[string]int64 `bson:"dead"`
	}
	if err := e.db.C("presence.pings").FindId(modelA.Id() + ":" + itoa(startSlot)).One(&doc); err != nil {
		t.Fatal(err)
	}
	// Sequence 1 pings; the kill took sequence 2 (bit 2 of field "0").
	if doc.Alive["0"] != 1<<1|1<<2 || doc.Dead["0"] != 1<<2 {
		t.Errorf("slot document alive %v dead %v; want sequence 2 alive and dead", doc.Alive, doc.Dead)
	}
}

// TestBatcherAfterStop pings and syncs a stopped batcher: both fail with
// an error that says it is stopped; a second Stop is fine.
func TestBatcherAfterStop(t *testing.T) {
	e := newEnv(t)
	pb := presence.NewPingBatcherWithOptions(e.base, e.opts(presence.WithFlushInterval(time.Hour))...)
	if err := pb.Stop(); err != nil {
		t.Fatal(err)
	}
	within(t, "methods of a stopped batcher", func() {
		if err := pb.Ping(modelA.Id(), startSlot, "0", 1); err == nil || !strings.Contains(err.Error(), "stopped") {
			t.Errorf("Ping after Stop = %v", err)
		}
		if err := pb.Sync(); err == nil || !strings.Contains(err.Error(), "stopped") {
			t.Errorf("Sync after Stop = %v", err)
		}
		if err := pb.Stop(); err != nil {
			t.Errorf("second Stop = %v", err)
		}
		if err := pb.Wait(); err != nil {
			t.Errorf("Wait = %v", err)
		}
	})
	if n := e.count("presence.pings"); n != 0 {
		t.Errorf("a stopped batcher wrote %d documents", n)
	}
}

// TestBatcherRejectsBadPings hands Ping arguments no Pinger produces: each
// is refused with an error and nothing reaches the database.
func TestBatcherRejectsBadPings(t *testing.T) {
	e := newEnv(t)
	pb := e.batcher()
	uuid := modelA.Id()
	for _, c := range []struct {
		name      string
		model     string
		fieldKey  string
		fieldBit  uint64
		errSubstr string
	}{
		{"no bit", uuid, "0", 0, "not one of the 63 bits"},
		{"two bits", uuid, "0", 3, "not one of the 63 bits"},
		{"sign bit", uuid, "0", 1 << 63, "not one of the 63 bits"},
		{"non-hex field", uuid, "g", 1, "not a hexadecimal"},
		{"dotted field", uuid, "0.1", 1, "not a hexadecimal"},
		{"dollar field", uuid, "$inc", 1, "not a hexadecimal"},
		{"empty field", uuid, "", 1, "not a hexadecimal"},
		{"upper-case field", uuid, "A", 1, "not a hexadecimal"},
		{"empty model", "", "0", 1, "empty model"},
		{"model with the separator", "a:b", "0", 1, "contains ':'"},
	} {
		err := pb.Ping(c.model, startSlot, c.fieldKey, c.fieldBit)
		if err == nil || !strings.Contains(err.Error(), c.errSubstr) {
			t.Errorf("%s: Ping = %v, want an error about %q", c.name, err, c.errSubstr)
		}
	}
	if err := pb.Sync(); err != nil {
		t.Fatalf("Sync after refused pings: %v", err)
	}
	if n := e.count("presence.pings"); n != 0 {
		t.Errorf("refused pings wrote %d documents", n)
	}
}

// TestPrunerOfMalformedModel prunes with an empty model id and one with
// ':': Prune fails and removes nothing.
func TestPrunerOfMalformedModel(t *testing.T) {
	e := newEnv(t)
	pb := e.batcher()
	e.pinger(modelA, "k", pb)
	if err := pb.Sync(); err != nil {
		t.Fatal(err)
	}
	for _, uuid := range []string{"", modelA.Id() + ":"} {
		p := presence.NewPrunerWithOptions(uuid, e.db.C("presence.beings"), e.db.C("presence.pings"), 0, e.opts()...)
		if err := p.Prune(nil); err == nil {
			t.Errorf("Prune of model %q gave no error", uuid)
		}
	}
	if n := e.count("presence.beings") + e.count("presence.pings"); n != 2 {
		t.Errorf("%d documents left, want 2", n)
	}
}
