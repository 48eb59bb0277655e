package wirebridge

import (
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/juju/mgo/v2/bson"
)

// fakeUpstream is an OP_MSG server answering every update statement as a
// match and every other command with {ok: 1}. It records the commands it got.
type fakeUpstream struct {
	listener net.Listener
	wg       sync.WaitGroup

	mu       sync.Mutex
	commands []bson.D
	conns    []net.Conn
}

func startFakeUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeUpstream{listener: l}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			f.wg.Add(1)
			go f.serve(c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *fakeUpstream) serve(c net.Conn) {
	defer f.wg.Done()
	for {
		m, err := readMessage(c)
		if err != nil {
			return
		}
		doc, err := parseMsg(m.body)
		if err != nil {
			return
		}
		var cmd bson.D
		if bson.Unmarshal(doc, &cmd) != nil {
			return
		}
		f.mu.Lock()
		f.commands = append(f.commands, cmd)
		f.mu.Unlock()
		reply := bson.D{{Name: "ok", Value: 1.0}}
		if cmd[0].Name == "update" {
			n := len(cmd[1].Value.([]any))
			reply = bson.D{{Name: "n", Value: n}, {Name: "nModified", Value: n}, {Name: "ok", Value: 1.0}}
		}
		out, _ := bson.Marshal(reply)
		if _, err := c.Write(encodeMessage(1, m.requestID, opMsg, encodeMsg(out))); err != nil {
			return
		}
	}
}

// roundTrip sends an OP_QUERY for doc on ns and returns the reply's flags
// and document.
func roundTrip(t *testing.T, c net.Conn, id int32, ns string, doc any) (int32, bson.M) {
	t.Helper()
	raw, err := bson.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(encodeMessage(id, 0, opQuery, encodeQuery(query{fullCollection: ns, limit: -1, doc: raw}))); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, err := readMessage(c)
	if err != nil {
		t.Fatal(err)
	}
	if m.opCode != opReply || m.responseTo != id {
		t.Fatalf("reply op %d to %d, want %d to %d", m.opCode, m.responseTo, opReply, id)
	}
	flags, docs, err := parseReply(m.body)
	if err != nil || len(docs) != 1 {
		t.Fatalf("reply: %d docs, %v", len(docs), err)
	}
	var out bson.M
	if err := bson.Unmarshal(docs[0], &out); err != nil {
		t.Fatal(err)
	}
	return flags, out
}

func TestBridgeProtocol(t *testing.T) {
	up := startFakeUpstream(t)
	b, err := New("127.0.0.1:0", up.listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if flags, r := roundTrip(t, c, 1, "admin.$cmd", bson.D{{Name: "getnonce", Value: 1}}); flags != 0 || r["ok"] != 1.0 || r["nonce"] == "" {
		t.Fatalf("getnonce: flags %d reply %v", flags, r)
	}

	// Killing cursors takes no reply: the next reply must answer request 3.
	if _, err := c.Write(encodeMessage(2, 0, opKillCursors, make([]byte, 16))); err != nil {
		t.Fatal(err)
	}
	wrapped := bson.D{{Name: "$query", Value: bson.D{{Name: "ping", Value: 1}}}, {Name: "$readPreference", Value: bson.M{"mode": "primary"}}}
	if flags, r := roundTrip(t, c, 3, "admin.$cmd", wrapped); flags != 0 || r["ok"] != 1.0 {
		t.Fatalf("ping: flags %d reply %v", flags, r)
	}

	if flags, r := roundTrip(t, c, 4, "db.coll", bson.D{{Name: "a", Value: 1}}); flags != replyQueryFailure || r["$err"] == nil {
		t.Fatalf("query on a collection: flags %d reply %v", flags, r)
	}

	var updates []bson.M
	for i := range 40 {
		updates = append(updates, bson.M{"q": bson.M{"_id": i}, "u": bson.M{"$set": bson.M{"a": 1}}})
	}
	flags, r := roundTrip(t, c, 5, "db.$cmd", bson.D{{Name: "update", Value: "c"}, {Name: "updates", Value: updates}, {Name: "ordered", Value: false}})
	if flags != 0 || r["n"] != 40 || r["nModified"] != 40 || r["ok"] != 1.0 {
		t.Fatalf("update: flags %d reply %v", flags, r)
	}

	up.mu.Lock()
	var names []string
	for _, cmd := range up.commands {
		names = append(names, cmd[0].Name)
		if last := cmd[len(cmd)-1]; last.Name != "$db" {
			t.Errorf("command %v does not end with $db", cmd)
		}
	}
	up.mu.Unlock()
	want := []string{"ping"}
	for range (40 + MaxUpdateChunk - 1) / MaxUpdateChunk {
		want = append(want, "update")
	}
	if !slices.Equal(names, want) {
		t.Fatalf("upstream got %v, want %v", names, want)
	}
	st := b.Stats()
	if st.UpdateStatements != 40 || st.MaxUpdateStatements != 40 || st.Commands["getnonce"] != 1 || st.Commands["update"] != 1 || st.Connections != 1 {
		t.Fatalf("stats %+v", st)
	}

	// A legacy write takes no reply, so the bridge can only hang up.
	if _, err := c.Write(encodeMessage(6, 0, opInsert, []byte{0, 0, 0, 0, 'a', 0})); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := readMessage(c); err == nil {
		t.Fatal("connection still open after OP_INSERT")
	}
}

func TestBridgeCloseEndsEverything(t *testing.T) {
	up := startFakeUpstream(t)
	b, err := New("127.0.0.1:0", up.listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for i := range 5 {
		c, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		roundTrip(t, c, int32(i), "admin.$cmd", bson.D{{Name: "ping", Value: 1}})
		conns = append(conns, c)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := readMessage(c); err == nil {
			t.Fatal("client connection open after Close")
		}
	}
}
