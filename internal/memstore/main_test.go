package memstore_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The store starts no goroutine: every test ends with none of its own.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
