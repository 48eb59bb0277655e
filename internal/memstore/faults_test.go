package memstore_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/presence-go/presence/internal/memstore"
	"github.com/presence-go/presence/liveness"
)

// The faults run in synctest bubbles: time is the bubble's, and a test
// learns that an operation is held by waiting until every goroutine of the
// bubble is durably blocked.

var errBoom = errors.New("boom")

var ping = []liveness.SlotWrite{{ModelUUID: "m", Slot: 30, Alive: []liveness.FieldBits{{Field: "0", Bits: 2}}}}

// hasSlot tells whether the server holds the slot document m:30.
func hasSlot(s *memstore.Store) bool {
	_, ok := s.Server().Doc(memstore.Pings, "m:30")
	return ok
}

// result is what an operation started in a goroutine returned.
type result struct {
	err  error
	took time.Duration
}

// start runs op in a goroutine of the bubble and returns where its error
// and how long it took arrive.
func start(op func() error) <-chan result {
	done := make(chan result, 1)
	begin := time.Now()
	go func() {
		err := op()
		done <- result{err, time.Since(begin)}
	}()
	return done
}

// finished waits for the operation's result. The bubble's clock moves on
// while every goroutine of the bubble waits; should the operation never
// return, the bubble deadlocks, which fails the test.
func finished(t *testing.T, done <-chan result) result {
	t.Helper()
	return <-done
}

// stillRunning fails t if the operation has returned.
func stillRunning(t *testing.T, done <-chan result) {
	t.Helper()
	synctest.Wait()
	select {
	case r := <-done:
		t.Fatalf("the operation returned %v; want it held", r.err)
	default:
	}
}

func TestFaultFailsBeforeLanding(t *testing.T) {
	s := memstore.New()
	s.Queue(memstore.OpWriteSlots, memstore.Fault{Err: errBoom})
	err := s.WriteSlots(context.Background(), ping)
	if !errors.Is(err, errBoom) || memstore.Landed(err) {
		t.Errorf("WriteSlots = %v (landed %v); want boom, not landed", err, memstore.Landed(err))
	}
	if hasSlot(s) {
		t.Error("the failed write landed")
	}
	if err := s.WriteSlots(context.Background(), ping); err != nil || !hasSlot(s) {
		t.Errorf("the next write: %v, landed %v; want it written", err, hasSlot(s))
	}
}

func TestFaultLandsThenLosesTheReply(t *testing.T) {
	s := memstore.New()
	s.Queue(memstore.OpNextSeq, memstore.Fault{Err: errBoom, Landed: true})
	seq, err := s.NextSeq(context.Background(), "m")
	if !errors.Is(err, errBoom) || !memstore.Landed(err) || seq != 0 {
		t.Errorf("NextSeq = %d, %v (landed %v); want 0, boom, landed", seq, err, memstore.Landed(err))
	}
	if seq, err := s.NextSeq(context.Background(), "m"); err != nil || seq != 2 {
		t.Errorf("the next NextSeq = %d, %v; want 2: the lost one took 1", seq, err)
	}
}

func TestHoldUntilOpened(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := memstore.New()
		gate := memstore.NewGate()
		s.Queue(memstore.OpWriteSlots, memstore.Fault{Hold: gate})
		done := start(func() error { return s.WriteSlots(context.Background(), ping) })
		stillRunning(t, done)
		if gate.Waiting() != 1 || hasSlot(s) {
			t.Fatalf("held write: %d waiting, landed %v; want 1 waiting, not landed", gate.Waiting(), hasSlot(s))
		}
		// Other operations go by.
		if _, err := s.NextSeq(context.Background(), "m"); err != nil {
			t.Fatal(err)
		}
		gate.Open()
		if r := finished(t, done); r.err != nil || !hasSlot(s) || r.took != 0 {
			t.Errorf("released write: %v after %v, landed %v; want written at once", r.err, r.took, hasSlot(s))
		}
		if gate.Waiting() != 0 {
			t.Errorf("%d still waiting at an open gate", gate.Waiting())
		}
	})
}

func TestHoldUntilTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := memstore.New()
		s.Queue(memstore.OpWriteSlots, memstore.Fault{Hold: memstore.NewGate()})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r := finished(t, start(func() error { return s.WriteSlots(ctx, ping) }))
		if !errors.Is(r.err, context.DeadlineExceeded) || memstore.Landed(r.err) || r.took != 10*time.Second {
			t.Errorf("held write = %v (landed %v) after %v; want the deadline after 10s, not landed", r.err, memstore.Landed(r.err), r.took)
		}
		if hasSlot(s) {
			t.Error("the write held past its deadline landed")
		}
	})
}

// TestTimedOutWriteMayLand holds the reply of a write until its context
// ends: the caller sees a timeout, and the write is there.
func TestTimedOutWriteMayLand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := memstore.New()
		s.Queue(memstore.OpWriteSlots, memstore.Fault{ReplyHold: memstore.NewGate()})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r := finished(t, start(func() error { return s.WriteSlots(ctx, ping) }))
		if !errors.Is(r.err, context.DeadlineExceeded) || !memstore.Landed(r.err) || r.took != 5*time.Second {
			t.Errorf("write = %v (landed %v) after %v; want the deadline after 5s, landed", r.err, memstore.Landed(r.err), r.took)
		}
		if !hasSlot(s) {
			t.Error("the write whose reply was lost did not land")
		}
	})
}

func TestDelayPassesOnTheBubbleClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := memstore.New()
		var landedAt time.Time
		s.Server().Observe(func(e memstore.Event) { landedAt = e.Time })
		begin := time.Now()
		s.Queue(memstore.OpWriteSlots, memstore.Fault{Delay: 3 * time.Second, ReplyDelay: time.Second})
		r := finished(t, start(func() error { return s.WriteSlots(context.Background(), ping) }))
		if r.err != nil || r.took != 4*time.Second {
			t.Errorf("delayed write = %v after %v; want nil after 4s", r.err, r.took)
		}
		if want := begin.Add(3 * time.Second).UTC(); !landedAt.Equal(want) {
			t.Errorf("the write landed at %v, want %v", landedAt, want)
		}
	})
}

// TestDeadlineTiesGoToTheContext delays a write by exactly its timeout:
// whichever goroutine the scheduler runs first, the write fails and
// nothing lands, every time.
func TestDeadlineTiesGoToTheContext(t *testing.T) {
	for range 20 {
		synctest.Test(t, func(t *testing.T) {
			s := memstore.New()
			s.Queue(memstore.OpWriteSlots, memstore.Fault{Delay: 2 * time.Second})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			r := finished(t, start(func() error { return s.WriteSlots(ctx, ping) }))
			if !errors.Is(r.err, context.DeadlineExceeded) || hasSlot(s) {
				t.Fatalf("write delayed to its deadline = %v, landed %v; want the deadline, not landed", r.err, hasSlot(s))
			}
		})
	}
}

// TestDropConnection drops a store's connection while one write waits to
// reach the server and another waits for its reply: both fail, the second
// having landed; the next two operations fail before reaching the server,
// and another store of the server is not touched.
func TestDropConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		server := memstore.NewServer()
		s, other := server.NewStore("a"), server.NewStore("b")
		s.Queue(memstore.OpAny, memstore.Fault{Hold: memstore.NewGate()}, memstore.Fault{ReplyHold: memstore.NewGate()})
		other.Queue(memstore.OpAny, memstore.Fault{Hold: memstore.NewGate()})
		request := start(func() error { return s.InsertBeing(context.Background(), "m", 1, "k") })
		stillRunning(t, request)
		reply := start(func() error { return s.InsertBeing(context.Background(), "m", 2, "k") })
		elsewhere := start(func() error { return other.InsertBeing(context.Background(), "m", 3, "k") })
		stillRunning(t, reply)

		s.DropConnection(2)
		for _, c := range []struct {
			name   string
			done   <-chan result
			landed bool
		}{{"held request", request, false}, {"held reply", reply, true}} {
			r := finished(t, c.done)
			if !errors.Is(r.err, memstore.ErrConnectionDropped) || memstore.Landed(r.err) != c.landed {
				t.Errorf("%s = %v (landed %v); want dropped, landed %v", c.name, r.err, memstore.Landed(r.err), c.landed)
			}
		}
		for i := range 2 {
			if _, err := s.NextSeq(context.Background(), "m"); !errors.Is(err, memstore.ErrConnectionDropped) || memstore.Landed(err) {
				t.Errorf("operation %d after the drop = %v; want dropped, not landed", i+1, err)
			}
		}
		if seq, err := s.NextSeq(context.Background(), "m"); err != nil || seq != 1 {
			t.Errorf("third operation after the drop = %d, %v; want 1", seq, err)
		}
		stillRunning(t, elsewhere)
		beings := server.Docs(memstore.Beings)
		if len(beings) != 1 {
			t.Errorf("%d beings on the server, want the one whose reply was lost", len(beings))
		}
		other.DropConnection(0)
		if r := finished(t, elsewhere); !errors.Is(r.err, memstore.ErrConnectionDropped) {
			t.Errorf("the other store's held request = %v; want dropped", r.err)
		}
	})
}

