package sim

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
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

	// mu guards pinger.
	mu     sync.Mutex
	pinger *liveness.Pinger
}

// running reports whether the agent's pinger runs.
func (a *agent) running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pinger != nil
}

// start starts a new pinger for the agent, as a restarted agent does.
func (a *agent) start(w *world) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pinger != nil {
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
		extra = append(extra, liveness.WithPeriod(w.period/3))
	}
	p := liveness.NewPinger(c.store, w.models[a.model], a.key, rec, c.opts(extra...)...)
	err := p.Start()
	if a.badPeriod {
		if err == nil {
			w.o.mu.Lock()
			w.o.violateLocked("mismatch accepted", "agent %s pings every %v through a batcher of %v", a.key, w.period/3, w.period)
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
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pinger
	if p == nil {
		return
	}
	a.pinger = nil
	if how == endQuiet && a.graceful {
		how = endGraceful
	}
	// The run ends as the call is made: a kill's dead bit, or the quiet
	// stop's last ping, may land at any moment from then on.
	w.o.ended(a.model, a.key, how)
	var err error
	if how == endKill {
		err = p.KillForTesting()
	} else {
		err = p.Stop()
	}
	w.trace("%s %s on c%d: %v", how, a.key, a.ctl.id, err)
}

// died records that the agent's pinger died with its batcher.
func (a *agent) died(w *world) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pinger == nil {
		return
	}
	w.o.ended(a.model, a.key, endDied)
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

var _ = time.Second
