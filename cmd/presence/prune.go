package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/juju/mgo/v2/bson"

	"github.com/presence-go/presence"
	"github.com/presence-go/presence/internal/slot"
)

const pruneSummary = `Runs the library's pruner once for a model: removes the beings whose
sequence a newer one of the same key superseded (unless still seen in a live
slot) and the slot documents older than three periods. Reports the counts
before and after. With --dry-run nothing is removed: it reports what would be.`

// pruneResult is what prune prints; --json prints it as is.
type pruneResult struct {
	Model        string `json:"model"`
	DryRun       bool   `json:"dry_run"`
	BeingsBefore int    `json:"beings_before"`
	BeingsAfter  int    `json:"beings_after"`
	PingsBefore  int    `json:"pings_before"`
	PingsAfter   int    `json:"pings_after"`
}

func runPrune(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("prune", pruneSummary, stderr)
	var conn connFlags
	conn.register(fs)
	dryRun := fs.Bool("dry-run", false, "report what would be removed, remove nothing")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	st, err := conn.open()
	if err != nil {
		return err
	}
	defer st.Close()
	var result *pruneResult
	if *dryRun {
		result, err = st.pruneDryRun()
	} else {
		result, err = st.prune()
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(result)
	}
	verb := "removed"
	if result.DryRun {
		verb = "would remove"
	}
	fmt.Fprintf(stdout, "model %s: %s %d beings (%d -> %d) and %d slot documents (%d -> %d)\n",
		result.Model, verb,
		result.BeingsBefore-result.BeingsAfter, result.BeingsBefore, result.BeingsAfter,
		result.PingsBefore-result.PingsAfter, result.PingsBefore, result.PingsAfter)
	return nil
}

// counts returns how many beings and slot documents the model has.
func (st *store) counts() (beings, pings int, err error) {
	if beings, err = st.beings.Find(modelIDs(st.model)).Count(); err != nil {
		return 0, 0, fmt.Errorf("cannot count %s: %v", st.beings.FullName, err)
	}
	if pings, err = st.pings.Find(modelIDs(st.model)).Count(); err != nil {
		return 0, 0, fmt.Errorf("cannot count %s: %v", st.pings.FullName, err)
	}
	return beings, pings, nil
}

// prune runs the library's pruner, against the server's clock.
func (st *store) prune() (*pruneResult, error) {
	r := &pruneResult{Model: st.model}
	var err error
	if r.BeingsBefore, r.PingsBefore, err = st.counts(); err != nil {
		return nil, err
	}
	now, err := serverNow(st.session)
	if err != nil {
		return nil, err
	}
	delta := time.Until(now)
	pruner := presence.NewPrunerWithOptions(st.model, st.beings, st.pings, delta, presence.WithPeriod(st.period))
	if err := pruner.Prune(nil); err != nil {
		return nil, err
	}
	if r.BeingsAfter, r.PingsAfter, err = st.counts(); err != nil {
		return nil, err
	}
	return r, nil
}

// pruneDryRun works out what prune would remove, by the same rules,
// without writing.
func (st *store) pruneDryRun() (*pruneResult, error) {
	r := &pruneResult{Model: st.model, DryRun: true}
	var err error
	if r.BeingsBefore, r.PingsBefore, err = st.counts(); err != nil {
		return nil, err
	}
	now, err := serverNow(st.session)
	if err != nil {
		return nil, err
	}
	periodSeconds := slot.Seconds(st.period)
	current := slot.Of(now.Unix(), periodSeconds)
	old := append(modelIDs(st.model), bson.DocElem{Name: "slot", Value: bson.M{"$lt": current - 3*periodSeconds}})
	oldPings, err := st.pings.Find(old).Count()
	if err != nil {
		return nil, fmt.Errorf("cannot count %s: %v", st.pings.FullName, err)
	}
	// As the pruner does, a margin of one more period covers watchers
	// whose clocks differ.
	recent := append(modelIDs(st.model), bson.DocElem{Name: "slot", Value: bson.M{"$gte": current - 2*periodSeconds}})
	var docs []pingDoc
	if err := st.pings.Find(recent).All(&docs); err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", st.pings.FullName, err)
	}
	live := map[int64]bool{}
	for _, doc := range docs {
		bits := newSlotBits(doc.Slot)
		decodeInto(doc, bits)
		bits.seqs(live)
	}
	beings, err := allBeings(st.beings, st.model)
	if err != nil {
		return nil, err
	}
	r.BeingsAfter = r.BeingsBefore - len(superseded(beings, live))
	r.PingsAfter = r.PingsBefore - oldPings
	return r, nil
}
