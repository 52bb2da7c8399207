package kubesource

import (
	"errors"

	"github.com/fallbackwatch/fallbackwatch/routing"
	"github.com/prometheus/client_golang/prometheus"
)

// Metric names. The two reload gauges are shared with the file source's SIGHUP reload: when a
// collector of the same name is already registered, it is used instead of a new one.
const (
	MetricObjects        = "fallbackwatch_config_objects"
	MetricLintFindings   = "fallbackwatch_config_lint_findings"
	MetricLastReloadOK   = "fallbackwatch_config_last_reload_successful"
	MetricLastReloadTime = "fallbackwatch_config_last_reload_success_timestamp_seconds"
	MetricWatchUp        = "fallbackwatch_config_watch_up"
)

type metrics struct {
	objects    *prometheus.GaugeVec
	findings   *prometheus.GaugeVec
	lastOK     prometheus.Gauge
	lastOKTime prometheus.Gauge
	watchUp    prometheus.Gauge
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricObjects,
			Help: "Routing objects in the configuration in use, by kind."}, []string{"kind"}),
		findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricLintFindings,
			Help: "Lint findings of the routing configuration in use, by severity."}, []string{"severity"}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricLastReloadOK,
			Help: "1 when the last routing configuration read loaded, 0 when it was refused and the previous one stayed in use."}),
		lastOKTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricLastReloadTime,
			Help: "Unix time of the last routing configuration that loaded and was put in use."}),
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
	var err error
	if m.objects, err = register(r, m.objects); err != nil {
		return nil, err
	}
	if m.findings, err = register(r, m.findings); err != nil {
		return nil, err
	}
	if m.lastOK, err = register(r, m.lastOK); err != nil {
		return nil, err
	}
	if m.lastOKTime, err = register(r, m.lastOKTime); err != nil {
		return nil, err
	}
	if m.watchUp, err = register(r, m.watchUp); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector of the same description already registered.
func register[T prometheus.Collector](r prometheus.Registerer, c T) (T, error) {
	err := r.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if ex, ok := are.ExistingCollector.(T); ok {
			return ex, nil
		}
	}
	return c, err
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
