package liveness

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/tomb.v2"

	"github.com/presence-go/presence/internal/layout"
	"github.com/presence-go/presence/internal/mutate"
	"github.com/presence-go/presence/internal/slot"
)

// Pinger periodically reports that a specific key is alive, so that
// watchers interested on that fact can react appropriately.
//
// Each Start takes a new sequence for the key and records it in the beings
// collection; the pings themselves go through the PingRecorder, once per
// slot, at a random point of the slot's first quarter. A Pinger may be
// started again after Stop.
type Pinger struct {
	store        Store
	modelUUID    string
	key          string
	recorderFunc func() PingRecorder
	cfg          config
	badInput     error // why the pinger can never start, if it cannot

	// mu serialises Start, Stop, Kill, KillForTesting and Wait. The fields
	// below are written under mu while no loop runs and only read by the
	// loop while it runs.
	mu       sync.Mutex
	started  bool
	tomb     *tomb.Tomb
	seq      int64
	fieldKey string
	fieldBit uint64
	since    time.Time // local time of the last Start
	// clock is the server's clock, shared with the controller's other
	// workers, held from Start until the loop ends.
	clock    *serverClock
	lastSlot int64 // owned by the loop once it runs

	// pings and starts count for Report; updated atomically.
	pings, starts atomic.Int64
}

// NewPinger returns a Pinger that reports that key, of the model, is alive
// by sending its pings to recorder (normally the controller's
// PingBatcher). It starts reporting after Start is called; a problem with
// the arguments is reported by Start.
func NewPinger(store Store, modelUUID, key string, recorder PingRecorder, opts ...Option) *Pinger {
	var recorderFunc func() PingRecorder
	if recorder != nil {
		recorderFunc = func() PingRecorder { return recorder }
	}
	return NewPingerFunc(store, modelUUID, key, recorderFunc, opts...)
}

// NewPingerFunc is NewPinger for a caller that chooses the recorder at each
// ping, as Juju's controllers do: recorderFunc is called before every ping.
func NewPingerFunc(store Store, modelUUID, key string, recorderFunc func() PingRecorder, opts ...Option) *Pinger {
	p := &Pinger{
		store:        store,
		modelUUID:    modelUUID,
		key:          key,
		recorderFunc: recorderFunc,
		cfg:          newConfig(opts),
	}
	switch err := p.cfg.face.checkWorker(store, modelUUID); {
	case err != nil:
		p.badInput = err
	case recorderFunc == nil:
		p.badInput = notValidf("nil ping recorder")
	default:
		p.badInput = checkKey(key)
	}
	return p
}

// Start starts periodically reporting that p's key is alive. It returns once
// the first ping was handed to the recorder. On a pinger that runs, it
// fails with ErrAlreadyStarted.
func (p *Pinger) Start() error {
	return p.StartContext(context.Background())
}

// StartContext is Start with a context for the database operations it
// makes: taking a sequence, recording it and reading the server's clock.
func (p *Pinger) StartContext(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.badInput != nil {
		return p.badInput
	}
	if p.started {
		return p.cfg.face.alreadyStarted(p.key, p.modelUUID)
	}
	if err := p.checkRecorder(p.recorderFunc()); err != nil {
		return err
	}
	clock := acquireServerClock(p.store, p.cfg)
	if mutate.Enabled && mutate.Active(mutate.LonelyBatcherClock) {
		clock.release()
		clock = privateServerClock(p.store, p.cfg)
	}
	p.since = p.cfg.clock.Now()
	if err := p.prepare(ctx, clock); err != nil {
		clock.release()
		return err
	}
	if err := p.ping(); err != nil {
		clock.release()
		return err
	}
	t := new(tomb.Tomb)
	p.tomb = t
	p.started = true
	p.starts.Add(1)
	t.Go(func() error {
		defer clock.release()
		return p.loop(t)
	})
	return nil
}

// checkRecorder refuses a recorder that plans its writes by another slot
// period than the pinger's (one with a Period method, as a PingBatcher
// has): a batcher would then hold refreshes past the time watchers need
// them.
func (p *Pinger) checkRecorder(recorder PingRecorder) error {
	if mutate.Enabled && mutate.Active(mutate.PeriodMismatch) {
		return nil
	}
	if r, ok := recorder.(interface{ Period() time.Duration }); ok && r.Period() != p.cfg.period {
		return notValidf("pinger for %q has a slot period of %s but its PingBatcher has %s: give both the same WithPeriod",
			p.key, p.cfg.period, r.Period())
	}
	return nil
}

