package kafkasrc

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the series of docs/metrics.md that the Kafka source owns.
type metrics struct {
	lag          *prometheus.GaugeVec // topic, partition
	messages     prometheus.Counter   // topic
	commitErrors prometheus.Counter   // topic
}

func newMetrics(reg prometheus.Registerer, topic string) (*metrics, error) {
	messages := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fallbackwatch_kafka_messages_total",
		Help: "Kafka messages consumed and passed to the handler.",
	}, []string{"topic"})
	commitErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fallbackwatch_kafka_commit_errors_total",
		Help: "Kafka offset commits that failed (retried at the next commit).",
	}, []string{"topic"})
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fallbackwatch_kafka_consumer_lag",
		Help: "High watermark minus the next offset to read, per assigned partition.",
	}, []string{"topic", "partition"})
	m := &metrics{
		lag:          lag,
		messages:     messages.WithLabelValues(topic),
		commitErrors: commitErrors.WithLabelValues(topic),
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{messages, commitErrors, lag}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("registering kafka source metrics for topic %q: %w", topic, err)
		}
	}
	return m, nil
}
