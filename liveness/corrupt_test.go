package liveness_test

import (
	"context"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/juju/errors"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/presence-go/presence/liveness"
)

// logRecorder is a slog.Handler that keeps every record, so tests can check
// what the workers logged and how often.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.records = append(r.records, rec.Clone())
	r.mu.Unlock()
	return nil
}

func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// documents returns, for each record whose message contains msg, the
// value of its "document" attribute, counted. The database name that
// starts each collection's full name is cut off.
func (r *logRecorder) documents(msg string) map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	docs := make(map[string]int)
	for _, rec := range r.records {
		if !strings.Contains(rec.Message, msg) {
			continue
		}
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "document" {
				doc := a.Value.String()
				if i := strings.Index(doc, "presence."); i >= 0 {
					doc = doc[i:]
				}
				docs[doc]++
			}
			return true
		})
	}
	return docs
}

// insertCorruptModel writes, for modelA, valid beings and pings for the
// keys good-1 (seq 1), good-2 (seq 2) and old (seqs 11 and 12), next to
// documents someone else wrote wrong. It returns the _ids of the corrupt
// documents a watcher reads, as the watcher names them in its log.
func insertCorruptModel(e *env) []string {
	uuid := modelA
	previous, current := startSlot-30, startSlot
	// A counter further on, so that real pingers take fresh sequences.
	e.insert("presence.seqs", bson.M{"_id": uuid + ":beings", "seq": int64(20)})
	e.insert("presence.beings",
		bson.M{"_id": uuid + ":1", "seq": int64(1), "key": "good-1"},
		bson.M{"_id": uuid + ":2", "seq": int64(2), "key": "good-2"},
		bson.M{"_id": uuid + ":3", "seq": int64(3), "key": int64(42)},              // key not a string
		bson.M{"_id": uuid + ":4", "seq": "4", "key": "string-seq"},                // seq not an integer
		bson.M{"_id": uuid + ":5", "seq": int64(6), "key": "mismatched-seq"},       // seq does not match _id
		bson.M{"_id": uuid + ":7", "seq": 7.0, "key": "float-seq"},                 // seq a float
		bson.M{"_id": int64(8), "seq": int64(8), "key": "int-id"},                  // _id not a string
		bson.M{"_id": bson.M{"id": uuid + ":9"}, "seq": int64(9), "key": "doc-id"}, // _id a document
		bson.M{"_id": uuid + ":11", "seq": int64(11), "key": "old"},
		bson.M{"_id": uuid + ":12", "seq": int64(12), "key": "old"},
	)
	e.insert("presence.pings",
		// The previous slot's alive part is not a document at all, and its
		// dead part is an array.
		bson.M{"_id": docID(uuid, previous), "slot": previous,
			"alive": "garbage", "dead": bson.A{int64(1 << 1)}},
		// The current slot has no slot field; next to the valid field "0"
		// (seqs 1 to 5 and 7) sit fields with bad names and bad values.
		bson.M{"_id": docID(uuid, current),
			"alive": bson.M{
				"0":                int64(1<<1 | 1<<2 | 1<<3 | 1<<4 | 1<<5 | 1<<7),
				"-1":               int64(1),
				"0x1":              int64(1),
				"ffffffffffffffff": int64(1),
				"1":                1.5,
				"2":                "7",
				"3":                int64(-5),
				"4":                int64(math.MinInt64),
				"5":                1e300,
				"6":                bson.M{"nested": int64(1)},
			},
			"dead": bson.M{"zz": int64(1 << 1)},
		},
		// Documents no query of this model can match; they must not matter.
		bson.M{"_id": int64(current), "slot": current, "alive": bson.M{"0": int64(1 << 8)}},
		bson.M{"_id": bson.M{"model": uuid, "slot": current}, "slot": current, "alive": bson.M{"0": int64(1 << 9)}},
		bson.M{"_id": uuid + ":junk", "alive": int64(5)},
		bson.M{"_id": docID(uuid, previous-300), "slot": previous - 300, "alive": bson.M{"zz": "zz"}},
	)
	return []string{
		`presence.pings "` + docID(uuid, previous) + `"`,
		`presence.pings "` + docID(uuid, current) + `"`,
		`presence.beings "` + uuid + `:3"`,
		`presence.beings "` + uuid + `:4"`,
		`presence.beings "` + uuid + `:5"`,
		`presence.beings "` + uuid + `:7"`,
	}
}

