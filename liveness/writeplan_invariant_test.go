package liveness

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/presence-go/presence/internal/slot"
)

// The tests in this file check the write plan's promise (see writePlan)
// over random schedules, driving the plan as a batcher's loop does: pings
// of agents that start and stop, ping early or late, now and then for a
// slot far from now; flushes at jittered intervals; writes that succeed,
// fail, or hang before they do either; and steps of the server's clock,
// after which the batcher writes everything at once.

// bitRef names one sequence's bit in one slot document.
type bitRef struct {
	key   bucketKey
	field uint64
	bit   uint64
}

// bitState is what a schedule did to one bit.
type bitState struct {
	taken   time.Time // server time of the flush that took it into the plan
	retry   bool      // a write of it failed: every later flush must take it
	flying  bool      // in a write not yet answered
	written bool
}

// planSchedule is one random run of a plan.
type planSchedule struct {
	t       *testing.T
	rng     *rand.Rand
	seed    uint64
	period  time.Duration
	flush   time.Duration
	plan    *writePlan
	now     time.Time // the batcher's server clock
	bits    map[bitRef]*bitState
	pingers []*schedPinger
	pending []*bucket // pings since the last flush, as the shards hold them
	moved   bool      // the frame moved since the last flush
	log     []string
}

// schedPinger is one agent of a schedule.
type schedPinger struct {
	model    string
	field    uint64
	bit      uint64
	running  bool
	lastSlot int64
	next     time.Time // when it pings next, on the server's clock
}

func TestWritePlanKeepsItsPromise(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 50
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		s := newPlanSchedule(t, seed)
		s.run(40)
		if t.Failed() {
			t.Logf("seed %d, period %s, flush %s; last steps:", seed, s.period, s.flush)
			for _, line := range s.log[max(0, len(s.log)-30):] {
				t.Log("  " + line)
			}
			return
		}
	}
}

func newPlanSchedule(t *testing.T, seed uint64) *planSchedule {
	rng := rand.New(rand.NewPCG(seed, 17))
	period := []time.Duration{2 * time.Second, 10 * time.Second, 30 * time.Second}[rng.IntN(3)]
	flush := time.Duration(float64(slot.MaxFlushInterval(period)) * (0.1 + 0.9*rng.Float64()))
	s := &planSchedule{
		t: t, rng: rng, seed: seed, period: period, flush: flush,
		plan: newWritePlan(period),
		now:  time.Unix(1_700_000_000, 0),
		bits: map[bitRef]*bitState{},
	}
	for i := 0; i < 12; i++ {
		s.pingers = append(s.pingers, &schedPinger{
			model: fmt.Sprintf("m%d", i%3), field: uint64(i / 3), bit: 1 << uint(i%5),
			running: rng.IntN(4) > 0,
			next:    s.now.Add(time.Duration(rng.Int64N(int64(period)))),
		})
	}
	return s
}

func (s *planSchedule) current() int64 {
	return slot.Of(s.now.Unix(), slot.Seconds(s.period))
}

func (s *planSchedule) logf(format string, args ...interface{}) {
	s.log = append(s.log, fmt.Sprintf("%s: ", s.now.Format("15:04:05.000"))+fmt.Sprintf(format, args...))
}

// run runs the schedule for periods slot periods of server time.
func (s *planSchedule) run(periods int) {
	end := s.now.Add(time.Duration(periods) * s.period)
	for s.now.Before(end) && !s.t.Failed() {
		wait := time.Duration(float64(s.flush) * (0.8 + 0.4*s.rng.Float64()))
		s.advance(wait)
		if s.rng.IntN(100) < 2 {
			s.step()
		}
		s.flushNow()
	}
}

// advance moves the clock on by d, pinging as the agents do.
func (s *planSchedule) advance(d time.Duration) {
	until := s.now.Add(d)
	for {
		var first *schedPinger
		for _, p := range s.pingers {
			if p.running && !p.next.After(until) && (first == nil || p.next.Before(first.next)) {
				first = p
			}
		}
		if first == nil {
			break
		}
		if first.next.After(s.now) {
			s.now = first.next
		}
		s.ping(first)
	}
	s.now = until
	for _, p := range s.pingers {
		if s.rng.IntN(200) == 0 {
			p.running = !p.running
			if p.running {
				p.lastSlot, p.next = 0, s.now
			}
		}
	}
}

