package memstore

import (
	"slices"
	"sort"
)

// collection is the documents of one collection by _id, and an index of
// their ids in order for reads of a range, as the _id index serves them.
// The server's lock guards it.
type collection struct {
	// docs holds each document's bytes by _id. A document's bytes are
	// never changed once stored: an update stores new ones.
	docs map[string][]byte
	// ids holds every _id in docs, in order when sorted is set, and maybe
	// ids since removed, which reads skip. An id that would break the
	// order clears sorted; the next read of a range sorts afresh.
	ids    []string
	sorted bool
	// stale counts the removed ids still in ids.
	stale int
}

func newCollection() *collection {
	return &collection{docs: make(map[string][]byte), sorted: true}
}

// get returns the document of id.
func (c *collection) get(id string) ([]byte, bool) {
	doc, ok := c.docs[id]
	return doc, ok
}

// put stores doc as the document of id.
func (c *collection) put(id string, doc []byte) {
	if _, ok := c.docs[id]; !ok {
		if c.sorted && len(c.ids) > 0 && id <= c.ids[len(c.ids)-1] {
			c.sorted = false
		}
		c.ids = append(c.ids, id)
	}
	c.docs[id] = doc
}

// remove removes the document of id, and tells whether there was one.
func (c *collection) remove(id string) bool {
	if _, ok := c.docs[id]; !ok {
		return false
	}
	delete(c.docs, id)
	c.stale++
	if c.stale > len(c.docs) {
		c.sorted = false // rebuilding also drops the removed ids
	}
	return true
}

// scan calls fn with each document whose id is at least from and below
// before, in the order of their ids, until fn returns false. The least id
// after an id is that id followed by a NUL byte.
func (c *collection) scan(from, before string, fn func(id string, doc []byte) bool) {
	c.sortIDs()
	for _, id := range c.ids[sort.SearchStrings(c.ids, from):] {
		if id >= before {
			return
		}
		if doc, ok := c.docs[id]; ok && !fn(id, doc) {
			return
		}
	}
}

// all returns every document, in the order of their ids.
func (c *collection) all() [][]byte {
	c.sortIDs()
	docs := make([][]byte, 0, len(c.docs))
	for _, id := range c.ids {
		if doc, ok := c.docs[id]; ok {
			docs = append(docs, doc)
		}
	}
	return docs
}

// sortIDs puts ids in order, without the removed ones, unless it is.
func (c *collection) sortIDs() {
	if c.sorted {
		return
	}
	c.ids = c.ids[:0]
	for id := range c.docs {
		c.ids = append(c.ids, id)
	}
	slices.Sort(c.ids)
	c.sorted, c.stale = true, 0
}
