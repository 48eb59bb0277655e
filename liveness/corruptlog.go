package liveness

import "log/slog"

// corruptLog says once of each corrupt document that its unreadable parts
// are skipped, however often its owner meets it. It belongs to one
// goroutine at a time: the watcher's loop, or the pruner's run.
type corruptLog struct {
	logger *slog.Logger
	model  string
	seen   map[string]bool // collection and _id of the documents logged
	// total counts the corrupt documents met, including those seen has
	// forgotten.
	total int
}

// corruptRemembered is how many corrupt documents a log remembers: a
// writer that spoils every slot document would otherwise make it grow for
// ever. Past it, the log starts afresh, and may say again what it said.
const corruptRemembered = 10000

func newCorruptLog(logger *slog.Logger, modelUUID string) *corruptLog {
	return &corruptLog{logger: logger, model: modelUUID, seen: make(map[string]bool)}
}

// report logs the problems of the document id of collection, unless it
// was logged before.
func (c *corruptLog) report(collection, id string, problems []string) {
	name := collection + " " + id
	if c.seen[name] {
		return
	}
	if len(c.seen) >= corruptRemembered {
		clear(c.seen)
	}
	c.seen[name] = true
	c.total++
	c.logger.Warn("presence: skipping corrupt parts of a document", "model", c.model, "document", name, "problems", problems)
}

// count returns how many corrupt documents were met.
func (c *corruptLog) count() int { return c.total }
