// Package presence tells a controller which of its many agents are alive,
// using only the MongoDB database the controller already has.
//
// It is a drop-in for Juju's state/presence package: the same exported
// names and signatures, the same behaviour, and the same documents on
// disk, so a database written by either can be read by the other. Its
// constructors take a *mgo.Collection of github.com/juju/mgo/v2, as Juju's
// do; that driver speaks only the legacy OP_QUERY protocol, so it reaches
// MongoDB up to 5.0. For MongoDB 5.1 and later (7.0, 8.x, Atlas) use the
// same workers through package mongostore and the official driver.
//
// The workers are those of package liveness, which documents the model,
// what is guaranteed and what goes beyond Juju's API; the types here are
// its types under Juju's names, so values pass freely between code written
// for either package. The *WithOptions constructors take liveness's
// options, re-exported here: WithPeriod, WithClock, WithLogger,
// WithFlushInterval, WithClockSkew, WithOutageTolerance,
// WithOperationTimeout, WithPruning, WithGracefulStop and
// WithSharedReader.
//
// Where Juju's package returned an error text of its own, these workers
// return it byte for byte, as Juju's tests match whole texts: "PingBatcher
// is stopped" from Ping and Sync on a stopped batcher (or, when it stopped
// because of an error, that error's own text), "cannot check liveness:
// watcher is dying" from Alive on a stopped watcher, "pinger already
// started" from Start on a running pinger, and "errors removing presence
// for model %q: %v" from RemovePresenceForModel. A pinger that cannot
// measure the server's clock says so in Juju's words, "cannot synchronize
// clock with database server", followed by why. Code need not match text:
// ErrStopped, ErrDying and ErrAlreadyStarted are liveness's sentinels,
// which errors.Is finds on either face. Errors Juju did not have start
// "presence: ", as liveness's do.
//
// Model ids are taken as Juju took them: any id that is not empty and
// holds no ':', such as the "test-uuid" of Juju's tests, where package
// liveness takes model UUIDs in canonical form alone. Every constructor
// here sets liveness.WithJujuFace, which does both.
//
// Three collections hang off the caller's base collection B (Juju passes
// "presence"): B.seqs, B.beings and B.pings. RemovePresenceForModel
// removes a whole model from them; a Pruner, run now and then by every
// Watcher, keeps them bounded.
package presence
