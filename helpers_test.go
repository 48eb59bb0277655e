package presence_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/juju/clock/testclock"
	"github.com/juju/mgo/v2"
	"github.com/juju/names/v4"

	"github.com/presence-go/presence"
	"github.com/presence-go/presence/internal/testserver"
)

func TestMain(m *testing.M) { testserver.Main(m) }

// period is the slot length of these tests: Juju's default.
const period = 30 * time.Second

// start is where every test clock begins: 15 s into a slot, so one
// period's advance always lands in the middle of the next slot.
var start = time.Unix(1700000025, 0)

// waitTimeout bounds every wait for another goroutine in these tests.
const waitTimeout = 10 * time.Second

// env is one test's presence setup: a fresh database, a driven clock, and
// the workers the test started, stopped at the end of the test.
type env struct {
	t     *testing.T
	db    *mgo.Database
	base  *mgo.Collection
	clock *testclock.Clock

	mu     sync.Mutex
	timers int // timers the running workers hold on clock
}

func newEnv(t *testing.T) *env {
	db := testserver.Shared(t).Database(t)
	e := &env{t: t, db: db, base: db.C("presence"), clock: testclock.NewClock(start)}
	// The clock reports every new timer on a bounded channel and panics
	// when it is full; these tests count timers instead, so drain it.
	stop := make(chan struct{})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			select {
			case <-e.clock.Alarms():
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-drained
	})
	return e
}

func (e *env) opts(extra ...presence.Option) []presence.Option {
	return append([]presence.Option{
		presence.WithClock(e.clock),
		presence.WithClockSkew(false),
		presence.WithPeriod(period),
	}, extra...)
}

func (e *env) addTimers(n int) {
	e.mu.Lock()
	e.timers += n
	e.mu.Unlock()
}

// batcher starts a ping batcher that writes only when synced: its own
// timer is an hour long.
func (e *env) batcher() *presence.PingBatcher {
	pb := presence.NewPingBatcherWithOptions(e.base, e.opts(presence.WithFlushInterval(time.Hour))...)
	e.addTimers(1)
	e.t.Cleanup(func() {
		if err := pb.Stop(); err != nil {
			e.t.Errorf("stopping batcher: %v", err)
		}
	})
	return pb
}

func (e *env) watcher(model names.ModelTag) *presence.Watcher {
	w := presence.NewWatcherWithOptions(e.base, model, e.opts(presence.WithPruning(false))...)
	e.addTimers(1)
	e.t.Cleanup(func() {
		if err := w.Stop(); err != nil {
			e.t.Errorf("stopping watcher: %v", err)
		}
	})
	return w
}

// pinger returns a started pinger. Stop it through env.stop so the timer
// count stays right.
func (e *env) pinger(model names.ModelTag, key string, pb *presence.PingBatcher) *presence.Pinger {
	e.t.Helper()
	p := e.newPinger(model, key, pb)
	e.startPinger(p)
	return p
}

func (e *env) newPinger(model names.ModelTag, key string, pb *presence.PingBatcher) *presence.Pinger {
	p := presence.NewPingerWithOptions(e.base, model, key, func() presence.PingRecorder { return pb }, e.opts()...)
	e.t.Cleanup(func() { p.Stop() })
	return p
}

func (e *env) startPinger(p *presence.Pinger) {
	e.t.Helper()
	if err := p.Start(); err != nil {
		e.t.Fatalf("starting pinger: %v", err)
	}
	e.addTimers(1)
}

func (e *env) stop(p *presence.Pinger) {
	e.t.Helper()
	if err := p.Stop(); err != nil {
		e.t.Fatalf("stopping pinger: %v", err)
	}
	e.addTimers(-1)
}

func (e *env) kill(p *presence.Pinger) {
	e.t.Helper()
	if err := p.KillForTesting(); err != nil {
		e.t.Fatalf("killing pinger: %v", err)
	}
	e.addTimers(-1)
}

// advance moves the clock on by d once every running worker waits on it,
// then waits until they all wait again: by then each pinger whose timer
// fired has handed its ping to the batcher.
func (e *env) advance(d time.Duration) {
	e.t.Helper()
	e.mu.Lock()
	n := e.timers
	e.mu.Unlock()
	if err := e.clock.WaitAdvance(d, waitTimeout, n); err != nil {
		e.t.Fatalf("advancing the clock: %v", err)
	}
	if err := e.clock.WaitAdvance(0, waitTimeout, n); err != nil {
		e.t.Fatalf("waiting for the workers after advancing the clock: %v", err)
	}
}

// flushAndSync writes the batched pings and has each watcher read them.
func flushAndSync(t *testing.T, pb *presence.PingBatcher, ws ...*presence.Watcher) {
	t.Helper()
	if err := pb.Sync(); err != nil {
		t.Fatalf("batcher sync: %v", err)
	}
	for _, w := range ws {
		w.Sync()
	}
}

func assertChange(t *testing.T, ch <-chan presence.Change, want presence.Change) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("got change %+v, want %+v", got, want)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("no change arrived; want %+v", want)
	}
}

// assertNoChange checks that nothing is queued for ch. Callers Sync the
// watcher first: Sync returns only once every event is delivered, so an
// event that is not in ch by then will not come.
func assertNoChange(t *testing.T, ch <-chan presence.Change) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("unexpected change %+v", got)
	default:
	}
}

func assertAlive(t *testing.T, w *presence.Watcher, key string, want bool) {
	t.Helper()
	alive, err := w.Alive(key)
	if err != nil {
		t.Fatalf("Alive(%q): %v", key, err)
	}
	if alive != want {
		t.Fatalf("Alive(%q) = %v, want %v", key, alive, want)
	}
}

var (
	modelA = names.NewModelTag("a7c1c8a2-6d0e-4d57-8d55-1b1f8d3c9e01")
	modelB = names.NewModelTag("b3f2d9e4-1c2a-4b8e-9f6d-2e3a4b5c6d02")
)

func strconvFormat(n int64) string { return strconv.FormatInt(n, 10) }

// typed renders a value with its Go type, so int and int64 differ.
func typed(v interface{}) string { return fmt.Sprintf("%v (%T)", v, v) }