// TestWatcherSkipsCorruptDocuments reads a model whose collections hold
// documents of every wrong shape next to valid ones: the valid keys read
// alive, the corrupt documents are counted and logged once each, and the
// watcher keeps working, also for a pinger started afterwards.
func TestWatcherSkipsCorruptDocuments(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		corrupt := insertCorruptModel(e)
		logs := &logRecorder{}
		w := liveness.NewWatcher(e.store, modelA, e.opts(liveness.WithPruning(false), liveness.WithLogger(slog.New(logs)))...)
		e.addTimers(1)
		t.Cleanup(func() {
			if err := w.Stop(); err != nil {
				t.Errorf("stopping watcher: %v", err)
			}
		})

		watch(t, w, "good-1", true)
		assertAlive(t, w, "good-2", true)
		for _, key := range []string{"string-seq", "mismatched-seq", "float-seq", "int-id", "doc-id", "old"} {
			assertAlive(t, w, key, false)
		}

		// Read the same documents again: they are neither logged nor
		// counted twice.
		w.Sync()
		w.Sync()
		if got := w.Report()["corrupt-documents"]; got != len(corrupt) {
			t.Errorf("corrupt-documents = %v, want %d", got, len(corrupt))
		}
		logged := logs.documents("corrupt")
		for _, id := range corrupt {
			if logged[id] != 1 {
				t.Errorf("document %s logged %d times, want once (all: %v)", id, logged[id], logged)
			}
		}
		if len(logged) != len(corrupt) {
			t.Errorf("logged %d corrupt documents, want %d: %v", len(logged), len(corrupt), logged)
		}

		// The watcher still follows live pingers in the same documents.
		pb := e.batcher()
		p := e.pinger(modelA, "fresh", pb)
		flushAndSync(t, pb, w)
		assertAlive(t, w, "fresh", true)
		assertAlive(t, w, "good-1", true)
		e.kill(p)
		flushAndSync(t, pb, w)
		assertAlive(t, w, "fresh", false)
		assertAlive(t, w, "good-1", true)
		select {
		case <-w.Dead():
			t.Fatalf("watcher died: %v", w.Err())
		default:
		}
	})
}

// TestPrunerSkipsCorruptDocuments prunes the same model: corrupt beings
// and pings are left alone and logged, superseded valid beings and old
// pings are still removed, and the valid keys still read alive.
func TestPrunerSkipsCorruptDocuments(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		insertCorruptModel(e)
		logs := &logRecorder{}
		pruner := liveness.NewPruner(e.store, modelA, 0, e.opts(liveness.WithLogger(slog.New(logs)))...)
		if err := pruner.Prune(nil); err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if err := pruner.Prune(nil); err != nil {
			t.Fatalf("second Prune: %v", err)
		}
		uuid := modelA
		byID := func(id string) bson.E { return bson.E{Key: "_id", Value: id} }
		if n := e.count("presence.beings", byID(uuid+":11")); n != 0 {
			t.Errorf("superseded being %s:11 was not pruned", uuid)
		}
		for _, id := range []string{":1", ":2", ":3", ":4", ":5", ":12"} {
			if n := e.count("presence.beings", byID(uuid+id)); n != 1 {
				t.Errorf("being %s%s: %d left, want 1", uuid, id, n)
			}
		}
		if n := e.count("presence.pings", byID(docID(uuid, startSlot-330))); n != 0 {
			t.Errorf("old corrupt ping document: %d left, want 0", n)
		}
		if n := e.count("presence.pings", byID(docID(uuid, startSlot))); n != 1 {
			t.Errorf("current ping document: %d left, want 1", n)
		}
		logged := logs.documents("corrupt")
		for _, id := range []string{
			`presence.beings "` + uuid + `:3"`,
			`presence.beings "` + uuid + `:4"`,
			`presence.beings "` + uuid + `:5"`,
			`presence.beings "` + uuid + `:7"`,
			// The current slot document has no slot field, so the
			// pruner's query by slot never reads it; the previous one it
			// does read.
			`presence.pings "` + docID(uuid, startSlot-30) + `"`,
		} {
			// Two prunes, one log line: each document is logged once.
			if logged[id] != 1 {
				t.Errorf("pruner logged corrupt document %s %d times, want once (all: %v)", id, logged[id], logged)
			}
		}

		w := e.watcher(modelA)
		assertAlive(t, w, "good-1", true)
		assertAlive(t, w, "good-2", true)
	})
}

// TestCorruptSequenceCounter gives a model a counter someone else wrote as
// a string: a pinger's Start fails with an error naming the seqs
// collection, and nothing panics or blocks; other models are unaffected.
// The failure is the database's, not a mistake of the caller's.
func TestCorruptSequenceCounter(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		e.insert("presence.seqs", bson.M{"_id": modelA + ":beings", "seq": "twenty"})
		pb := e.batcher()
		p := e.newPinger(modelA, "k", pb)
		err := p.Start()
		if err == nil || !strings.Contains(err.Error(), "presence.seqs") {
			t.Errorf("Start with a string counter = %v, want an error naming presence.seqs", err)
		}
		if errors.Is(err, errors.NotValid) {
			t.Errorf("Start with a string counter = %v, a NotValid error: the caller made no mistake", err)
		}
		if err := p.Stop(); err != nil {
			t.Errorf("Stop after a failed Start = %v", err)
		}
		w := e.watcher(modelB)
		e.pinger(modelB, "k", pb)
		flushAndSync(t, pb, w)
		assertAlive(t, w, "k", true)
	})
}
