package main

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"
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

// readMargin is the time allowed to a watcher, past the bounds, to read the
// slot documents and deliver the change: a tenth of the period.
func readMargin(period time.Duration) time.Duration { return period / 10 }
