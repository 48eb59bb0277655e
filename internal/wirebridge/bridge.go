package wirebridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// dialTimeout bounds how long a new client connection waits for its
// upstream connection.
const dialTimeout = 10 * time.Second

// Server error codes the bridge uses in its own replies.
const (
	codeCommandNotFound = 59
	codeUnsupported     = 238 // NotImplemented
	codeFailedToParse   = 9
)

// Stats counts what went through a bridge since it started or since the
// last ResetStats.
type Stats struct {
	// Commands counts client commands by name as the client spelt it
	// (getnonce included, though the server never sees it).
	Commands map[string]int
	// UpdateStatements counts the statements of update commands sent to
	// the server: each upsert of a bulk write counts once.
	UpdateStatements int
	// MaxUpdateStatements is the largest number of statements seen in one
	// client update command, before the bridge split it.
	MaxUpdateStatements int
	// Connections counts client connections accepted and served.
	Connections int
	// Refused counts client connections closed at once because the bridge
	// was refusing.
	Refused int
}

// Bridge is a loopback proxy from OP_QUERY and OP_MSG clients to an OP_MSG
// server.
type Bridge struct {
	listener net.Listener

	// writes lets one write command at a time reach the server (see the
	// package documentation) and holds them for HoldWrites.
	writes *writeGate

	// nextRequestID numbers the messages the bridge sends to the server.
	nextRequestID atomic.Int32

	// ctx is cancelled by Close, ending dials and latency waits.
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts every goroutine the bridge started.
	wg sync.WaitGroup

	// mu guards the fields below.
	mu          sync.Mutex
	closed      bool
	upstream    string                  // address new connections dial; "" while the server is away
	upstreamSet chan struct{}           // closed and replaced by SetUpstream
	conns       map[net.Conn]struct{}   // every open client and upstream connection
	proxies     map[*proxyConn]struct{} // client connections joined to an upstream one
	refusing    bool                    // set by SetRefusing
	refuseUntil time.Time               // set by Refuse
	latency     time.Duration           // delay before each reply goes back
	clockOffset time.Duration           // added to the server's localTime
	clock       func() time.Time        // the server's clock, when set (SetClock)
	stats       Stats
}

// New starts a bridge listening on listenAddr (e.g. "127.0.0.1:0") that
// forwards to the OP_MSG server at upstream.
func New(listenAddr, upstream string) (*Bridge, error) {
	l, err := net.Listen("tcp", listenAddr)
	if err != nil {
		return nil, fmt.Errorf("wirebridge: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bridge{
		listener:    l,
		ctx:         ctx,
		cancel:      cancel,
		upstream:    upstream,
		upstreamSet: make(chan struct{}),
		writes:      newWriteGate(),
		conns:       make(map[net.Conn]struct{}),
		proxies:     make(map[*proxyConn]struct{}),
		stats:       Stats{Commands: make(map[string]int)},
	}
	b.wg.Add(1)
	go b.acceptLoop()
	return b, nil
}

// Addr returns the host:port clients dial.
func (b *Bridge) Addr() string {
	return b.listener.Addr().String()
}

// Close stops listening, closes every connection and returns once every
// goroutine of the bridge has ended.
func (b *Bridge) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.cancel()
	err := b.listener.Close()
	b.closeConnsLocked()
	b.mu.Unlock()
	b.wg.Wait()
	return err
}

// DropConnections closes every open client and upstream connection, as a
// server crash or network cut would. New connections are accepted as usual.
func (b *Bridge) DropConnections() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closeConnsLocked()
}

// DropConnectionsGracefully closes every client connection joined to the
// server, as a server shutting down would, but tells each client first and
// waits, at most timeout, for the client to close its end before closing
// what is left. mgo notices at once and never picks the dead connection
// from its pool again, which it may do for a moment after DropConnections;
// idle connections of the official driver notice only when next used, so
// they cost the whole timeout. Connections still waiting for an upstream
// (see SetUpstream) are left alone.
func (b *Bridge) DropConnectionsGracefully(timeout time.Duration) {
	b.mu.Lock()
	var dropped []*proxyConn
	for pc := range b.proxies {
		dropped = append(dropped, pc)
		if tc, ok := pc.client.(*net.TCPConn); ok {
			// The client reads EOF; the serving goroutine reads the
			// client's close.
			tc.CloseWrite()
		} else {
			pc.client.Close()
		}
	}
	b.mu.Unlock()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
wait:
	for _, pc := range dropped {
		select {
		case <-pc.done:
		case <-timer.C:
			break wait
		}
	}
	for _, pc := range dropped {
		pc.client.Close()
		pc.upstream.Close()
	}
}

// SetRefusing makes the bridge close new connections as soon as it accepts
// them (true) or serve them again (false).
func (b *Bridge) SetRefusing(refusing bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refusing = refusing
	if !refusing {
		b.refuseUntil = time.Time{}
	}
}

// Refuse makes the bridge close new connections as soon as it accepts them
// for the next d.
func (b *Bridge) Refuse(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refuseUntil = time.Now().Add(d)
}

