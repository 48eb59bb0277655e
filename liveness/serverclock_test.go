package liveness

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/juju/clock/testclock"

	"github.com/presence-go/presence/internal/slot"
)

// clockStore is a Store whose only working operation is ServerTime: the
// local test clock plus an offset the test sets, each answer counted.
type clockStore struct {
	Store // nil: any other operation panics, and none is called
	local *testclock.Clock

	mu     sync.Mutex
	offset time.Duration
	fail   error
	calls  int
	// failAfter, when set, makes every call after that many fail.
	failAfter int
	// takes, when set, is how long each call takes on the local clock.
	takes time.Duration
	// hold, when set, holds the next call until it is closed, then fails
	// it; held is closed once that call is held.
	hold, held chan struct{}
}

// holdNext holds the next call until the returned release is called, then
// fails it; held is closed once the call is held.
func (s *clockStore) holdNext() (held <-chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold, s.held = make(chan struct{}), make(chan struct{})
	hold := s.hold
	return s.held, func() { close(hold) }
}

func (s *clockStore) ServerTime(context.Context) (time.Time, error) {
	s.mu.Lock()
	if hold := s.hold; hold != nil {
		s.hold = nil
		close(s.held)
		s.mu.Unlock()
		<-hold
		return time.Time{}, errors.New("the server went away while the call was held")
	}
	defer s.mu.Unlock()
	s.calls++
	if s.takes > 0 {
		s.local.Advance(s.takes)
	}
	if s.fail != nil {
		return time.Time{}, s.fail
	}
	if s.failAfter > 0 && s.calls > s.failAfter {
		return time.Time{}, errors.New("the server went away")
	}
	return s.local.Now().Add(s.offset), nil
}

func (s *clockStore) set(offset time.Duration, fail error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset, s.fail = offset, fail
}

func (s *clockStore) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func clockTestConfig(local *testclock.Clock) config {
	return newConfig([]Option{WithClock(local)})
}

// advanceMeasurer moves local on by d, firing the measuring goroutine's
// timer, and waits until the goroutine waits on its next timer: by then
// the measure d brought on is adopted.
func advanceMeasurer(t *testing.T, local *testclock.Clock, d time.Duration) {
	t.Helper()
	if err := local.WaitAdvance(d, 10*time.Second, 1); err != nil {
		t.Fatal(err)
	}
	if err := local.WaitAdvance(0, 10*time.Second, 1); err != nil {
		t.Fatal(err)
	}
}

