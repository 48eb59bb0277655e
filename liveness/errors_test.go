package liveness

import (
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
