package wirebridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
)

// handle answers one client message. It returns the framed reply, nil when
// the message takes no reply, or an error when the connection must close.
func (b *Bridge) handle(pc *proxyConn, m message) ([]byte, error) {
	switch m.opCode {
	case opMsg:
		return b.handleMsg(pc, m)
	case opQuery:
		doc := b.handleQuery(pc, m)
		if doc == nil {
			return nil, errors.New("upstream connection lost")
		}
		return encodeMessage(b.nextRequestID.Add(1), m.requestID, opReply, doc), nil
	case opKillCursors:
		// Cursors die with the command's reply or the connection anyway.
		return nil, nil
	case opGetMore:
		body := encodeReply(replyQueryFailure, errorDoc("wirebridge: OP_GET_MORE is not supported; use the getMore command", codeUnsupported))
		return encodeMessage(b.nextRequestID.Add(1), m.requestID, opReply, body), nil
	default:
		// OP_INSERT, OP_UPDATE and OP_DELETE take no reply, and whether an
		// OP_COMPRESSED does depends on the message inside: closing is the
		// only answer that cannot confuse the client. Drivers compress
		// only when the server's handshake reply offers a compressor, and
		// FerretDB offers none.
		return nil, fmt.Errorf("op code %d not supported", m.opCode)
	}
}

// handleMsg answers an OP_MSG with an OP_MSG, or with nothing when the
// client set moreToCome (an unacknowledged write). The command goes to the
// server without flags, so the server always answers, the bridge keeps
// serialising unacknowledged writes, and the server never streams replies
// (exhaustAllowed) the bridge would have to pass on.
func (b *Bridge) handleMsg(pc *proxyConn, m message) ([]byte, error) {
	flags, cmd, err := parseMsgCommand(m.body)
	if err != nil && len(m.body) >= 4 {
		// Honour moreToCome even when the rest cannot be read.
		flags = binary.LittleEndian.Uint32(m.body)
	}
	var reply []byte
	if err == nil {
		reply, err = b.command(pc, cmd)
	} else {
		err = &commandError{err}
	}
	var ce *commandError
	switch {
	case errors.As(err, &ce):
		reply = commandErrorDoc("wirebridge: "+ce.err.Error(), codeFailedToParse)
	case err != nil:
		return nil, err
	}
	if flags&msgMoreToCome != 0 {
		return nil, nil
	}
	return encodeMessage(b.nextRequestID.Add(1), m.requestID, opMsg, encodeMsg(reply)), nil
}

// handleQuery answers an OP_QUERY with an OP_REPLY body, or nil when the
// upstream connection was lost.
func (b *Bridge) handleQuery(pc *proxyConn, m message) []byte {
	fail := func(msg string, code int32) []byte {
		return encodeReply(replyQueryFailure, errorDoc("wirebridge: "+msg, code))
	}
	q, err := parseQuery(m.body)
	if err != nil {
		return fail(err.Error(), codeFailedToParse)
	}
	db, ok := splitCommandNamespace(q.fullCollection)
	if !ok {
		return fail(fmt.Sprintf("only commands on <db>.$cmd are supported, not a query on %q", q.fullCollection), codeUnsupported)
	}
	cmd, err := commandFromQuery(q.doc)
	if err == nil {
		cmd, err = appendDB(cmd, db)
	}
	if err != nil {
		return fail(err.Error(), codeFailedToParse)
	}
	reply, err := b.command(pc, msgCommand{body: cmd})
	var ce *commandError
	switch {
	case errors.As(err, &ce):
		reply = commandErrorDoc("wirebridge: "+ce.err.Error(), codeFailedToParse)
	case err != nil:
		return nil
	}
	return encodeReply(0, reply)
}

// commandError means the client's command could not be read or split; the
// client gets a failed command's reply and the connection stays open. Any
// other error from command means the upstream connection was lost and the
// client connection must close.
type commandError struct{ err error }

func (e *commandError) Error() string { return e.err.Error() }
func (e *commandError) Unwrap() error { return e.err }

