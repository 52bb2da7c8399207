package kafkasrc_test

import (
	"context"
	"log/slog"
	"os"
	"os/signal"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fallbackwatch/fallbackwatch/internal/kafkasrc"
)

// A collector reads Envoy access logs from a topic shared by its replicas. The
// handler runs once per message, concurrently for different partitions, and
// must copy what it keeps from Value.
func Example() {
	reg := prometheus.NewRegistry()
	c, err := kafkasrc.New(kafkasrc.Config{
		Brokers:    []string{"kafka-0.kafka:9092", "kafka-1.kafka:9092"},
		Topic:      "istio-access-logs",
		Group:      "fallbackwatch",
		Logger:     slog.Default(),
		Registerer: reg,
	}, func(m kafkasrc.Message) {
		_ = m.Value // parse and count here; junk is counted, never fatal
	})
	if err != nil {
		slog.Error("kafka source", "err", err)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// Run returns after ctx is done, once in-flight messages are handled and
	// their offsets committed. Serve c.Ready() on the readiness endpoint.
	if err := c.Run(ctx); err != nil {
		slog.Error("kafka source", "err", err)
	}
}