// ping has p ping the current slot, or now and then another, as a pinger
// whose clock is wrong would, and schedules its next ping: early in the
// next slot, now and then late.
func (s *planSchedule) ping(p *schedPinger) {
	periodSeconds := slot.Seconds(s.period)
	current := s.current()
	target := current
	if s.rng.IntN(100) == 0 {
		target += periodSeconds * int64(s.rng.IntN(12)-6)
	}
	if current != p.lastSlot {
		s.pending = append(s.pending, planBucket(p.model, target, map[uint64]uint64{p.field: p.bit}))
		p.lastSlot = current
	}
	offset := time.Duration(s.rng.Float64() * float64(slot.PingWindow(s.period)))
	if s.rng.IntN(20) == 0 {
		offset = time.Duration(s.rng.Float64() * float64(s.period)) // late
	}
	p.next = time.Unix(current+periodSeconds, 0).Add(offset)
}

// step moves the server's clock by up to three periods either way, as an
// NTP step or a failover would; the pingers follow it at once, as they
// share the batcher's clock.
func (s *planSchedule) step() {
	by := time.Duration((s.rng.Float64()*6 - 3) * float64(s.period))
	s.logf("clock steps by %s", by)
	s.now = s.now.Add(by)
	for _, p := range s.pingers {
		p.next = p.next.Add(by)
		if p.running && s.current() != p.lastSlot {
			p.next = s.now
		}
	}
	s.moved = true
}

// flushNow takes the pending pings into the plan and writes what is due,
// checking the promise.
func (s *planSchedule) flushNow() {
	current := s.current()
	for _, b := range s.pending {
		s.plan.add(b, current)
		for field, bits := range b.fields.all() {
			for bit := uint64(1); bit != 0 && bit <= bits; bit <<= 1 {
				if bits&bit == 0 {
					continue
				}
				ref := bitRef{b.bucketKey, field, bit}
				if s.bits[ref] == nil {
					s.bits[ref] = &bitState{taken: s.now}
				}
			}
		}
	}
	s.pending = nil
	when := dueOnTime
	if s.moved {
		when, s.moved = dueAll, false
	}
	writes := s.plan.due(s.now, when)
	s.check(writes, when, current)
	for _, w := range writes {
		s.mark(w, func(st *bitState) { st.flying = true })
	}
	// Writes succeed, fail, or hang for a while first; a hung write holds
	// the loop, so no flush happens meanwhile.
	for i, w := range writes {
		outcome := s.rng.IntN(100)
		if outcome < 3 {
			hang := time.Duration(s.rng.Float64() * float64(2*s.period))
			s.logf("write of %v hangs for %s", w.key, hang)
			s.advance(hang)
			outcome = s.rng.IntN(100)
			current = s.current()
		}
		if outcome < 10 {
			s.logf("write of %v fails", w.key)
			for _, rest := range writes[i:] {
				kept := s.plan.failed(rest, current)
				s.mark(rest, func(st *bitState) { st.flying, st.retry = false, true })
				if !kept {
					s.dropped(rest.key, current)
				}
			}
			break
		}
		s.plan.done(w)
		s.mark(w, func(st *bitState) { st.flying, st.written, st.retry = false, true, false })
	}
	s.plan.forget(current)
	// A document the plan forgot is one no watcher reads, or one far
	// ahead of the clock with nothing left to write (after a step back):
	// its bits may be written again if pinged again.
	for ref, st := range s.bits {
		if _, kept := s.plan.docs[ref.key]; !kept && st.written {
			delete(s.bits, ref)
		}
	}
	s.checkBounded(current)
}

// mark applies fn to the state of every bit of w.
func (s *planSchedule) mark(w plannedWrite, fn func(*bitState)) {
	for field, bits := range w.bits {
		for bit := uint64(1); bit != 0 && bit <= bits; bit <<= 1 {
			if bits&bit != 0 {
				if st := s.bits[bitRef{w.key, field, bit}]; st != nil {
					fn(st)
				}
			}
		}
	}
}