// SetLatency delays every reply by d before it goes back to the client.
func (b *Bridge) SetLatency(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.latency = d
}

// SetClockOffset makes the server's clock look d ahead of the real one (or
// behind, for a negative d): d is added to the localTime field of every
// reply to isMaster or hello. localTime counts milliseconds, so d is
// truncated to a whole millisecond.
func (b *Bridge) SetClockOffset(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clockOffset = d
}

// SetClock makes the server's clock now() plus the clock offset, whatever
// the server says: isMaster and hello answer with it as their localTime.
// Tests that drive a clock give it, so that the server's time moves with
// theirs; nil goes back to the server's own clock.
func (b *Bridge) SetClock(now func() time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clock = now
}

// SetUpstream makes connections accepted from now on dial addr. Open
// connections keep their upstream. An empty addr stands for a server being
// replaced: connections accepted meanwhile wait, unanswered, until the next
// SetUpstream names the new one.
func (b *Bridge) SetUpstream(addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.upstream = addr
	close(b.upstreamSet)
	b.upstreamSet = make(chan struct{})
}

// upstreamAddr returns the address a new connection dials, waiting while
// there is none; "" when the bridge closed meanwhile.
func (b *Bridge) upstreamAddr() string {
	for {
		b.mu.Lock()
		addr, set := b.upstream, b.upstreamSet
		b.mu.Unlock()
		if addr != "" {
			return addr
		}
		select {
		case <-set:
		case <-b.ctx.Done():
			return ""
		}
	}
}

// Stats returns a copy of the counters.
func (b *Bridge) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stats
	s.Commands = make(map[string]int, len(b.stats.Commands))
	for k, v := range b.stats.Commands {
		s.Commands[k] = v
	}
	return s
}

// ResetStats sets every counter back to zero.
func (b *Bridge) ResetStats() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stats = Stats{Commands: make(map[string]int)}
}

func (b *Bridge) closeConnsLocked() {
	for c := range b.conns {
		c.Close()
	}
	clear(b.conns)
}

// track registers an open connection; false (and the connection closed)
// when the bridge is closing.
func (b *Bridge) track(c net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		c.Close()
		return false
	}
	b.conns[c] = struct{}{}
	return true
}

func (b *Bridge) untrack(c net.Conn) {
	c.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.conns, c)
}

func (b *Bridge) acceptLoop() {
	defer b.wg.Done()
	for {
		c, err := b.listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // listener closed
		}
		b.mu.Lock()
		refuse := b.refusing || time.Now().Before(b.refuseUntil)
		if refuse {
			b.stats.Refused++
		} else {
			b.stats.Connections++
		}
		b.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		if !b.track(c) {
			continue
		}
		b.wg.Add(1)
		go b.serve(c)
	}
}

// proxyConn is one client connection and its upstream connection.
type proxyConn struct {
	client   net.Conn
	upstream net.Conn
	// replies carries the upstream's messages, read by readUpstream; it is
	// closed when the upstream connection ends.
	replies chan message
	// gone is closed when readUpstream ends: the upstream connection was
	// lost or closed (by DropConnections or Close), or serving ended.
	gone chan struct{}
	// done is closed when the serving goroutine ends.
	done chan struct{}
}

// serve proxies one client connection until either side hangs up.
func (b *Bridge) serve(client net.Conn) {
	defer b.wg.Done()
	defer b.untrack(client)
	upstreamAddr := b.upstreamAddr()
	if upstreamAddr == "" {
		return
	}

	ctx, cancel := context.WithTimeout(b.ctx, dialTimeout)
	var d net.Dialer
	upstream, err := d.DialContext(ctx, "tcp", upstreamAddr)
	cancel()
	if err != nil || !b.track(upstream) {
		return
	}
	defer b.untrack(upstream)

	pc := &proxyConn{client: client, upstream: upstream, replies: make(chan message, 1), gone: make(chan struct{}), done: make(chan struct{})}
	defer close(pc.done)
	b.mu.Lock()
	b.proxies[pc] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.proxies, pc)
		b.mu.Unlock()
	}()
	b.wg.Add(1)
	go b.readUpstream(pc)

	for {
		m, err := readMessage(client)
		if err != nil {
			return
		}
		reply, err := b.handle(pc, m)
		if err != nil {
			return
		}
		if reply == nil {
			continue
		}
		if !b.delay() {
			return
		}
		if _, err := client.Write(reply); err != nil {
			return
		}
	}
}

// readUpstream passes the upstream's messages to the serving goroutine and
// closes both connections when the upstream hangs up.
func (b *Bridge) readUpstream(pc *proxyConn) {
	defer b.wg.Done()
	defer close(pc.gone)
	defer close(pc.replies)
	for {
		m, err := readMessage(pc.upstream)
		if err != nil {
			pc.client.Close()
			pc.upstream.Close()
			return
		}
		select {
		case pc.replies <- m:
		case <-pc.done:
			return
		}
	}
}

// delay waits for the configured latency; false if the bridge closed meanwhile.
func (b *Bridge) delay() bool {
	b.mu.Lock()
	d := b.latency
	b.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.ctx.Done():
		return false
	}
}
