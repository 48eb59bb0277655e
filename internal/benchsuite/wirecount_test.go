package benchsuite

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// wireCounter is a loopback proxy that counts the bytes of every message
// a client sends and receives, by the name of the command: what a
// deployment's network and server see. The bridge counts commands, not
// bytes; the benchmarks that compare bytes (the library against one
// heartbeat document per agent) send their traffic through one of these.
// It reads the official driver's OP_MSG commands and the OP_QUERY of its
// handshake; a reply is counted under the command it answers.
type wireCounter struct {
	ln       net.Listener
	upstream string
	wg       sync.WaitGroup

	mu       sync.Mutex
	conns    map[net.Conn]bool
	sent     map[string]int64 // bytes of requests, by command
	received map[string]int64 // bytes of replies, by the command they answer
}

func newWireCounter(upstream string) (*wireCounter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	wc := &wireCounter{ln: ln, upstream: upstream, conns: map[net.Conn]bool{}, sent: map[string]int64{}, received: map[string]int64{}}
	wc.wg.Add(1)
	go wc.accept()
	return wc, nil
}

func (wc *wireCounter) accept() {
	defer wc.wg.Done()
	for {
		client, err := wc.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", wc.upstream)
		if err != nil {
			client.Close()
			continue
		}
		wc.mu.Lock()
		wc.conns[client], wc.conns[server] = true, true
		wc.mu.Unlock()
		// Requests and replies alternate on a connection, so the name of
		// the last request names the reply that follows it.
		var last lastCommand
		wc.wg.Add(2)
		go wc.pipe(client, server, func(name string, n int) { last.set(name); wc.add(wc.sent, name, n) })
		go wc.pipe(server, client, func(_ string, n int) { wc.add(wc.received, last.get(), n) })
	}
}

type lastCommand struct {
	mu   sync.Mutex
	name string
}

func (l *lastCommand) set(name string) { l.mu.Lock(); l.name = name; l.mu.Unlock() }
func (l *lastCommand) get() string     { l.mu.Lock(); defer l.mu.Unlock(); return l.name }

func (wc *wireCounter) add(m map[string]int64, name string, n int) {
	wc.mu.Lock()
	m[name] += int64(n)
	wc.mu.Unlock()
}

// pipe copies whole messages from src to dst, calling count with each
// message's command name and size.
func (wc *wireCounter) pipe(src, dst net.Conn, count func(name string, n int)) {
	defer wc.wg.Done()
	defer src.Close()
	defer dst.Close()
	header := make([]byte, 16)
	for {
		if _, err := io.ReadFull(src, header); err != nil {
			return
		}
		size := int(binary.LittleEndian.Uint32(header))
		if size < 16 {
			return
		}
		msg := make([]byte, size)
		copy(msg, header)
		if _, err := io.ReadFull(src, msg[16:]); err != nil {
			return
		}
		count(commandName(msg), size)
		if _, err := dst.Write(msg); err != nil {
			return
		}
	}
}

// commandName returns the first field name of a request's command
// document: OP_MSG's body section, or the query of an OP_QUERY.
func commandName(msg []byte) string {
	opCode := binary.LittleEndian.Uint32(msg[12:])
	var doc []byte
	switch opCode {
	case 2013: // OP_MSG: flags, then sections; the body is of kind 0
		rest := msg[20:]
		for len(rest) > 5 {
			kind := rest[0]
			size := int(binary.LittleEndian.Uint32(rest[1:]))
			if kind == 0 {
				doc = rest[1:]
				break
			}
			if size < 4 || 1+size > len(rest) {
				return ""
			}
			rest = rest[1+size:]
		}
	case 2004: // OP_QUERY: flags, collection name, skip, return, query
		rest := msg[20:]
		end := bytes.IndexByte(rest, 0)
		if end < 0 || end+9 > len(rest) {
			return ""
		}
		doc = rest[end+9:]
	default:
		return ""
	}
	if len(doc) < 6 {
		return ""
	}
	name := doc[5:]
	if end := bytes.IndexByte(name, 0); end >= 0 {
		return string(name[:end])
	}
	return ""
}

// wireBytes is what a wireCounter counted.
type wireBytes struct {
	sent, received map[string]int64
}

func (wc *wireCounter) snapshot() wireBytes {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	s := wireBytes{sent: map[string]int64{}, received: map[string]int64{}}
	for k, v := range wc.sent {
		s.sent[k] = v
	}
	for k, v := range wc.received {
		s.received[k] = v
	}
	return s
}

// since returns the bytes counted since before.
func (w wireBytes) since(before wireBytes) wireBytes {
	d := wireBytes{sent: map[string]int64{}, received: map[string]int64{}}
	for k, v := range w.sent {
		d.sent[k] = v - before.sent[k]
	}
	for k, v := range w.received {
		d.received[k] = v - before.received[k]
	}
	return d
}

// written returns the bytes of the write commands sent.
func (w wireBytes) written() int64 {
	return w.sent["update"] + w.sent["insert"] + w.sent["delete"] + w.sent["findAndModify"]
}

// read returns the bytes of the replies to reads.
func (w wireBytes) read() int64 {
	return w.received["find"] + w.received["getMore"]
}

func (wc *wireCounter) close() {
	wc.ln.Close()
	wc.mu.Lock()
	for c := range wc.conns {
		c.Close()
	}
	wc.mu.Unlock()
	wc.wg.Wait()
}

// countedClient returns a client of the official driver whose traffic
// goes through a wireCounter, both closed when tb ends.
func countedClient(tb testing.TB) (*mongo.Client, *wireCounter) {
	tb.Helper()
	s := sharedServer(tb)
	upstream, ok := bytes.CutPrefix([]byte(s.url), []byte("mongodb://"))
	if !ok || s.bridge == nil {
		tb.Skip("bytes are counted in front of the test server's bridge only")
	}
	wc, err := newWireCounter(string(upstream))
	if err != nil {
		tb.Fatal(err)
	}
	opts := options.Client().ApplyURI("mongodb://" + wc.ln.Addr().String()).
		SetReadPreference(readpref.Primary()).
		SetConnectTimeout(dialTimeout).
		SetDirect(true)
	client, err := mongo.Connect(opts)
	if err != nil {
		wc.close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		defer cancel()
		if err := client.Disconnect(ctx); err != nil && !errors.Is(err, mongo.ErrClientDisconnected) {
			tb.Errorf("disconnecting: %v", err)
		}
		wc.close()
	})
	return client, wc
}
