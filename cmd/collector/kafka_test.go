package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fallbackwatch/fallbackwatch/aggregate"
	"github.com/fallbackwatch/fallbackwatch/internal/corpus"
	"github.com/fallbackwatch/fallbackwatch/internal/kafkasrc"
	"github.com/fallbackwatch/fallbackwatch/internal/pipeline"
)

const kTime = "2023-05-30T07:02:26.990123456Z"

// Fragments of the guide's two records as containerd splits long lines (CRI "P" then "F").
var (
	succP, succF = criSplit(corpus.SeedSuccess)
	failP, failF = criSplit(corpus.SeedFailed)
)

func criSplit(rec string) (string, string) {
	cut := len(rec) / 2
	return kTime + " stdout P " + rec[:cut], kTime + " stdout F " + rec[cut:]
}

// fluentBit wraps a line in a Fluent Bit envelope naming its pod, as the kubernetes filter does.
func fluentBit(pod, line string) string {
	return fmt.Sprintf(`{"log":%s,"stream":"stdout","kubernetes":{"namespace_name":"default","pod_name":%q,"container_name":"istio-proxy"}}`,
		strconv.Quote(line), pod)
}

// kafkaHarness is a pipeline on its own registry and the Kafka handler feeding it.
type kafkaHarness struct {
	reg *prometheus.Registry
	h   *kafkaHandler
}

func newKafkaHarness(t *testing.T, maxLine int, envelopeField string) *kafkaHarness {
	t.Helper()
	c, err := aggregate.NewCounters(aggregate.Config{})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	pl, err := pipeline.New(pipeline.Config{Counters: c, EnvelopeField: envelopeField, MaxLineBytes: maxLine, Registerer: reg})
	require.NoError(t, err)
	return &kafkaHarness{reg: reg, h: newKafkaHandler(pl, maxLine, envelopeField)}
}

func (k *kafkaHarness) metrics(t *testing.T) metrics {
	t.Helper()
	mfs, err := k.reg.Gather()
	require.NoError(t, err)
	m := metrics{}
	for _, mf := range mfs {
		m[mf.GetName()] = mf
	}
	return m
}

// msg is a message of the test: key ("" for none) and value.
type msg struct{ key, value string }

// TestKafkaPartitionFraming feeds one partition's messages to the handler and checks what is
// counted and which offset may be committed after each message.
func TestKafkaPartitionFraming(t *testing.T) {
	long := `{"authority":"reviews:9080","path":"/` + strings.Repeat("x", 3000) + `"}`
	tests := []struct {
		name     string
		envelope string
		maxOpen  int
		maxSpan  int64
		maxHeld  int
		msgs     []msg
		resume   []int64 // after each message
		records  map[string]float64
		rejected map[string]float64
		skipped  float64
	}{
		{name: "two pods' fragments interleaved, keyed",
			msgs:    []msg{{"a", succP}, {"b", failP}, {"a", succF}, {"b", failF}},
			resume:  []int64{0, 0, 1, 4},
			records: map[string]float64{"success": 1, "failed": 1}},
		{name: "two pods' fragments interleaved, Fluent Bit envelopes without key", envelope: "log",
			msgs:    []msg{{"", fluentBit("productpage-v1-5f9dbcd669-x2k7p", succP)}, {"", fluentBit("productpage-v1-5f9dbcd669-bq8zn", failP)}, {"", fluentBit("productpage-v1-5f9dbcd669-x2k7p", succF)}, {"", fluentBit("productpage-v1-5f9dbcd669-bq8zn", failF)}},
			resume:  []int64{0, 0, 1, 4},
			records: map[string]float64{"success": 1, "failed": 1}},
		{name: "self-contained messages never continue each other",
			msgs:     []msg{{"", succP}, {"", failP}, {"", succF}, {"", failF}},
			resume:   []int64{1, 2, 3, 4},
			rejected: map[string]float64{"unterminated_partial": 2},
			skipped:  2}, // the second halves are not JSON objects
		{name: "a whole split record in one message",
			msgs:    []msg{{"", succP + "\n" + succF + "\n"}},
			resume:  []int64{1},
			records: map[string]float64{"success": 1}},
		{name: "raw lines after CRI lines, unkeyed and keyed",
			msgs:    []msg{{"", kTime + " stdout F " + corpus.SeedSuccess}, {"", corpus.SeedFailed}, {"a", kTime + " stdout F " + corpus.SeedSuccess}, {"a", corpus.SeedFailed}},
			resume:  []int64{1, 2, 3, 4},
			records: map[string]float64{"success": 2, "failed": 2}},
		{name: "a line over --max-line-bytes",
			msgs:     []msg{{"", long + "\n" + corpus.SeedSuccess}},
			resume:   []int64{1},
			records:  map[string]float64{"success": 1},
			rejected: map[string]float64{"too_long": 1}},
		{name: "open lines over the bound: the oldest is given up", maxOpen: 2,
			msgs:     []msg{{"a", succP}, {"b", succP}, {"c", failP}, {"c", failF}, {"b", succF}},
			resume:   []int64{0, 0, 1, 1, 5},
			records:  map[string]float64{"success": 1, "failed": 1},
			rejected: map[string]float64{"unterminated_partial": 1}},
		{name: "open lines over the byte bound: the oldest is given up", maxHeld: len(succP) + len(failP) - 1,
			msgs:     []msg{{"a", succP}, {"b", failP}, {"b", failF}, {"a", succF}},
			resume:   []int64{0, 1, 3, 4},
			records:  map[string]float64{"failed": 1},
			rejected: map[string]float64{"unterminated_partial": 1},
			skipped:  1},
		{name: "a line open too long is given up", maxSpan: 3,
			msgs:     []msg{{"a", succP}, {"", corpus.SeedFailed}, {"", corpus.SeedFailed}, {"", corpus.SeedFailed}, {"a", succF}},
			resume:   []int64{0, 0, 0, 4, 5},
			records:  map[string]float64{"failed": 3},
			rejected: map[string]float64{"unterminated_partial": 1},
			skipped:  1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKafkaHarness(t, 2048, tt.envelope)
			if tt.maxOpen > 0 {
				k.h.maxOpen = tt.maxOpen
			}
			if tt.maxSpan > 0 {
				k.h.maxSpan = tt.maxSpan
			}
			if tt.maxHeld > 0 {
				k.h.maxHeld = tt.maxHeld
			}
			ph := k.h.partition("istio-proxy", 0)
			var resume []int64
			for i, m := range tt.msgs {
				var key []byte
				if m.key != "" {
					key = []byte(m.key)
				}
				resume = append(resume, ph.Handle(kafkasrc.Message{Topic: "istio-proxy", Offset: int64(i), Key: key, Value: []byte(m.value)}))
			}
			ph.Close()
			require.Equal(t, tt.resume, resume, "resume offsets")
			got := k.metrics(t)
			if tt.records == nil {
				tt.records = map[string]float64{}
			}
			if tt.rejected == nil {
				tt.rejected = map[string]float64{}
			}
			require.Equal(t, tt.records, got.by("fallbackwatch_requests_total", "result"))
			require.Equal(t, tt.rejected, got.by("fallbackwatch_lines_rejected_total", "reason"))
			require.Equal(t, tt.skipped, got.sum("fallbackwatch_lines_skipped_total"))
		})
	}
}

