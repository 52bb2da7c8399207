package kafkasrc

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Brokers: []string{"127.0.0.1:9092"}, Topic: "envoy", Group: "collector"}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		errs   []string // substrings, all expected
	}{
		{name: "defaults", mutate: func(*Config) {}},
		{name: "last offset", mutate: func(c *Config) { c.StartOffset = kafka.LastOffset }},
		{name: "missing everything", mutate: func(c *Config) { *c = Config{} },
			errs: []string{"brokers: at least one", "topic: required", "group: required"}},
		{name: "empty broker", mutate: func(c *Config) { c.Brokers = []string{"a:1", ""} },
			errs: []string{"brokers[1]: empty address"}},
		{name: "bytes", mutate: func(c *Config) { c.MinBytes, c.MaxBytes = 10, 5 },
			errs: []string{"min bytes 10 is larger than max bytes 5"}},
		{name: "negative durations", mutate: func(c *Config) { c.CommitInterval, c.MaxWait = -1, -time.Second },
			errs: []string{"commit interval: -1ns is negative", "max wait: -1s is negative"}},
		{name: "heartbeat", mutate: func(c *Config) { c.HeartbeatInterval, c.SessionTimeout = 10*time.Second, 6*time.Second },
			errs: []string{"heartbeat interval 10s must be shorter than session timeout 6s"}},
		{name: "backoff", mutate: func(c *Config) { c.RetryBackoffMin, c.RetryBackoffMax = time.Minute, time.Second },
			errs: []string{"retry backoff min 1m0s is larger than retry backoff max 1s"}},
		{name: "start offset", mutate: func(c *Config) { c.StartOffset = 42 },
			errs: []string{"start offset: 42 is neither"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mutate(&cfg)
			err := cfg.Validate()
			if len(tc.errs) == 0 {
				require.NoError(t, err)
				require.Equal(t, DefaultCommitInterval, cfg.CommitInterval)
				require.NotNil(t, cfg.Logger)
				require.Contains(t, []int64{kafka.FirstOffset, kafka.LastOffset}, cfg.StartOffset)
				return
			}
			require.Error(t, err)
			for _, want := range tc.errs {
				require.ErrorContains(t, err, want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	cfg := Config{Brokers: []string{"127.0.0.1:9092"}, Topic: "envoy", Group: "collector"}
	_, err := New(cfg, nil)
	require.ErrorContains(t, err, "nil handler")

	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	_, err = New(cfg, func(Message) {})
	require.NoError(t, err)
	_, err = New(cfg, func(Message) {})
	require.ErrorContains(t, err, `registering kafka source metrics for topic "envoy"`)
}

func TestBackoff(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 10: time.Second} {
		for range 20 {
			d := backoff(attempt, 100*time.Millisecond, time.Second)
			require.GreaterOrEqual(t, d, want/2, "attempt %d", attempt)
			require.LessOrEqual(t, d, want, "attempt %d", attempt)
		}
	}
}

// Offsets are committed only for handled messages, and a restarted member of
// the same group resumes exactly where the previous one stopped.
func TestCommitAndResume(t *testing.T) {
	c := newCluster(t, 3, false)
	const n, m = 300, 120

	c.produce(numbered("first", n), -1)
	first := newSink()
	a := start(t, c.config(t, c.group()), first.handle)
	waitFor(t, "first run to read everything", 20*time.Second, func() bool { return first.unique() == n })
	a.stop(t)
	require.Equal(t, n, first.count(), "no duplicates within one run")

	c.produce(numbered("second", m), -1)
	second := newSink()
	b := start(t, c.config(t, c.group()), second.handle)
	waitFor(t, "second run to read the new messages", 20*time.Second, func() bool { return second.unique() == m })
	// Give a wrongly resumed consumer time to re-deliver old messages.
	time.Sleep(500 * time.Millisecond)
	b.stop(t)
	require.Equal(t, m, second.count(), "second run sees exactly the new messages")
	for v := range second.values {
		require.True(t, strings.HasPrefix(v, "second-"), "old message %q delivered again", v)
	}
}

// An offset is committed only after the handler has returned for it, and
// shutdown waits for the handler call in flight before the last commit.
func TestCommitOnlyHandled(t *testing.T) {
	c := newCluster(t, 1, false)
	const n, stuckAt = 10, 5
	c.produce(numbered("m", n), 0)

	entered, release := make(chan struct{}), make(chan struct{})
	var handled []int64
	cfg := c.config(t, c.group())
	r := start(t, cfg, func(m Message) {
		if m.Offset == stuckAt {
			close(entered)
			<-release
		}
		handled = append(handled, m.Offset) // one partition: one goroutine
	})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce) // runs before the consumer's cleanup stop
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		require.FailNow(t, "handler never reached the stuck message")
	}
	// Several commit intervals pass while offset 5 is in the handler.
	waitFor(t, "offsets 0..4 committed", 10*time.Second, func() bool { return c.committed(c.group())[0] == stuckAt })
	time.Sleep(5 * cfg.CommitInterval)
	require.Equal(t, map[int]int64{0: stuckAt}, c.committed(c.group()), "offset of a message still in the handler must not be committed")

	stopped := make(chan error, 1)
	go func() { stopped <- r.shutdown() }()
	select {
	case <-stopped:
		require.FailNow(t, "Run returned while a handler call was in flight")
	case <-time.After(300 * time.Millisecond):
	}
	releaseOnce()
	require.NoError(t, <-stopped)
	require.Equal(t, []int64{0, 1, 2, 3, 4, 5}, handled, "no message handled after shutdown began")
	require.Equal(t, map[int]int64{0: stuckAt + 1}, c.committed(c.group()), "the in-flight message is committed on shutdown")
}

// A second member joins while messages flow: the partitions are split, every
// message is handled by one of them, and duplicates stay within what was
// handled but could not be committed when partitions moved (none when the
// end-of-generation commit succeeds).
func TestRebalance(t *testing.T) {
	c := newCluster(t, 4, false)
	reg := prometheus.NewRegistry()

	type member struct {
		mu    sync.Mutex
		parts map[int]int // partition -> messages of the last phase
		phase bool
	}
	var all sync.Mutex
	seen := map[[2]int64]int{}
	record := func(mb *member) Handler {
		return func(m Message) {
			all.Lock()
			seen[[2]int64{int64(m.Partition), m.Offset}]++
			all.Unlock()
			mb.mu.Lock()
			if mb.phase {
				mb.parts[m.Partition]++
			}
			mb.mu.Unlock()
		}
	}
	unique := func() int { all.Lock(); defer all.Unlock(); return len(seen) }
	ma, mb := &member{parts: map[int]int{}}, &member{parts: map[int]int{}}

	const initial = 200
	c.produce(numbered("initial", initial), -1)
	// Only the commits at the end of a generation count here, so a missing
	// drain-and-commit shows up as duplicates.
	cfgA := c.config(t, c.group())
	cfgA.CommitInterval = time.Hour
	cfgA.Registerer = reg
	cfgB := c.config(t, c.group())
	cfgB.CommitInterval = time.Hour
	a := start(t, cfgA, record(ma))
	waitFor(t, "first member to catch up", 20*time.Second, func() bool { return unique() == initial })

	// Keep producing while the second member joins.
	produced := initial
	stopProducing := make(chan struct{})
	producerDone := make(chan int)
	go func() {
		n := 0
		for i := 0; ; i++ {
			select {
			case <-stopProducing:
				producerDone <- n
				return
			default:
			}
			c.produce(numbered("during-"+time.Now().Format("150405.000000"), 8), -1)
			n += 8
			time.Sleep(5 * time.Millisecond)
		}
	}()
	b := start(t, cfgB, record(mb))
	waitFor(t, "second member to join", 30*time.Second, b.Ready)
	time.Sleep(300 * time.Millisecond)
	close(stopProducing)
	produced += <-producerDone

	// Phase after the rebalance: who owns what.
	for _, mm := range []*member{ma, mb} {
		mm.mu.Lock()
		mm.phase = true
		mm.mu.Unlock()
	}
	const last = 400
	c.produce(numbered("after", last), -1)
	produced += last
	waitFor(t, "every message handled", 30*time.Second, func() bool { return unique() == produced })
	a.stop(t)
	b.stop(t)

	all.Lock()
	dupes := 0
	for _, n := range seen {
		dupes += n - 1
	}
	all.Unlock()
	bound := a.unsettled.Load() + b.unsettled.Load()
	t.Logf("produced %d, duplicates %d, bound %d", produced, dupes, bound)
	require.LessOrEqual(t, int64(dupes), bound, "duplicates beyond the messages handled but not committed at a rebalance")

	var pa, pb []int
	for p := range ma.parts {
		pa = append(pa, p)
	}
	for p := range mb.parts {
		pb = append(pb, p)
	}
	sort.Ints(pa)
	sort.Ints(pb)
	t.Logf("partitions after rebalance: first %v, second %v", pa, pb)
	require.NotEmpty(t, pa, "first member kept partitions")
	require.NotEmpty(t, pb, "second member got partitions")
	require.Len(t, append(pa, pb...), 4, "partitions split, none read by both")
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(""), "fallbackwatch_kafka_consumer_lag"),
		"lag series of released partitions are dropped on shutdown")
}

