package benchsuite

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The liveness a user would build on MongoDB without this library: one
// heartbeat document per agent, {_id: key, seen: <time>}, upserted every
// 0.75 period; a TTL index on seen expiring documents two periods old;
// watchers asking every period for the documents seen in the last two
// periods. It is here only to be measured against the library, never as
// an API.

// heartbeatEvery is how often an agent upserts its document.
const heartbeatEvery = benchPeriod * 3 / 4

// heartbeatExpiry is how old a heartbeat may be for its agent to count as
// alive, and the TTL of the documents.
const heartbeatExpiry = 2 * benchPeriod

// heartbeats is the collection of heartbeat documents.
type heartbeats struct {
	coll *mongo.Collection
}

// setup creates the TTL index. It reports whether the server took it:
// FerretDB v1 answers NotImplemented, and its documents never expire.
func (h heartbeats) setup(ctx context.Context) (ttl bool, err error) {
	_, err = h.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "seen", Value: 1}},
		Options: options.Index().SetExpireAfterSeconds(int32(heartbeatExpiry / time.Second)),
	})
	var cmdErr mongo.CommandError
	if errors.As(err, &cmdErr) && cmdErr.Code == 238 { // NotImplemented
		return false, nil
	}
	return err == nil, err
}

// beat records that key was alive at now. In production now would be the
// server's time ($currentDate); here it is the driven clock's, which
// stands for it.
func (h heartbeats) beat(ctx context.Context, key string, now time.Time) error {
	_, err := h.coll.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: key}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "seen", Value: now}}}},
		options.UpdateOne().SetUpsert(true))
	return err
}

// seed writes the documents of agents 0 … n-1, last seen at the instants
// seen returns, a thousand per insert command.
func (h heartbeats) seed(ctx context.Context, n int, seen func(i int) time.Time) error {
	docs := make([]any, 0, 1000)
	for i := 0; i < n; i++ {
		docs = append(docs, bson.D{{Key: "_id", Value: heartbeatKey(i)}, {Key: "seen", Value: seen(i)}})
		if len(docs) == cap(docs) || i == n-1 {
			if _, err := h.coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
				return err
			}
			docs = docs[:0]
		}
	}
	return nil
}

func heartbeatKey(i int) string { return fmt.Sprintf("unit-%d", i) }

// heartbeatWatcher tells which agents are alive from their heartbeats.
type heartbeatWatcher struct {
	coll  *mongo.Collection
	alive map[string]bool
}

func newHeartbeatWatcher(h heartbeats) *heartbeatWatcher {
	return &heartbeatWatcher{coll: h.coll, alive: map[string]bool{}}
}