// measured has c measured, and waits until its measuring goroutine waits
// for its next measure: from then on the store's answers change only what
// the test's advances of local bring on. (Without the wait, the goroutine's
// first look, which measures unless the clock was just measured, may come
// after the test has changed the store.)
func measured(t *testing.T, c *serverClock, local *testclock.Clock) {
	t.Helper()
	if _, err := c.get(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := local.WaitAdvance(0, 10*time.Second, 1); err != nil {
		t.Fatal(err)
	}
}

func TestServerClockIsSharedByStoreAndClock(t *testing.T) {
	local := testclock.NewClock(time.Unix(1_700_000_000, 0))
	store := &clockStore{local: local, offset: 42 * time.Second}
	cfg := clockTestConfig(local)
	a := acquireServerClock(store, cfg)
	b := acquireServerClock(store, cfg)
	if a != b {
		t.Fatalf("two workers of one store and clock got two server clocks")
	}
	f, err := a.get(context.Background())
	if err != nil || f.now.offset() != 42*time.Second {
		t.Fatalf("get = %+v, %v; want an offset of 42s", f, err)
	}
	// The measuring goroutine's first look may measure again, if it
	// looked before a's measure ended; once it waits, b's get reads the
	// server no more.
	measured(t, a, local)
	before := store.callCount()
	if _, err := b.get(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := store.callCount(); n != before || (n != measureSamples && n != 2*measureSamples) {
		t.Errorf("the server's clock was read %d times, %d of them for the second worker; want one or two measures of %d samples, none for the second worker", n, n-before, measureSamples)
	}
	other := acquireServerClock(&clockStore{local: local}, cfg)
	if other == a {
		t.Fatalf("workers of two stores share a server clock")
	}
	other.release()
	a.release()
	b.release()
	registryMu.Lock()
	defer registryMu.Unlock()
	if len(registry) != 0 {
		t.Errorf("the registry keeps %d clocks once every worker released them", len(registry))
	}
}

func TestServerClockMeasuresAgainAndMoves(t *testing.T) {
	local := testclock.NewClock(time.Unix(1_700_000_000, 0))
	store := &clockStore{local: local}
	c := acquireServerClock(store, clockTestConfig(local))
	defer c.release()
	measured(t, c, local)
	moved := c.movesChan()
	// A change within the threshold is drift: adopted, not a move.
	store.set(100*time.Millisecond, nil)
	advanceMeasurer(t, local, remeasureEvery)
	if f := c.current(); f.now.offset() != 100*time.Millisecond {
		t.Fatalf("offset %v after a drift of 100ms", f.now.offset())
	}
	select {
	case <-moved:
		t.Fatalf("a change of 100ms counted as a move")
	default:
	}
	// A step of a minute is a move.
	store.set(-time.Minute, nil)
	advanceMeasurer(t, local, remeasureEvery)
	select {
	case <-moved:
	default:
		t.Fatalf("a step of a minute was not signalled as a move")
	}
	f := c.current()
	if f.now.offset() != -time.Minute || len(f.left) != 1 || f.left[0].reading.offset() != 100*time.Millisecond || !f.movedAt().Equal(local.Now()) {
		t.Errorf("after the move, frame %+v; want offset -1m, previous 100ms, moved now", f)
	}
	if !f.movedWithin(local.Now().Add(frameGrace(DefaultPeriod)-time.Second), frameGrace(DefaultPeriod)) {
		t.Errorf("the move is not within its grace just before the grace ends")
	}
	if f.movedWithin(local.Now().Add(frameGrace(DefaultPeriod)), frameGrace(DefaultPeriod)) {
		t.Errorf("the move is still within its grace once the grace is over")
	}
	r := map[string]interface{}{}
	c.report(r)
	if r["clock-moves"] != int64(1) || r["clock-offset"] != -time.Minute {
		t.Errorf("report %v; want one move and an offset of -1m", r)
	}
}

// Two steps of the server's clock a remeasure apart: the frame before both
// is still pinged by controllers that measured neither, so a watcher that
// measured both reads its slots until its own grace ends, and the
// batcher and the pinger write there too.
func TestTwoMovesInOneGraceKeepTheFirstFrame(t *testing.T) {
	local := testclock.NewClock(time.Unix(1_700_000_000, 0))
	store := &clockStore{local: local}
	c := acquireServerClock(store, clockTestConfig(local))
	defer c.release()
	measured(t, c, local)
	period := DefaultPeriod
	first := local.Now() // the frame before both steps is the local clock
	store.set(-90*time.Second, nil)
	advanceMeasurer(t, local, remeasureEvery)
	store.set(-180*time.Second, nil)
	advanceMeasurer(t, local, remeasureEvery)
	now := local.Now()
	f := c.current()
	firstSlot := slot.Of(now.Unix(), slot.Seconds(period))
	if slots := liveSlots(f, now, period); !slices.Contains(slots, firstSlot) {
		t.Errorf("a watcher that measured both moves, the last %v ago, reads slots %v; want the first frame's slot %d among them",
			now.Sub(f.movedAt()), slots, firstSlot)
	}
	if slots := f.graceSlots(now, period); len(slots) != 2 {
		t.Errorf("frames in their grace have slots %v; want both frames left", slots)
	}
	// Its grace over, the first frame is still read until the clock has
	// measured again: this controller may not have measured a step since,
	// while others moved from the first frame straight to the newest, and
	// write the first frame through their own grace. The simulator found
	// such a pair of steps.
	graceEnd := first.Add(remeasureEvery + frameGrace(period))
	between := graceEnd.Add(5 * time.Second) // the last measure was before graceEnd
	if slots := liveSlots(f, between, period); !slices.Contains(slots, slot.Of(between.Unix(), slot.Seconds(period))) {
		t.Errorf("past its grace with no measure since, the first frame's slot is not among those read, %v", slots)
	}
	advanceMeasurer(t, local, remeasureEvery) // a measure as the grace ends
	now = local.Now()
	f = c.current()
	if slots := liveSlots(f, now, period); slices.Contains(slots, slot.Of(now.Unix(), slot.Seconds(period))) {
		t.Errorf("measured again after its grace, the first frame's slots %v are still read", slots)
	}
	if slots := f.graceSlots(now, period); len(slots) != 1 {
		t.Errorf("after the first grace and a measure, frames in their grace have slots %v; want only the second frame left", slots)
	}
}

// measuredOnAsking returns a server clock with no measuring goroutine,
// measured once: it measures again only when a test asks.
func measuredOnAsking(t *testing.T) (*testclock.Clock, *clockStore, *serverClock) {
	t.Helper()
	local := testclock.NewClock(time.Unix(1_700_000_000, 0))
	store := &clockStore{local: local}
	c := newServerClock(store, clockTestConfig(local))
	if _, err := c.get(context.Background()); err != nil {
		t.Fatal(err)
	}
	return local, store, c
}

// TestConfirmTrustsNoFrameItCannotCheck is the regression test of a
// prune's check of its frame when a measure was already in flight: the
// check's sample found the server's clock three minutes from the frame, it
// waited for the measure in flight, which failed, and took that for
// success, handing the pruner the frame, never moved. The simulator found
// it. Now whoever waits for a measure takes its outcome, and confirm
// checks the sample against the frame again.
func TestConfirmTrustsNoFrameItCannotCheck(t *testing.T) {
	local, store, c := measuredOnAsking(t)
	ctx := context.Background()
	if _, err := c.confirm(ctx, time.Second); err != nil {
		t.Fatalf("confirm with the server's clock where it was measured: %v", err)
	}

	store.set(-3*time.Minute, nil)
	held, release := store.holdNext()
	inflight := make(chan error, 1)
	go func() { inflight <- c.measureNow(ctx) }()
	<-held
	type confirmed struct {
		f   frame
		err error
	}
	result := make(chan confirmed, 1)
	go func() {
		f, err := c.confirm(ctx, time.Second)
		result <- confirmed{f, err}
	}()
	for deadline := time.Now().Add(10 * time.Second); ; runtime.Gosched() {
		c.mu.Lock()
		waiting := c.waiting
		c.mu.Unlock()
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("confirm never waited for the measure in flight")
		}
	}
	release()
	if err := <-inflight; err == nil {
		t.Fatalf("the measure in flight succeeded; its only sample failed")
	}
	if r := <-result; r.err == nil {
		t.Errorf("confirm returned frame %+v, three minutes from the server's clock, the measure it waited for having failed", r.f)
	}

	f, err := c.confirm(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if f.now.offset() != -3*time.Minute || !f.movedWithin(local.Now(), frameGrace(DefaultPeriod)) {
		t.Errorf("confirm after a step returned frame %+v; want it measured and moved", f)
	}
}

// TestConfirmRefusesARoughSample: a sample whose round trip leaves it
// further off than the caller can bear confirms nothing.
func TestConfirmRefusesARoughSample(t *testing.T) {
	_, store, c := measuredOnAsking(t)
	ctx := context.Background()
	store.mu.Lock()
	store.takes = 3 * time.Second
	store.mu.Unlock()
	if _, err := c.confirm(ctx, time.Second); err == nil {
		t.Errorf("confirm within 1s took a sample of a 3s round trip")
	}
	if _, err := c.confirm(ctx, 2*time.Second); err != nil {
		t.Errorf("confirm within 2s refused a sample of a 3s round trip: %v", err)
	}
}

// A measure whose round trips all take long (a database that answers
// late) is off by up to half of one: such a frame would put pings and
// reads in the wrong slot for a remeasure, and the next good measure
// would take them back with no grace. It is refused, as a failed measure
// is, and tried again soon; the frame stays where it was. (The simulator
// found a frame 13 s ahead of the server's clock for a remeasure: a key
// killed then read alive for 15 s against a bound of 12.)
func TestRoughMeasureLeavesTheFrame(t *testing.T) {
	local := testclock.NewClock(time.Unix(1_700_000_000, 0))
	store := &clockStore{local: local}
	c := acquireServerClock(store, clockTestConfig(local))
	defer c.release()
	measured(t, c, local)
	moved := c.movesChan()
	// Each answer comes 27 s after the question: the server's time, read
	// as the reply leaves, is put at the middle of the round trip, 13.5 s
	// ahead of the truth.
	store.mu.Lock()
	store.takes = 27 * time.Second
	store.mu.Unlock()
	advanceMeasurer(t, local, remeasureEvery)
	if f := c.current(); f.now.offset() != 0 {
		t.Errorf("a measure of 27 s round trips moved the frame's offset to %v; want it left at 0", f.now.offset())
	}
	select {
	case <-moved:
		t.Errorf("a measure of 27 s round trips moved the frame")
	default:
	}
	r := map[string]interface{}{}
	c.report(r)
	if r["clock-measure-failures"].(int64) != 1 {
		t.Errorf("report %v; want the rough measure counted as a failure", r)
	}
	// It is tried again after retryMeasure; a good measure is adopted.
	store.mu.Lock()
	store.takes = 0
	store.mu.Unlock()
	store.set(100*time.Millisecond, nil)
	advanceMeasurer(t, local, retryMeasure)
	if f := c.current(); f.now.offset() != 100*time.Millisecond {
		t.Errorf("the retry after the rough measure left the offset at %v; want 100ms", f.now.offset())
	}
}

// A first measure too rough to trust is still a frame, since workers
// need one, but an overdue one (the batcher holds nothing on its word),
// measured again soon; the finer measure that follows moves it, grace and
// all, when it was off.
func TestRoughFirstMeasureIsOverdueUntilAFinerOne(t *testing.T) {
	local := testclock.NewClock(time.Unix(1_700_000_000, 0))
	store := &clockStore{local: local, takes: 27 * time.Second}
	c := acquireServerClock(store, clockTestConfig(local))
	defer c.release()
	moved := c.movesChan()
	f, err := c.get(context.Background())
	if err != nil {
		t.Fatalf("get with only rough measures: %v; want the rough frame", err)
	}
	if !f.rough || !f.overdue(local.Now()) {
		t.Errorf("a frame from round trips of 27 s is not rough and overdue: %+v", f)
	}
	if err := local.WaitAdvance(0, 10*time.Second, 1); err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	store.takes = 0
	store.mu.Unlock()
	advanceMeasurer(t, local, maxRetryMeasure)
	f = c.current()
	if f.rough || f.overdue(local.Now()) || f.now.offset() != 0 {
		t.Errorf("after a fine measure, frame %+v; want it fine, not overdue, at offset 0", f)
	}
	select {
	case <-moved:
	default:
		t.Errorf("the fine measure took the frame 13.5 s back without a move")
	}
}

// The error a measure may have follows the shortest period of the
// clock's workers: an eighth of it, and a second at most.
func TestMeasureErrorFollowsThePeriod(t *testing.T) {
	for _, c := range []struct{ period, want time.Duration }{
		{0, time.Second},
		{DefaultPeriod, time.Second},
		{2 * time.Second, 250 * time.Millisecond},
		{time.Second, 125 * time.Millisecond},
	} {
		if got := maxErrFor(c.period); got != c.want {
			t.Errorf("maxErrFor(%v) = %v, want %v", c.period, got, c.want)
		}
	}
	local := testclock.NewClock(time.Unix(1_700_000_000, 0))
	store := &clockStore{local: local}
	slow := acquireServerClock(store, clockTestConfig(local))
	defer slow.release()
	fast := acquireServerClock(store, newConfig([]Option{WithClock(local), WithPeriod(2 * time.Second)}))
	defer fast.release()
	measured(t, fast, local)
	// Round trips of 600 ms: fine for a period of 30 s, too rough for 2 s.
	store.mu.Lock()
	store.takes = 600 * time.Millisecond
	store.mu.Unlock()
	if err := fast.measureNow(context.Background()); err == nil {
		t.Errorf("a clock with a worker of a 2 s period took a measure of 600 ms round trips")
	}
}

func TestJudgeSample(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		name                    string
		known                   bool
		errBound, by, sampleErr time.Duration
		want                    verdict
	}{
		{"first measure", false, 0, time.Hour, ms, refineFrame},
		{"first measure, too rough", false, 0, 0, 2 * time.Second, roughFrame},
		{"drift", true, ms, 200 * ms, ms, refineFrame},
		{"drift measured roughly", true, ms, 200 * ms, 900 * ms, refineFrame},
		{"step", true, ms, 300 * ms, ms, moveFrame},
		{"step back", true, ms, -time.Minute, ms, moveFrame},
		{"too rough to judge a step by", true, ms, 13 * time.Second, 13 * time.Second, refuseSample},
		{"within a rougher sample's error", true, ms, 800 * ms, 900 * ms, keepFrame},
		{"a finer sample shifts a rough frame", true, 900 * ms, -800 * ms, ms, moveFrame},
		{"beyond both errors", true, 400 * ms, 2 * time.Second, 900 * ms, moveFrame},
	} {
		if got := judgeSample(c.known, c.errBound, c.by, c.sampleErr, maxMeasureErr); got != c.want {
			t.Errorf("%s: judgeSample = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestServerClockRetriesAFailedMeasureSoon(t *testing.T) {
	local := testclock.NewClock(time.Unix(1_700_000_000, 0))
	store := &clockStore{local: local, fail: errors.New("no server")}
	c := acquireServerClock(store, clockTestConfig(local))
	defer c.release()
	if _, err := c.get(context.Background()); err == nil {
		t.Fatalf("get succeeded with no server")
	}
	// The goroutine's own first measure fails too; it waits to retry.
	if err := local.WaitAdvance(0, 10*time.Second, 1); err != nil {
		t.Fatal(err)
	}
	store.set(time.Hour, nil)
	// It retries after retryMeasure, not remeasureEvery.
	advanceMeasurer(t, local, retryMeasure)
	if f := c.current(); !f.known || f.now.offset() != time.Hour {
		t.Errorf("frame %+v; want an offset of 1h, measured", f)
	}
	r := map[string]interface{}{}
	c.report(r)
	if r["clock-measure-failures"].(int64) < 1 {
		t.Errorf("report %v counts no failed measure", r)
	}
}

func TestIsMove(t *testing.T) {
	for _, c := range []struct {
		name                   string
		known                  bool
		errBound, by, sampleEr time.Duration
		move                   bool
	}{
		{"first measure", false, 0, time.Hour, 0, false},
		{"drift", true, time.Millisecond, 200 * time.Millisecond, time.Millisecond, false},
		{"step", true, time.Millisecond, 300 * time.Millisecond, time.Millisecond, true},
		{"step back", true, time.Millisecond, -time.Minute, time.Millisecond, true},
		{"within the errors", true, 200 * time.Millisecond, 600 * time.Millisecond, 200 * time.Millisecond, false},
	} {
		if got := isMove(c.known, c.errBound, c.by, c.sampleEr); got != c.move {
			t.Errorf("%s: isMove = %v, want %v", c.name, got, c.move)
		}
	}
}

func TestSampleClockBoundsItsError(t *testing.T) {
	local := testclock.NewClock(time.Unix(1_700_000_000, 0))
	store := &clockStore{local: local, offset: 10 * time.Second}
	calls := 0
	now := func() time.Time {
		calls++
		if calls == 2 {
			local.Advance(2 * time.Second) // a round trip of 2 s
		}
		return local.Now()
	}
	// ServerTime answers at the first reading of now; the round trip ends
	// two seconds later.
	s, err := sampleClock(context.Background(), store, now)
	if err != nil {
		t.Fatal(err)
	}
	if s.errBound != time.Second+time.Millisecond {
		t.Errorf("error bound %v; want half the round trip and a millisecond", s.errBound)
	}
	if d := s.now.offset() - 10*time.Second; d < -s.errBound || d > s.errBound {
		t.Errorf("offset %v is further than its error bound %v from the truth, 10s", s.now.offset(), s.errBound)
	}
}

// heldClockStore is a Store whose ServerTime waits until release is closed,
// or its context ends.
type heldClockStore struct {
	Store
	release chan struct{}
	entered chan struct{}
}

func (s *heldClockStore) ServerTime(ctx context.Context) (time.Time, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	select {
	case <-s.release:
		return time.Now(), nil
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
}

// TestWaitForAMeasureEndsWithItsContext is the regression test of a worker
// that needs the server's clock while another's first measure hangs: it
// waited on a lock for the other's round trip, whatever its own context
// said, so a watcher could not stop, nor Start give up, until the hung
// measure timed out. It now waits for the measure or its context.
func TestWaitForAMeasureEndsWithItsContext(t *testing.T) {
	store := &heldClockStore{release: make(chan struct{}), entered: make(chan struct{}, 1)}
	c := privateServerClock(store, newConfig(nil))
	defer c.release()
	first := make(chan error, 1)
	go func() {
		_, err := c.get(context.Background())
		first <- err
	}()
	<-store.entered
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() {
		_, err := c.get(ctx)
		second <- err
	}()
	cancel()
	select {
	case err := <-second:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the waiting get = %v; want its context's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("a get whose context ended still waits for another's measure")
	}
	close(store.release)
	if err := <-first; err != nil {
		t.Errorf("the measuring get = %v", err)
	}
}