// A broker outage makes the consumer unready; it reconnects with backoff and
// loses none of the messages produced after the broker is back.
func TestBrokerRestart(t *testing.T) {
	if realBrokers() != nil {
		t.Skip("needs to stop and restart the broker, which only the in-process kfake broker allows")
	}
	c := newCluster(t, 3, true)
	reg := prometheus.NewRegistry()
	s := newSink()
	cfg := c.config(t, c.group())
	cfg.Registerer = reg
	var reported atomic.Int32 // what Config.Ready last said: 0 never, 1 false, 2 true
	cfg.Ready = func(v bool) { reported.Store(map[bool]int32{false: 1, true: 2}[v]) }
	r := start(t, cfg, s.handle)

	const before, after = 90, 150
	c.produce(numbered("before", before), -1)
	waitFor(t, "messages before the outage", 20*time.Second, func() bool { return s.unique() == before })
	require.True(t, r.Ready())

	c.stop()
	waitFor(t, "not ready during the outage", 20*time.Second, func() bool { return !r.Ready() })
	require.Equal(t, int32(1), reported.Load(), "Config.Ready reports the outage")
	time.Sleep(500 * time.Millisecond) // a few failed attempts
	require.False(t, r.Ready())

	c.restart()
	waitFor(t, "ready after the broker is back", 30*time.Second, r.Ready)
	require.Equal(t, int32(2), reported.Load(), "Config.Ready reports the recovery")
	c.produce(numbered("after", after), -1)
	waitFor(t, "messages produced after the restart", 30*time.Second, func() bool { return s.unique() == before+after })
	r.stop(t)

	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range after {
		v := numbered("after", after)[i]
		require.Positive(t, s.values[string(v)], "message %q lost", v)
	}
}

