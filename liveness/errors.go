package liveness

import (
	stderrors "errors"
	"fmt"
	"strings"

	"github.com/juju/errors"
)

// The states a caller branches on. Compare with errors.Is, which holds on
// either face: each sentinel's text is the one Juju's state/presence gave
// for the state, which the workers of this package put after their
// "presence: " prefix and context, and those made WithJujuFace (the root
// package's) return as Juju did.
var (
	// ErrStopped is why a PingBatcher that has stopped refuses Ping and
	// Sync. When it stopped because of an error, that error is in the
	// chain too.
	ErrStopped = stderrors.New("PingBatcher is stopped")

	// ErrDying is why a Watcher that is stopping or stopped cannot answer
	// Alive or AliveKeys.
	ErrDying = stderrors.New("watcher is dying")

	// ErrAlreadyStarted is why Start fails on a Pinger that runs. It is a
	// caller's mistake: errors.Is(err, errors.NotValid) holds too.
	ErrAlreadyStarted = stderrors.New("pinger already started")
)

// clockSyncText heads the error of a failed measure of the server's clock,
// on either face, as in Juju.
const clockSyncText = "cannot synchronize clock with database server"

// prefix starts every error the workers return, once, but on Juju's face
// where Juju's text had none.
const prefix = "presence: "

// presenceError is an error with its context, whose text carries the
// "presence: " prefix once however many layers add context.
type presenceError struct {
	msg   string // the context; empty for the cause's text alone
	cause error  // nil for an error of its own
	// bare leaves the prefix out: the error is one of Juju's texts, on
	// Juju's face, or an inner one that a worker annotates.
	bare bool
}

func (e *presenceError) Error() string {
	var b strings.Builder
	if !e.bare {
		b.WriteString(prefix)
	}
	b.WriteString(e.msg)
	if e.cause != nil {
		if e.msg != "" {
			b.WriteString(": ")
		}
		b.WriteString(strings.TrimPrefix(e.cause.Error(), prefix))
	}
	return b.String()
}

// Unwrap returns the error e adds context to.
func (e *presenceError) Unwrap() error { return e.cause }

// Cause returns the error at the root of e, as errors.Cause does for the
// errors of github.com/juju/errors, so that callers who compare causes
// (tomb's sentinels, a driver's not-found error) see through the context.
func (e *presenceError) Cause() error {
	if e.cause == nil {
		return nil
	}
	return errors.Cause(e.cause)
}

// errorf returns a new error.
func errorf(format string, args ...interface{}) error {
	return &presenceError{msg: fmt.Sprintf(format, args...)}
}

// annotatef returns err with context in front of it.
func annotatef(err error, format string, args ...interface{}) error {
	if err == nil {
		return nil
	}
	return &presenceError{msg: fmt.Sprintf(format, args...), cause: err}
}

// bareAnnotatef is annotatef without the prefix: Juju's texts, and inner
// errors that the workers annotate in turn.
func bareAnnotatef(err error, format string, args ...interface{}) error {
	if err == nil {
		return nil
	}
	return &presenceError{msg: fmt.Sprintf(format, args...), cause: err, bare: true}
}

// notValidf returns an error for a caller's mistake: errors.Is(err,
// errors.NotValid) holds for it.
func notValidf(format string, args ...interface{}) error {
	return errors.WithType(errorf(format, args...), errors.NotValid)
}

// face says whose rules a worker follows where Juju's state/presence and
// this package differ: error texts and model ids.
type face uint8

const (
	// livenessFace is this package's: errors carry one "presence: "
	// prefix and their context, and model ids are UUIDs.
	livenessFace face = iota
	// jujuFace is the root package's (WithJujuFace): Juju's exact texts
	// where Juju had one, and any model id Juju took.
	jujuFace
)

// batcherStopped is the error of Ping and Sync on a batcher that stopped,
// because of cause, or cleanly when cause is nil. Juju's batcher returned
// "PingBatcher is stopped" after a clean stop, and the error itself after
// one that failed.
func (f face) batcherStopped(cause error) error {
	switch {
	case cause == nil && f == jujuFace:
		return ErrStopped
	case cause == nil:
		return &presenceError{cause: ErrStopped}
	}
	return &stoppedBy{cause: cause, face: f}
}

// stoppedBy is the error of a batcher that stopped because of cause:
// errors.Is finds both ErrStopped and cause.
type stoppedBy struct {
	cause error
	face  face // on Juju's face, the text is cause's own, as Juju's was
}

func (e *stoppedBy) Error() string {
	if e.face == jujuFace {
		return e.cause.Error()
	}
	return prefix + ErrStopped.Error() + ": " + strings.TrimPrefix(e.cause.Error(), prefix)
}

// Unwrap returns ErrStopped and the error the batcher stopped with.
func (e *stoppedBy) Unwrap() []error { return []error{ErrStopped, e.cause} }

// Cause returns the root of the error the batcher stopped with.
func (e *stoppedBy) Cause() error { return errors.Cause(e.cause) }

// watcherDying is the error of Alive on a watcher that is stopping or
// stopped, asked about key in model modelUUID.
func (f face) watcherDying(key, modelUUID string) error {
	if f == jujuFace {
		return bareAnnotatef(ErrDying, "cannot check liveness")
	}
	return annotatef(ErrDying, "cannot check liveness of %q in model %q", key, modelUUID)
}

// alreadyStarted is the error of Start on a running pinger of key in model
// modelUUID.
func (f face) alreadyStarted(key, modelUUID string) error {
	err := ErrAlreadyStarted
	if f != jujuFace {
		err = annotatef(err, "pinger for %q in model %q", key, modelUUID)
	}
	return errors.WithType(err, errors.NotValid)
}

// modelNotRemoved is the error of RemovePresenceForModel when the store
// failed to remove the model's documents.
func (f face) modelNotRemoved(modelUUID string, cause error) error {
	if f == jujuFace {
		return bareAnnotatef(cause, "errors removing presence for model %q", modelUUID)
	}
	return annotatef(cause, "cannot remove model %q", modelUUID)
}

// clockNotMeasured is the error of a pinger of key in model modelUUID
// whose measure of the server's clock failed with err, as clockDelta made
// it: Juju's face returns it as it is, Juju's text first.
func (f face) clockNotMeasured(key, modelUUID string, err error) error {
	if f == jujuFace {
		return err
	}
	return annotatef(err, "pinger for %q in model %q", key, modelUUID)
}
