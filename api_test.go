package presence_test

import (
	"time"

	"github.com/juju/mgo/v2"
	"github.com/juju/names/v4"

	"github.com/presence-go/presence"
	"github.com/presence-go/presence/liveness"
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

	// The exported default is Juju's slot length.
	_ = [1]struct{}{}[presence.DefaultPeriod-30*time.Second]
)

// The types of this package are those of package liveness, not copies:
// a value of one is a value of the other, so code written for either face
// passes workers, changes and options to the other. Assignments between
// distinct named types would not compile.
var (
	_ *liveness.Pinger       = (*presence.Pinger)(nil)
	_ *liveness.PingBatcher  = (*presence.PingBatcher)(nil)
	_ *liveness.Watcher      = (*presence.Watcher)(nil)
	_ *liveness.Pruner       = (*presence.Pruner)(nil)
	_ liveness.Change        = presence.Change{}
	_ liveness.PruneCounts   = presence.PruneCounts{}
	_ *liveness.PingRecorder = (*presence.PingRecorder)(nil)
	_ *liveness.Reporter     = (*presence.Reporter)(nil)
	_ []liveness.Option      = []presence.Option{presence.WithPeriod(period)}

	// So are the constants.
	_ = [1]struct{}{}[presence.DefaultPeriod-liveness.DefaultPeriod]
	_ = [1]struct{}{}[presence.DefaultFlushInterval-liveness.DefaultFlushInterval]
	_ = [1]struct{}{}[presence.DefaultOperationTimeout-liveness.DefaultOperationTimeout]
	_ = [1]struct{}{}[presence.MaxKeyLength-liveness.MaxKeyLength]
)
