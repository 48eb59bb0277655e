package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// isTerminal reports whether w is a character device, where the live view
// redraws itself in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// liveView draws the state a few times a second on a terminal, or a plain
// line every second elsewhere.
type liveView struct {
	out     io.Writer
	cfg     demoConfig
	t       *tracker
	total   int
	tty     bool
	every   time.Duration
	lines   int      // lines of the last frame, to redraw over them
	samples []sample // the event counts of the last second's frames
}

func newLiveView(out io.Writer, cfg demoConfig, t *tracker, actions []action) *liveView {
	v := &liveView{out: out, cfg: cfg, t: t, total: len(actions), tty: isTerminal(out), every: time.Second}
	if v.tty {
		v.every = 250 * time.Millisecond
	}
	return v
}

func (v *liveView) draw(elapsed time.Duration) {
	f := v.t.frame()
	v.samples = append(v.samples, sample{elapsed, f.events})
	rates := eventRates(v.samples)
	v.samples = recent(v.samples, time.Second)
	if !v.tty {
		var parts []string
		for m := range f.alive {
			parts = append(parts, fmt.Sprintf("%s %d alive %d dead %.0f ev/s",
				v.t.models[m].uuid[:8], f.alive[m], f.dead[m], rates[m]))
		}
		fmt.Fprintf(v.out, "%5.1fs  %s  (%d/%d actions)\n", elapsed.Seconds(), strings.Join(parts, " | "), f.done, v.total)
		return
	}
	var b strings.Builder
	if v.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dF\x1b[J", v.lines)
	}
	fmt.Fprintf(&b, "%s %5.1fs / %v   stops and kills done: %d/%d\n",
		progressBar(elapsed, v.cfg.duration, 30), elapsed.Seconds(), v.cfg.duration, f.done, v.total)
	for m := range f.alive {
		fmt.Fprintf(&b, "  model %s   alive %4d   dead %4d   events/s %6.1f\n",
			v.t.models[m].uuid[:8], f.alive[m], f.dead[m], rates[m])
	}
	v.lines = 1 + len(f.alive)
	io.WriteString(v.out, b.String())
}

// note tells of an action as it happens, in plain output only: on a
// terminal the frame shows the count.
func (v *liveView) note(elapsed time.Duration, o *outcome) {
	if v.tty {
		return
	}
	fmt.Fprintf(v.out, "%5.1fs  %s %s in model %s\n", elapsed.Seconds(), o.verb(), o.key, v.t.models[o.model].uuid[:8])
}

func (v *liveView) finish() { fmt.Fprintln(v.out) }

// progressBar draws done/total as a bar of width cells.
func progressBar(done, total time.Duration, width int) string {
	filled := 0
	if total > 0 {
		filled = int(int64(width) * int64(min(done, total)) / int64(total))
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat("-", width-filled) + "]"
}

// sample is the count of events of every model at a moment of the run.
type sample struct {
	at     time.Duration
	events []int
}

// eventRates returns the events per second of every model between the
// first and the last samples.
func eventRates(samples []sample) []float64 {
	first, last := samples[0], samples[len(samples)-1]
	rates := make([]float64, len(last.events))
	span := (last.at - first.at).Seconds()
	if span <= 0 {
		return rates
	}
	for m := range rates {
		rates[m] = float64(last.events[m]-first.events[m]) / span
	}
	return rates
}

// recent drops the samples older than window before the last one, but
// keeps one at least that old, so that rates span the whole window.
func recent(samples []sample, window time.Duration) []sample {
	last := samples[len(samples)-1].at
	drop := 0
	for drop+1 < len(samples) && samples[drop+1].at <= last-window {
		drop++
	}
	return samples[drop:]
}
