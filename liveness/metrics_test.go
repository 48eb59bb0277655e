package liveness_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/presence-go/presence/liveness"
)

// fakeReporter reports fixed figures.
type fakeReporter map[string]interface{}

func (f fakeReporter) Report() map[string]interface{} { return f }

// gather registers c and returns each gauge value by metric name and the
// worker label.
func gather(t *testing.T, c prometheus.Collector) map[string]map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]float64{}
	for _, family := range families {
		if family.GetType() != dto.MetricType_GAUGE {
			t.Errorf("%s is a %v, want a gauge", family.GetName(), family.GetType())
		}
		for _, m := range family.GetMetric() {
			worker := ""
			for _, label := range m.GetLabel() {
				if label.GetName() == "worker" {
					worker = label.GetValue()
				}
			}
			if got[family.GetName()] == nil {
				got[family.GetName()] = map[string]float64{}
			}
			got[family.GetName()][worker] = m.GetGauge().GetValue()
		}
	}
	return got
}

// TestCollectorExposesNumericFigures reads reports that no worker wrote,
// so it needs no database and runs once.
func TestCollectorExposesNumericFigures(t *testing.T) {
	last := time.Unix(1700000000, 500000000)
	first := fakeReporter{
		"pings":              int64(12),
		"keys-alive":         3,
		"healthy":            true,
		"last-sync":          last,
		"last-sync-duration": 250 * time.Millisecond,
		"model":              "m1",
		"state":              "running",
		"never":              time.Time{},
	}
	second := fakeReporter{"pings": uint64(7)}
	got := gather(t, liveness.NewCollector("presence", first, second))

	want := map[string]map[string]float64{
		"presence_worker_pings":                       {"0": 12, "1": 7},
		"presence_worker_keys_alive":                  {"0": 3},
		"presence_worker_healthy":                     {"0": 1},
		"presence_worker_last_sync_timestamp_seconds": {"0": 1700000000.5},
		"presence_worker_last_sync_duration_seconds":  {"0": 0.25},
	}
	if len(got) != len(want) {
		t.Errorf("got metrics %v, want %v", got, want)
	}
	for name, byWorker := range want {
		for worker, value := range byWorker {
			if got[name][worker] != value {
				t.Errorf("%s{worker=%q} = %v, want %v", name, worker, got[name][worker], value)
			}
		}
	}
}

// TestCollectorNamesTheKindOfRealWorkers collects from dead workers and,
// on each face, from running ones: every metric is named after the kind
// of worker it comes from.
func TestCollectorNamesTheKindOfRealWorkers(t *testing.T) {
	// check gathers the workers' metrics: each of want is there, and
	// every one is named after a kind of worker.
	check := func(t *testing.T, want []string, workers ...liveness.Reporter) {
		t.Helper()
		got := gather(t, liveness.NewCollector("ns", workers...))
		for _, name := range want {
			if _, ok := got[name]; !ok {
				t.Errorf("no %s in %v", name, got)
			}
		}
		for name := range got {
			if !strings.HasPrefix(name, "ns_batcher_") && !strings.HasPrefix(name, "ns_watcher_") && !strings.HasPrefix(name, "ns_pinger_") {
				t.Errorf("unexpected metric %s", name)
			}
		}
	}
	t.Run("dead", func(t *testing.T) {
		check(t, []string{"ns_batcher_pings"},
			liveness.NewDeadPingBatcher(errors.New("gone")), liveness.NewDeadWatcher(errors.New("gone")))
	})
	forEachFace(t, func(t *testing.T, e *env) {
		pb := e.batcher()
		w := e.watcher(modelA)
		p := e.pinger(modelA, "k", pb)
		flushAndSync(t, pb, w)
		check(t, []string{"ns_batcher_pings", "ns_watcher_keys_alive", "ns_pinger_pings"}, pb, w, p)
	})
}
