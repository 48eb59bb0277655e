package wirebridge

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/presence-go/presence/internal/bsonraw"
)

// Wire protocol op codes the bridge knows about.
const (
	opReply       = 1
	opUpdate      = 2001
	opInsert      = 2002
	opQuery       = 2004
	opGetMore     = 2005
	opDelete      = 2006
	opKillCursors = 2007
	opCompressed  = 2012
	opMsg         = 2013
)

const (
	// headerSize is the size of the standard message header.
	headerSize = 16

	// maxMessageSize is the largest message accepted from either side,
	// MongoDB's own limit.
	maxMessageSize = 48 * 1024 * 1024

	// replyQueryFailure is the OP_REPLY flag telling the client that its
	// query failed and the only document is {$err, code}.
	replyQueryFailure = 2

	// msgChecksumPresent is the OP_MSG flag saying a CRC-32C trails the
	// message.
	msgChecksumPresent = 1 << 0
	// msgMoreToCome is the OP_MSG flag saying the sender expects no reply
	// to this message (from a client: an unacknowledged write).
	msgMoreToCome = 1 << 1
)

// errMalformed is wrapped by every error about bytes that do not follow the
// wire protocol or BSON.
var errMalformed = errors.New("malformed")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errMalformed}, args...)...)
}

// header is the standard header every wire message starts with.
type header struct {
	length     int32 // whole message, header included
	requestID  int32
	responseTo int32
	opCode     int32
}

// message is one wire message: its header and the bytes after it.
type message struct {
	header
	body []byte
}

// readMessage reads one whole message from r. A length outside
// [headerSize, maxMessageSize] is an error: the stream cannot be trusted after it.
func readMessage(r io.Reader) (message, error) {
	var raw [headerSize]byte
	if _, err := io.ReadFull(r, raw[:]); err != nil {
		return message{}, err
	}
	h := header{
		length:     int32(binary.LittleEndian.Uint32(raw[0:])),
		requestID:  int32(binary.LittleEndian.Uint32(raw[4:])),
		responseTo: int32(binary.LittleEndian.Uint32(raw[8:])),
		opCode:     int32(binary.LittleEndian.Uint32(raw[12:])),
	}
	if h.length < headerSize || h.length > maxMessageSize {
		return message{}, malformed("message length %d", h.length)
	}
	body := make([]byte, h.length-headerSize)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return message{}, err
	}
	return message{header: h, body: body}, nil
}

// encodeMessage frames body with a header.
func encodeMessage(requestID, responseTo, opCode int32, body ...[]byte) []byte {
	size := headerSize
	for _, b := range body {
		size += len(b)
	}
	buf := make([]byte, headerSize, size)
	binary.LittleEndian.PutUint32(buf[0:], uint32(size))
	binary.LittleEndian.PutUint32(buf[4:], uint32(requestID))
	binary.LittleEndian.PutUint32(buf[8:], uint32(responseTo))
	binary.LittleEndian.PutUint32(buf[12:], uint32(opCode))
	for _, b := range body {
		buf = append(buf, b...)
	}
	return buf
}

// query is a parsed OP_QUERY body.
type query struct {
	flags          int32
	fullCollection string // "<db>.<collection>"
	skip           int32
	limit          int32 // numberToReturn
	doc            []byte
	fields         []byte // optional returnFieldsSelector, nil when absent
}

// parseQuery parses the body of an OP_QUERY.
func parseQuery(body []byte) (query, error) {
	var q query
	if len(body) < 4 {
		return q, malformed("OP_QUERY too short")
	}
	q.flags = int32(binary.LittleEndian.Uint32(body))
	rest := body[4:]
	name, n, err := cstring(rest)
	if err != nil {
		return q, fmt.Errorf("OP_QUERY collection name: %w", err)
	}
	q.fullCollection = name
	rest = rest[n:]
	if len(rest) < 8 {
		return q, malformed("OP_QUERY too short")
	}
	q.skip = int32(binary.LittleEndian.Uint32(rest))
	q.limit = int32(binary.LittleEndian.Uint32(rest[4:]))
	rest = rest[8:]
	if q.doc, rest, err = nextDocument(rest); err != nil {
		return q, fmt.Errorf("OP_QUERY query: %w", err)
	}
	if len(rest) > 0 {
		if q.fields, rest, err = nextDocument(rest); err != nil {
			return q, fmt.Errorf("OP_QUERY fields: %w", err)
		}
		if len(rest) > 0 {
			return q, malformed("%d trailing bytes after OP_QUERY", len(rest))
		}
	}
	return q, nil
}

