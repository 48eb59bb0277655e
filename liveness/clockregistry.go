package liveness

import (
	"reflect"
	"sync"

	"github.com/juju/clock"
)

// clockKey names a shared clock: the connection to the server, and the
// local clock the workers go by.
type clockKey struct {
	connection any
	local      clock.Clock
}

// SharedConnection is implemented by stores that can tell which connection
// to the database server they use. Workers whose stores return equal
// Connection values, and that go by the same local clock, share one
// measure of the server's clock. A store that does not implement it is
// its own connection: workers given the same Store value share.
type SharedConnection interface {
	Connection() any
}

var (
	registryMu sync.Mutex
	registry   = map[clockKey]*serverClock{}
)

// acquireServerClock returns the server clock of store for a worker
// configured by cfg, shared with every other worker of the same
// connection and local clock, and starts measuring it if it is the first
// user. Each acquire must be matched by one release.
func acquireServerClock(store Store, cfg config) *serverClock {
	if !cfg.measureSkew {
		return &serverClock{store: store, local: cfg.clock, logger: cfg.logger, known: true, moved: make(chan struct{})}
	}
	conn := connectionOf(store)
	if conn == nil || !reflect.TypeOf(cfg.clock).Comparable() {
		c := newServerClock(store, cfg)
		c.users = 1
		c.start()
		return c
	}
	key := clockKey{conn, cfg.clock}
	registryMu.Lock()
	defer registryMu.Unlock()
	c := registry[key]
	if c == nil {
		c = newServerClock(store, cfg)
		c.key = &key
		registry[key] = c
	}
	c.mu.Lock()
	c.users++
	first := c.users == 1
	c.period = min(c.period, cfg.period)
	c.mu.Unlock()
	if first {
		c.start()
	}
	return c
}

// connectionOf returns what identifies store's connection, or nil when it
// cannot be compared.
func connectionOf(store Store) any {
	var conn any = store
	if s, ok := store.(SharedConnection); ok {
		conn = s.Connection()
	}
	if conn == nil || !reflect.TypeOf(conn).Comparable() {
		return nil
	}
	return conn
}

// privateServerClock returns a clock of one worker's own that measures once,
// when first asked, and never again: the mutation test's
// LonelyBatcherClock gives one to pingers and watchers.
func privateServerClock(store Store, cfg config) *serverClock {
	c := newServerClock(store, cfg)
	c.users = 1
	return c
}

func newServerClock(store Store, cfg config) *serverClock {
	return &serverClock{store: store, local: cfg.clock, logger: cfg.logger, measure: true, moved: make(chan struct{}), period: cfg.period}
}

// release gives back what acquireServerClock gave. The last user stops
// the measuring goroutine, and waits for it.
func (c *serverClock) release() {
	if !c.measure {
		return
	}
	if c.key != nil {
		registryMu.Lock()
	}
	c.mu.Lock()
	c.users--
	last := c.users == 0
	cancel, done := c.cancel, c.done
	if last {
		c.cancel, c.done = nil, nil
	}
	c.mu.Unlock()
	if c.key != nil {
		if last {
			delete(registry, *c.key)
		}
		registryMu.Unlock()
	}
	if last && cancel != nil {
		// Outside the registry's lock: a driver that takes no context
		// may finish its round trip first.
		cancel()
		<-done
	}
}
