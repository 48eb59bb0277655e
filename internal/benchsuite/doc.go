// Package benchsuite holds the benchmarks of the presence library that go
// through a database, and the reference algorithms they are measured
// against: a sketch of the watcher Juju used in 2019 and the heartbeat
// document per agent that a user would otherwise build. Those exist only
// in this package's test files, never as an API.
//
// Everything lives in _test.go files; make bench (cmd/benchreport) runs
// the benchmarks and renders BENCHMARKS.md from their output. The
// database is FerretDB on SQLite, run in a child process so that the
// CPU and heap this process reports are the library's, its drivers' and
// the wire bridge's, never FerretDB's; PRESENCE_TEST_MONGODB points the
// suite at a real server instead.
package benchsuite