// encodeQuery builds an OP_QUERY body; the tests use it to play the client.
func encodeQuery(q query) []byte {
	buf := binary.LittleEndian.AppendUint32(nil, uint32(q.flags))
	buf = append(buf, q.fullCollection...)
	buf = append(buf, 0)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(q.skip))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(q.limit))
	buf = append(buf, q.doc...)
	return append(buf, q.fields...)
}

// splitCommandNamespace splits "<db>.$cmd" into the database name; ok is
// false for any other namespace.
func splitCommandNamespace(fullCollection string) (db string, ok bool) {
	db, coll, found := strings.Cut(fullCollection, ".")
	if !found || db == "" || coll != "$cmd" {
		return "", false
	}
	return db, true
}

// msgCommand is a command as an OP_MSG carries it: the body document (the
// kind-0 section, "$db" included) and any document sequences (kind-1
// sections), which stand for array fields of the body.
type msgCommand struct {
	body      []byte
	sequences []docSequence
}

// docSequence is one kind-1 section of an OP_MSG.
type docSequence struct {
	identifier string   // the body field the documents belong to
	docs       [][]byte // each one a whole BSON document
}

// sequence returns the document sequence of that identifier, or nil.
func (c msgCommand) sequence(identifier string) *docSequence {
	for i := range c.sequences {
		if c.sequences[i].identifier == identifier {
			return &c.sequences[i]
		}
	}
	return nil
}

// encodeMsg builds an OP_MSG body with no flags and one kind-0 section.
func encodeMsg(doc []byte) []byte {
	return encodeMsgCommand(msgCommand{body: doc})
}

// encodeMsgCommand builds an OP_MSG body with no flags: the kind-0 section,
// then one kind-1 section per document sequence.
func encodeMsgCommand(cmd msgCommand) []byte {
	size := 5 + len(cmd.body)
	for _, seq := range cmd.sequences {
		size += 1 + 4 + len(seq.identifier) + 1
		for _, d := range seq.docs {
			size += len(d)
		}
	}
	buf := make([]byte, 5, size)
	// flagBits 0, then section kind 0.
	buf = append(buf, cmd.body...)
	for _, seq := range cmd.sequences {
		buf = append(buf, 1)
		start := len(buf)
		buf = append(buf, 0, 0, 0, 0) // size, set below
		buf = append(buf, seq.identifier...)
		buf = append(buf, 0)
		for _, d := range seq.docs {
			buf = append(buf, d...)
		}
		binary.LittleEndian.PutUint32(buf[start:], uint32(len(buf)-start))
	}
	return buf
}

// parseMsgCommand parses an OP_MSG body into its flags and sections. A
// trailing checksum is skipped, not checked: the bridge talks over loopback
// and re-frames every message it forwards.
func parseMsgCommand(body []byte) (flags uint32, cmd msgCommand, err error) {
	if len(body) < 5 {
		return 0, cmd, malformed("OP_MSG too short")
	}
	flags = binary.LittleEndian.Uint32(body)
	rest := body[4:]
	if flags&msgChecksumPresent != 0 {
		if len(rest) < 4 {
			return 0, cmd, malformed("OP_MSG checksum missing")
		}
		rest = rest[:len(rest)-4]
	}
	for len(rest) > 0 {
		kind := rest[0]
		rest = rest[1:]
		switch kind {
		case 0:
			if cmd.body != nil {
				return 0, cmd, malformed("OP_MSG with two body sections")
			}
			if cmd.body, rest, err = nextDocument(rest); err != nil {
				return 0, cmd, fmt.Errorf("OP_MSG body: %w", err)
			}
		case 1:
			var seq docSequence
			if seq, rest, err = nextSequence(rest); err != nil {
				return 0, cmd, fmt.Errorf("OP_MSG document sequence: %w", err)
			}
			cmd.sequences = append(cmd.sequences, seq)
		default:
			return 0, cmd, malformed("OP_MSG section kind %d", kind)
		}
	}
	if cmd.body == nil {
		return 0, cmd, malformed("OP_MSG without body section")
	}
	return flags, cmd, nil
}

