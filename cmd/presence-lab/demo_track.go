package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/presence-go/presence/liveness"
)

// outcome is what the watchers made of one action.
type outcome struct {
	action
	model int
	key   string
	done  time.Time   // when the stop or kill was asked for
	seen  []time.Time // per watcher of the model: first dead report after done
	err   error
}

// delay returns how long until every watcher had reported, or false.
func (o *outcome) delay() (time.Duration, bool) {
	if o.done.IsZero() {
		return 0, false
	}
	var last time.Time
	for _, t := range o.seen {
		if t.IsZero() {
			return 0, false
		}
		if t.After(last) {
			last = t
		}
	}
	return last.Sub(o.done), true
}

// modelView is the live state of one model, as its first watcher sees it.
type modelView struct {
	uuid   string
	alive  map[string]bool
	events int // changes from all of the model's watchers
}

// tracker gathers the watchers' events; mu guards everything in it.
type tracker struct {
	mu      sync.Mutex
	models  []*modelView
	pending []map[string]*outcome // per model, by key
	done    int                   // actions carried out
	// seenAlive records, per model and watcher, the keys reported alive,
	// to tell a false death (a key reported dead while it still pings)
	// from the first report of a key not yet pinging.
	seenAlive   [][]map[string]bool
	falseDeaths []string
	// firstAlive and firstDead count the first reports (Watch's initial
	// state) of every key by every watcher; every agent starts before the
	// watchers, so all of them should say alive.
	firstAlive, firstDead int
	// firstsDue counts the first reports still to come; allFirst is closed
	// when none are left.
	firstsDue int
	allFirst  chan struct{}
}

// newTracker returns a tracker for the agents and watchers of cfg, in
// the models named by uuids.
func newTracker(cfg demoConfig, uuids []string) *tracker {
	t := &tracker{allFirst: make(chan struct{})}
	for _, uuid := range uuids {
		t.models = append(t.models, &modelView{uuid: uuid, alive: map[string]bool{}})
		t.pending = append(t.pending, map[string]*outcome{})
		perWatcher := make([]map[string]bool, cfg.watchersPerModel)
		for i := range perWatcher {
			perWatcher[i] = map[string]bool{}
		}
		t.seenAlive = append(t.seenAlive, perWatcher)
	}
	t.firstsDue = cfg.agents * cfg.watchersPerModel
	if t.firstsDue == 0 {
		close(t.allFirst)
	}
	return t
}

func (t *tracker) observe(model, watcher int, c liveness.Change, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.models[model]
	m.events++
	if watcher == 0 {
		m.alive[c.Key] = c.Alive
	}
	wasAlive, reported := t.seenAlive[model][watcher][c.Key]
	t.seenAlive[model][watcher][c.Key] = c.Alive
	if !reported {
		t.first(c.Alive)
	}
	if c.Alive {
		return
	}
	o := t.pending[model][c.Key]
	if o == nil || o.done.IsZero() {
		if wasAlive {
			t.falseDeaths = append(t.falseDeaths, fmt.Sprintf("%s in model %s (watcher %d)", c.Key, m.uuid[:8], watcher))
		}
		return
	}
	if o.seen[watcher].IsZero() {
		o.seen[watcher] = at
	}
}

// first counts a key's first report by a watcher.
func (t *tracker) first(alive bool) {
	if alive {
		t.firstAlive++
	} else {
		t.firstDead++
	}
	t.firstsDue--
	if t.firstsDue == 0 {
		close(t.allFirst)
	}
}

// firstReports returns how many first reports said alive and dead so far.
func (t *tracker) firstReports() (alive, dead int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.firstAlive, t.firstDead
}

// frame is a copy of what the live view shows.
type frame struct {
	alive, dead, events []int
	done                int
}

func (t *tracker) frame() frame {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := frame{done: t.done}
	for _, m := range t.models {
		a, d := 0, 0
		for _, alive := range m.alive {
			if alive {
				a++
			} else {
				d++
			}
		}
		f.alive = append(f.alive, a)
		f.dead = append(f.dead, d)
		f.events = append(f.events, m.events)
	}
	return f
}
