package liveness_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/presence-go/presence/internal/wirebridge"
	"github.com/presence-go/presence/liveness"
)

// contextCall is one of the watcher's calls that take a context.
type contextCall struct {
	name string
	call func(ctx context.Context) error
}

// contextCalls returns w's calls that wait for a read, each reduced to its
// error. SyncContext comes last: the loop reads on its request, and is
// busy until that read ends.
func contextCalls(w *liveness.Watcher) []contextCall {
	return []contextCall{
		{"AliveContext", func(ctx context.Context) error {
			_, err := w.AliveContext(ctx, "k")
			return err
		}},
		{"AliveKeysContext", func(ctx context.Context) error {
			_, err := w.AliveKeysContext(ctx)
			return err
		}},
		{"KeyStatesContext", func(ctx context.Context) error {
			_, err := w.KeyStatesContext(ctx)
			return err
		}},
		{"SyncContext", func(ctx context.Context) error {
			return w.SyncContext(ctx)
		}},
	}
}

// contextWait is how long the calls of these tests are given: well below
// what a read of an unreachable database takes to fail (a second or more,
// see faultSelectionTimeout and faultSyncTimeout).
const contextWait = 100 * time.Millisecond

// expectDeadline runs c with a context that ends after contextWait and
// checks that it returns the context's error, in the package's style.
func expectDeadline(t *testing.T, c contextCall) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), contextWait)
	defer cancel()
	var err error
	within(t, c.name, func() { err = c.call(ctx) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s = %v; want an error wrapping context.DeadlineExceeded", c.name, err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "presence: ") || strings.Count(msg, "presence: ") != 1 || !strings.Contains(msg, modelA) {
		t.Errorf("%s: error %q does not start with \"presence: \" once and name the model", c.name, msg)
	}
}

// TestWatcherCallsEndWithTheirContext starts a watcher while the database
// is away, so that no read succeeds: each call that waits for a read
// returns once its context ends, with an error that wraps the context's.
// Called at once, the calls meet the loop in its first read, which fails
// only after the driver gives up; called after Report has returned, which
// it does once the loop is back waiting for its retry (on the driven
// clock, never advanced here), their requests are taken and wait for a
// read. Once the database is back, the watcher answers every request as
// usual, and none is left waiting.
func TestWatcherCallsEndWithTheirContext(t *testing.T) {
	forEachFaceWithFaults(t, func(t *testing.T, e *env, bridge *wirebridge.Bridge) {
		pb := e.batcher()
		e.pinger(modelA, "k", pb)
		if err := pb.Sync(); err != nil {
			t.Fatal(err)
		}

		end := outage(bridge)
		w := e.watcher(modelA)
		calls := contextCalls(w)
		for _, c := range calls {
			expectDeadline(t, c)
		}
		w.Report()
		for _, c := range calls {
			expectDeadline(t, c)
		}
		end()

		// The first read after an outage may meet a connection the outage
		// broke: read until one succeeds.
		for i := 0; i < 5 && w.Report()["fresh"] != true; i++ {
			w.Sync()
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		alive, err := w.AliveContext(ctx, "k")
		if err != nil || !alive {
			t.Fatalf("AliveContext after the outage = %v, %v; want true, nil", alive, err)
		}
		if keys, err := w.AliveKeysContext(ctx); err != nil || len(keys) != 1 || keys[0] != "k" {
			t.Errorf("AliveKeysContext after the outage = %v, %v; want [k]", keys, err)
		}
		if states, err := w.KeyStatesContext(ctx); err != nil || len(states) != 1 || states[0].Key != "k" || !states[0].Alive {
			t.Errorf("KeyStatesContext after the outage = %+v, %v; want k alive", states, err)
		}
		if err := w.SyncContext(ctx); err != nil {
			t.Errorf("SyncContext after the outage = %v", err)
		}
		if n := w.Report()["requests-waiting"]; n != 0 {
			t.Errorf("%v requests still waiting for a read; the abandoned ones should have been answered", n)
		}
	})
}

// TestStoppedWatcherContextCalls checks that the context forms of a
// stopped watcher's calls say it is stopped, at once, rather than wait
// for their context. It needs no database.
func TestStoppedWatcherContextCalls(t *testing.T) {
	w := liveness.NewDeadWatcher(errors.New("boom"))
	for _, c := range contextCalls(w) {
		var err error
		within(t, c.name, func() { err = c.call(context.Background()) })
		if err == nil || !strings.Contains(err.Error(), "dying") || errors.Is(err, context.Canceled) {
			t.Errorf("%s on a stopped watcher = %v; want an error saying it is dying", c.name, err)
		}
	}
}
