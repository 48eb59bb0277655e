// Package wirebridge lets github.com/juju/mgo/v2, which speaks only the legacy
// OP_QUERY wire protocol, talk to a server that speaks only OP_MSG, such as
// FerretDB v1. It is test and demo plumbing: the presence library never
// imports it.
//
// A Bridge listens on a loopback port and dials one upstream connection per
// client connection. Each OP_QUERY on "<db>.$cmd" is re-framed as an OP_MSG
// whose command document gets "$db" appended at its end, and the OP_MSG reply
// is re-framed as an OP_REPLY. Values are copied as raw bytes, never decoded,
// so an int64 stays an int64. Besides re-framing, the bridge:
//
//   - answers "getnonce" itself (mgo sends it on every new connection and fails
//     to dial without an answer; FerretDB does not know the command);
//   - drops OP_KILL_CURSORS, which has no reply;
//   - answers other legacy operations that expect a reply with a QueryFailure,
//     and closes the connection on those that expect none;
//   - splits "update" commands into chunks of at most MaxUpdateChunk
//     statements and merges the replies, because FerretDB v1.24 deadlocks on
//     an update command with about 100 statements matching existing documents;
//   - serialises every write command (insert, update, delete, findAndModify)
//     bridge-wide. Real MongoDB applies each write atomically to a document;
//     FerretDB v1 reads the document, applies $inc or $bit in Go and writes it
//     back without a lock, so concurrent writers lose updates. Letting one
//     writer in at a time gives the test server MongoDB's per-document
//     atomicity, which the presence library relies on.
//
// Fault controls let reliability tests and benchmarks disturb the traffic:
// DropConnections, SetRefusing, Refuse and SetLatency; HoldWrites keeps write
// commands from the server until released, with Hold.WaitHeld to learn that
// they arrived without sleeping; SetClockOffset moves the localTime of
// isMaster and hello replies, so the server's clock runs ahead or behind.
// Stats counts what went through. All Bridge methods are safe for concurrent
// use.
package wirebridge