// prepare takes a sequence, writes its being and makes sure the server's
// clock is known.
func (p *Pinger) prepare(ctx context.Context, clock *serverClock) error {
	opCtx, cancel := p.cfg.op(ctx)
	defer cancel()
	seq, err := p.store.NextSeq(opCtx, p.modelUUID)
	if err != nil {
		return annotatef(err, "pinger for %q in model %q", p.key, p.modelUUID)
	}
	if err := p.store.InsertBeing(opCtx, p.modelUUID, seq, p.key); err != nil {
		return annotatef(err, "pinger for %q in model %q", p.key, p.modelUUID)
	}
	if _, err := clock.get(opCtx); err != nil {
		return p.cfg.face.clockNotMeasured(p.key, p.modelUUID, err)
	}
	p.clock = clock
	p.seq = seq
	// seq is never negative: the counter starts at 1 and only grows.
	p.fieldKey, p.fieldBit, _ = layout.FieldOf(seq)
	p.lastSlot = 0
	return nil
}

func (p *Pinger) loop(t *tomb.Tomb) error {
	moved := p.clock.movesChan()
	timer := p.cfg.clock.NewTimer(p.untilNextPing())
	defer timer.Stop()
	for {
		select {
		case <-t.Dying():
			return tomb.ErrDying
		case <-moved:
			// The frame moved: the slot to ping may have changed, and a
			// watcher of the new frame needs the ping now.
			moved = p.clock.movesChan()
			timer.Stop()
		case <-timer.Chan():
		}
		if err := p.ping(); err != nil {
			return err
		}
		timer.Reset(p.untilNextPing())
	}
}

// untilNextPing returns how long to wait for the next ping: early in the
// slot after the one last pinged, at a point of the ping window drawn
// afresh each time, or at once when the current slot, on the server's
// clock as now known, has not been pinged and its point is past. Pinging
// early in every slot leaves most of the slot for the write to land: a
// database that is merely slow does not make the agent look dead.
func (p *Pinger) untilNextPing() time.Duration {
	f := p.clock.current()
	now := p.cfg.clock.Now()
	next := f.slot(now, p.cfg.period)
	if next == p.lastSlot {
		next += slot.Seconds(p.cfg.period)
	}
	offset := slot.PingOffset(p.cfg.period, p.cfg.rand())
	due := f.local(time.Unix(next, 0).Add(offset))
	return max(due.Sub(now), 0)
}

// currentSlot returns the slot of now on the server's clock.
func (p *Pinger) currentSlot() int64 {
	return p.clock.current().slot(p.cfg.clock.Now(), p.cfg.period)
}

// ping records the current slot, once per slot.
func (p *Pinger) ping() error {
	current := p.currentSlot()
	if current == p.lastSlot {
		return nil
	}
	recorder := p.recorderFunc()
	if recorder == nil {
		return errorf("no ping recorder for key %q", p.key)
	}
	if err := p.checkRecorder(recorder); err != nil {
		return err
	}
	if err := recorder.Ping(p.modelUUID, current, p.fieldKey, p.fieldBit); err != nil {
		return annotatef(err, "cannot ping for key %q", p.key)
	}
	p.lastSlot = current
	p.pings.Add(1)
	return nil
}

// Report returns figures about the pinger for introspection: its model
// and key, whether it runs, its current sequence, and how many times it
// started and pinged.
func (p *Pinger) Report() map[string]interface{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return map[string]interface{}{
		"model":   p.modelUUID,
		"key":     p.key,
		"started": p.started,
		"seq":     p.seq,
		"starts":  p.starts.Load(),
		"pings":   p.pings.Load(),
	}
}

// Stop stops p's periodical ping. Watchers will not notice p has stopped
// pinging until the previous ping times out, unless the pinger was made
// WithGracefulStop: its sequence is then recorded dead, and watchers see
// the key dead at their next read.
func (p *Pinger) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started || !p.cfg.gracefulStop {
		return p.stopLocked()
	}
	loopErr := p.stopLocked()
	if err := p.recordDeath(context.Background(), p.lastSlot); err != nil {
		return err
	}
	return loopErr
}

