// Package liveness tells a controller which of its many agents are alive,
// using only the MongoDB database the controller already has. It is the
// engine of module github.com/presence-go/presence: it knows no driver, and
// reaches the database through a Store. Package mongostore gives a Store
// over the official driver (go.mongodb.org/mongo-driver/v2); package
// presence, Juju's API over github.com/juju/mgo/v2, is built on this one,
// and its types are these.
//
// # The model
//
// Time is cut into slots of a fixed period (30 s by default), aligned on the
// database server's clock. Every agent runs a Pinger for its key. Each
// Start takes a new sequence number for the model and records which key it
// belongs to; from then on the pinger marks its sequence's bit in the
// document of each slot once, at a random point of the slot's first quarter
// (the ping window). One PingBatcher per controller gathers the pings of
// all its pingers and writes them with one upsert per slot document: news
// (a pinger that just started) at the next flush, refreshes (a sequence
// already written into the previous slot) together once the ping window is
// over, so a steady fleet costs about one write per model per slot.
//
// A Watcher reads the current and the previous slot of its model. A key is
// alive when the newest of its sequences seen there has pinged and has not
// been killed. So an agent that stops pinging is seen dead within two
// periods with no write at all, and one stopped by KillForTesting at the
// next read. Watch delivers Change values to channels as keys come and go;
// each read sends at most one Change per key, from its state before the
// read to its state after, so an agent that restarts shows nothing.
//
// The watchers of a controller share their periodic reads: watchers whose
// stores use one connection and the same collections, with one clock and
// one slot period, are served by one shared reader. Once a period it
// reads the live slot documents of every model they watch, by _id, a
// thousand ids a request, then the beings of the sequences any of them
// has not met, a thousand a request; each watcher applies its model's
// documents in its own loop, as it applies a read of its own. A
// controller watching a thousand steady models thus makes two reads a
// period rather than a thousand. A watcher still reads its model alone
// for its first read and when asked (Sync, StartSync), which costs what
// that model changed. The reads go by _id, which every collection
// indexes: no index is made, and a database Juju's code wrote is read as
// it is.
//
// Three collections hang off the base collection B: B.seqs holds one
// sequence counter per model, B.beings maps each sequence to its key, and
// B.pings holds one document per model and slot, whose alive and dead
// sub-documents carry 63 sequences per int64 field, in fields named by the
// hexadecimal index of the field. Every _id starts with the model UUID and
// a colon, which is how models share the collections. These are Juju's
// documents: workers of either face, and Juju's own, read each other.
//
// # Guarantees
//
// A write of pings may be late by the write slack (0.75 period less 1.2
// flush intervals: 21.3 s at the defaults of 30 s and 1 s) before a live
// key reads dead; a batcher's flush interval is kept to at most a quarter
// of its period so that the slack is always most of a period. The write
// plan keeps that slack for every ping: a refresh is held only until the
// end of its slot's ping window, when a ping from the end of the window
// would be written anyway; a ping that comes later goes with the next
// flush; a ping for a slot far from the server's clock (a caller's or a
// clock's mistake) is written at once, logged and counted
// ("documents-far"), and never changes how other documents are judged.
// The plan's promise is written next to it as code and checked over random
// schedules of pings, flushes, failures, hangs and clock steps.
//
// A batcher that cannot write for longer than its outage tolerance (the
// write slack by default) stops with an error. The outage counts from the
// start of the oldest write not yet acknowledged, and each write of a
// flush gives up within the write slack (or the operation timeout, if
// shorter), so a write that hangs is an outage from its first moment and
// Report says since when ("unacknowledged-since"). One whose writes fail
// keeps its pings and tries again, dropping only those of slots no watcher
// reads any more, judged on the server's clock. A nil error from Ping
// means a flush will write the ping, the final one on Stop included, whose
// error Stop returns. A Pinger whose PingBatcher plans by another slot
// period is refused at Start (errors.NotValid).
//
// # The server's clock
//
// Slots follow the database server's clock. The workers of a controller
// that share a connection (one mgo session, one client of the official
// driver, one Store value otherwise) and a local clock share one measure
// of it: taken when the first of them needs it, and again every 30 s
// while any of them runs, each time the fastest of three round trips, its
// error half that round trip. A measure whose fastest round trip took
// more than 2 s, or a quarter of the shortest period of the workers that
// share it, would put the frame too far off to trust: it fails, as a
// measure that gets no answer does (the first such measure is taken as an
// overdue frame, since workers need one), and a failed measure is tried
// again within 1 to 5 s. A frame is kept as a reading of the server's clock and
// of the local clock's monotonic reading at once, so a step of the host's
// wall clock moves no slot. A frame last measured more than 35 s ago (its
// measures failing) is overdue: the batcher then holds no refresh on its
// word and writes every ping at its next flush.
//
// A measure that moves the frame by more than 250 ms (an NTP step on the
// database host, a failover to a member whose clock differs, or a finer
// measure of a frame that was off) is a move, unless it is no finer than
// the frame and agrees with it within their errors, when the frame stays.
// A move is logged and counted in the batcher's Report ("clock-moves");
// the batcher writes everything it holds at once and pingers ping the new
// frame's slot at once. For a grace of 30 s and a period after it, while
// the other controllers have not all measured the move yet, the batcher
// also writes every ping into the old frame's current and next slots,
// watchers read the live slots of both frames (a key alive in either is
// alive), kills record their dead bit in both (and in every slot of the
// old frame the grace wrote the key's alive bit in, which a step back
// brings round again), and nothing is pruned. A second
// move within that grace leaves the first frame its own grace: every frame
// left within a grace is read and written; and a frame left stays so past
// its grace until the next measure, which would see a second step that
// came meanwhile (for 35 s at most). A prune, which cannot be undone, does
// not trust a frame up to 30 s old: it first takes one sample of the
// server's clock (one more round trip), and a sample far from the frame
// brings on a measure, and the grace; a sample whose round trip exceeds a
// period, or a measure that fails, makes the prune return an error, and
// nothing is removed. So a step of the server's clock makes no live key
// read dead on any controller, provided each measures it within 30 s. Its
// cost is on the other side: within the grace a stopped key may read
// alive up to a grace, 35 s and two periods longer (65 s and three
// periods in all); and after a step back by X, the slots of the X before
// the step come round again with the pings they hold, so a key that
// stopped in that time may read alive again until the server's clock has
// passed its highest reading before the step, plus the grace and about
// four periods. The simulator (internal/sim) checks these bounds, and the
// absence of false deaths, over a thousand seeded hours of controllers,
// faults and clock steps.
//
// A watcher answers only from what it has read: Alive and Watch wait for
// its first read (AliveContext, AliveKeysContext, KeyStatesContext and
// SyncContext no longer than their context); it reads again a period
// after its last good read began, and once reads have failed for longer
// than a period since then, Alive returns an error rather than an answer
// that may no longer be true. Failed reads are retried after a second,
// then twice as long each time up to a period; a watcher that cannot read
// for longer than its outage tolerance (a period by default) stops with
// an error. A read costs in proportion to
// what changed since the last one, whatever the size of the model.
// Watchers that share a reader keep these guarantees each: a failed poll
// is a failed read of every watcher it serves, one that has not answered
// for longer than a period since their last read makes them answer with
// an error, and one model's corrupt documents are skipped by its watcher
// alone.
//
// Mistakes in arguments (an empty or malformed model UUID, a bad key, a nil
// store) give errors for which errors.Is(err, errors.NotValid) holds, from
// github.com/juju/errors; constructors that cannot return one give a dead
// worker or a pinger whose Start fails. Model ids must be UUIDs in the
// canonical form Juju gives its models: 8-4-4-4-12 hexadecimal digits, in
// lower case (ids are compared byte for byte, so upper case would name
// another model). A worker made WithJujuFace, as the root package's are,
// takes any id Juju took: non-empty and without ':', such as the
// "test-uuid" of Juju's tests. A PingBatcher, whose pingers may be of
// either face, asks only that much of the ids they hand it. Every error
// starts "presence: " once. Every database operation is bounded by
// WithOperationTimeout.
//
// The states a caller branches on have sentinels, to compare with
// errors.Is rather than by text: ErrStopped (Ping and Sync on a stopped
// PingBatcher; when it stopped because of an error, that error is in the
// chain too), ErrDying (Alive and AliveKeys on a stopped Watcher) and
// ErrAlreadyStarted (Start on a running Pinger). A worker made
// WithJujuFace, as the root package's are, returns Juju's texts for these
// instead, whole and without the prefix ("PingBatcher is stopped", "cannot
// check liveness: watcher is dying", "pinger already started"), and the
// same sentinels match them.
//
// # Beyond Juju's API
//
// Options carry what Juju's constructors could not: the slot period
// (WithPeriod), the clock every timer goes through (WithClock, so tests can
// drive time), whether slots follow the server's clock or the local one
// (WithClockSkew), a logger (WithLogger; silent by default), the batcher's
// flush interval, outage tolerance and operation timeout, whether watchers
// prune (WithPruning), WithGracefulStop, under which a pinger's Stop
// records its death so watchers see it at their next read (a restart then
// shows a dead→alive pair), WithRandSource (replayable draws), and
// WithJujuFace (Juju's error texts and model ids). Juju's watchers each
// read their own model every period; sharing those reads goes beyond it,
// and WithSharedReader(false) turns it off for a watcher. A Watcher can
// follow a whole model without naming keys (WatchModel), list the alive
// keys in one call (AliveKeys), and tell of every key the sequence that
// decides its liveness and the last slot that sequence pinged
// (KeyStates). Pingers, batchers and watchers have Report (a Pruner has
// none), and NewCollector exposes the reports, and each watcher's alive
// keys, to Prometheus.
//
// Every worker follows the tomb lifecycle: Kill asks it to stop, Wait
// returns its first error, Stop does both; a Watcher also has Dead and Err.
// A pinger and a batcher each run one goroutine; a watcher runs one, and
// now and then a second for a prune of its model (WithPruning), which Stop
// ends too. The watchers that share a reader share its goroutine, which
// ends when the last of them stops.
package liveness
