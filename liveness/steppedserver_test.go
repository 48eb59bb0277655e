package liveness_test

import (
	"sync"
	"testing"
	"time"

	"github.com/juju/clock/testclock"

	"github.com/presence-go/presence/internal/memstore"
	"github.com/presence-go/presence/liveness"
)

// steppedServer is an in-memory store whose server clock is a test clock
// plus an offset the test steps, for the tests of what a step of the
// server's clock does. The test drives the clock, waiting each time for
// the workers' timers.
type steppedServer struct {
	t     *testing.T
	clk   *testclock.Clock
	store *memstore.Store
	// timers is how many timers the workers wait on between advances.
	timers int

	mu     sync.Mutex
	offset time.Duration
}

func newSteppedServer(t *testing.T) *steppedServer {
	s := &steppedServer{t: t, clk: testclock.NewClock(start), store: memstore.New()}
	s.store.Server().SetClock(s.serverNow)
	return s
}

// opts are the options of the workers: the test clock and period, no
// pruning, each watcher reading on its own.
func (s *steppedServer) opts() []liveness.Option {
	return []liveness.Option{liveness.WithClock(s.clk), liveness.WithPeriod(period), liveness.WithPruning(false), liveness.WithSharedReader(false)}
}

// step sets the server's clock offset ahead of the test clock.
func (s *steppedServer) step(offset time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset = offset
}

func (s *steppedServer) serverNow() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clk.Now().Add(s.offset)
}

// settle returns once the workers' timers wait.
func (s *steppedServer) settle() {
	s.t.Helper()
	if err := s.clk.WaitAdvance(0, waitTimeout, s.timers); err != nil {
		s.t.Fatal(err)
	}
}

// advance moves the clock on by d in steps of at most every, each once
// the workers' timers wait, and returns once they wait again.
func (s *steppedServer) advance(d, every time.Duration) {
	s.t.Helper()
	for passed := time.Duration(0); passed < d; passed += every {
		if err := s.clk.WaitAdvance(min(every, d-passed), waitTimeout, s.timers); err != nil {
			s.t.Fatal(err)
		}
		s.settle()
	}
}

// pinging starts a batcher flushing every second and a pinger of key "k"
// of modelA, and, if watched, a watcher of modelA; they stop with the test.
func (s *steppedServer) pinging(watched bool) (*liveness.PingBatcher, *liveness.Pinger, *liveness.Watcher) {
	s.t.Helper()
	pb := liveness.NewPingBatcher(s.store, append(s.opts(), liveness.WithFlushInterval(time.Second))...)
	s.t.Cleanup(func() { pb.Stop() })
	s.timers += 2 // the batcher's, and its clock's measurer
	var w *liveness.Watcher
	if watched {
		w = liveness.NewWatcher(s.store, modelA, s.opts()...)
		s.t.Cleanup(func() { w.Stop() })
		s.timers++
	}
	p := liveness.NewPinger(s.store, modelA, "k", pb, s.opts()...)
	if err := p.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { p.Stop() })
	s.timers++
	return pb, p, w
}

// killAfterMove checks that the batcher measured the one step made, then
// kills p and has the batcher and w sync, so that w has read the kill.
func (s *steppedServer) killAfterMove(pb *liveness.PingBatcher, p *liveness.Pinger, w *liveness.Watcher) {
	s.t.Helper()
	if moves := pb.Report()["clock-moves"]; moves != int64(1) {
		s.t.Fatalf("the batcher reports %v moves; want the step measured", moves)
	}
	if err := p.KillForTesting(); err != nil {
		s.t.Fatal(err)
	}
	s.timers-- // the pinger's
	if err := pb.Sync(); err != nil {
		s.t.Fatal(err)
	}
	w.Sync()
}