// dropped forgets the bits of document k, which the plan dropped; only a
// document no watcher reads may be dropped.
func (s *planSchedule) dropped(k bucketKey, current int64) {
	if isRead(k.slot, current, slot.Seconds(s.period)) {
		s.t.Errorf("seed %d: the plan dropped %v, still read with the server's clock in slot %d", s.seed, k, current)
	}
	for ref := range s.bits {
		if ref.key == k {
			delete(s.bits, ref)
		}
	}
}

// check checks the writes a flush at s.now takes against the promise:
// every bit due by now is in them, and none already written.
func (s *planSchedule) check(writes []plannedWrite, when dueWhen, current int64) {
	in := map[bitRef]bool{}
	for _, w := range writes {
		for field, bits := range w.bits {
			for bit := uint64(1); bit != 0 && bit <= bits; bit <<= 1 {
				if bits&bit != 0 {
					in[bitRef{w.key, field, bit}] = true
				}
			}
		}
	}
	periodSeconds := slot.Seconds(s.period)
	for ref, st := range s.bits {
		switch {
		case !isRead(ref.key.slot, current, periodSeconds):
			delete(s.bits, ref) // no watcher needs it any more, and the plan may forget it
		case st.written && in[ref]:
			s.t.Errorf("seed %d: at %s, bit %v of %v written again", s.seed, s.now, ref.bit, ref.key)
		case st.written || st.flying || in[ref]:
		case when == dueAll || st.retry || !s.now.Before(handOverBy(ref.key.slot, st.taken, s.period)):
			s.t.Errorf("seed %d: at %s (%v), bit %v of %v taken at %s (retry %v) was due and not written",
				s.seed, s.now, when, ref.bit, ref.key, st.taken, st.retry)
		}
	}
}

// checkBounded checks that the plan keeps only documents that are still
// read, or that still have bits to write.
func (s *planSchedule) checkBounded(current int64) {
	periodSeconds := slot.Seconds(s.period)
	for k, d := range s.plan.docs {
		pending := len(d.urgent) > 0 || len(d.held) > 0
		if !pending && (k.slot+3*periodSeconds <= current || k.slot > current+periodSeconds) {
			s.t.Errorf("seed %d: the plan keeps %v with the server's clock in slot %d", s.seed, k, current)
		}
	}
	if len(s.plan.docs) > 3*6+len(s.pingers) {
		s.t.Errorf("seed %d: the plan keeps %d documents", s.seed, len(s.plan.docs))
	}
}

// TestWritePlanSteadyFleetWritesOncePerSlot checks the cost the plan is
// for: a fleet whose agents all ping in the ping window of every slot has
// each (model, slot) document written once per slot, once it has started.
func TestWritePlanSteadyFleetWritesOncePerSlot(t *testing.T) {
	const period = 30 * time.Second
	p := newWritePlan(period)
	rng := rand.New(rand.NewPCG(1, 2))
	start := int64(1_700_000_010)
	writes := map[bucketKey]int{}
	for n := 0; n < 20; n++ {
		slotNum := start + int64(n)*30
		// Each of 4 models has 100 agents, each pinging once in the window.
		pingAt := make([]float64, 400)
		for i := range pingAt {
			pingAt[i] = rng.Float64() * 7.5
		}
		last := 0.0
		for at := 0.5; at < 30; at += 0.8 + 0.4*rng.Float64() {
			for i, when := range pingAt {
				if last <= when && when < at {
					p.add(planBucket(fmt.Sprintf("m%d", i%4), slotNum, map[uint64]uint64{uint64(i / 63): 1 << uint(i%63)}), slotNum)
				}
			}
			last = at
			now := time.Unix(slotNum, 0).Add(time.Duration(at * float64(time.Second)))
			for _, w := range p.due(now, dueOnTime) {
				p.done(w)
				if n > 0 {
					writes[w.key]++
				}
			}
			p.forget(slotNum)
		}
	}
	if len(writes) != 4*19 {
		t.Errorf("%d documents written; want 4 models × 19 slots", len(writes))
	}
	for k, n := range writes {
		if n != 1 {
			t.Errorf("%v written %d times in its slot; want once", k, n)
		}
	}
}
