package kafkasrc

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkConsume measures consuming ~1.1 KB access-log messages from three
// partitions of an in-process kfake broker with a no-op handler; one op is
// one message. The group join is included, so run enough messages:
//
//	go test ./internal/kafkasrc -run '^$' -bench Consume -benchtime 100000x -count 5 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkConsume(b *testing.B) {
	c := newCluster(b, 3, false)

	line := []byte(`{"start_time":"2024-05-01T10:00:00.000Z","method":"GET","path":"/reviews/0","protocol":"HTTP/1.1",` +
		`"response_code":200,"response_flags":"-","upstream_cluster":"outbound|9080|v1|reviews.default.svc.cluster.local",` +
		`"fallback_path":"outbound|9080|v1|reviews.default.svc.cluster.local,outbound|9080|v2|reviews.default.svc.cluster.local",` +
		`"fallback_final_cluster_name":"outbound|9080|v1|reviews.default.svc.cluster.local","fallback_result":"","duration":3,` +
		`"user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",` +
		`"x_forwarded_for":"10.0.0.1","request_id":"6f0a3c1e-3b55-4e7b-9c0c-2d3f4a5b6c7d","authority":"reviews:9080",` +
		`"upstream_host":"10.1.2.3:9080","bytes_received":0,"bytes_sent":295,"route_name":"default",` +
		`"downstream_remote_address":"10.0.0.1:51234","downstream_local_address":"10.1.2.3:9080"}`)
	line = append(line, bytes.Repeat([]byte(" "), max(0, 1100-len(line)))...)
	values := make([][]byte, b.N)
	for i := range values {
		values[i] = line
	}
	c.produce(values, -1)

	var n atomic.Int64
	var first, last atomic.Int64
	done := make(chan struct{})
	cfg := c.config(b, c.group())
	cfg.Logger = nil
	cons, err := New(cfg, func(m Message) {
		now := time.Now().UnixNano()
		first.CompareAndSwap(0, now)
		if n.Add(1) == int64(b.N) {
			last.Store(now)
			close(done)
		}
	})
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)

	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	go func() { errc <- cons.Run(ctx) }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("consumed %d of %d messages in 5 minutes", n.Load(), b.N)
	}
	b.StopTimer()
	cancel()
	require.NoError(b, <-errc)
	if d := time.Duration(last.Load() - first.Load()); d > 0 {
		b.ReportMetric(float64(b.N)/d.Seconds(), "records/s")
	}
}