// nextSequence splits the kind-1 section at the start of buf (after its
// kind byte) from what follows it.
func nextSequence(buf []byte) (seq docSequence, rest []byte, err error) {
	if len(buf) < 4 {
		return seq, nil, malformed("truncated")
	}
	n := int(int32(binary.LittleEndian.Uint32(buf)))
	if n < 5 || n > len(buf) {
		return seq, nil, malformed("size %d with %d bytes left", n, len(buf))
	}
	section := buf[4:n]
	id, idLen, err := cstring(section)
	if err != nil {
		return seq, nil, fmt.Errorf("identifier: %w", err)
	}
	if id == "" {
		return seq, nil, malformed("empty identifier")
	}
	seq.identifier = id
	docs := section[idLen:]
	for len(docs) > 0 {
		var d []byte
		if d, docs, err = nextDocument(docs); err != nil {
			return seq, nil, fmt.Errorf("%s[%d]: %w", id, len(seq.docs), err)
		}
		seq.docs = append(seq.docs, d)
	}
	return seq, buf[n:], nil
}

// parseMsg returns the kind-0 document of an OP_MSG body. Document sequences
// are refused: no reply the bridge forwards carries them.
func parseMsg(body []byte) ([]byte, error) {
	_, cmd, err := parseMsgCommand(body)
	if err != nil {
		return nil, err
	}
	if len(cmd.sequences) > 0 {
		return nil, malformed("OP_MSG reply with a document sequence")
	}
	return cmd.body, nil
}

// encodeReply builds an OP_REPLY body holding the single document doc.
func encodeReply(flags int32, doc []byte) []byte {
	buf := binary.LittleEndian.AppendUint32(nil, uint32(flags))
	buf = binary.LittleEndian.AppendUint64(buf, 0) // cursorID
	buf = binary.LittleEndian.AppendUint32(buf, 0) // startingFrom
	buf = binary.LittleEndian.AppendUint32(buf, 1) // numberReturned
	return append(buf, doc...)
}

// parseReply returns the flags and the documents of an OP_REPLY body.
func parseReply(body []byte) (flags int32, docs [][]byte, err error) {
	if len(body) < 20 {
		return 0, nil, malformed("OP_REPLY too short")
	}
	flags = int32(binary.LittleEndian.Uint32(body))
	n := int32(binary.LittleEndian.Uint32(body[16:]))
	rest := body[20:]
	for i := int32(0); i < n; i++ {
		var doc []byte
		if doc, rest, err = nextDocument(rest); err != nil {
			return 0, nil, fmt.Errorf("OP_REPLY document %d: %w", i, err)
		}
		docs = append(docs, doc)
	}
	if len(rest) > 0 {
		return 0, nil, malformed("%d trailing bytes after OP_REPLY", len(rest))
	}
	return flags, docs, nil
}

// elements returns the elements of a BSON document, walked by bsonraw
// without decoding their values. The element names and values point into
// doc.
func elements(doc []byte) ([]bsonraw.Element, error) {
	var out []bsonraw.Element
	it := bsonraw.NewIter(doc)
	for it.Next() {
		out = append(out, it.Element())
	}
	if err := it.Err(); err != nil {
		return nil, malformed("%v", err)
	}
	return out, nil
}

// checkDocument checks a document's framing: length prefix and final NUL.
func checkDocument(doc []byte) error {
	if len(doc) < 5 {
		return malformed("document of %d bytes", len(doc))
	}
	if n := int(int32(binary.LittleEndian.Uint32(doc))); n != len(doc) {
		return malformed("document length %d in %d bytes", n, len(doc))
	}
	if doc[len(doc)-1] != 0 {
		return malformed("document not NUL-terminated")
	}
	return nil
}

// nextDocument splits the document at the start of buf from what follows it.
func nextDocument(buf []byte) (doc, rest []byte, err error) {
	if len(buf) < 4 {
		return nil, nil, malformed("document truncated")
	}
	n := int(int32(binary.LittleEndian.Uint32(buf)))
	if n < 5 || n > len(buf) {
		return nil, nil, malformed("document length %d with %d bytes left", n, len(buf))
	}
	doc = buf[:n]
	if err := checkDocument(doc); err != nil {
		return nil, nil, err
	}
	return doc, buf[n:], nil
}

