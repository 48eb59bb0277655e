// Package presence tells a controller which of its many agents are alive,
// using only the MongoDB database the controller already has.
//
// It is a drop-in for Juju's state/presence package: the same exported
// names and signatures, the same behaviour, and the same documents on
// disk, so a database written by either can be read by the other.
//
// # The model
//
// Time is cut into slots of a fixed period (30 s by default), aligned on the
// database server's clock. Every agent runs a Pinger for its key. Each
// Start takes a new sequence number for the model and records which key it
// belongs to; from then on the pinger marks its sequence's bit in the
// document of the current slot, about every 0.75 period. One PingBatcher
// per controller gathers the pings of all its pingers and writes them as a
// single upsert per slot document.
//
// A Watcher reads the current and the previous slot of its model. A key is
// alive when the newest of its sequences seen there has pinged and has not
// been killed. So an agent that stops pinging is seen dead within two
// periods with no write at all, and one stopped by KillForTesting at the
// next sync. Watch delivers Change values to channels as keys come and go.
//
// Three collections hang off the caller's base collection B: B.seqs holds
// one sequence counter per model, B.beings maps each sequence to its key,
// and B.pings holds one document per model and slot, whose alive and dead
// sub-documents carry 63 sequences per int64 field. Every _id starts with
// the model UUID and a colon, which is how models share the collections.
//
// A Pruner, run now and then by every Watcher, removes superseded beings and
// old pings so the collections stay bounded; RemovePresenceForModel removes
// a whole model.
//
// # Beyond the reference API
//
// The *WithOptions constructors accept Options for what the Juju-compatible
// signatures cannot carry: the slot period (WithPeriod), the clock every
// timer goes through (WithClock, so tests can drive time), a logger
// (WithLogger; silent by default), the batcher's flush interval, how long a
// database outage is tolerated (WithOutageTolerance), and whether watchers
// prune (WithPruning).
//
// Every worker follows the tomb lifecycle: Kill asks it to stop, Wait
// returns its first error, Stop does both; a Watcher also has Dead and Err.
// Each starts one goroutine, which Stop ends.
package presence