// sync reads the keys seen in the last two periods before now, and calls
// changed for each whose liveness moved since the last sync.
func (w *heartbeatWatcher) sync(ctx context.Context, now time.Time, changed func(key string, alive bool)) error {
	cursor, err := w.coll.Find(ctx,
		bson.D{{Key: "seen", Value: bson.D{{Key: "$gt", Value: now.Add(-heartbeatExpiry)}}}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return err
	}
	defer cursor.Close(ctx)
	seen := make(map[string]bool, len(w.alive))
	for cursor.Next(ctx) {
		key, ok := cursor.Current.Lookup("_id").StringValueOK()
		if !ok {
			continue
		}
		seen[key] = true
		if !w.alive[key] && changed != nil {
			changed(key, true)
		}
	}
	if err := cursor.Err(); err != nil {
		return err
	}
	for key := range w.alive {
		if !seen[key] && changed != nil {
			changed(key, false)
		}
	}
	w.alive = seen
	return nil
}

// heartbeatResult is what a heartbeat run measured.
type heartbeatResult struct {
	seconds     float64
	writes      int
	bytes       wireBytes
	delays      []time.Duration
	stops       int
	falseDeaths int
	missed      int
	ttl         bool
}

// heartbeatEvent is an agent's next heartbeat.
type heartbeatEvent struct {
	at    time.Time
	agent int
}

type heartbeatQueue []heartbeatEvent

func (q heartbeatQueue) Len() int           { return len(q) }
func (q heartbeatQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q heartbeatQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *heartbeatQueue) Push(x any)        { *q = append(*q, x.(heartbeatEvent)) }
func (q *heartbeatQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// runHeartbeats plays n agents heartbeating for the given number of
// periods, on a simulated clock, with one watcher polling every period at
// its own phase. stops agents stop quietly at random instants of periods
// 1 to 4; the watcher's reports are checked against them. Writes and bytes
// are counted from period measureFrom on.
func runHeartbeats(b *testing.B, n, periods, measureFrom, stops int) heartbeatResult {
	ctx := context.Background()
	client, wc := countedClient(b)
	d := sharedServer(b).newDatabase(b, fmt.Sprintf("heartbeat%d", n))
	h := heartbeats{coll: client.Database(d.name).Collection("heartbeats")}
	var res heartbeatResult
	var err error
	if res.ttl, err = h.setup(ctx); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	start := time.Unix(benchSlot, 0)
	// Every agent has run for a while: its last heartbeat was at a random
	// instant of the heartbeat interval before the start.
	var queue heartbeatQueue
	phase := make([]time.Duration, n)
	for i := range phase {
		phase[i] = time.Duration(rng.Int64N(int64(heartbeatEvery)))
		heap.Push(&queue, heartbeatEvent{start.Add(phase[i]), i})
	}
	if err := h.seed(ctx, n, func(i int) time.Time { return start.Add(phase[i] - heartbeatEvery) }); err != nil {
		b.Fatal(err)
	}
	stopAt := map[int]time.Time{}
	for len(stopAt) < stops {
		stopAt[rng.IntN(n)] = start.Add(benchPeriod + time.Duration(rng.Int64N(int64(3*benchPeriod))))
	}
	pending := map[string]time.Time{} // stopped, not yet reported dead
	for i, at := range stopAt {
		pending[heartbeatKey(i)] = at
	}
	w := newHeartbeatWatcher(h)
	if err := w.sync(ctx, start, nil); err != nil {
		b.Fatal(err)
	}
	nextPoll := start.Add(time.Duration(rng.Int64N(int64(benchPeriod))))
	end := start.Add(time.Duration(periods) * benchPeriod)
	measureAt := start.Add(time.Duration(measureFrom) * benchPeriod)
	var before wireBytes
	measuring := false
	for {
		now := nextPoll
		if len(queue) > 0 && queue[0].at.Before(now) {
			now = queue[0].at
		}
		if !now.Before(end) {
			break
		}
		if !measuring && !now.Before(measureAt) {
			measuring, before = true, wc.snapshot()
		}
		if now.Equal(nextPoll) {
			err := w.sync(ctx, now, func(key string, alive bool) {
				if alive {
					return
				}
				at, ok := pending[key]
				if !ok {
					res.falseDeaths++
					return
				}
				delete(pending, key)
				res.delays = append(res.delays, now.Sub(at))
			})
			if err != nil {
				b.Fatal(err)
			}
			nextPoll = nextPoll.Add(benchPeriod)
			continue
		}
		e := heap.Pop(&queue).(heartbeatEvent)
		if at, ok := stopAt[e.agent]; ok && !e.at.Before(at) {
			continue // stopped: no more heartbeats
		}
		if err := h.beat(ctx, heartbeatKey(e.agent), e.at); err != nil {
			b.Fatal(err)
		}
		if measuring {
			res.writes++
		}
		heap.Push(&queue, heartbeatEvent{e.at.Add(heartbeatEvery), e.agent})
	}
	res.bytes = wc.snapshot().since(before)
	res.seconds = end.Sub(measureAt).Seconds()
	res.stops = stops
	res.missed = len(pending)
	return res
}