// TestKafkaEnvelopeSource: the envelope names the pod, and the record's source labels follow it.
func TestKafkaEnvelopeSource(t *testing.T) {
	k := newKafkaHarness(t, 0, "log")
	ph := k.h.partition("istio-proxy", 0)
	ph.Handle(kafkasrc.Message{Offset: 0, Value: []byte(fluentBit("productpage-v1-5f9dbcd669-x2k7p", succP))})
	ph.Handle(kafkasrc.Message{Offset: 1, Value: []byte(fluentBit("productpage-v1-5f9dbcd669-x2k7p", succF))})
	m := k.metrics(t)
	require.Equal(t, map[string]float64{"productpage-v1": 1}, m.by("fallbackwatch_requests_total", "source_workload"))
	require.Equal(t, map[string]float64{"default": 1}, m.by("fallbackwatch_requests_total", "source_namespace"))
}

// kfakeCluster starts an in-process broker on 127.0.0.1 with a one-partition topic, allowing
// short sessions so that rebalances are quick.
func kfakeCluster(t *testing.T) (brokers []string, topic string) {
	t.Helper()
	topic = fmt.Sprintf("istio-proxy-%d", time.Now().UnixNano())
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(kf.Close)
	return kf.ListenAddrs(), topic
}

// produceKeyed writes messages, in order, to partition 0.
func produceKeyed(t *testing.T, brokers []string, topic string, msgs ...msg) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	require.NoError(t, err)
	defer cl.Close()
	for _, m := range msgs {
		r := &kgo.Record{Topic: topic, Partition: 0, Value: []byte(m.value)}
		if m.key != "" {
			r.Key = []byte(m.key)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		require.NoError(t, cl.ProduceSync(ctx, r).FirstErr())
		cancel()
	}
}

// committedOffset returns the group's committed offset of partition 0, -1 when none.
func committedOffset(t *testing.T, brokers []string, topic, group string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	defer cl.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	rt.Partitions = []int32{0}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(t, err)
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			return p.Offset
		}
	}
	return -1
}

// member is one collector's Kafka source on its own pipeline.
type member struct {
	k      *kafkaHarness
	cancel context.CancelFunc
	done   chan error
}

func startMember(t *testing.T, brokers []string, topic, group string) *member {
	t.Helper()
	k := newKafkaHarness(t, 0, "")
	c, err := kafkasrc.NewPartitioned(kafkasrc.Config{Brokers: brokers, Topic: topic, Group: group,
		MaxWait: 100 * time.Millisecond, CommitInterval: 100 * time.Millisecond,
		SessionTimeout: time.Second, RebalanceTimeout: 3 * time.Second, HeartbeatInterval: 100 * time.Millisecond,
		RetryBackoffMin: 50 * time.Millisecond, RetryBackoffMax: 500 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))}, k.h.partition)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{k: k, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- c.Run(ctx) }()
	t.Cleanup(func() { m.stop(t) })
	return m
}

