// Package sim is the deterministic simulator of presence: it runs the
// library's own workers — Pingers, PingBatchers, Watchers and their
// Pruners, not models of them — for several controllers on one in-memory
// database (internal/memstore), inside a testing/synctest bubble whose
// clock is the simulation's true time, and judges what the watchers say
// by what the simulation did.
//
// One seed draws everything: the fleet (controllers, models, agents, the
// slot period, each controller's flush interval, clock skew and drift),
// the schedule of what agents and operators do (starts, quiet stops,
// restarts, kills, graceful stops, controller restarts), the faults of
// each controller's connection (outages whose writes may land before the
// reply is lost, hangs, latency, drops), steps of the server's clock and
// of the hosts' clocks, pings for slots far from now, pingers held back as
// on an overloaded host, pings racing a Stop of their batcher, and another
// program rewriting documents with two spellings of a field. The workers
// draw from sources of their own seeded from it, so a seed replays the
// same schedule; what the Go scheduler does with goroutines that are
// ready at the same instant may still differ from one run to the next.
//
// The oracle (oracle.go) keeps the truth — when each agent's pinger ran,
// which faults and clock steps happened, what landed in the database —
// and checks, as the run goes: no watcher says a running agent dead
// unless a fault the library does not promise to hide explains it (a
// write delayed past the slack, a batcher stopped by its outage tolerance,
// a host's clock stepped); no watcher says an agent alive past the bounds
// after it stopped; every death is seen within its bound; every accepted
// ping lands in time, and a clean Stop leaves none unwritten; each
// watcher's events for a key alternate; a watcher whose
// reads fail answers with errors once its view is a period old; a hang
// longer than the outage tolerance stops the batcher; a pinger of the
// wrong period is refused; and the slot documents stay bounded between
// prunes.
//
// Run with make sim (a thousand seeds, then the mutation test of every
// defect reviews found; see internal/mutate); a failing seed prints the
// command that replays it, with its whole trace.
package sim
