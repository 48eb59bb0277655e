package sim

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	jujuerrors "github.com/juju/errors"

	"github.com/presence-go/presence/liveness"
)

// agent is one simulated agent: a key of a model, hosted by a controller,
// whose pinger the driver starts and stops.
type agent struct {
	id    int
	model int
	key   string
	ctl   *controller
	// graceful agents' pingers record their death on Stop.
	graceful bool
	// badPeriod agents are configured with another slot period than their
	// batcher's: Start must refuse them.
	badPeriod bool

	// lock guards pinger. It is a channel rather than a mutex because its
	// holder may wait on the database for a long while, and a goroutine
	// waiting on a channel lets the bubble's clock advance, where one
	// waiting on a mutex would stop it.
	lock   chan struct{}
	pinger *liveness.Pinger
	starts uint64 // how many times it started, for its pingers' random numbers
}

func (a *agent) acquire() { a.lock <- struct{}{} }
func (a *agent) release() { <-a.lock }

// running reports whether the agent's pinger runs.
func (a *agent) running() bool {
	a.acquire()
	defer a.release()
	return a.pinger != nil
}

// start starts a new pinger for the agent, as a restarted agent does.
func (a *agent) start(w *world) {
	a.acquire()
	defer a.release()
	if a.pinger != nil || w.stopping.Load() {
		return
	}
	c := a.ctl
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	var extra []liveness.Option
	if a.graceful {
		extra = append(extra, liveness.WithGracefulStop(true))
	}
	if a.badPeriod {
		extra = append(extra, liveness.WithPeriod(w.period/2))
	}
	a.starts++
	p := liveness.NewPinger(c.store, w.models[a.model], a.key, &agentRecorder{rec, a, w}, c.opts(pingerWorker+uint64(a.id)<<20+a.starts, extra...)...)
	err := p.Start()
	if a.badPeriod {
		if err == nil {
			w.o.mu.Lock()
			w.o.violateLocked("mismatch accepted", "agent %s pings every %v through a batcher of %v", a.key, w.period/2, w.period)
			w.o.mu.Unlock()
			p.Stop()
		} else if !errors.Is(err, jujuerrors.NotValid) {
			w.trace("start of %s (bad period) failed otherwise: %v", a.key, err)
		}
		return
	}
	if err != nil {
		w.trace("start of %s on c%d failed: %v", a.key, c.id, err)
		return
	}
	seq, _ := p.Report()["seq"].(int64)
	a.pinger = p
	w.o.started(a.model, a.key, seq, c.id)
	w.trace("start %s on c%d: seq %d", a.key, c.id, seq)
}

// stop ends the agent's pinger as how says.
func (a *agent) stop(w *world, how endKind) {
	a.acquire()
	defer a.release()
	p := a.pinger
	if p == nil {
		return
	}
	a.pinger = nil
	if how == endQuiet && a.graceful {
		how = endGraceful
	}
	// The run ends as the call is made: a kill's dead bit, or the quiet
	// stop's last ping, may land at any moment from then on. A dead bit
	// whose write failed may have landed or not.
	w.o.endedAt(a.model, a.key, how, time.Now())
	var err error
	if how == endKill {
		err = p.KillForTesting()
	} else {
		err = p.Stop()
	}
	if err != nil && how != endQuiet {
		how = endMaybeKilled
	}
	w.o.returned(a.model, a.key, how)
	w.trace("%s %s on c%d: %v", how, a.key, a.ctl.id, err)
}

// agentRecorder is the recorder of one agent's pinger: its controller's,
// which it tells the oracle of a ping refused, after which the pinger's
// loop ends with the error (a batcher stopped under it by a restart of its
// controller).
type agentRecorder struct {
	*recorder
	a *agent
	w *world
}

// Ping implements liveness.PingRecorder.
func (r *agentRecorder) Ping(modelUUID string, slotNum int64, fieldKey string, fieldBit uint64) error {
	err := r.recorder.Ping(modelUUID, slotNum, fieldKey, fieldBit)
	if err != nil {
		r.w.o.endedAt(r.a.model, r.a.key, endDied, time.Now())
		r.w.trace("a ping of %s on c%d was refused: %v", r.a.key, r.a.ctl.id, err)
	}
	return err
}

// died records that the agent's pinger died with its batcher.
func (a *agent) died(w *world) {
	a.acquire()
	defer a.release()
	if a.pinger == nil {
		return
	}
	w.o.endedAt(a.model, a.key, endDied, time.Now())
	a.pinger.Stop()
	a.pinger = nil
}

// mustField reads a field name a Pinger made.
func mustField(name string) uint64 {
	n, err := strconv.ParseUint(name, 16, 64)
	if err != nil {
		panic(fmt.Sprintf("sim: a pinger made the field name %q", name))
	}
	return n
}

// keyOf names agent i's key.
func keyOf(i int) string { return "unit-" + strconv.Itoa(i) }
