package liveness_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/presence-go/presence/liveness"
)

// TestStopLeavesNoGoroutine runs every kind of worker, stops them all and
// checks that none of their goroutines is left.
func TestStopLeavesNoGoroutine(t *testing.T) {
	forEachFace(t, func(t *testing.T, e *env) {
		// Warm the driver's connection pool first: its sockets and their
		// goroutines belong to the driver's session or client, not to the
		// workers.
		if err := e.warm(); err != nil {
			t.Fatal(err)
		}
		before := goleak.IgnoreCurrent()

		pb := liveness.NewPingBatcher(e.store, e.opts()...)
		w := liveness.NewWatcher(e.store, modelA, e.opts()...)
		p := liveness.NewPinger(e.store, modelA, "k", pb, e.opts()...)
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		ch := make(chan liveness.Change, 10)
		w.Watch("k", ch)
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}
		w.Sync()
		if err := p.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := w.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := pb.Stop(); err != nil {
			t.Fatal(err)
		}
		goleak.VerifyNone(t, before,
			// A socket the workers opened stays in the session's pool,
			// with its reader, and the bridge serves it: both belong to
			// the session, which the test closes at its end.
			goleak.IgnoreAnyFunction("github.com/juju/mgo/v2.(*mongoSocket).readLoop"),
			goleak.IgnoreAnyFunction("github.com/presence-go/presence/internal/wirebridge.(*Bridge).serve"),
			goleak.IgnoreAnyFunction("github.com/presence-go/presence/internal/wirebridge.(*Bridge).readUpstream"),
			// Without the race detector FerretDB runs in this process,
			// and serves those sockets with goroutines of its own.
			goleak.IgnoreAnyFunction("github.com/FerretDB/FerretDB/internal/clientconn.(*conn).run"),
			goleak.IgnoreAnyFunction("github.com/FerretDB/FerretDB/internal/clientconn.(*conn).run.func2"),
			goleak.IgnoreAnyFunction("github.com/FerretDB/FerretDB/internal/util/ctxutil.WithDelay.func1"),
			goleak.IgnoreAnyFunction("database/sql.(*DB).connectionOpener"),
		)
	})
}
