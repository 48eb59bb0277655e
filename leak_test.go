package presence_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/presence-go/presence"
)

// TestStopLeavesNoGoroutine runs every kind of worker, stops them all and
// checks that none of their goroutines is left.
func TestStopLeavesNoGoroutine(t *testing.T) {
	e := newEnv(t)
	// Warm the driver's connection pool first: its sockets and their
	// reader goroutines belong to the session, not to the workers.
	e.db.Session.Ping()
	before := goleak.IgnoreCurrent()

	pb := presence.NewPingBatcherWithOptions(e.base, e.opts()...)
	w := presence.NewWatcherWithOptions(e.base, modelA, e.opts()...)
	p := presence.NewPingerWithOptions(e.base, modelA, "k", func() presence.PingRecorder { return pb }, e.opts()...)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan presence.Change, 10)
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
		// A socket the workers opened stays in the session's pool, with
		// its reader, and the bridge serves it: both belong to the
		// session, which the test closes at its end.
		goleak.IgnoreAnyFunction("github.com/juju/mgo/v2.(*mongoSocket).readLoop"),
		goleak.IgnoreAnyFunction("github.com/presence-go/presence/internal/wirebridge.(*Bridge).serve"),
		goleak.IgnoreAnyFunction("github.com/presence-go/presence/internal/wirebridge.(*Bridge).readUpstream"),
		// Without the race detector FerretDB runs in this process, and
		// serves those sockets with goroutines of its own.
		goleak.IgnoreAnyFunction("github.com/FerretDB/FerretDB/internal/clientconn.(*conn).run"),
		goleak.IgnoreAnyFunction("github.com/FerretDB/FerretDB/internal/clientconn.(*conn).run.func2"),
		goleak.IgnoreAnyFunction("github.com/FerretDB/FerretDB/internal/util/ctxutil.WithDelay.func1"),
		goleak.IgnoreAnyFunction("database/sql.(*DB).connectionOpener"),
	)
}
