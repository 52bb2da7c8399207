package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sink is where the sidecar's output goes: a container log file on the node, or a Kafka topic
// a log shipper produces to.
type sink interface {
	// write delivers lines (without newline) productpage's sidecar wrote at `at`.
	write(at time.Time, lines [][]byte) error
	// writePod delivers lines the sidecar of another pod (one of reviewsPods) wrote at `at`.
	writePod(pod string, at time.Time, lines [][]byte) error
	// rotate rotates the log as the kubelet does; false when the sink has no such thing.
	rotate() (bool, error)
}

// nodeLogs lays out a node's log directories as the kubelet does: the container's output in
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/0.log, written in CRI format, and the
// symlink /var/log/containers/<pod>_<namespace>_<container>-<id>.log pointing to it.
type nodeLogs struct {
	root    string // stands for the node's /
	podFile string
	f       *os.File
	rotated int
	others  map[string]*os.File // the reviews pods' sidecar logs, by pod
}

func newNodeLogs(t *testing.T, root string) *nodeLogs {
	t.Helper()
	podDir := filepath.Join(root, "var/log/pods", "default_"+podName+"_6c4f2e0a-8d1b-4b8e-9a57-3f1e2d9c0b7a", "istio-proxy")
	require.NoError(t, os.MkdirAll(podDir, 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "var/log/containers"), 0o755))
	n := &nodeLogs{root: root, podFile: filepath.Join(podDir, "0.log")}
	f, err := os.OpenFile(n.podFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	n.f = f
	t.Cleanup(func() { n.f.Close() })
	require.NoError(t, os.Symlink(n.podFile, filepath.Join(root, "var/log/containers", podName+"_default_istio-proxy-"+containerID+".log")))
	// The reviews pods run on the same node: the DaemonSet's glob tails their sidecars too.
	n.others = map[string]*os.File{}
	for i, sub := range []string{"v1", "v2", "v3"} {
		pod := reviewsPods[sub]
		dir := filepath.Join(root, "var/log/pods", fmt.Sprintf("default_%s_6c4f2e0a-8d1b-4b8e-9a57-3f1e2d9c0b7%d", pod, i), "istio-proxy")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		file := filepath.Join(dir, "0.log")
		f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })
		n.others[pod] = f
		id := fmt.Sprintf("%d%s", i+1, containerID[1:])
		require.NoError(t, os.Symlink(file, filepath.Join(root, "var/log/containers", pod+"_default_istio-proxy-"+id+".log")))
	}
	return n
}

func (n *nodeLogs) writePod(pod string, at time.Time, lines [][]byte) error {
	f, ok := n.others[pod]
	if !ok {
		return fmt.Errorf("no log file for pod %s", pod)
	}
	var b []byte
	for _, l := range lines {
		b = append(b, criLine(at, l)...)
	}
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("appending to %s's log: %w", pod, err)
	}
	return nil
}

// pattern is the glob the DaemonSet passes to the collector, under root.
func (n *nodeLogs) pattern() string {
	return filepath.Join(n.root, "var/log/containers", "*_istio-proxy-*.log")
}

func (n *nodeLogs) write(at time.Time, lines [][]byte) error {
	var b []byte
	for _, l := range lines {
		b = append(b, criLine(at, l)...)
	}
	if _, err := n.f.Write(b); err != nil {
		return fmt.Errorf("appending to %s: %w", n.podFile, err)
	}
	return nil
}

// rotate renames 0.log to 0.log.<time> and lets the runtime start a new 0.log, as kubelet's
// container log rotation does; the /var/log/containers symlink keeps pointing at 0.log.
func (n *nodeLogs) rotate() (bool, error) {
	if err := n.f.Close(); err != nil {
		return false, err
	}
	n.rotated++
	if err := os.Rename(n.podFile, fmt.Sprintf("%s.20230530-0700%02d", n.podFile, n.rotated)); err != nil {
		return false, err
	}
	f, err := os.OpenFile(n.podFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return false, err
	}
	n.f = f
	return true, nil
}

// kafkaTopic is a topic with three partitions on an in-process kfake broker on 127.0.0.1, or
// on the cluster KAFKA_BROKERS names. Messages are Fluent Bit envelopes, spread round-robin over
// the partitions.
type kafkaTopic struct {
	brokers []string
	topic   string
	parts   int
	cl      *kgo.Client
	next    int
}

func newKafkaTopic(t *testing.T, partitions int) *kafkaTopic {
	t.Helper()
	k := &kafkaTopic{topic: fmt.Sprintf("istio-proxy-e2e-%d", time.Now().UnixNano()), parts: partitions}
	if v := os.Getenv("KAFKA_BROKERS"); v != "" {
		k.brokers = strings.Split(v, ",")
	} else {
		kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), k.topic)) // on 127.0.0.1
		require.NoError(t, err)
		t.Cleanup(kf.Close)
		k.brokers = kf.ListenAddrs()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	k.cl = cl
	if os.Getenv("KAFKA_BROKERS") != "" {
		k.createTopic(t)
	}
	return k
}

func (k *kafkaTopic) createTopic(t *testing.T) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = k.topic, int32(k.parts), -1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, k.cl)
	require.NoError(t, err, "creating topic %q", k.topic)
	for _, rt := range resp.Topics {
		require.Zero(t, rt.ErrorCode, "creating topic %q", rt.Topic)
	}
}

func (k *kafkaTopic) write(at time.Time, lines [][]byte) error {
	return k.writePod(podName, at, lines)
}

func (k *kafkaTopic) writePod(pod string, at time.Time, lines [][]byte) error {
	recs := make([]*kgo.Record, len(lines))
	for i, l := range lines {
		recs[i] = &kgo.Record{Topic: k.topic, Partition: int32(k.next % k.parts), Value: fluentBitEnvelope(at, pod, l)}
		k.next++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := k.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("producing to %s: %w", k.topic, err)
	}
	return nil
}

func (k *kafkaTopic) rotate() (bool, error) { return false, nil }
