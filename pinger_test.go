package presence_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/juju/mgo/v2/bson"
	"github.com/juju/names/v4"

	"github.com/presence-go/presence"
	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/internal/testserver"
)

// startSlot is the slot the test clock starts in.
var startSlot = slot.Of(start.Unix(), int64(period/time.Second))

// TestDocumentsMatchJuju checks what a pinger and batcher write, field by
// field and type by type, against the layout Juju uses.
func TestDocumentsMatchJuju(t *testing.T) {
	e := newEnv(t)
	pb := e.batcher()
	uuid := modelA.Id()
	e.pinger(modelA, "first", pb)
	e.pinger(modelA, "second", pb)
	if err := pb.Sync(); err != nil {
		t.Fatal(err)
	}

	var seqs []bson.M
	if err := e.db.C("presence.seqs").Find(nil).All(&seqs); err != nil {
		t.Fatal(err)
	}
	assertDocs(t, "presence.seqs", seqs, []bson.M{{"_id": uuid + ":beings", "seq": int64(2)}})

	var beings []bson.M
	if err := e.db.C("presence.beings").Find(nil).Sort("seq").All(&beings); err != nil {
		t.Fatal(err)
	}
	assertDocs(t, "presence.beings", beings, []bson.M{
		{"_id": uuid + ":1", "seq": int64(1), "key": "first"},
		{"_id": uuid + ":2", "seq": int64(2), "key": "second"},
	})

	var pings []bson.M
	if err := e.db.C("presence.pings").Find(nil).All(&pings); err != nil {
		t.Fatal(err)
	}
	// Sequences 1 and 2 are bits 1 and 2 of field "0".
	assertDocs(t, "presence.pings", pings, []bson.M{{
		"_id":   uuid + ":" + itoa(startSlot),
		"slot":  startSlot,
		"alive": bson.M{"0": int64(1<<1 | 1<<2)},
	}})
}

func itoa(n int64) string { return strconvFormat(n) }

// assertDocs compares documents with reflect-like strictness on types:
// an int where an int64 is expected is a mismatch.
func assertDocs(t *testing.T, what string, got, want []bson.M) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d documents %v, want %d %v", what, len(got), got, len(want), want)
	}
	for i := range want {
		if !sameDoc(got[i], want[i]) {
			t.Errorf("%s[%d]:\n got  %s\n want %s", what, i, describe(got[i]), describe(want[i]))
		}
	}
}

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

func describe(doc bson.M) string {
	var b strings.Builder
	b.WriteString("{")
	for k, v := range doc {
		if m, ok := v.(bson.M); ok {
			b.WriteString(k + ": " + describe(m) + ", ")
			continue
		}
		b.WriteString(k + ": " + typed(v) + ", ")
	}
	b.WriteString("}")
	return b.String()
}

// TestReadsDocumentsWrittenByJuju writes by hand what Juju's code writes
// and checks that this package reads it and carries on the sequence.
func TestReadsDocumentsWrittenByJuju(t *testing.T) {
	e := newEnv(t)
	uuid := modelA.Id()
	insert(t, e.db.C("presence.seqs"), bson.M{"_id": uuid + ":beings", "seq": int64(70)})
	insert(t, e.db.C("presence.beings"),
		bson.M{"_id": uuid + ":5", "seq": int64(5), "key": "machine-0"},
		bson.M{"_id": uuid + ":66", "seq": int64(66), "key": "machine-1"},
		bson.M{"_id": uuid + ":70", "seq": int64(70), "key": "machine-2"},
	)
	// Seq 5 pinged in the previous slot, 66 (field "1", bit 3) in the
	// current one, 70 (field "1", bit 7) pinged and was killed.
	insert(t, e.db.C("presence.pings"),
		bson.M{"_id": uuid + ":" + itoa(startSlot-30), "slot": startSlot - 30, "alive": bson.M{"0": int64(1 << 5)}},
		bson.M{"_id": uuid + ":" + itoa(startSlot), "slot": startSlot,
			"alive": bson.M{"1": int64(1<<3 | 1<<7)}, "dead": bson.M{"1": int64(1 << 7)}},
	)
	w := e.watcher(modelA)
	assertAlive(t, w, "machine-0", true)
	assertAlive(t, w, "machine-1", true)
	assertAlive(t, w, "machine-2", false)

	// A new pinger continues the counter Juju left: seq 71 is field "1",
	// bit 8.
	pb := e.batcher()
	e.pinger(modelA, "machine-3", pb)
	flushAndSync(t, pb, w)
	assertAlive(t, w, "machine-3", true)
	var doc bson.M
	if err := e.db.C("presence.pings").FindId(uuid + ":" + itoa(startSlot)).One(&doc); err != nil {
		t.Fatal(err)
	}
	alive := doc["alive"].(bson.M)
	if got, want := alive["1"], int64(1<<3|1<<7|1<<8); got != want {
		t.Errorf("alive.1 = %s, want %s", typed(got), typed(want))
	}
}