// Content never stops the consumer: junk, empty and oversized values all
// reach the handler, in offset order, byte for byte.
func TestGarbageMessages(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "messages", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	sort.Strings(files)
	var values [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		values = append(values, b)
	}
	values = append(values, nil) // a null value, unlike empty.bin's zero bytes

	c := newCluster(t, 1, false)
	c.produce(values, 0)

	var mu sync.Mutex
	var got [][]byte
	var offsets []int64
	r := start(t, c.config(t, c.group()), func(m Message) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, bytes.Clone(m.Value))
		offsets = append(offsets, m.Offset)
	})
	waitFor(t, "every message", 20*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= len(values) })
	r.stop(t)

	require.Len(t, got, len(values))
	for i, want := range values {
		require.Equal(t, int64(i), offsets[i], "offset order")
		require.Equal(t, len(want), len(got[i]), "length of message %d", i)
		require.True(t, bytes.Equal(want, got[i]), "value of message %d", i)
	}
}

// Lag per partition: high watermark minus the next offset to read, growing
// while the handler is stuck and back to zero once it catches up.
func TestLagMetric(t *testing.T) {
	c := newCluster(t, 3, false)
	reg := prometheus.NewRegistry()
	counts := map[int]int{0: 7, 1: 11, 2: 13}
	for p, n := range counts {
		c.produce(numbered("p", n), p)
	}

	release := make(chan struct{})
	cfg := c.config(t, c.group())
	cfg.Registerer = reg
	r := start(t, cfg, func(m Message) {
		if m.Partition == 0 {
			<-release
		}
	})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	topic := c.topic
	stuck := `
# HELP fallbackwatch_kafka_consumer_lag High watermark minus the next offset to read, per assigned partition.
# TYPE fallbackwatch_kafka_consumer_lag gauge
fallbackwatch_kafka_consumer_lag{partition="0",topic="` + topic + `"} 7
fallbackwatch_kafka_consumer_lag{partition="1",topic="` + topic + `"} 0
fallbackwatch_kafka_consumer_lag{partition="2",topic="` + topic + `"} 0
# HELP fallbackwatch_kafka_messages_total Kafka messages consumed and passed to the handler.
# TYPE fallbackwatch_kafka_messages_total counter
fallbackwatch_kafka_messages_total{topic="` + topic + `"} 24
`
	metricsEventually(t, reg, stuck, "fallbackwatch_kafka_consumer_lag", "fallbackwatch_kafka_messages_total")

	close(release)
	caughtUp := strings.NewReplacer(`topic="`+topic+`"} 7`, `topic="`+topic+`"} 0`, "} 24", "} 31").Replace(stuck)
	metricsEventually(t, reg, caughtUp, "fallbackwatch_kafka_consumer_lag", "fallbackwatch_kafka_messages_total")
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
	require.Equal(t, 1, testutil.CollectAndCount(reg, "fallbackwatch_kafka_commit_errors_total"))

	r.stop(t)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(""), "fallbackwatch_kafka_consumer_lag"))
	// Readiness is the collector's to export (through Config.Ready): the source declares no
	// series of its own for it.
	require.Zero(t, testutil.CollectAndCount(reg, "fallbackwatch_source_ready"))
}

