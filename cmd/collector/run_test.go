package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fallbackwatch/fallbackwatch/internal/clitest"
	"github.com/fallbackwatch/fallbackwatch/internal/corpus"
	"github.com/fallbackwatch/fallbackwatch/parse"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fastTail keeps the tailer's intervals short so tests see appends, rotations and checkpoints
// within a fraction of a second.
var fastTail = []string{"--tail.poll-interval=50ms", "--tail.rescan-interval=200ms", "--tail.checkpoint-interval=200ms"}

// podLog is a file name as the kubelet writes it under /var/log/containers, so the records get
// source_namespace="default" and source_workload="productpage-v1".
const podLog = "productpage-v1-5f9dbcd669-x2k7p_default_istio-proxy-" +
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.log"

// collectorProc is a `collector run` process started by a test.
type collectorProc struct {
	cmd    *exec.Cmd
	addr   string
	stderr *clitest.Buffer
	done   chan struct{}
	code   int
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := clitest.FreeAddr()
	require.NoError(t, err)
	return addr
}

// startRun starts `collector run args...` listening on a free 127.0.0.1 port. The process is
// killed at cleanup if the test did not stop it.
func startRun(t *testing.T, stdin io.Reader, args ...string) *collectorProc {
	t.Helper()
	return startRunBin(t, collectorBin, stdin, args...)
}

// startRunBin is startRun with another build of the collector.
func startRunBin(t *testing.T, bin string, stdin io.Reader, args ...string) *collectorProc {
	t.Helper()
	p := &collectorProc{addr: freeAddr(t), stderr: &clitest.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"run", "--web.listen-address", p.addr}, args...)...)
	p.cmd.Dir = repoRoot(t)
	p.cmd.Stdin = stdin
	p.cmd.Stderr = p.stderr
	p.cmd.WaitDelay = 5 * time.Second // do not wait for I/O copies once the process is gone
	require.NoError(t, p.cmd.Start())
	go func() {
		err := p.cmd.Wait()
		p.code = 0
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			p.code = exitErr.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("collector %v stderr:\n%s", p.cmd.Args[1:], p.stderr.String())
		}
	})
	return p
}

// stop sends SIGTERM and requires a clean exit (0) within 15 s.
func (p *collectorProc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		require.FailNow(t, "collector did not exit within 15 s of SIGTERM", p.stderr.String())
	}
	require.Equal(t, 0, p.code, "exit code after SIGTERM; stderr:\n%s", p.stderr.String())
}

// get returns the status code and body of a path, or 0 when the server does not answer.
func (p *collectorProc) get(path string) (int, string) { return clitest.Get(p.addr, path) }

