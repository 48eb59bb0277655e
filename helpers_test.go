package presence_test

import (
	"testing"
	"time"

	"github.com/juju/names/v4"

	"github.com/presence-go/presence/internal/slot"
	"github.com/presence-go/presence/internal/testserver"
)

// The behaviour of the workers is tested in package liveness, on this
// package's driver (github.com/juju/mgo/v2) and on the official one. The
// tests here pin what only the Juju-compatible face has: its signatures,
// its constructors taking *mgo.Collection, and the documents it writes.

func TestMain(m *testing.M) { testserver.Main(m) }

// period is the slot length of these tests: Juju's default.
const period = 30 * time.Second

// start is where every test clock begins: 15 s into a slot.
var start = time.Unix(1700000025, 0)

// startSlot is the slot the test clock starts in.
var startSlot = slot.Of(start.Unix(), int64(period/time.Second))

var (
	modelA = names.NewModelTag("a7c1c8a2-6d0e-4d57-8d55-1b1f8d3c9e01")
	modelB = names.NewModelTag("b3f2d9e4-1c2a-4b8e-9f6d-2e3a4b5c6d02")
)
