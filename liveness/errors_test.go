package liveness

import (
	"context"
	"io"
	"testing"

	"github.com/juju/errors"
)

func TestErrorsCarryOnePrefix(t *testing.T) {
	inner := annotatef(io.EOF, "cannot read slot %d", 30)
	outer := annotatef(inner, "watcher of model %q", "m")
	if got, want := outer.Error(), `presence: watcher of model "m": cannot read slot 30: EOF`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(outer, io.EOF) || errors.Cause(outer) != io.EOF {
		t.Errorf("the cause is lost: Is %v, Cause %v", errors.Is(outer, io.EOF), errors.Cause(outer))
	}
	if annotatef(nil, "x") != nil {
		t.Errorf("annotatef(nil) is not nil")
	}
}

func TestCallerMistakesAreNotValid(t *testing.T) {
	err := notValidf("empty key")
	if !errors.Is(err, errors.NotValid) {
		t.Errorf("%v is not NotValid", err)
	}
	if got := err.Error(); got != "presence: empty key" {
		t.Errorf("Error() = %q", got)
	}
}

// TestStoppedBatcherErrorsOnEachFace checks the error of a batcher that
// stopped because of another: on this package's face it says it is
// stopped, then why; on Juju's, it is the other error's text alone. On
// both, errors.Is finds ErrStopped and the other error, and errors.Cause
// the other's root.
func TestStoppedBatcherErrorsOnEachFace(t *testing.T) {
	cause := annotatef(io.EOF, "final flush failed")
	for f, want := range map[face]string{
		livenessFace: "presence: PingBatcher is stopped: final flush failed: EOF",
		jujuFace:     "presence: final flush failed: EOF",
	} {
		err := f.batcherStopped(cause)
		if err.Error() != want {
			t.Errorf("face %d: Error() = %q, want %q", f, err.Error(), want)
		}
		if !errors.Is(err, ErrStopped) || !errors.Is(err, io.EOF) || errors.Cause(err) != io.EOF {
			t.Errorf("face %d: Is(ErrStopped) %v, Is(EOF) %v, Cause %v", f, errors.Is(err, ErrStopped), errors.Is(err, io.EOF), errors.Cause(err))
		}
	}
}

// TestClockFailureSaysJujusWords fails a measure of the server's clock: the
// error says so in Juju's words, then why; a pinger on this package's face
// adds its prefix and context, one on Juju's returns it as it is.
func TestClockFailureSaysJujusWords(t *testing.T) {
	c := privateServerClock(brokenStore{io.EOF}, newConfig(nil))
	defer c.release()
	_, err := c.get(context.Background())
	if got, want := err.Error(), "cannot synchronize clock with database server: EOF"; got != want {
		t.Errorf("the clock's error = %q, want %q", got, want)
	}
	if !errors.Is(err, io.EOF) {
		t.Errorf("the clock's error %v lost its cause", err)
	}
	if got, want := livenessFace.clockNotMeasured("k", "m", err).Error(),
		`presence: pinger for "k" in model "m": cannot synchronize clock with database server: EOF`; got != want {
		t.Errorf("on this package's face: %q, want %q", got, want)
	}
	if got := jujuFace.clockNotMeasured("k", "m", err); got != err {
		t.Errorf("on Juju's face: %v, want %v as it is", got, err)
	}
}
