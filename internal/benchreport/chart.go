package benchreport

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// series is one line of the chart: a benchmark name pattern with %d for
// the number of keys.
type series struct {
	label, pattern, color string
	dashed                bool
}

var chartSeries = []series{
	{"Watcher.Sync end to end, nothing changed", "BenchmarkWatcherSync/keys=%d/changed=0", "#1f77b4", false},
	{"Watcher.Sync end to end, 1% changed", "BenchmarkWatcherSync/keys=%d/changed=1%%", "#1f77b4", true},
	{"decode + diff CPU, nothing changed", "BenchmarkWatcherDecodeDiff/keys=%d/changed=0", "#2ca02c", false},
	{"decode + diff CPU, 1% changed", "BenchmarkWatcherDecodeDiff/keys=%d/changed=1%%", "#2ca02c", true},
	{"decode + diff CPU, raw BSON walker (sketch)", "BenchmarkWatcherDecodeDiffWalk/keys=%d/changed=0", "#9467bd", false},
	{"cold start (first sync, batched lookups)", "BenchmarkWatcherColdStart/keys=%d", "#d62728", false},
}

// Chart geometry, in SVG user units.
const (
	chartWidth, chartHeight     = 880, 460
	plotLeft, plotRight         = 80, 520
	plotTop, plotBottom         = 40, 400
	legendLeft, legendLineSpace = 540, 22
)

// WriteSVG draws the cost of a sync against the number of keys, on
// log–log axes, one line per series found in run.
func WriteSVG(w io.Writer, run *Run) error {
	type point struct{ keys, ns float64 }
	lines := make([][]point, len(chartSeries))
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, s := range chartSeries {
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
	x := func(keys float64) float64 {
		return plotLeft + (math.Log10(keys)-xMin)/(xMax-xMin)*(plotRight-plotLeft)
	}
	y := func(ns float64) float64 {
		return plotBottom - (math.Log10(ns)-yMin)/(yMax-yMin)*(plotBottom-plotTop)
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartWidth, chartHeight, chartWidth, chartHeight)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartWidth, chartHeight)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">Watcher sync cost vs number of live keys</text>`+"\n", plotLeft)
	// Grid and y labels, one per decade.
	for d := yMin; d <= yMax; d++ {
		yy := y(math.Pow(10, d))
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", plotLeft, yy, plotRight, yy)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", plotLeft-6, yy+4, decade(d))
	}
	for _, n := range Sizes {
		xx := x(float64(n))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", xx, plotTop, xx, plotBottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", xx, plotBottom+18, count(n))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n",
		plotLeft, plotTop, plotRight-plotLeft, plotBottom-plotTop)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">live keys (log scale)</text>`+"\n", (plotLeft+plotRight)/2, plotBottom+40)
	fmt.Fprintf(&b, `<text x="18" y="%d" text-anchor="middle" transform="rotate(-90 18 %d)">time per operation (log scale)</text>`+"\n",
		(plotTop+plotBottom)/2, (plotTop+plotBottom)/2)

	for i, s := range chartSeries {
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts []string
		for _, p := range lines[i] {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.keys), y(p.ns)))
		}
		if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), s.color, dash)
		}
		for _, p := range lines[i] {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s: %s keys, %s</title></circle>`+"\n",
				x(p.keys), y(p.ns), s.color, s.label, count(int(p.keys)), duration(p.ns))
		}
		ly := plotTop + 10 + i*legendLineSpace
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", legendLeft, ly, legendLeft+28, ly, s.color, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", legendLeft+34, ly+4, wrapLabel(s.label))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// wrapLabel escapes a legend label for SVG text.
func wrapLabel(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// decade names 10^d nanoseconds: 1 µs, 10 µs, 100 µs, 1 ms, …
func decade(d float64) string {
	units := []string{"ns", "µs", "ms", "s"}
	i := min(int(d)/3, len(units)-1)
	return fmt.Sprintf("%g %s", math.Pow(10, d-float64(3*i)), units[i])
}
