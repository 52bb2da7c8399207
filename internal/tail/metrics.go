package tail

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the tailer's series named in docs/metrics.md.
type metrics struct {
	tracked     prometheus.Gauge
	rotations   *prometheus.CounterVec
	truncations prometheus.Counter
	age         prometheus.GaugeFunc // nil without a state file
}

func newMetrics(t *Tailer) *metrics {
	m := &metrics{
		tracked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fallbackwatch_files_tracked",
			Help: "Files currently followed.",
		}),
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fallbackwatch_file_rotations_total",
			Help: "File rotations seen, by kind (rename, copytruncate).",
		}, []string{"kind"}),
		truncations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fallbackwatch_file_truncations_total",
			Help: "Files that shrank under the reader.",
		}),
	}
	m.rotations.WithLabelValues("rename")
	m.rotations.WithLabelValues("copytruncate")
	if t.cfg.StateFile != "" {
		m.age = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "fallbackwatch_checkpoint_age_seconds",
			Help: "Seconds since file positions were last saved.",
		}, func() float64 {
			return time.Since(time.Unix(0, t.lastSave.Load())).Seconds()
		})
	}
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	cs := []prometheus.Collector{m.tracked, m.rotations, m.truncations}
	if m.age != nil {
		cs = append(cs, m.age)
	}
	var errs []error
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
