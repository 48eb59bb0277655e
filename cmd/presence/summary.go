package main

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/presence-go/presence"
)

// verdict places a delay against the design's bounds, allowing margin
// for the watcher to read the slots and deliver the change.
func verdict(delay, hi, withPoll, margin time.Duration) string {
	switch {
	case delay <= hi+margin:
		return "as designed"
	case delay <= withPoll+margin:
		return "as designed, plus the watcher's poll"
	default:
		return "LATE"
	}
}

func printSummary(out io.Writer, cfg demoConfig, uuids []string, outcomes []*outcome) {
	fmt.Fprintf(out, "Summary (seed %d): delay from each stop or kill until all %d watchers of the model reported the key dead\n",
		cfg.seed, cfg.watchersPerModel)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  AT\tACTION\tMODEL\tKEY\tDELAY\tDESIGN\tVERDICT")
	delays := map[bool][]time.Duration{}
	missed := map[bool]int{}
	for _, o := range outcomes {
		lo, hi, withPoll := predicted(o.kill, cfg.period, cfg.flush)
		design := fmt.Sprintf("<= %v", hi)
		if !o.kill {
			design = fmt.Sprintf("%v..%v (+%v poll)", lo, hi, cfg.period)
		}
		delay, ok := o.delay()
		switch {
		case o.done.IsZero():
			continue
		case o.err != nil:
			fmt.Fprintf(tw, "  %v\t%s\t%s\t%s\t-\t%s\tfailed: %v\n", o.at, o.verb(), uuids[o.model][:8], o.key, design, o.err)
			missed[o.kill]++
		case !ok:
			fmt.Fprintf(tw, "  %v\t%s\t%s\t%s\t-\t%s\tNOT SEEN by every watcher\n", o.at, o.verb(), uuids[o.model][:8], o.key, design)
			missed[o.kill]++
		default:
			delays[o.kill] = append(delays[o.kill], delay)
			fmt.Fprintf(tw, "  %v\t%s\t%s\t%s\t%v\t%s\t%s\n", o.at, o.verb(), uuids[o.model][:8], o.key,
				delay.Round(time.Millisecond), design, verdict(delay, hi, withPoll, readMargin(cfg.period)))
		}
	}
	tw.Flush()
	for _, kill := range []bool{true, false} {
		name := "stops"
		if kill {
			name = "kills"
		}
		_, hi, withPoll := predicted(kill, cfg.period, cfg.flush)
		ds := delays[kill]
		if len(ds) == 0 {
			fmt.Fprintf(out, "%s: none seen (%d not seen)\n", name, missed[kill])
			continue
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		within, withinPoll := 0, 0
		for _, d := range ds {
			if d <= hi+readMargin(cfg.period) {
				within++
			}
			if d <= withPoll+readMargin(cfg.period) {
				withinPoll++
			}
		}
		fmt.Fprintf(out, "%s: %d seen, %d not; delay min %v, median %v, max %v; %d within the design's %v, %d within %v counting the watcher's poll (each +%v to read)\n",
			name, len(ds), missed[kill],
			ds[0].Round(time.Millisecond), ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond),
			within, hi, withinPoll, withPoll, readMargin(cfg.period))
	}
}

// reporter is what workers offer for introspection.
type reporter interface {
	Report() map[string]interface{}
}

// printReports prints the workers' Report figures: the batcher's, the
// pingers' summed, and each watcher's. Keys are printed sorted and
// otherwise taken as they come.
func printReports(out io.Writer, batcher *presence.PingBatcher, pingers []*presence.Pinger, watcherReports []map[string]interface{}, perModel int, uuids []string) {
	fmt.Fprintln(out, "Worker reports:")
	r, ok := interface{}(batcher).(reporter)
	if !ok {
		fmt.Fprintln(out, "  (this build of the library has no Report method)")
		return
	}
	fmt.Fprintf(out, "  batcher: %s\n", formatReport(r.Report()))
	sums := map[string]interface{}{}
	for _, p := range pingers {
		if r, ok := interface{}(p).(reporter); ok {
			for k, v := range r.Report() {
				// A sum of sequence numbers would mean nothing.
				if f, ok := number(v); ok && k != "seq" {
					prev, _ := sums[k].(float64)
					sums[k] = prev + f
				}
			}
		}
	}
	fmt.Fprintf(out, "  %d pingers, summed: %s\n", len(pingers), formatReport(sums))
	for i, report := range watcherReports {
		fmt.Fprintf(out, "  watcher %d of model %s: %s\n", i%perModel, uuids[i/perModel][:8], formatReport(report))
	}
}

// reportsOf collects the watchers' reports, if they offer them.
func reportsOf(watchers []*presence.Watcher) []map[string]interface{} {
	var reports []map[string]interface{}
	for _, w := range watchers {
		if r, ok := interface{}(w).(reporter); ok {
			reports = append(reports, r.Report())
		}
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

// readMargin is the time allowed to a watcher, past the bounds, to read the
// slot documents and deliver the change: a tenth of the period.
func readMargin(period time.Duration) time.Duration { return period / 10 }