// waitStatus polls path until it answers code.
func (p *collectorProc) waitStatus(t *testing.T, path string, code int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, body := p.get(path)
		if got == code {
			return
		}
		select {
		case <-p.done:
			require.FailNowf(t, "collector exited", "waiting for %s %d: exit %d, stderr:\n%s", path, code, p.code, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			require.FailNowf(t, "timeout", "%s answered %d %q, want %d within %v", path, got, body, code, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metrics is one scrape of /metrics.
type metrics map[string]*dto.MetricFamily

func (p *collectorProc) scrape(t *testing.T) metrics {
	t.Helper()
	m, err := p.tryScrape()
	require.NoError(t, err)
	return m
}

// tryScrape scrapes /metrics once; it fails while the server is not up yet.
func (p *collectorProc) tryScrape() (metrics, error) {
	code, body := p.get("/metrics")
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %d %s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(strings.NewReader(body))
}

// sum adds the values of the series of a counter or gauge whose labels include match.
func (m metrics) sum(name string, match ...string) float64 {
	var s float64
	for _, mt := range m[name].GetMetric() {
		if !hasLabels(mt, match) {
			continue
		}
		switch {
		case mt.Counter != nil:
			s += mt.GetCounter().GetValue()
		case mt.Gauge != nil:
			s += mt.GetGauge().GetValue()
		}
	}
	return s
}

// by sums a counter by the values of one label.
func (m metrics) by(name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, mt := range m[name].GetMetric() {
		for _, lp := range mt.GetLabel() {
			if lp.GetName() == label {
				out[lp.GetValue()] += mt.GetCounter().GetValue()
			}
		}
	}
	return out
}

func hasLabels(mt *dto.Metric, match []string) bool {
	for i := 0; i+1 < len(match); i += 2 {
		found := false
		for _, lp := range mt.GetLabel() {
			if lp.GetName() == match[i] && lp.GetValue() == match[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// waitMetrics scrapes until cond holds and returns that scrape.
func (p *collectorProc) waitMetrics(t *testing.T, what string, within time.Duration, cond func(metrics) bool) metrics {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		m, err := p.tryScrape()
		if err == nil && cond(m) {
			return m
		}
		select {
		case <-p.done:
			require.FailNowf(t, "collector exited", "waiting for %s: exit %d, stderr:\n%s", what, p.code, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			require.FailNowf(t, "timeout", "waiting %v for %s; lines read %v, requests %v; stderr:\n%s", within, what,
				m.by("fallbackwatch_lines_read_total", "source"), m.sum("fallbackwatch_requests_total"), p.stderr.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// expect is what a set of lines must produce in the collector's metrics.
type expect struct {
	lines, records, text float64
	byResult             map[string]float64
}

func (e *expect) add(lines [][]byte) {
	if e.byResult == nil {
		e.byResult = map[string]float64{}
	}
	var p parse.Parser
	var rec parse.Record
	for _, l := range lines {
		e.lines++
		if err := p.Parse(l, &rec); err != nil {
			e.text++ // the corpus writes records and Envoy's text log only
			continue
		}
		e.records++
		e.byResult[rec.Result.String()]++
	}
}

// requireExact checks the pipeline counters of one source against e.
func requireExact(t *testing.T, m metrics, source string, e expect) {
	t.Helper()
	require.Equal(t, e.lines, m.sum("fallbackwatch_lines_read_total", "source", source), "lines read")
	require.Equal(t, e.records, m.sum("fallbackwatch_records_accepted_total", "source", source), "records accepted")
	require.Equal(t, e.text, m.sum("fallbackwatch_lines_skipped_total", "source", source, "reason", "not_json"), "Envoy text lines skipped")
	require.Zero(t, m.sum("fallbackwatch_lines_rejected_total", "source", source), "lines rejected")
	require.Equal(t, e.byResult, m.by("fallbackwatch_requests_total", "result"), "requests by result")
}

// bookinfo returns n raw lines of the Bookinfo story, records and Envoy text lines.
func bookinfo(n int, seed uint64) [][]byte {
	return corpus.Lines(n, corpus.Options{Scenario: corpus.Bookinfo, Seed: seed})
}

func appendLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	require.NoError(t, err)
	for _, l := range lines {
		_, err = f.Write(append(append([]byte{}, l...), '\n'))
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())
}

// settle waits a few poll intervals and requires the counters not to have moved: nothing is
// counted twice after the totals were reached.
func settle(t *testing.T, p *collectorProc, source string, e expect) {
	t.Helper()
	time.Sleep(700 * time.Millisecond) // > RotateWait (500ms) + several polls and rescans
	requireExact(t, p.scrape(t), source, e)
}

// reached reports whether every counter requireExact checks has got to e. The registry collects
// the pipeline counters and the request counters one after the other while lines are being
// counted, so one scrape may show a line read whose record is not counted yet: wait for all.
func reached(source string, e expect) func(metrics) bool {
	return func(m metrics) bool {
		return m.sum("fallbackwatch_lines_read_total", "source", source) >= e.lines &&
			m.sum("fallbackwatch_records_accepted_total", "source", source) >= e.records &&
			m.sum("fallbackwatch_lines_skipped_total", "source", source, "reason", "not_json") >= e.text &&
			m.sum("fallbackwatch_requests_total") >= e.records
	}
}

// TestRunFollowsAppendedFile: a file written in bursts while the collector runs is counted
// exactly, with the source taken from the Kubernetes log path.
func TestRunFollowsAppendedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, podLog)
	lines := bookinfo(600, 1)
	appendLines(t, path, lines[:250])

	p := startRun(t, nil, append(fastTail, filepath.Join(dir, "*.log"))...)
	p.waitStatus(t, "/readyz", http.StatusOK, 10*time.Second)
	var e expect
	e.add(lines[:250])
	requireExact(t, p.waitMetrics(t, "the first 250 lines", 10*time.Second, reached("file", e)), "file", e)

	for _, burst := range [][][]byte{lines[250:251], lines[251:400], lines[400:]} {
		appendLines(t, path, burst)
		e.add(burst)
		p.waitMetrics(t, "appended lines", 10*time.Second, reached("file", e))
	}
	settle(t, p, "file", e)
	m := p.scrape(t)
	require.Equal(t, e.records, m.sum("fallbackwatch_requests_total", "source_namespace", "default", "source_workload", "productpage-v1"),
		"every record carries the sidecar named by the log path")
	require.Equal(t, 1.0, m.sum("fallbackwatch_files_tracked"))
	require.Equal(t, 1.0, m.sum("fallbackwatch_source_ready", "source", "file"))
	code, body := p.get("/healthz")
	require.Equal(t, http.StatusOK, code, body)
	p.stop(t)
}

// TestRunRotation rotates the followed file while the collector runs: no line lost, none
// counted twice.
func TestRunRotation(t *testing.T) {
	tests := []struct {
		name   string
		rotate func(t *testing.T, path string, before, after [][]byte)
		kind   string
	}{
		{
			// logrotate's default: rename, the writer finishes in the old file, then a new file.
			name: "rename and create",
			kind: "rename",
			rotate: func(t *testing.T, path string, before, after [][]byte) {
				require.NoError(t, os.Rename(path, path+".1"))
				appendLines(t, path+".1", before)
				appendLines(t, path, after)
			},
		},
		{
			// copytruncate: the copy is not followed (it does not match the glob).
			name: "copytruncate",
			kind: "copytruncate",
			rotate: func(t *testing.T, path string, before, after [][]byte) {
				data, err := os.ReadFile(path)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(path+".1", data, 0o644))
				require.NoError(t, os.Truncate(path, 0))
				appendLines(t, path, after)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, podLog)
			first := bookinfo(300, 2)
			// The new generation must differ from the old one's first bytes and be shorter, as a
			// real copytruncate continues with new lines.
			after := bookinfo(120, 3)[60:]
			before := first[200:]
			if tc.kind == "copytruncate" {
				before = nil // lines written before the truncation are already read
			}
			appendLines(t, path, first[:200])

			p := startRun(t, nil, append(fastTail, filepath.Join(dir, "*.log"))...)
			p.waitStatus(t, "/readyz", http.StatusOK, 10*time.Second)
			var e expect
			e.add(first[:200])
			p.waitMetrics(t, "the lines before rotation", 10*time.Second, reached("file", e))

			tc.rotate(t, path, before, after)
			e.add(before)
			e.add(after)
			m := p.waitMetrics(t, "the lines around rotation", 10*time.Second, func(m metrics) bool {
				return reached("file", e)(m) && m.sum("fallbackwatch_file_rotations_total", "kind", tc.kind) == 1
			})
			requireExact(t, m, "file", e)
			settle(t, p, "file", e)
			m = p.scrape(t)
			require.Equal(t, 1.0, m.sum("fallbackwatch_file_rotations_total", "kind", tc.kind))
			require.Equal(t, 1.0, m.sum("fallbackwatch_file_rotations_total"), "one rotation, of one kind")
			require.Equal(t, 1.0, m.sum("fallbackwatch_files_tracked"), "the old file is let go")
			p.stop(t)
		})
	}
}

// TestRunResumesFromStateFile stops the collector, appends, and starts it again: the second
// process counts only the lines written since the first one stopped.
func TestRunResumesFromStateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, podLog)
	state := filepath.Join(t.TempDir(), "positions.json")
	lines := bookinfo(500, 4)
	appendLines(t, path, lines[:300])
	args := append(fastTail, "--tail.state-file", state, filepath.Join(dir, "*.log"))

	p1 := startRun(t, nil, args...)
	var e1 expect
	e1.add(lines[:300])
	p1.waitMetrics(t, "the first run's lines", 10*time.Second, reached("file", e1))
	p1.stop(t)
	_, err := os.Stat(state)
	require.NoError(t, err, "positions saved at shutdown")

	appendLines(t, path, lines[300:])
	p2 := startRun(t, nil, args...)
	var e2 expect
	e2.add(lines[300:])
	m := p2.waitMetrics(t, "the second run's lines", 10*time.Second, reached("file", e2))
	requireExact(t, m, "file", e2)
	settle(t, p2, "file", e2)
	p2.stop(t)
}

// TestRunStdin pipes lines to `collector run -`: counts are exact, metrics stay served after the
// input ends, and SIGTERM ends the collector cleanly whether or not the input is still open.
func TestRunStdin(t *testing.T) {
	lines := bookinfo(400, 5)
	var e expect
	e.add(lines)

	t.Run("input ends", func(t *testing.T) {
		r, w, err := os.Pipe()
		require.NoError(t, err)
		p := startRun(t, r, "-")
		require.NoError(t, r.Close()) // the collector holds its own copy
		p.waitStatus(t, "/readyz", http.StatusOK, 10*time.Second)
		go func() {
			for _, l := range lines {
				if _, err := w.Write(append(append([]byte{}, l...), '\n')); err != nil {
					return
				}
			}
			w.Close()
		}()
		p.waitMetrics(t, "piped lines", 10*time.Second, reached("stdin", e))
		time.Sleep(300 * time.Millisecond) // the end of input has been seen
		requireExact(t, p.scrape(t), "stdin", e)
		code, body := p.get("/readyz")
		require.Equal(t, http.StatusOK, code, "still serving after the input ended: %s", body)
		p.stop(t)
	})
	t.Run("input still open", func(t *testing.T) {
		r, w, err := os.Pipe()
		require.NoError(t, err)
		t.Cleanup(func() { w.Close() })
		p := startRun(t, r, "-")
		require.NoError(t, r.Close())
		go func() {
			for _, l := range lines[:100] {
				if _, err := w.Write(append(append([]byte{}, l...), '\n')); err != nil {
					return
				}
			}
		}()
		var e expect
		e.add(lines[:100])
		requireExact(t, p.waitMetrics(t, "piped lines", 10*time.Second, reached("stdin", e)), "stdin", e)
		p.stop(t) // kubectl logs -f | collector run -: the pipe stays open
	})
}

// v2ToV1 is a successful fallback of reviews v2 to v1: only sample2 routes to v2 with fallback
// v1; under sample1 v2 is not a destination (C2).
var v2ToV1 = strings.NewReplacer(
	"fallback_path\":\"outbound|9080|v3|", "fallback_path\":\"outbound|9080|v2|",
	"local:outbound|9080|v2|", "local:outbound|9080|v1|",
	"\"fallback_final_cluster_name\":\"outbound|9080|v2|", "\"fallback_final_cluster_name\":\"outbound|9080|v1|",
	"\"upstream_cluster\":\"outbound|9080|v2|", "\"upstream_cluster\":\"outbound|9080|v1|",
).Replace(corpus.SeedSuccess)

// TestRunReloadsRoutingOnSIGHUP: records only consistent with sample2 are inconsistent (C2)
// under sample1, and consistent once the routing file says sample2 and SIGHUP reloads it.
func TestRunReloadsRoutingOnSIGHUP(t *testing.T) {
	require.Equal(t, 3, strings.Count(v2ToV1, "|v1|"), "v2ToV1 rewrites the seed record")
	root := repoRoot(t)
	cfgDir := t.TempDir()
	copyFile(t, filepath.Join(root, "testdata/bookinfo/destinationrule.yaml"), filepath.Join(cfgDir, "destinationrule.yaml"))
	vs := filepath.Join(cfgDir, "virtualservice.yaml")
	copyFile(t, filepath.Join(root, "testdata/bookinfo/sample1.yaml"), vs)
	logDir := t.TempDir()
	path := filepath.Join(logDir, podLog)
	batch := func(n int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = []byte(v2ToV1)
		}
		return out
	}
	appendLines(t, path, batch(20))

	p := startRun(t, nil, append(fastTail, "--routing", cfgDir, filepath.Join(logDir, "*.log"))...)
	const ok, okTime = "fallbackwatch_config_last_reload_successful", "fallbackwatch_config_last_reload_success_timestamp_seconds"
	m0 := p.waitMetrics(t, "the start's configuration", 10*time.Second, func(m metrics) bool { return m.sum(ok) == 1 })
	started := m0.sum(okTime)
	require.InDelta(t, float64(time.Now().Unix()), started, 60, "the load at start is the first successful reload")
	decisions := func(verdict, rule string) func(metrics) float64 {
		return func(m metrics) float64 {
			return m.sum("fallbackwatch_decisions_total", "verdict", verdict, "rule", rule)
		}
	}
	inconsistent, consistent := decisions("inconsistent", "C2"), decisions("consistent", "none")
	m := p.waitMetrics(t, "decisions under sample1", 10*time.Second, func(m metrics) bool {
		return inconsistent(m) >= 20 && m.sum("fallbackwatch_requests_total") >= 20
	})
	require.Equal(t, 20.0, inconsistent(m))
	require.Zero(t, consistent(m))
	require.Equal(t, 20.0, m.sum("fallbackwatch_requests_total", "route", "default/reviews-route#0", "primary_subset", "v2"))

	copyFile(t, filepath.Join(root, "testdata/bookinfo/sample2.yaml"), vs)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Contains(p.stderr.String(), "routing configuration reloaded") },
		10*time.Second, 20*time.Millisecond)
	appendLines(t, path, batch(30))
	m = p.waitMetrics(t, "decisions under sample2", 10*time.Second, func(m metrics) bool { return consistent(m) >= 30 })
	require.Equal(t, 30.0, consistent(m))
	require.Equal(t, 20.0, inconsistent(m), "records counted before the reload keep their verdict")
	require.Equal(t, 50.0, m.sum("fallbackwatch_decisions_total"))

	// A configuration that does not load is logged and the previous one kept.
	require.NoError(t, os.WriteFile(vs, []byte("kind: VirtualService\nspec: [\n"), 0o644))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Contains(p.stderr.String(), "reloading routing configuration failed") },
		10*time.Second, 20*time.Millisecond)
	appendLines(t, path, batch(5))
	m = p.waitMetrics(t, "decisions after a failed reload", 10*time.Second, func(m metrics) bool { return consistent(m) >= 35 })
	require.Equal(t, 35.0, consistent(m), "the running configuration stays")
	require.Zero(t, m.sum(ok), "the failed reload is exported")
	lastOK := m.sum(okTime)
	require.GreaterOrEqual(t, lastOK, started, "the timestamp is that of the last successful reload")

	// Fixed again: the next SIGHUP succeeds.
	copyFile(t, filepath.Join(root, "testdata/bookinfo/sample1.yaml"), vs)
	time.Sleep(10 * time.Millisecond) // a later timestamp than lastOK
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	m = p.waitMetrics(t, "the successful reload", 10*time.Second, func(m metrics) bool { return m.sum(ok) == 1 })
	require.Greater(t, m.sum(okTime), lastOK)
	appendLines(t, path, batch(4))
	m = p.waitMetrics(t, "decisions under sample1 again", 10*time.Second, func(m metrics) bool { return inconsistent(m) >= 24 })
	require.Equal(t, 24.0, inconsistent(m))
	p.stop(t)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o644))
}