func insert(t *testing.T, c interface{ Insert(...interface{}) error }, docs ...interface{}) {
	t.Helper()
	if err := c.Insert(docs...); err != nil {
		t.Fatal(err)
	}
}

// TestClockSkewFollowsServerTime starts a pinger whose local clock is
// years behind the server: with skew measured, it pings the server's slot.
func TestClockSkewFollowsServerTime(t *testing.T) {
	e := newEnv(t)
	pb := e.batcher()
	p := presence.NewPingerWithOptions(e.base, modelA, "k", func() presence.PingRecorder { return pb },
		presence.WithClock(e.clock), presence.WithPeriod(period))
	before := time.Now()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	after := time.Now()
	if err := pb.Sync(); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Slot int64 `bson:"slot"`
	}
	if err := e.db.C("presence.pings").Find(nil).One(&doc); err != nil {
		t.Fatal(err)
	}
	lo := slot.Of(before.Add(-time.Second).Unix(), 30)
	hi := slot.Of(after.Add(time.Second).Unix(), 30)
	if doc.Slot < lo || doc.Slot > hi {
		t.Errorf("pinged slot %d, want the server's, between %d and %d", doc.Slot, lo, hi)
	}
}

// TestBatcherKeepsPingsThroughOutage fails a flush on purpose and checks
// that the next one writes the pings it held.
func TestBatcherKeepsPingsThroughOutage(t *testing.T) {
	bridge := testserver.Shared(t).Bridge()
	if bridge == nil {
		t.Skip("skipped: needs the bridge's fault controls, absent with PRESENCE_TEST_MONGODB")
	}
	e := newEnv(t)
	pb := e.batcher()
	if err := pb.Ping(modelA.Id(), startSlot, "0", 1<<9); err != nil {
		t.Fatal(err)
	}
	bridge.SetRefusing(true)
	bridge.DropConnections()
	if err := pb.Sync(); err == nil {
		bridge.SetRefusing(false)
		t.Fatal("flush succeeded while the database was unreachable")
	}
	// A ping arriving during the outage joins the kept ones.
	if err := pb.Ping(modelA.Id(), startSlot, "1", 1); err != nil {
		t.Fatal(err)
	}
	bridge.SetRefusing(false)
	if err := pb.Sync(); err != nil {
		t.Fatalf("flush after the outage: %v", err)
	}
	var doc bson.M
	if err := e.db.C("presence.pings").FindId(modelA.Id() + ":" + itoa(startSlot)).One(&doc); err != nil {
		t.Fatal(err)
	}
	want := bson.M{"_id": modelA.Id() + ":" + itoa(startSlot), "slot": startSlot,
		"alive": bson.M{"0": int64(1 << 9), "1": int64(1)}}
	assertDocs(t, "presence.pings", []bson.M{doc}, []bson.M{want})
}

func TestPingerRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	pb := e.batcher()
	rec := func() presence.PingRecorder { return pb }
	cases := []struct {
		name  string
		p     *presence.Pinger
		errIs string
	}{
		{"empty model", presence.NewPinger(e.base, names.ModelTag{}, "k", rec), "empty model UUID"},
		{"nil base", presence.NewPinger(nil, modelA, "k", rec), "nil base collection"},
		{"nil recorder", presence.NewPinger(e.base, modelA, "k", nil), "nil ping recorder"},
		{"empty key", presence.NewPinger(e.base, modelA, "", rec), "empty key"},
		{"NUL in key", presence.NewPinger(e.base, modelA, "a\x00b", rec), "NUL"},
		{"bad UTF-8", presence.NewPinger(e.base, modelA, "a\xffb", rec), "UTF-8"},
		{"huge key", presence.NewPinger(e.base, modelA, strings.Repeat("k", 1<<20), rec), "longer than"},
	}
	for _, c := range cases {
		err := c.p.Start()
		if err == nil || !strings.Contains(err.Error(), c.errIs) {
			t.Errorf("%s: Start = %v, want an error about %q", c.name, err, c.errIs)
		}
		if err := c.p.Stop(); err != nil {
			t.Errorf("%s: Stop after a failed Start = %v", c.name, err)
		}
		if err := c.p.Wait(); err != nil {
			t.Errorf("%s: Wait after a failed Start = %v", c.name, err)
		}
	}
	var n int
	n, err := e.db.C("presence.beings").Count()
	if err != nil || n != 0 {
		t.Errorf("bad pingers wrote %d beings (%v)", n, err)
	}
}

