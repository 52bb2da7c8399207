package kubesource

import (
	"github.com/fallbackwatch/fallbackwatch/routing"
	"github.com/prometheus/client_golang/prometheus"
)

// Metric names. Whether each configuration built loaded is not exported here but told to
// Options.Loaded, so that the program owns its reload gauges whatever its routing source.
const (
	MetricObjects      = "fallbackwatch_config_objects"
	MetricLintFindings = "fallbackwatch_config_lint_findings"
	MetricWatchUp      = "fallbackwatch_config_watch_up"
)

type metrics struct {
	objects  *prometheus.GaugeVec
	findings *prometheus.GaugeVec
	watchUp  prometheus.Gauge
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricObjects,
			Help: "Routing objects in the configuration in use, by kind."}, []string{"kind"}),
		findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricLintFindings,
			Help: "Lint findings of the routing configuration in use, by severity."}, []string{"severity"}),
		watchUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricWatchUp,
			Help: "1 while every list and watch of routing objects in the Kubernetes API works, 0 while the API server is unreachable or refuses them (the last good configuration stays in use)."}),
	}
	// Before the first list nothing is known: the objects are 0 per kind, the watch is down.
	for _, k := range kinds {
		m.objects.WithLabelValues(k.Kind)
	}
	for _, sev := range []routing.Severity{routing.SeverityError, routing.SeverityWarning} {
		m.findings.WithLabelValues(sev.String())
	}
	if r == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.objects, m.findings, m.watchUp} {
		if err := r.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe sets the object and finding gauges for the configuration put in use.
func (m *metrics) observe(cfg *routing.Config) {
	m.objects.WithLabelValues("VirtualService").Set(float64(len(cfg.VirtualServices)))
	m.objects.WithLabelValues("DestinationRule").Set(float64(len(cfg.DestinationRules)))
	counts := map[routing.Severity]int{}
	for _, f := range cfg.Lint() {
		counts[f.Severity]++
	}
	for _, sev := range []routing.Severity{routing.SeverityError, routing.SeverityWarning} {
		m.findings.WithLabelValues(sev.String()).Set(float64(counts[sev]))
	}
}
