package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/presence-go/presence"
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
	result, err := st.prune(*dryRun)
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

// prune runs the library's pruner against the server's clock; with dryRun
// it asks the pruner what it would remove, by the same rules, instead.
func (st *store) prune(dryRun bool) (*pruneResult, error) {
	r := &pruneResult{Model: st.model, DryRun: dryRun}
	var err error
	if r.BeingsBefore, r.PingsBefore, err = st.counts(); err != nil {
		return nil, err
	}
	now, err := serverNow(st.session)
	if err != nil {
		return nil, err
	}
	pruner := presence.NewPrunerWithOptions(st.model, st.beings, st.pings, time.Until(now), presence.WithPeriod(st.period))
	if dryRun {
		would, err := pruner.Preview(context.Background())
		if err != nil {
			return nil, err
		}
		r.BeingsAfter, r.PingsAfter = r.BeingsBefore-would.Beings, r.PingsBefore-would.Pings
		return r, nil
	}
	if err := pruner.Prune(nil); err != nil {
		return nil, err
	}
	if r.BeingsAfter, r.PingsAfter, err = st.counts(); err != nil {
		return nil, err
	}
	return r, nil
}