// command runs one client command, whichever protocol it came in, and
// returns the server's reply document (or the bridge's own): write commands
// wait for their turn at the write gate, update commands go in chunks, and
// isMaster and hello replies get the clock offset.
func (b *Bridge) command(pc *proxyConn, cmd msgCommand) ([]byte, error) {
	name, err := commandName(cmd.body)
	if err != nil {
		return nil, &commandError{err}
	}
	b.mu.Lock()
	b.stats.Commands[name]++
	b.mu.Unlock()

	switch strings.ToLower(name) {
	case "getnonce":
		return nonceDoc(rand.Uint64()), nil
	case "update":
		return b.update(pc, cmd)
	case "insert", "delete", "findandmodify":
		if !b.writes.acquire(pc.gone) {
			return nil, errUpstreamLost
		}
		defer b.writes.release()
		return b.forward(pc, cmd)
	case "ismaster", "hello":
		reply, err := b.forward(pc, cmd)
		if err != nil {
			return nil, err
		}
		return b.shiftLocalTime(reply), nil
	default:
		return b.forward(pc, cmd)
	}
}

// errUpstreamLost is returned when the upstream connection ended while a
// command waited for its turn.
var errUpstreamLost = errors.New("wirebridge: upstream connection lost")

// forward sends cmd to the server as an OP_MSG and returns its reply
// document.
func (b *Bridge) forward(pc *proxyConn, cmd msgCommand) ([]byte, error) {
	id := b.nextRequestID.Add(1)
	if _, err := pc.upstream.Write(encodeMessage(id, 0, opMsg, encodeMsgCommand(cmd))); err != nil {
		return nil, fmt.Errorf("wirebridge: upstream: %w", err)
	}
	m, ok := <-pc.replies
	if !ok {
		return nil, fmt.Errorf("wirebridge: upstream: %w", io.ErrUnexpectedEOF)
	}
	if m.opCode != opMsg || m.responseTo != id {
		return nil, fmt.Errorf("wirebridge: upstream: unexpected reply: op code %d to request %d, want %d to %d", m.opCode, m.responseTo, opMsg, id)
	}
	reply, err := parseMsg(m.body)
	if err != nil {
		return nil, fmt.Errorf("wirebridge: upstream: %w", err)
	}
	return reply, nil
}

// update forwards an update command in chunks of at most MaxUpdateChunk
// statements and merges the replies.
func (b *Bridge) update(pc *proxyConn, cmd msgCommand) ([]byte, error) {
	statements, ordered, err := updateStatements(cmd)
	if err != nil {
		return nil, &commandError{err}
	}
	var chunks []updateChunk
	if len(statements) > MaxUpdateChunk {
		if chunks, err = splitUpdate(cmd, MaxUpdateChunk); err != nil {
			return nil, &commandError{err}
		}
	}
	if !b.writes.acquire(pc.gone) {
		return nil, errUpstreamLost
	}
	defer b.writes.release()
	b.countStatements(len(statements))
	if chunks == nil {
		return b.forward(pc, cmd)
	}
	var replies [][]byte
	for _, c := range chunks {
		reply, err := b.forward(pc, c.cmd)
		if err != nil {
			return nil, err
		}
		replies = append(replies, reply)
		r, err := parseUpdateReply(reply)
		if err != nil {
			return nil, &commandError{err}
		}
		if !r.ok || ordered && len(r.writeErrors) > 0 {
			break
		}
	}
	merged, err := mergeUpdateReplies(chunks, replies)
	if err != nil {
		return nil, &commandError{err}
	}
	return merged, nil
}

func (b *Bridge) countStatements(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stats.UpdateStatements += n
	b.stats.MaxUpdateStatements = max(b.stats.MaxUpdateStatements, n)
}

// shiftLocalTime returns reply with the clock offset added to its
// localTime, every other byte unchanged.
func (b *Bridge) shiftLocalTime(reply []byte) []byte {
	b.mu.Lock()
	offset, clock := b.clockOffset, b.clock
	b.mu.Unlock()
	if clock != nil {
		return setDateTime(reply, "localTime", clock().Add(offset).UnixMilli())
	}
	if offset == 0 {
		return reply
	}
	return addToDateTime(reply, "localTime", offset.Milliseconds())
}