// TestQueueThenRule gives faults by queue, for one kind of operation and
// for any, and by rule: an operation takes its own kind's queue first,
// then any's, then the rule's.
func TestQueueThenRule(t *testing.T) {
	s := memstore.NewServer().NewStore("ctl")
	errOwn, errAny, errRule := errors.New("own"), errors.New("any"), errors.New("rule")
	var calls []memstore.Call
	s.SetFaults(func(c memstore.Call) memstore.Fault {
		calls = append(calls, c)
		if c.ModelUUID == "sick" || len(c.Writes) > 1 {
			return memstore.Fault{Err: errRule}
		}
		return memstore.Fault{}
	})
	s.Queue(memstore.OpAny, memstore.Fault{Err: errAny})
	s.Queue(memstore.OpNextSeq, memstore.Fault{Err: errOwn})
	ctx := context.Background()
	steps := []struct {
		op   func() error
		want error
	}{
		{func() error { _, err := s.NextSeq(ctx, "m"); return err }, errOwn},
		{func() error { _, err := s.NextSeq(ctx, "m"); return err }, errAny},
		{func() error { _, err := s.NextSeq(ctx, "m"); return err }, nil},
		{func() error { _, err := s.NextSeq(ctx, "sick"); return err }, errRule},
		{func() error { return s.WriteSlots(ctx, append(ping, ping...)) }, errRule},
		{func() error { return s.WriteSlots(ctx, ping) }, nil},
	}
	for i, step := range steps {
		if err := step.op(); !errors.Is(err, step.want) || (step.want == nil) != (err == nil) {
			t.Errorf("step %d = %v, want %v", i+1, err, step.want)
		}
	}
	if len(calls) != 4 {
		t.Fatalf("the rule saw %d calls, want 4: %+v", len(calls), calls)
	}
	if c := calls[2]; c.Store != "ctl" || c.Op != memstore.OpWriteSlots || len(c.Writes) != 2 || c.ModelUUID != "" {
		t.Errorf("the rule saw the bulk write as %+v", c)
	}
	if c := calls[1]; c.Op != memstore.OpNextSeq || c.ModelUUID != "sick" {
		t.Errorf("the rule saw NextSeq(sick) as %+v", c)
	}
}

func TestOps(t *testing.T) {
	writes := map[memstore.Op]bool{
		memstore.OpNextSeq: true, memstore.OpInsertBeing: true, memstore.OpWriteSlots: true,
		memstore.OpRemoveOldSlots: true, memstore.OpRemoveBeings: true, memstore.OpRemoveModel: true,
	}
	for op := memstore.OpServerTime; op <= memstore.OpBeingsOfModels; op++ {
		if op.IsWrite() != writes[op] {
			t.Errorf("%v.IsWrite() = %v", op, op.IsWrite())
		}
	}
	if got := memstore.OpRemoveOldSlots.String(); got != "RemoveOldSlots" {
		t.Errorf("OpRemoveOldSlots is %q", got)
	}
	if got := memstore.OpBeingsOfModels.String(); got != "BeingsOfModels" {
		t.Errorf("OpBeingsOfModels is %q", got)
	}
	if got := memstore.Op(99).String(); got != "Op(99)" {
		t.Errorf("Op(99) is %q", got)
	}
}
