package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/presence-go/presence/internal/slot"
)

const statusSummary = `Lists the keys of a model that are alive now, with the sequence their
pinger holds and the last slot it pinged. It only reads: the two live slot
documents of BASE.pings and the matching documents of BASE.beings. Slots
follow the server's clock, so the result is what a watcher would see.`

// statusResult is what status prints; --json prints it as is.
type statusResult struct {
	Model         string     `json:"model"`
	ServerTime    time.Time  `json:"server_time"`
	PeriodSeconds int64      `json:"period_seconds"`
	Slot          int64      `json:"slot"`
	Alive         []aliveKey `json:"alive"`
	// Key and KeyAlive answer --key.
	Key      string `json:"key,omitempty"`
	KeyAlive *bool  `json:"key_alive,omitempty"`
}

func runStatus(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", statusSummary, stderr)
	var conn connFlags
	conn.register(fs)
	key := fs.String("key", "", "show only this key, and whether it is alive")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	st, err := conn.open()
	if err != nil {
		return err
	}
	defer st.Close()
	result, err := st.status(*key)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(result)
	}
	printStatus(stdout, result)
	return nil
}

// status reads the live slots and works out which keys are alive.
func (st *store) status(key string) (*statusResult, error) {
	now, err := serverNow(st.session)
	if err != nil {
		return nil, err
	}
	periodSeconds := slot.Seconds(st.period)
	previous, current := slot.Live(slot.Of(now.Unix(), periodSeconds), periodSeconds)
	slots, err := readSlots(st.pings, st.model, previous, current)
	if err != nil {
		return nil, err
	}
	seen := map[int64]bool{}
	for _, s := range slots {
		s.seqs(seen)
	}
	keyOf, err := keysOf(st.beings, st.model, seen)
	if err != nil {
		return nil, err
	}
	result := &statusResult{
		Model:         st.model,
		ServerTime:    now.UTC(),
		PeriodSeconds: periodSeconds,
		Slot:          current,
		Alive:         []aliveKey{},
	}
	for _, a := range aliveKeys(slots[0], slots[1], keyOf) {
		if key == "" || a.Key == key {
			result.Alive = append(result.Alive, a)
		}
	}
	if key != "" {
		alive := len(result.Alive) > 0
		result.Key, result.KeyAlive = key, &alive
	}
	return result, nil
}

func printStatus(w io.Writer, r *statusResult) {
	fmt.Fprintf(w, "model %s at %s (slot %d, period %ds): %d alive\n",
		r.Model, r.ServerTime.Format(time.RFC3339), r.Slot, r.PeriodSeconds, len(r.Alive))
	if r.KeyAlive != nil && !*r.KeyAlive {
		fmt.Fprintf(w, "%s is not alive\n", r.Key)
		return
	}
	if len(r.Alive) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tSEQ\tLAST SLOT")
	for _, a := range r.Alive {
		fmt.Fprintf(tw, "%s\t%d\t%d (%s)\n", a.Key, a.Seq, a.LastSlot, time.Unix(a.LastSlot, 0).UTC().Format("15:04:05"))
	}
	tw.Flush()
}