// TestRunUsageErrors: bad flags exit 2, a routing configuration that cannot be read exits 1.
func TestRunUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("kind: VirtualService\nspec: [\n"), 0o644))
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"bad log level", []string{"--log.level=nope"}, 2, `--log.level "nope"`},
		{"bad log format", []string{"--log.format=xml"}, 2, `--log.format "xml"`},
		{"bad input format", []string{"--input.format=syslog"}, 2, "--input.format"},
		{"bad input format, deprecated name", []string{"--log.input-format=syslog"}, 2, "--input.format"},
		{"unknown flag", []string{"--no-such-flag"}, 2, "no-such-flag"},
		{"brokers without topic", []string{"--kafka.brokers", "127.0.0.1:9"}, 2, "--kafka.brokers and --kafka.topic go together"},
		{"topic without brokers", []string{"--kafka.topic", "logs"}, 2, "--kafka.brokers and --kafka.topic go together"},
		{"missing routing file", []string{"--routing", filepath.Join(dir, "missing.yaml"), "-"}, 1, "routing configuration"},
		{"malformed routing file", []string{"--routing", bad, "-"}, 1, "routing configuration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--web.listen-address", "127.0.0.1:0"}, tc.args...)
			_, stderr, code := runBinary(t, "", args...)
			require.Equal(t, tc.code, code, stderr)
			require.Contains(t, stderr, tc.stderr)
		})
	}
}

