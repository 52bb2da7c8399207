package kafkasrc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// realBrokers names a real Kafka cluster to run the tests against instead of
// kfake, e.g. KAFKA_BROKERS=127.0.0.1:9092.
func realBrokers() []string {
	v := os.Getenv("KAFKA_BROKERS")
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// cluster is the broker a test talks to: an in-process kfake broker listening
// on 127.0.0.1, or the real cluster named by KAFKA_BROKERS.
type cluster struct {
	t       testing.TB
	brokers []string
	real    bool

	// kfake only
	kf      *kfake.Cluster
	dataDir string
	port    int
	topic   string
	parts   int
}

var seq atomic.Int64

// newCluster starts (or connects to) a cluster with a fresh topic of the given
// partition count. persist keeps kfake's state on disk so restart can bring
// the broker back with its log and committed offsets.
func newCluster(t testing.TB, partitions int, persist bool) *cluster {
	t.Helper()
	topic := fmt.Sprintf("fallbackwatch-%s-%d-%d", sanitize(t.Name()), time.Now().UnixNano(), seq.Add(1))
	c := &cluster{t: t, topic: topic, parts: partitions}
	if b := realBrokers(); b != nil {
		c.brokers, c.real = b, true
		c.createTopic()
		return c
	}
	if persist {
		c.dataDir = t.TempDir()
	}
	c.start()
	t.Cleanup(c.stop)
	return c
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, s)
}

func (c *cluster) start() {
	c.t.Helper()
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(c.port), // 0 the first time: any free port
		kfake.SeedTopics(int32(c.parts), c.topic),
		// Lets tests use a 1 s session so rebalances and outages are
		// noticed quickly; real brokers default to a 6 s minimum.
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
	}
	if c.dataDir != "" {
		opts = append(opts, kfake.DataDir(c.dataDir))
	}
	kf, err := kfake.NewCluster(opts...)
	require.NoError(c.t, err)
	c.kf = kf
	c.brokers = kf.ListenAddrs()
	_, port, err := net.SplitHostPort(c.brokers[0])
	require.NoError(c.t, err)
	c.port, err = strconv.Atoi(port)
	require.NoError(c.t, err)
}

func (c *cluster) stop() {
	if c.kf != nil {
		c.kf.Close()
		c.kf = nil
	}
}

// restart brings a persisted kfake broker back on the same port.
func (c *cluster) restart() {
	c.t.Helper()
	require.NotEmpty(c.t, c.dataDir, "restart needs a persisted cluster")
	c.start()
}

func (c *cluster) createTopic() {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...))
	require.NoError(c.t, err)
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = c.topic
	rt.NumPartitions = int32(c.parts)
	rt.ReplicationFactor = -1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(c.t, err, "creating topic %q", c.topic)
	for _, rt := range resp.Topics {
		if rt.ErrorCode != 0 {
			require.Failf(c.t, "creating topic", "topic %q: error code %d", rt.Topic, rt.ErrorCode)
		}
	}
}

// produce writes values round-robin over the topic's partitions, or all to
// one partition when partition >= 0, and returns how many went to each.
func (c *cluster) produce(values [][]byte, partition int) map[int]int {
	c.t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.brokers...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
	)
	require.NoError(c.t, err)
	defer cl.Close()
	per := map[int]int{}
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		p := partition
		if p < 0 {
			p = i % c.parts
		}
		per[p]++
		recs[i] = &kgo.Record{Topic: c.topic, Partition: int32(p), Value: v, Key: []byte(strconv.Itoa(i))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(c.t, cl.ProduceSync(ctx, recs...).FirstErr())
	return per
}

// numbered returns n distinct values tagged with prefix.
func numbered(prefix string, n int) [][]byte {
	vs := make([][]byte, n)
	for i := range vs {
		vs[i] = fmt.Appendf(nil, "%s-%d", prefix, i)
	}
	return vs
}

// timing is short in kfake and as short as a real broker allows otherwise
// (group.min.session.timeout.ms defaults to 6 s there).
func (c *cluster) config(t testing.TB, group string) Config {
	cfg := Config{
		Brokers:           c.brokers,
		Topic:             c.topic,
		Group:             group,
		MaxWait:           100 * time.Millisecond,
		CommitInterval:    100 * time.Millisecond,
		SessionTimeout:    time.Second,
		RebalanceTimeout:  3 * time.Second,
		HeartbeatInterval: 100 * time.Millisecond,
		RetryBackoffMin:   50 * time.Millisecond,
		RetryBackoffMax:   500 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if c.real {
		cfg.SessionTimeout = 6 * time.Second
		cfg.HeartbeatInterval = 500 * time.Millisecond
		cfg.RebalanceTimeout = 10 * time.Second
	}
	return cfg
}

func (c *cluster) group() string { return c.topic + "-group" }

// sink records what handlers saw, keyed by partition and offset.
type sink struct {
	mu     sync.Mutex
	seen   map[[2]int64]int // (partition, offset) -> deliveries
	values map[string]int   // value -> deliveries
	total  int
}

func newSink() *sink {
	return &sink{seen: map[[2]int64]int{}, values: map[string]int{}}
}

func (s *sink) handle(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[[2]int64{int64(m.Partition), m.Offset}]++
	s.values[string(m.Value)]++
	s.total++
}

func (s *sink) unique() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// running is a consumer whose Run goroutine the test owns.
type running struct {
	*Consumer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func start(t *testing.T, cfg Config, h Handler) *running {
	t.Helper()
	c, err := New(cfg, h)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Consumer: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// shutdown cancels Run and waits for it: offsets are committed when it
// returns. Safe to call from any goroutine and more than once.
func (r *running) shutdown() error {
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(30 * time.Second):
			r.err = errors.New("Run did not return within 30s of cancel")
		}
	})
	return r.err
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, r.shutdown())
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, d, 10*time.Millisecond, "waiting for %s", what)
}

// committed returns the group's committed offsets of the topic by partition.
func (c *cluster) committed(group string) map[int]int64 {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...))
	require.NoError(c.t, err)
	defer cl.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = c.topic
	for p := range c.parts {
		rt.Partitions = append(rt.Partitions, int32(p))
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(c.t, err)
	require.Zero(c.t, resp.ErrorCode, "offset fetch for group %q", group)
	out := map[int]int64{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			require.Zero(c.t, p.ErrorCode, "offset fetch for group %q partition %d", group, p.Partition)
			if p.Offset >= 0 {
				out[int(p.Partition)] = p.Offset
			}
		}
	}
	return out
}
