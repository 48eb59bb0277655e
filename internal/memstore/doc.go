// Package memstore is an in-memory database for the presence engine: a
// liveness.Store with the semantics of the real ones (package storetest
// runs the same suite against it and against both drivers on the test
// server), for simulations and benchmarks.
//
// A Server holds the documents of the three collections as the test server
// would hand them back: raw BSON, numbers as int64, fields named and
// ordered as the engine's updates make them. Each controller reaches it
// through a Store of its own (Server.NewStore); New gives a store on a
// server of its own.
//
//	server := memstore.NewServer()
//	a, b := server.NewStore("controller-a"), server.NewStore("controller-b")
//	batcher := liveness.NewPingBatcher(a)
//	watcher := liveness.NewWatcher(b, modelUUID)
//
// What the real servers do, it does: NextSeq increments atomically,
// creating the counter; InsertBeing refuses an existing _id
// (ErrDuplicateKey); WriteSlots applies each upsert ($set slot, $bit or)
// to its document on its own, atomically, keeps going past those that fail
// and reports them; reads by _id skip missing ids; every read and removal
// of a model keeps to the model's range of ids, so a model whose id
// extends another's is never touched.
//
// # Driven from outside
//
// Nothing in the package starts a goroutine, draws a random number or
// reads a clock but time.Now and the timers of faults: inside a
// testing/synctest bubble it runs on the bubble's clock, and an operation
// held by a fault is durably blocked until the test releases it or its
// context ends. So a simulation that drives it from one seed replays.
//
//   - Faults, per store: Store.Queue gives the next operations a Fault,
//     Store.SetFaults a rule for every operation; a Fault delays an
//     operation, holds it at a Gate, fails it before it takes effect, or
//     lets it take effect and then loses the reply (Landed tells which
//     from its error). Store.DropConnection fails what is in flight and
//     what comes next.
//   - The server's clock: Server.SetClock.
//   - Observation: Server.Observe sees every operation as it takes effect,
//     in order, each write with the document it left.
//   - Inspection and other writers: Server.Doc, Docs, Put and Remove read
//     and change documents directly, corrupt ones included.
package memstore