func metricsEventually(t *testing.T, reg *prometheus.Registry, want string, names ...string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.NoError(c, testutil.GatherAndCompare(reg, strings.NewReader(want), names...))
	}, 20*time.Second, 20*time.Millisecond)
}

// holder is a PartitionHandler that keeps the record begun at offset hold open: it accounts for
// every message but asks to be read again from hold once it has seen it.
type holder struct {
	hold   int64
	closed *atomic.Int32
	seen   *atomic.Int64
}

func (h holder) Handle(m Message) int64 {
	h.seen.Add(1)
	return min(m.Offset+1, h.hold)
}

func (h holder) Close() { h.closed.Add(1) }

// An offset is committed only up to what the handler says is accounted for: a partition holding
// the first part of a record at offset 3 commits 3, however far it has read, also at the end of
// the generation; the next member reads again from there.
func TestCommitStopsAtResume(t *testing.T) {
	c := newCluster(t, 1, false)
	const n = 10
	c.produce(numbered("m", n), 0)
	var closed atomic.Int32
	var seen atomic.Int64
	cons, err := NewPartitioned(c.config(t, c.group()), func(topic string, partition int) PartitionHandler {
		require.Equal(t, c.topic, topic)
		require.Equal(t, 0, partition)
		return holder{hold: 3, closed: &closed, seen: &seen}
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	waitFor(t, "every message", 20*time.Second, func() bool { return seen.Load() == n })
	waitFor(t, "a commit", 5*time.Second, func() bool { return c.committed(c.group())[0] == 3 })
	time.Sleep(300 * time.Millisecond) // several commit intervals
	require.Equal(t, int64(3), c.committed(c.group())[0], "committed past the open record")
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, int32(1), closed.Load(), "Close ends the partition's generation")
	require.Equal(t, int64(3), c.committed(c.group())[0], "the final commit stops at the open record too")

	// The next member starts at the open record's first message.
	s := newSink()
	r := start(t, c.config(t, c.group()), s.handle)
	waitFor(t, "the messages from the open record on", 20*time.Second, func() bool { return s.unique() == n-3 })
	r.stop(t)
	for off := int64(3); off < n; off++ {
		require.Equal(t, 1, s.seen[[2]int64{0, off}], "offset %d", off)
	}
	require.Equal(t, int64(n), c.committed(c.group())[0])
}