// cstring reads a NUL-terminated string; n counts the NUL.
func cstring(buf []byte) (s string, n int, err error) {
	i := bytes.IndexByte(buf, 0)
	if i < 0 {
		return "", 0, malformed("unterminated string")
	}
	return string(buf[:i]), i + 1, nil
}

// commandFromQuery returns the command held by an OP_QUERY document,
// unwrapping {$query: <command>, $readPreference: ...} when the driver sent
// one. The read preference is dropped: the bridge serves one server.
func commandFromQuery(doc []byte) ([]byte, error) {
	elems, err := elements(doc)
	if err != nil {
		return nil, err
	}
	if len(elems) == 0 {
		return nil, malformed("empty command")
	}
	// Drivers wrap with "$query", or with "query" next to "$" modifiers.
	first := string(elems[0].Name)
	wrapped := first == "$query" ||
		first == "query" && len(elems) > 1 && bytes.HasPrefix(elems[1].Name, []byte("$"))
	if !wrapped {
		return doc, nil
	}
	if elems[0].Type != bsonraw.TypeDocument {
		return nil, malformed("%s is not a document", first)
	}
	inner := elems[0].Value
	innerElems, err := elements(inner)
	if err != nil {
		return nil, err
	}
	if len(innerElems) == 0 {
		return nil, malformed("empty command")
	}
	return inner, nil
}

// commandName returns the name of a command: its first key.
func commandName(cmd []byte) (string, error) {
	elems, err := elements(cmd)
	if err != nil {
		return "", err
	}
	if len(elems) == 0 {
		return "", malformed("empty command")
	}
	return string(elems[0].Name), nil
}

// appendDB appends {$db: db} at the end of cmd, where OP_MSG wants it; the
// command name stays first. A command that already names its $db is kept.
func appendDB(cmd []byte, db string) ([]byte, error) {
	elems, err := elements(cmd)
	if err != nil {
		return nil, err
	}
	var b bsonraw.Builder
	for _, e := range elems {
		if string(e.Name) == "$db" {
			return cmd, nil
		}
		b.Element(e)
	}
	b.String("$db", db)
	return b.Bytes(), nil
}

// errorDoc builds the {$err, code} document of a QueryFailure reply.
func errorDoc(msg string, code int32) []byte {
	var b bsonraw.Builder
	b.String("$err", msg)
	b.Int32("code", code)
	b.Double("ok", 0)
	return b.Bytes()
}

// commandErrorDoc builds a failed command's reply {ok: 0, errmsg, code}.
func commandErrorDoc(msg string, code int32) []byte {
	var b bsonraw.Builder
	b.Double("ok", 0)
	b.String("errmsg", msg)
	b.Int32("code", code)
	return b.Bytes()
}

// nonceDoc is the bridge's own answer to getnonce.
func nonceDoc(nonce uint64) []byte {
	var b bsonraw.Builder
	b.String("nonce", strconv.FormatUint(nonce, 16))
	b.Double("ok", 1)
	return b.Bytes()
}

// addToDateTime returns a copy of doc whose top-level UTC datetime element
// name is moved by ms milliseconds; every other byte is copied unchanged.
// doc itself is returned when it has no such datetime or cannot be read.
func addToDateTime(doc []byte, name string, ms int64) []byte {
	return changeDateTime(doc, name, func(t int64) int64 { return t + ms })
}

// setDateTime returns doc with the datetime element name set to ms
// milliseconds since the epoch, or doc itself when it has no such element.
func setDateTime(doc []byte, name string, ms int64) []byte {
	return changeDateTime(doc, name, func(int64) int64 { return ms })
}

// changeDateTime returns doc with the datetime element name changed by
// change, or doc itself when it has no such element. Only the first such
// element changes; every other byte is copied unchanged.
func changeDateTime(doc []byte, name string, change func(ms int64) int64) []byte {
	elems, err := elements(doc)
	if err != nil {
		return doc
	}
	at := slices.IndexFunc(elems, func(e bsonraw.Element) bool {
		return string(e.Name) == name && e.Type == bsonraw.TypeDateTime
	})
	if at < 0 {
		return doc
	}
	var b bsonraw.Builder
	for i, e := range elems {
		if i == at {
			t := int64(binary.LittleEndian.Uint64(e.Value))
			e.Value = binary.LittleEndian.AppendUint64(nil, uint64(change(t)))
		}
		b.Element(e)
	}
	return b.Bytes()
}
