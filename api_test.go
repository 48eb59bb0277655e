package presence_test

import (
	"time"

	"github.com/juju/mgo/v2"
	"github.com/juju/names/v4"

	"github.com/presence-go/presence"
	"github.com/presence-go/presence/internal/slot"
)

// The reference API's functions keep their exact types, so code that
// stores them in variables of those types still compiles.
var (
	_ func(*mgo.Collection, names.ModelTag) error                                                  = presence.RemovePresenceForModel
	_ func(error) *presence.PingBatcher                                                            = presence.NewDeadPingBatcher
	_ func(*mgo.Collection, time.Duration) *presence.PingBatcher                                   = presence.NewPingBatcher
	_ func(*mgo.Collection, names.ModelTag, string, func() presence.PingRecorder) *presence.Pinger = presence.NewPinger
	_ func(string, *mgo.Collection, *mgo.Collection, time.Duration) *presence.Pruner               = presence.NewPruner
	_ func(error) *presence.Watcher                                                                = presence.NewDeadWatcher
	_ func(*mgo.Collection, names.ModelTag) *presence.Watcher                                      = presence.NewWatcher

	_ presence.PingRecorder                                   = (*presence.PingBatcher)(nil)
	_ func(*presence.Pinger) error                            = (*presence.Pinger).KillForTesting
	_ func(*presence.Pruner, map[int64]string) error          = (*presence.Pruner).Prune
	_ func(*presence.Watcher, string, chan<- presence.Change) = (*presence.Watcher).Watch
	_ func(*presence.Watcher, string) (bool, error)           = (*presence.Watcher).Alive
	_ func(*presence.Watcher) <-chan struct{}                 = (*presence.Watcher).Dead

	// The exported default matches the one the slot arithmetic uses.
	_ = [1]struct{}{}[presence.DefaultPeriod-slot.DefaultPeriod]
)