func TestPingerStartTwice(t *testing.T) {
	e := newEnv(t)
	pb := e.batcher()
	p := e.pinger(modelA, "k", pb)
	if err := p.Start(); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Errorf("second Start = %v", err)
	}
}

// TestPingerDiesWithItsBatcher stops a pinger's batcher under it: the
// pinger's next ping fails and it stops with the batcher's error, and
// KillForTesting still writes the dead bit before it returns that error,
// as Juju's does.
func TestPingerDiesWithItsBatcher(t *testing.T) {
	e := newEnv(t)
	w := e.watcher(modelA)
	pb := presence.NewPingBatcherWithOptions(e.base, e.opts(presence.WithFlushInterval(time.Hour))...)
	p := presence.NewPingerWithOptions(e.base, modelA, "k", func() presence.PingRecorder { return pb }, e.opts()...)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := pb.Stop(); err != nil {
		t.Fatal(err)
	}
	w.Sync()
	assertAlive(t, w, "k", true)
	// The next ping goes to a stopped batcher: the pinger stops with that.
	if err := e.clock.WaitAdvance(period, waitTimeout, 2); err != nil {
		t.Fatal(err)
	}
	err := p.Wait()
	if err == nil || !strings.HasSuffix(err.Error(), "PingBatcher is stopped") {
		t.Errorf("pinger error = %v, want one ending in \"PingBatcher is stopped\"", err)
	}
	if kerr := p.KillForTesting(); kerr == nil || kerr.Error() != err.Error() {
		t.Errorf("KillForTesting = %v, want the loop's error %v", kerr, err)
	}
	w.Sync()
	assertAlive(t, w, "k", false)
	if err := p.Stop(); err != nil {
		t.Errorf("Stop after KillForTesting = %v", err)
	}
}

// TestShortPeriodsKeepLiveKeysAlive runs a pinger, a batcher flushing on
// its own timer and a watcher at slot periods from 1 s to 30 s, each with
// the flush intervals the docs allow (longer ones are shortened to a
// quarter of the period), and steps the clock through several slots a
// tenth of a period at a time: the running key reads alive at every step.
// Each run starts nine tenths into a slot, where a pinger's first ping is
// the latest it can be.
func TestShortPeriodsKeepLiveKeysAlive(t *testing.T) {
	e := newEnv(t)
	for _, p := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second} {
		for _, flush := range []time.Duration{presence.DefaultFlushInterval, p / 4, p / 10} {
			t.Run(fmt.Sprintf("period=%v/flush=%v", p, flush), func(t *testing.T) {
				model := names.NewModelTag(fmt.Sprintf("short-%d-%d", p/time.Millisecond, flush/time.Millisecond))
				into := time.Duration(e.clock.Now().UnixNano() % int64(p))
				e.advance((p*9/10 - into + p) % p)
				opts := e.opts(presence.WithPeriod(p), presence.WithFlushInterval(flush), presence.WithPruning(false))
				pb := presence.NewPingBatcherWithOptions(e.base, opts...)
				w := presence.NewWatcherWithOptions(e.base, model, opts...)
				pinger := presence.NewPingerWithOptions(e.base, model, "k", func() presence.PingRecorder { return pb }, opts...)
				if err := pinger.Start(); err != nil {
					t.Fatal(err)
				}
				e.addTimers(3)
				defer func() {
					pinger.Stop()
					w.Stop()
					pb.Stop()
					e.addTimers(-3)
				}()
				flushAndSync(t, pb, w)
				assertAlive(t, w, "k", true)
				for step := 1; step <= 45; step++ {
					e.advance(p / 10)
					w.Sync()
					alive, err := w.Alive("k")
					if err != nil || !alive {
						t.Fatalf("at %v into the run: Alive = %v, %v", time.Duration(step)*p/10, alive, err)
					}
				}
			})
		}
	}
}