// kafkaCluster is a kfake broker on 127.0.0.1 with one topic, or the cluster named by
// KAFKA_BROKERS.
type kafkaCluster struct {
	brokers []string
	topic   string
}

func newKafka(t *testing.T, partitions int) *kafkaCluster {
	t.Helper()
	topic := fmt.Sprintf("istio-proxy-%d", time.Now().UnixNano())
	if v := os.Getenv("KAFKA_BROKERS"); v != "" {
		return &kafkaCluster{brokers: strings.Split(v, ","), topic: topic} // created when produced to
	}
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), topic)) // on 127.0.0.1
	require.NoError(t, err)
	t.Cleanup(kf.Close)
	return &kafkaCluster{brokers: kf.ListenAddrs(), topic: topic}
}

func (k *kafkaCluster) args(group string) []string {
	return []string{"--kafka.brokers", strings.Join(k.brokers, ","), "--kafka.topic", k.topic, "--kafka.group", k.topic + "-" + group}
}

// produce writes values round-robin over the partitions.
func (k *kafkaCluster) produce(t *testing.T, values [][]byte) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.brokers...), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProducerLinger(0), kgo.AllowAutoTopicCreation())
	require.NoError(t, err)
	defer cl.Close()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: k.topic, Value: v}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
}

// kafkaMessages are messages as a log shipper writes them: one record per message, several
// newline-separated lines per message, and garbage.
func kafkaMessages() ([][]byte, expect) {
	records := corpus.Lines(120, corpus.Options{Seed: 7}) // Mixed: records only
	var values [][]byte
	var e expect
	for i := 0; i < 60; i++ {
		values = append(values, records[i])
	}
	e.add(records[:60])
	for i := 60; i < 120; i += 3 {
		v := bytes.Join(records[i:i+3], []byte("\n"))
		if i%2 == 0 {
			v = append(v, '\n') // a trailing newline ends the last line; it adds none
		}
		values = append(values, v)
	}
	e.add(records[60:])
	text := []byte("2023-05-30T07:00:00.345000Z\twarning\tenvoy config\tgRPC config stream closed")
	values = append(values, text, []byte("\x00\x01\x02\xff binary junk"), []byte{})
	e.add([][]byte{text, []byte("\x00\x01\x02\xff binary junk")}) // the empty message has no line
	return values, e
}

