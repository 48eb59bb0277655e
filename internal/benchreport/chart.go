package benchreport

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// series is one line of a chart panel: a benchmark name pattern with %d
// for the number of keys.
type series struct {
	label, pattern, color string
	dashed                bool
}

// panel is one plot of the chart.
type panel struct {
	title  string
	series []series
}

var panels = []panel{
	{"Steady sync, nothing changed", []series{
		{"end to end, official face", "BenchmarkSteadySync/face=official/keys=%d/changed=0", "#1f77b4", false},
		{"end to end, mgo face", "BenchmarkSteadySync/face=mgo/keys=%d/changed=0", "#ff7f0e", false},
		{"watcher CPU: decode + diff", "BenchmarkWatcherDecodeDiff/keys=%d/changed=0", "#2ca02c", false},
		{"watcher CPU: decode + diff, 1% changed", "BenchmarkWatcherDecodeDiff/keys=%d/changed=1%%", "#2ca02c", true},
		{"Juju sketch, database taken out", "BenchmarkVersusJujuSync/impl=juju/keys=%d", "#d62728", true},
		{"presence, database taken out", "BenchmarkVersusJujuSync/impl=presence/keys=%d", "#9467bd", true},
	}},
	{"Cold start (first sync)", []series{
		{"end to end, official face", "BenchmarkColdStart/face=official/keys=%d", "#1f77b4", false},
		{"end to end, mgo face", "BenchmarkColdStart/face=mgo/keys=%d", "#ff7f0e", false},
		{"Juju sketch, test server (mgo)", "BenchmarkJujuColdStart/keys=%d", "#d62728", false},
		{"Juju sketch, database taken out", "BenchmarkVersusJujuColdStart/impl=juju/keys=%d", "#d62728", true},
		{"presence, database taken out", "BenchmarkVersusJujuColdStart/impl=presence/keys=%d", "#9467bd", true},
	}},
}

// Chart geometry, in SVG user units: two panels side by side, each with
// its legend below it.
const (
	panelWidth, panelGap     = 420, 70
	plotLeft, plotTop        = 80, 50
	plotWidth, plotHeight    = 340, 300
	legendTop, legendSpacing = plotTop + plotHeight + 50, 20
)

// WriteSVG draws the cost of a steady sync and of a cold start against
// the number of keys, on log–log axes up to a million keys, one line per
// series found in run.
func WriteSVG(w io.Writer, run *Run) error {
	maxSeries := 0
	for _, p := range panels {
		maxSeries = max(maxSeries, len(p.series))
	}
	width := plotLeft + len(panels)*(panelWidth+panelGap)
	height := legendTop + maxSeries*legendSpacing + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">Watcher cost against the number of live keys (log–log)</text>`+"\n", plotLeft)
	for i, p := range panels {
		left := plotLeft + i*(panelWidth+panelGap)
		writePanel(&b, run, p, left)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writePanel(b *strings.Builder, run *Run, p panel, left int) {
	type point struct{ keys, ns float64 }
	lines := make([][]point, len(p.series))
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, s := range p.series {
		for _, n := range Sizes {
			if ns, ok := run.Metric(fmt.Sprintf(s.pattern, n), "ns/op"); ok && ns > 0 {
				lines[i] = append(lines[i], point{float64(n), ns})
				lo, hi = math.Min(lo, ns), math.Max(hi, ns)
			}
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1e3, 1e9
	}
	// Whole decades of nanoseconds bound the y axis.
	yMin, yMax := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if yMax == yMin {
		yMax++
	}
	xMin, xMax := math.Log10(float64(Sizes[0])), math.Log10(float64(Sizes[len(Sizes)-1]))
	right, bottom := left+plotWidth, plotTop+plotHeight
	x := func(keys float64) float64 {
		return float64(left) + (math.Log10(keys)-xMin)/(xMax-xMin)*plotWidth
	}
	y := func(ns float64) float64 {
		return float64(bottom) - (math.Log10(ns)-yMin)/(yMax-yMin)*plotHeight
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="13" font-weight="bold">%s</text>`+"\n", left, plotTop-12, escape(p.title))
	for d := yMin; d <= yMax; d++ {
		yy := y(math.Pow(10, d))
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, yy, right, yy)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, yy+4, decade(d))
	}
	for _, n := range Sizes {
		xx := x(float64(n))
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", xx, plotTop, xx, bottom)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", xx, bottom+18, count(n))
	}
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", left, plotTop, plotWidth, plotHeight)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">live keys</text>`+"\n", left+plotWidth/2, bottom+36)
	mid := plotTop + plotHeight/2
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" transform="rotate(-90 %d %d)">time per operation</text>`+"\n",
		left-58, mid, left-58, mid)
	for i, s := range p.series {
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts []string
		for _, pt := range lines[i] {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(pt.keys), y(pt.ns)))
		}
		if len(pts) > 1 {
			fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), s.color, dash)
		}
		for _, pt := range lines[i] {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s: %s keys, %s</title></circle>`+"\n",
				x(pt.keys), y(pt.ns), s.color, escape(s.label), count(int(pt.keys)), duration(pt.ns))
		}
		ly := legendTop + i*legendSpacing
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", left, ly, left+28, ly, s.color, dash)
		label := s.label
		if len(lines[i]) == 0 {
			label += " (not measured)"
		}
		fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", left+34, ly+4, escape(label))
	}
}

// escape escapes text for SVG.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// decade names 10^d nanoseconds: 1 µs, 10 µs, 100 µs, 1 ms, …
func decade(d float64) string {
	units := []string{"ns", "µs", "ms", "s"}
	i := min(int(d)/3, len(units)-1)
	return fmt.Sprintf("%g %s", math.Pow(10, d-float64(3*i)), units[i])
}
