package main

import (
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/presence-go/presence/liveness"
)

// printReports prints the workers' Report figures: the batcher's, the
// pingers' summed, and each watcher's. Keys are printed sorted and
// otherwise taken as they come.
func printReports(out io.Writer, batcher *liveness.PingBatcher, pingers []*liveness.Pinger, watcherReports []map[string]interface{}, perModel int, uuids []string) {
	fmt.Fprintln(out, "Worker reports:")
	fmt.Fprintf(out, "  batcher: %s\n", formatReport(batcher.Report()))
	sums := map[string]interface{}{}
	for _, p := range pingers {
		for k, v := range p.Report() {
			// A sum of sequence numbers would mean nothing.
			if f, ok := number(v); ok && k != "seq" {
				prev, _ := sums[k].(float64)
				sums[k] = prev + f
			}
		}
	}
	fmt.Fprintf(out, "  %d pingers, summed: %s\n", len(pingers), formatReport(sums))
	for i, report := range watcherReports {
		fmt.Fprintf(out, "  watcher %d of model %s: %s\n", i%perModel, uuids[i/perModel][:8], formatReport(report))
	}
}

// reportsOf collects the watchers' reports.
func reportsOf(watchers []*liveness.Watcher) []map[string]interface{} {
	var reports []map[string]interface{}
	for _, w := range watchers {
		reports = append(reports, w.Report())
	}
	return reports
}

// formatReport prints a report's entries sorted by key.
func formatReport(report map[string]interface{}) string {
	keys := sortedKeys(report)
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += " "
		}
		v := report[k]
		switch x := v.(type) {
		case float64:
			if x == float64(int64(x)) {
				v = int64(x)
			}
		case time.Time:
			v = x.UTC().Format("15:04:05.000")
		case time.Duration:
			v = x.Round(time.Microsecond)
		}
		s += fmt.Sprintf("%s=%v", k, v)
	}
	return s
}

// number converts the numeric values a report may hold.
func number(v interface{}) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	case float64:
		return x, true
	case float32:
		return float64(x), true
	}
	return 0, false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