// TestRunKafka consumes a topic with one collector, then with two in one group.
func TestRunKafka(t *testing.T) {
	k := newKafka(t, 3)
	values, e := kafkaMessages()
	truncated := []byte(`{"authority":"reviews:9080","response_code":"200","upstream_cluster":"outb`)
	values = append(values, truncated)
	e.lines++
	k.produce(t, values)

	t.Run("one collector", func(t *testing.T) {
		p := startRun(t, nil, k.args("solo")...)
		p.waitStatus(t, "/readyz", http.StatusOK, 15*time.Second)
		m := p.waitMetrics(t, "every message", 15*time.Second, reached("kafka", e))
		time.Sleep(500 * time.Millisecond)
		m = p.scrape(t)
		require.Equal(t, float64(len(values)), m.sum("fallbackwatch_kafka_messages_total", "topic", k.topic))
		require.Equal(t, e.lines, m.sum("fallbackwatch_lines_read_total", "source", "kafka"))
		require.Equal(t, e.records, m.sum("fallbackwatch_records_accepted_total", "source", "kafka"))
		require.Equal(t, 2.0, m.sum("fallbackwatch_lines_skipped_total", "source", "kafka", "reason", "not_json"))
		require.Equal(t, 1.0, m.sum("fallbackwatch_lines_rejected_total", "source", "kafka", "reason", "truncated"))
		require.Equal(t, 1.0, m.sum("fallbackwatch_lines_rejected_total", "source", "kafka"))
		require.Equal(t, e.byResult, m.by("fallbackwatch_requests_total", "result"))
		require.Equal(t, 1.0, m.sum("fallbackwatch_source_ready", "source", "kafka"))
		require.Zero(t, m.sum("fallbackwatch_kafka_consumer_lag", "topic", k.topic))
		p.stop(t)
	})

	t.Run("two collectors in one group", func(t *testing.T) {
		a := startRun(t, nil, k.args("pair")...)
		b := startRun(t, nil, k.args("pair")...)
		a.waitStatus(t, "/healthz", http.StatusOK, 10*time.Second)
		b.waitStatus(t, "/healthz", http.StatusOK, 10*time.Second)
		total := func() float64 {
			return a.scrape(t).sum("fallbackwatch_requests_total") + b.scrape(t).sum("fallbackwatch_requests_total")
		}
		deadline := time.Now().Add(20 * time.Second)
		for total() < e.records {
			require.True(t, time.Now().Before(deadline), "the pair counts every record within 20 s: %v of %v", total(), e.records)
			time.Sleep(50 * time.Millisecond)
		}
		// Both members take part in the group: each ends up ready with its share of partitions.
		a.waitStatus(t, "/readyz", http.StatusOK, 15*time.Second)
		b.waitStatus(t, "/readyz", http.StatusOK, 15*time.Second)
		time.Sleep(500 * time.Millisecond)
		// Everything was produced before the pair started, and a rebalance drains and commits
		// before partitions move, so no record is counted twice.
		require.Equal(t, e.records, total())
		ma, mb := a.scrape(t), b.scrape(t)
		require.Equal(t, float64(len(values)),
			ma.sum("fallbackwatch_kafka_messages_total")+mb.sum("fallbackwatch_kafka_messages_total"))
		var wg sync.WaitGroup
		for _, p := range []*collectorProc{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = p.cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-p.done:
				case <-time.After(15 * time.Second):
				}
			}()
		}
		wg.Wait()
		require.Equal(t, 0, a.code, a.stderr.String())
		require.Equal(t, 0, b.code, b.stderr.String())
	})
}

