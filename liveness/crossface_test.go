package liveness_test

import (
	"bytes"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/liveness"
)

// These tests run workers of both faces on one database: a program on
// either driver sees the agents of a program on the other, as a Juju
// controller on mgo and a newer one on the official driver would while a
// fleet is upgraded.

// TestKillIsSeenAcrossFaces runs a pinger and its batcher on one face and
// a watcher on the other: the watcher sees the key come alive, then dead
// at its next sync once the pinger is killed.
func TestKillIsSeenAcrossFaces(t *testing.T) {
	acrossFaces(t, func(t *testing.T, from, to *env) {
		pb := from.batcher()
		w := to.watcher(modelA)
		ch := watch(t, w, "k", false)

		p := from.pinger(modelA, "k", pb)
		flushAndSync(t, pb, w)
		assertChange(t, ch, liveness.Change{Key: "k", Alive: true})
		assertAlive(t, w, "k", true)

		from.kill(p)
		w.Sync()
		assertChange(t, ch, liveness.Change{Key: "k", Alive: false})
		assertAlive(t, w, "k", false)
		assertNoChange(t, ch)
	})
}

// TestQuietStopExpiresAcrossFaces runs a pinger and its batcher on one face
// and a watcher on the other, then stops the pinger quietly: the key stays
// alive while the slot it last pinged is live, and reads dead two periods
// on, with no write from either face.
func TestQuietStopExpiresAcrossFaces(t *testing.T) {
	acrossFaces(t, func(t *testing.T, from, to *env) {
		pb := from.batcher()
		w := to.watcher(modelA)
		p := from.pinger(modelA, "k", pb)
		flushAndSync(t, pb, w)
		ch := watch(t, w, "k", true)

		from.stop(p)
		from.advance(period)
		flushAndSync(t, pb, w)
		assertAlive(t, w, "k", true)
		assertNoChange(t, ch)
		from.advance(period)
		flushAndSync(t, pb, w)
		assertChange(t, ch, liveness.Change{Key: "k", Alive: false})
		assertAlive(t, w, "k", false)
	})
}

// TestFacesWriteIdenticalDocuments has each face's workers do the same
// things, at the same times, under base collections of their own in one
// database: pingers start, ping through two slots, one is killed, one that
// never started is killed, one stops. Read raw, every document of one
// face is byte for byte the other's.
func TestFacesWriteIdenticalDocuments(t *testing.T) {
	onMgo, onOfficial := bothFacesOn(t, "bymgo", "byofficial")
	type run struct {
		e        *env
		pb       *liveness.PingBatcher
		pingers  []*liveness.Pinger
		stranger *liveness.Pinger
	}
	runs := []*run{{e: onMgo}, {e: onOfficial}}
	for _, r := range runs {
		r.pb = r.e.batcher()
		for _, key := range []string{"machine-0", "machine-1", "unit-mysql/0"} {
			r.pingers = append(r.pingers, r.e.pinger(modelA, key, r.pb))
		}
		r.stranger = r.e.newPinger(modelA, "machine-1", r.pb)
		if err := r.pb.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	onMgo.advance(period)
	for _, r := range runs {
		if err := r.pb.Sync(); err != nil {
			t.Fatal(err)
		}
		r.e.kill(r.pingers[0])
		r.e.stop(r.pingers[2])
		if err := r.stranger.KillForTesting(); err != nil {
			t.Fatal(err)
		}
		if err := r.pb.Sync(); err != nil {
			t.Fatal(err)
		}
	}

	for _, suffix := range []string{".seqs", ".beings", ".pings"} {
		byMgo := onMgo.raw("bymgo"+suffix, bson.D{})
		byOfficial := onMgo.raw("byofficial"+suffix, bson.D{})
		if len(byMgo) == 0 {
			t.Errorf("the mgo face wrote nothing into %s", "bymgo"+suffix)
		}
		if len(byMgo) != len(byOfficial) {
			t.Errorf("%s: the mgo face wrote %d documents, the official one %d", suffix, len(byMgo), len(byOfficial))
			continue
		}
		for i := range byMgo {
			if !bytes.Equal(byMgo[i], byOfficial[i]) {
				t.Errorf("%s: documents differ:\n mgo      %v\n official %v", suffix, bson.Raw(byMgo[i]), bson.Raw(byOfficial[i]))
			}
		}
	}
}
