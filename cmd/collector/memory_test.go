//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fallbackwatch/fallbackwatch/internal/clitest"

	"github.com/stretchr/testify/require"
)

// hostileLines returns n access-log records, each for a different service: the cardinality
// --metrics.max-series guards against.
func hostileLines(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"authority":"svc%d:9080","duration":"7","fallback_path":"-","fallback_final_cluster_name":"-",`+
			`"fallback_result":"-","method":"GET","path":"/reviews/0","protocol":"HTTP/1.1","response_code":"200",`+
			`"response_flags":"-","route_name":"default","start_time":"2023-05-30T07:00:01.002Z",`+
			`"upstream_cluster":"outbound|9080|v1|svc%d.default.svc.cluster.local","upstream_host":"172.16.0.12:9080"}`+"\n", i, i)
	}
	return b.Bytes()
}

// peakRSS returns a process's peak resident set size (VmHWM) in bytes.
func peakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// BenchmarkRunHostileCardinality feeds 400,000 records, each for a different service, to
// `collector run -` at the default --metrics.max-series and reports the process's peak RSS
// (VmHWM, read before it is stopped) at GOMAXPROCS=1 and 16. It measures memory, not time: the
// figure backs the DaemonSet's memory request and limit (deploy/daemonset) and
// docs/benchmarks.md.
//
//	go test ./cmd/collector/ -run '^$' -bench RunHostileCardinality -benchtime 1x
func BenchmarkRunHostileCardinality(b *testing.B) {
	const n = 400_000
	input := hostileLines(n)
	for _, procs := range []int{1, 16} {
		b.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(b *testing.B) {
			var worst int64
			for b.Loop() {
				worst = max(worst, hostileRunRSS(b, input, n, procs))
			}
			b.ReportMetric(float64(worst)/(1<<20), "peak-RSS-MiB")
		})
	}
}

// hostileRunRSS runs `collector run -` with GOMAXPROCS=procs on input, waits until its n records
// are counted, reads its peak RSS and stops it with SIGTERM, by pid.
func hostileRunRSS(b *testing.B, input []byte, n float64, procs int) int64 {
	b.Helper()
	addr, err := clitest.FreeAddr()
	require.NoError(b, err)
	cmd := exec.Command(collectorBin, "run", "--web.listen-address", addr, "-")
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
	cmd.Stdin = bytes.NewReader(input)
	require.NoError(b, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	defer func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	p := &collectorProc{addr: addr}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		m, err := p.tryScrape()
		if err == nil && m.sum("fallbackwatch_records_accepted_total", "source", "stdin") >= n {
			break
		}
		require.True(b, time.Now().Before(deadline), "records not all counted within 5 minutes")
		time.Sleep(50 * time.Millisecond)
	}
	rss, err := peakRSS(cmd.Process.Pid)
	require.NoError(b, err)
	require.NoError(b, cmd.Process.Signal(syscall.SIGTERM))
	<-done
	return rss
}