// TestRunKafkaUnreachable: with a broker address that refuses connections the collector serves
// /healthz but /readyz stays 503, and SIGTERM still ends it cleanly.
func TestRunKafkaUnreachable(t *testing.T) {
	refused := freeAddr(t) // nothing listens there any more
	p := startRun(t, nil, "--kafka.brokers", refused, "--kafka.topic", "istio-proxy", "--kafka.group", "g")
	p.waitStatus(t, "/healthz", http.StatusOK, 10*time.Second)
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		code, body := p.get("/readyz")
		require.Equal(t, http.StatusServiceUnavailable, code, body)
		time.Sleep(100 * time.Millisecond)
	}
	m := p.scrape(t)
	require.Zero(t, m.sum("fallbackwatch_source_ready", "source", "kafka"))
	_, ok := m["fallbackwatch_source_ready"]
	require.True(t, ok, "source_ready is exported")
	require.Contains(t, m, "fallbackwatch_build_info")
	p.stop(t)
}

// TestRunTelemetryPath serves metrics under --web.telemetry-path.
func TestRunTelemetryPath(t *testing.T) {
	p := startRun(t, strings.NewReader(corpus.SeedSuccess+"\n"), "--web.telemetry-path", "/custom", "-")
	p.waitStatus(t, "/custom", http.StatusOK, 10*time.Second)
	code, _ := p.get("/metrics")
	require.Equal(t, http.StatusNotFound, code)
	_, body := p.get("/custom")
	require.Contains(t, body, "fallbackwatch_requests_total{")
	p.stop(t)
}