func (p *Pinger) stopLocked() error {
	if !p.started {
		return nil
	}
	p.tomb.Kill(nil)
	err := p.tomb.Wait()
	p.started = false
	return err
}

// Kill asks p to stop pinging and returns at once; Wait tells when it has.
func (p *Pinger) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		p.tomb.Kill(nil)
	}
}

// Wait returns when the Pinger has stopped, and returns the first error it
// encountered. It returns nil at once for a pinger that never started.
func (p *Pinger) Wait() error {
	p.mu.Lock()
	t := p.tomb
	p.mu.Unlock()
	if t == nil {
		return nil
	}
	return t.Wait()
}

// KillForTesting stops p's periodical ping and immediately reports that it
// is dead, so that watchers see the key dead at their next sync instead of
// two slots later. As in Juju: a running pinger writes the dead bit of its
// sequence into the slot it last pinged (and the next, see recordDeath),
// even when its loop had already stopped with an error, which is then
// returned; a pinger that is not running takes a new sequence and writes
// it alive and dead into the current slot, so that the key reads dead
// whatever ran for it before.
func (p *Pinger) KillForTesting() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.badInput != nil {
		return p.badInput
	}
	ctx := context.Background()
	if p.started {
		loopErr := p.stopLocked()
		if err := p.recordDeath(ctx, p.lastSlot); err != nil {
			return err
		}
		return loopErr
	}
	clock := acquireServerClock(p.store, p.cfg)
	defer clock.release()
	if err := p.prepare(ctx, clock); err != nil {
		return err
	}
	return p.recordBornDead(ctx, p.currentSlot())
}

// recordDeath ORs the dead bit of p's sequence, straight to the database,
// into slotNum, the slot it last pinged, as Juju does. Within the grace
// after a move of the server clock's frame its alive bit may also be in the
// slot after slotNum; and wherever the batcher wrote it into the slots of a
// frame left, through that frame's grace (see frame.graceWritten). The dead
// bit goes there as well, so that the key does not come back to life when
// the slot it was killed in leaves the window, nor when the server's clock
// comes round to an old frame's slot after a step back. When the frame did
// not move while the pinger ran, the documents are Juju's.
func (p *Pinger) recordDeath(ctx context.Context, slotNum int64) error {
	return p.writeDeadBits(ctx, []FieldBits{}, slotNum)
}

// recordBornDead ORs both the alive and the dead bit of p's sequence into
// slotNum, and the dead bit where recordDeath puts it.
func (p *Pinger) recordBornDead(ctx context.Context, slotNum int64) error {
	return p.writeDeadBits(ctx, []FieldBits{{Field: p.fieldKey, Bits: p.fieldBit}}, slotNum)
}

// writeDeadBits writes the dead bit of p's sequence where recordDeath says,
// and alive, if any, into slotNum.
func (p *Pinger) writeDeadBits(ctx context.Context, alive []FieldBits, slotNum int64) error {
	dead := []FieldBits{{Field: p.fieldKey, Bits: p.fieldBit}}
	periodSeconds := slot.Seconds(p.cfg.period)
	slots := []int64{slotNum}
	if p.clock != nil {
		now := p.cfg.clock.Now()
		f := p.clock.current()
		var candidates []int64
		if olds := f.graceSlots(now, p.cfg.period); len(olds) > 0 {
			candidates = append(candidates, slotNum+periodSeconds)
			for _, old := range olds {
				candidates = append(candidates, old, old+periodSeconds)
			}
		}
		// Of the slots the grace wrote, those the server's clock has not
		// passed yet: the others are never read again.
		previous := f.slot(now, p.cfg.period) - periodSeconds
		for _, s := range f.graceWritten(p.since, now, p.cfg.period) {
			if s >= previous {
				candidates = append(candidates, s)
			}
		}
		for _, s := range candidates {
			if !slices.Contains(slots, s) {
				slots = append(slots, s)
			}
		}
	}
	writes := make([]SlotWrite, len(slots))
	for i, s := range slots {
		writes[i] = SlotWrite{ModelUUID: p.modelUUID, Slot: s, Dead: dead}
	}
	if len(alive) > 0 {
		writes[0].Alive = alive
	}
	ctx, cancel := p.cfg.op(ctx)
	defer cancel()
	if err := p.store.WriteSlots(ctx, writes); err != nil {
		return annotatef(err, "cannot record key %q of model %q dead", p.key, p.modelUUID)
	}
	return nil
}
