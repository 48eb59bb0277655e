package liveness

import (
	"fmt"
	"strings"

	"github.com/juju/errors"
)

// prefix starts every error the workers return, once.
const prefix = "presence: "

// presenceError is an error with its context, whose text carries the
// "presence: " prefix once however many layers add context.
type presenceError struct {
	msg   string
	cause error // nil for an error of its own
}

func (e *presenceError) Error() string {
	if e.cause == nil {
		return prefix + e.msg
	}
	return prefix + e.msg + ": " + strings.TrimPrefix(e.cause.Error(), prefix)
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

// notValidf returns an error for a caller's mistake: errors.Is(err,
// errors.NotValid) holds for it.
func notValidf(format string, args ...interface{}) error {
	return errors.WithType(errorf(format, args...), errors.NotValid)
}
