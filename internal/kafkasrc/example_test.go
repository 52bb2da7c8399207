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

// lineJoiner is the state of one partition: the first part of a line whose
// producer (the message key) sends the rest in a later message.
type lineJoiner struct {
	open  map[string][]byte // key -> bytes so far
	first map[string]int64  // key -> offset of its first message
}

// Handle joins messages ending in "\\" with the next one of the same key and
// asks to be read again from the oldest line still open.
func (j *lineJoiner) Handle(m kafkasrc.Message) int64 {
	k, v := string(m.Key), m.Value
	if _, ok := j.open[k]; !ok {
		j.first[k] = m.Offset
	}
	j.open[k] = append(j.open[k], v...)
	if len(v) == 0 || v[len(v)-1] != '\\' {
		_ = j.open[k] // a whole line: count it here
		delete(j.open, k)
		delete(j.first, k)
	}
	resume := m.Offset + 1
	for _, off := range j.first {
		resume = min(resume, off)
	}
	return resume
}

// Close drops what is open: the next reader of the partition starts again at
// the committed offset, the first message of the oldest open line.
func (j *lineJoiner) Close() {}

// A handler that keeps state between messages gets one PartitionHandler per
// assigned partition and generation; offsets are committed only up to what it
// has accounted for.
func ExampleNewPartitioned() {
	c, err := kafkasrc.NewPartitioned(kafkasrc.Config{
		Brokers: []string{"kafka-0.kafka:9092"},
		Topic:   "istio-access-logs",
		Group:   "fallbackwatch",
		Ready:   func(ready bool) { slog.Info("kafka source", "ready", ready) },
	}, func(topic string, partition int) kafkasrc.PartitionHandler {
		return &lineJoiner{open: map[string][]byte{}, first: map[string]int64{}}
	})
	if err != nil {
		slog.Error("kafka source", "err", err)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	_ = c.Run(ctx)
}
