package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/presence-go/presence/cmd/internal/cli"
	"github.com/presence-go/presence/liveness"
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

func runPrune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("prune", pruneSummary, stderr)
	var conn connFlags
	conn.register(fs)
	dryRun := fs.Bool("dry-run", false, "report what would be removed, remove nothing")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	tgt, err := conn.open(ctx)
	if err != nil {
		return err
	}
	defer tgt.Close()
	result, err := tgt.prune(ctx, *dryRun)
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

// counts returns how many beings and slot documents the model has, through
// the store: every being is read, and the slot documents are those older
// than any slot could be.
func (t *target) counts(ctx context.Context) (beings, pings int, err error) {
	ctx, cancel := t.opContext(ctx)
	defer cancel()
	if err := t.store.AllBeings(ctx, t.model, func([]byte) { beings++ }); err != nil {
		return 0, 0, err
	}
	if pings, err = t.store.CountOldSlots(ctx, t.model, math.MaxInt64); err != nil {
		return 0, 0, err
	}
	return beings, pings, nil
}

// prune runs the library's pruner against the server's clock; with dryRun
// it asks the pruner what it would remove, by the same rules, instead.
func (t *target) prune(ctx context.Context, dryRun bool) (*pruneResult, error) {
	r := &pruneResult{Model: t.model, DryRun: dryRun}
	var err error
	if r.BeingsBefore, r.PingsBefore, err = t.counts(ctx); err != nil {
		return nil, err
	}
	opCtx, cancel := t.opContext(ctx)
	now, err := t.store.ServerTime(opCtx)
	cancel()
	if err != nil {
		return nil, err
	}
	pruner := liveness.NewPruner(t.store, t.model, time.Until(now), t.options()...)
	if dryRun {
		would, err := pruner.Preview(ctx)
		if err != nil {
			return nil, err
		}
		r.BeingsAfter, r.PingsAfter = r.BeingsBefore-would.Beings, r.PingsBefore-would.Pings
		return r, nil
	}
	if err := pruner.PruneContext(ctx, nil); err != nil {
		return nil, err
	}
	if r.BeingsAfter, r.PingsAfter, err = t.counts(ctx); err != nil {
		return nil, err
	}
	return r, nil
}
