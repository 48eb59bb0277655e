package liveness

import (
	"context"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reporter is a worker that describes itself: *Pinger, *PingBatcher and
// *Watcher are.
type Reporter interface {
	// Report returns figures about the worker, keyed by name.
	Report() map[string]interface{}
}

var (
	_ Reporter = (*Pinger)(nil)
	_ Reporter = (*PingBatcher)(nil)
	_ Reporter = (*Watcher)(nil)
)

// NewCollector returns a Prometheus collector that exposes the figures of
// the workers' reports, read at every scrape, as gauges. Each figure
// becomes namespace_KIND_FIGURE, where KIND is pinger, batcher, watcher or
// worker, and FIGURE the report's key with every character that a metric
// name cannot hold turned into '_'. Numbers are exposed as they are,
// booleans as 0 or 1, durations in seconds (suffix _seconds) and times as
// Unix seconds (suffix _timestamp_seconds); other values are left out.
// Every gauge is labelled with the worker's kind, its position among
// workers, and the model it reports, if any.
//
// For each Watcher, the collector also exposes the keys alive as of its
// last read, as namespace_watcher_alive_key{kind, worker, model, key} = 1,
// one series per alive key, up to MaxAliveKeySeries per watcher: past that
// only the count (keys_alive) is exposed, and
// namespace_watcher_alive_keys_truncated is 1, to keep a large model from
// flooding the metrics store. A watcher that has not read yet exposes
// none.
//
// The figures a report holds may change from one version to the next, so
// the collector describes no metric in advance (it is an unchecked
// collector, in Prometheus' terms).
func NewCollector(namespace string, workers ...Reporter) prometheus.Collector {
	return &collector{namespace: namespace, workers: workers}
}

// collector is the prometheus.Collector NewCollector returns; it keeps no
// state of its own, so scrapes may run at once.
type collector struct {
	namespace string
	workers   []Reporter
}

// Describe sends nothing: the metrics are only known once reports are read.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

// Collect reads every worker's report and sends a gauge per figure.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	labels := []string{"kind", "worker", "model"}
	for i, w := range c.workers {
		kind := workerKind(w)
		report := w.Report()
		model, _ := report["model"].(string)
		names := make([]string, 0, len(report))
		for name := range report {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			value, suffix, ok := gaugeValue(report[name])
			if !ok {
				continue
			}
			fqName := prometheus.BuildFQName(c.namespace, kind, metricName(name)+suffix)
			desc := prometheus.NewDesc(fqName, "The "+strconv.Quote(name)+" figure of a presence "+kind+"'s report.", labels, nil)
			m, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, value, kind, strconv.Itoa(i), model)
			if err != nil {
				m = prometheus.NewInvalidMetric(desc, err)
			}
			ch <- m
		}
		if watcher, ok := w.(*Watcher); ok {
			c.collectAliveKeys(ch, watcher, i, model)
		}
	}
}

// MaxAliveKeySeries is the most alive keys of one watcher the collector
// exposes one series each.
const MaxAliveKeySeries = 10000

// collectAliveKeys sends a series per key alive in w, without waiting for
// its first read.
func (c *collector) collectAliveKeys(ch chan<- prometheus.Metric, w *Watcher, i int, model string) {
	keys, err := w.aliveKeys(context.Background(), false)
	if err != nil {
		return
	}
	labels := []string{"kind", "worker", "model"}
	truncated := 0.0
	if len(keys) > MaxAliveKeySeries {
		keys, truncated = nil, 1
	}
	aliveDesc := prometheus.NewDesc(prometheus.BuildFQName(c.namespace, "watcher", "alive_key"),
		"A key alive as of the watcher's last read (1).", append(labels, "key"), nil)
	for _, key := range keys {
		ch <- prometheus.MustNewConstMetric(aliveDesc, prometheus.GaugeValue, 1, "watcher", strconv.Itoa(i), model, key)
	}
	truncDesc := prometheus.NewDesc(prometheus.BuildFQName(c.namespace, "watcher", "alive_keys_truncated"),
		"1 when the watcher has more alive keys than the collector exposes one series each.", labels, nil)
	ch <- prometheus.MustNewConstMetric(truncDesc, prometheus.GaugeValue, truncated, "watcher", strconv.Itoa(i), model)
}

// workerKind names the kind of worker w is, for metric names and labels.
func workerKind(w Reporter) string {
	switch w.(type) {
	case *Pinger:
		return "pinger"
	case *PingBatcher:
		return "batcher"
	case *Watcher:
		return "watcher"
	}
	return "worker"
}

// gaugeValue converts a report value into a gauge's, with the suffix its
// unit gives the metric name; ok is false for values that are not figures.
func gaugeValue(v interface{}) (value float64, suffix string, ok bool) {
	switch x := v.(type) {
	case int:
		return float64(x), "", true
	case int32:
		return float64(x), "", true
	case int64:
		return float64(x), "", true
	case uint:
		return float64(x), "", true
	case uint32:
		return float64(x), "", true
	case uint64:
		return float64(x), "", true
	case float32:
		return float64(x), "", true
	case float64:
		return x, "", true
	case bool:
		if x {
			return 1, "", true
		}
		return 0, "", true
	case time.Duration:
		return x.Seconds(), "_seconds", true
	case time.Time:
		if x.IsZero() {
			return 0, "", false
		}
		return float64(x.UnixNano()) / 1e9, "_timestamp_seconds", true
	}
	return 0, "", false
}

var notInMetricName = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// metricName turns a report key such as "keys-alive" into keys_alive.
func metricName(key string) string {
	return notInMetricName.ReplaceAllString(key, "_")
}