func (m *member) stop(t *testing.T) {
	t.Helper()
	if m.cancel == nil {
		return
	}
	m.cancel()
	m.cancel = nil
	select {
	case err := <-m.done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the Kafka source did not stop within 30 s")
	}
}

// TestKafkaRebalanceMidChain: a member reads the first fragment of pod a's record and complete
// records of pod b, then the group rebalances before a's final fragment arrives. The committed
// offset never passes a's first fragment, the stale fragment is dropped with the generation, and
// whoever reads the partition next counts a's record once and whole: no glued record, no reject.
func TestKafkaRebalanceMidChain(t *testing.T) {
	brokers, topic := kfakeCluster(t)
	group := topic + "-group"
	produceKeyed(t, brokers, topic, msg{"a", failP},
		msg{"b", kTime + " stdout F " + corpus.SeedSuccess}, msg{"b", kTime + " stdout F " + corpus.SeedSuccess},
		msg{"b", kTime + " stdout F " + corpus.SeedSuccess}, msg{"b", kTime + " stdout F " + corpus.SeedSuccess})

	first := startMember(t, brokers, topic, group)
	require.Eventually(t, func() bool { return first.k.metrics(t).sum("fallbackwatch_requests_total") == 4 },
		20*time.Second, 10*time.Millisecond, "b's four records")
	require.Eventually(t, func() bool { return committedOffset(t, brokers, topic, group) == 0 },
		10*time.Second, 10*time.Millisecond, "a commit at a's first fragment")
	time.Sleep(300 * time.Millisecond) // several commit intervals
	require.Equal(t, int64(0), committedOffset(t, brokers, topic, group), "committed past a's open fragment")

	// A second member joins: the generation ends and the partition is assigned afresh.
	second := startMember(t, brokers, topic, group)
	time.Sleep(2 * time.Second)
	require.Equal(t, int64(0), committedOffset(t, brokers, topic, group), "committed past a's open fragment at the rebalance")
	produceKeyed(t, brokers, topic, msg{"a", failF})

	both := func() (failed, total, rejected float64) {
		for _, m := range []*member{first, second} {
			got := m.k.metrics(t)
			failed += got.by("fallbackwatch_requests_total", "result")["failed"]
			total += got.sum("fallbackwatch_requests_total")
			rejected += got.sum("fallbackwatch_lines_rejected_total")
		}
		return
	}
	require.Eventually(t, func() bool { f, _, _ := both(); return f >= 1 }, 20*time.Second, 10*time.Millisecond, "a's record")
	require.Eventually(t, func() bool { return committedOffset(t, brokers, topic, group) == 6 },
		10*time.Second, 10*time.Millisecond, "everything committed once a's record is counted")
	second.stop(t)
	first.stop(t)
	failed, total, rejected := both()
	require.Equal(t, 1.0, failed, "a's record counted once, whole")
	require.Zero(t, rejected, "no glued record")
	// b's records were counted before the rebalance and again by the next reader of the
	// partition, which starts at a's first fragment: the at-least-once price, bounded by the
	// span of an open line.
	require.Equal(t, 9.0, total)
}

// TestRunKafkaFramingEndToEnd runs `collector run` on a topic whose one partition mixes
// producers, formats and an oversized line.
func TestRunKafkaFramingEndToEnd(t *testing.T) {
	brokers, topic := kfakeCluster(t)
	produceKeyed(t, brokers, topic,
		msg{"a", succP}, msg{"b", failP}, msg{"a", succF}, msg{"b", failF}, // interleaved, keyed
		msg{"", kTime + " stdout F " + corpus.SeedSuccess}, msg{"", corpus.SeedFailed}, // raw after CRI
		msg{"", `{"authority":"` + strings.Repeat("x", 5000) + `"}` + "\n" + corpus.SeedSuccess}, // too long, then a record
		msg{"", succP}, // unterminated, self-contained
	)
	p := startRun(t, nil, "--kafka.brokers", strings.Join(brokers, ","), "--kafka.topic", topic, "--kafka.group", topic+"-g",
		"--kafka.commit-interval", "100ms", "--max-line-bytes", "4096")
	p.waitStatus(t, "/readyz", http.StatusOK, 15*time.Second)
	m := p.waitMetrics(t, "every message", 15*time.Second, func(m metrics) bool {
		return m.sum("fallbackwatch_kafka_messages_total") >= 8
	})
	time.Sleep(300 * time.Millisecond)
	m = p.scrape(t)
	require.Equal(t, map[string]float64{"success": 3, "failed": 2}, m.by("fallbackwatch_requests_total", "result"))
	require.Equal(t, map[string]float64{"too_long": 1, "unterminated_partial": 1}, m.by("fallbackwatch_lines_rejected_total", "reason"))
	require.Equal(t, 1.0, m.sum("fallbackwatch_source_ready", "source", "kafka"))
	p.stop(t)
	require.Equal(t, int64(8), committedOffset(t, brokers, topic, topic+"-g"))
}
