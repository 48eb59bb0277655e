// Package wirebridge puts a loopback proxy in front of a server that speaks
// only OP_MSG, such as FerretDB v1, so that both MongoDB drivers the project
// uses can talk to it safely: github.com/juju/mgo/v2, which speaks only the
// legacy OP_QUERY protocol, and go.mongodb.org/mongo-driver/v2, which speaks
// OP_MSG. It is test and demo plumbing: the presence library never imports
// it.
//
// A Bridge listens on a loopback port and dials one upstream connection per
// client connection. Each OP_QUERY on "<db>.$cmd" is re-framed as an OP_MSG
// whose command document gets "$db" appended at its end, and the OP_MSG reply
// is re-framed as an OP_REPLY. An OP_MSG from the client is passed on with
// its body and document sequences (kind-1 sections, in which the official
// driver sends the statements of insert, update and delete) as they came,
// and the reply goes back as an OP_MSG. Values are copied as raw bytes,
// never decoded, so an int64 stays an int64. Besides re-framing, the bridge:
//
//   - answers "getnonce" itself (mgo sends it on every new connection and fails
//     to dial without an answer; FerretDB does not know the command);
//   - drops OP_KILL_CURSORS, which has no reply;
//   - answers other legacy operations that expect a reply with a QueryFailure,
//     and closes the connection on those that expect none, and on
//     OP_COMPRESSED: FerretDB's handshake reply offers no compressor, so no
//     driver compresses towards it;
//   - splits "update" commands into commands of at most MaxUpdateChunk
//     statements (one) and merges the replies into the one MongoDB would
//     give, because FerretDB v1.24 deadlocks on an update command with about
//     100 statements matching existing documents, and misreports upserts and
//     failed statements in commands of several (see MaxUpdateChunk);
//   - serialises every write command (insert, update, delete, findAndModify)
//     bridge-wide, from clients of either protocol. Real MongoDB applies each
//     write atomically to a document; FerretDB v1 reads the document, applies
//     $inc or $bit in Go and writes it back without a lock, so concurrent
//     writers lose updates. Letting one writer in at a time gives the test
//     server MongoDB's per-document atomicity, which the presence library
//     relies on;
//   - sends every OP_MSG to the server without flags and waits for its reply.
//     An unacknowledged write (moreToCome) is still serialised, and its reply
//     is not passed on, since the client expects none; the server is never
//     allowed to stream replies (exhaustAllowed).
//
// The official driver opens each connection with a legacy OP_QUERY "isMaster"
// and speaks OP_MSG once it has learnt the server's wire version; the bridge
// serves both on the same connection.
//
// Fault controls let reliability tests and benchmarks disturb the traffic:
// DropConnections (or DropConnectionsGracefully, which waits for clients to
// close their ends), SetRefusing, Refuse and SetLatency; SetUpstream moves
// new connections to another server, or holds them while it is replaced;
// HoldWrites keeps write
// commands from the server until released, with Hold.WaitHeld to learn that
// they arrived without sleeping; SetClockOffset moves the localTime of
// isMaster and hello replies, so the server's clock runs ahead or behind.
// Stats counts what went through. All of them apply to clients of both
// protocols, and all Bridge methods are safe for concurrent use.
//
// # Why the framing is written here
//
// FerretDB's own github.com/FerretDB/wire module reads and writes these
// messages, and a maintained library would be preferable to hand-written
// protocol code. It does not fit, for these reasons:
//
//   - A module graph holds one version of a module. The test server embeds
//     FerretDB v1.24.2, which is built against wire v0.0.8; requiring the
//     newer wire (v0.1.7-0.20250708055527-67b1f7c98628) upgrades FerretDB's
//     copy too, and FerretDB then no longer compiles, as the API changed
//     between those versions (bson.ToDocument, wire.CheckNaNs,
//     OpMsg.RawSection0, OpMsg.Sections).
//   - wire.ReadMessage returns no message for OP_KILL_CURSORS, OP_GET_MORE or
//     OP_COMPRESSED, only an error after consuming the bytes, so the bridge
//     could not drop the OP_KILL_CURSORS that mgo sends and keep the
//     connection. Using only the per-message parsers would leave the header
//     reading here anyway.
//   - Its OP_MSG type cannot build a message with a document sequence
//     (sections are unexported in the newer version), and hands back the
//     documents of all sequences concatenated without their identifiers, so
//     update commands could not be split in the form the driver sent them.
//   - Its checks are switched by package variables that the in-process
//     FerretDB sets for the whole process (wire.CheckNaNs always, wire.Debug
//     in its debug builds): the bridge would refuse what FerretDB refuses,
//     NaN doubles for instance, instead of passing the bytes on.
//
// What the bridge needs is small (a header and three message layouts) and
// is fuzzed in this package. It walks and writes BSON elements, without
// decoding their values, with package internal/bsonraw, as the library
// reads its documents.
package wirebridge
