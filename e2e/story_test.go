package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fallbackwatch/fallbackwatch/alerts"
)

// shortened are alertgen's flags that compress the rule windows and `for` durations from minutes
// to seconds. The baseline (dashboards' "load against ... ago" panel) is 1m so the story, about
// two minutes long, has a baseline to compare with.
var shortened = []string{"--window.short=10s", "--window.long=1m", "--window.baseline=1m",
	"--for.sustained-warning=20s", "--for.sustained-critical=10s", "--for.failed=5s", "--for.unprotected=5s",
	"--for.capacity=10s", "--for.failover=10s", "--for.inconsistent=10s", "--for.pipeline=10s", "--for.kafka-lag=10s"}

// generated is alertgen's output for the Bookinfo routing configuration the story ends with
// (sample 2) and the shipped capacity file.
type generated struct {
	rules      string
	dashboards map[string][]byte
}

func generate(t *testing.T) generated {
	t.Helper()
	out := t.TempDir()
	args := append([]string{"--routing", "testdata/bookinfo/destinationrule.yaml", "--routing", "testdata/bookinfo/sample2.yaml",
		"--capacity", "monitoring/bookinfo/capacity.yaml", "--out", out}, shortened...)
	cmd := exec.Command(alertgenBin, args...)
	cmd.Dir = repoRoot
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "alertgen %v:\n%s", args, b)
	g := generated{rules: filepath.Join(out, "rules.yaml"), dashboards: map[string][]byte{}}
	files, err := filepath.Glob(filepath.Join(out, "dashboards", "*.json"))
	require.NoError(t, err)
	require.Len(t, files, 2, "overview and pipeline dashboards")
	for _, f := range files {
		g.dashboards[filepath.Base(f)], err = os.ReadFile(f)
		require.NoError(t, err)
	}
	return g
}

// phase is one stretch of the story: how many requests per second productpage sends to reviews
// and what happens to the i-th of them.
type phase struct {
	n    int
	name string
	rate float64
	mix  func(i int) outcome
}

var phases = [...]phase{
	{1, "sample 1, all healthy", 100, func(i int) outcome {
		if i%50 == 49 {
			return outcome{kind: direct, primary: "v3", code: 500} // the application's own errors: no fallback (R14)
		}
		return outcome{kind: direct, primary: "v3", code: 200}
	}},
	{2, "v3 scaled to zero: fallback to v2", 130, func(int) outcome {
		return outcome{kind: fellBack, primary: "v3", fallback: "v2"} // R15
	}},
	{3, "sample 2, v3 and v2 down", 130, func(i int) outcome {
		if i%2 == 0 {
			return outcome{kind: fallbackFailed, primary: "v3", fallback: "v2"} // R16, R17: no cascade to v1
		}
		return outcome{kind: fellBack, primary: "v2", fallback: "v1"}
	}},
	{4, "recovery", 130, func(i int) outcome {
		o := outcome{kind: direct, primary: "v3", code: 200}
		if i%2 == 1 {
			o.primary = "v2"
		}
		if i%50 == 49 {
			o.code = 500
		}
		return o
	}},
}

// tally is what the story wrote.
type tally struct {
	lines     int // physical lines (CRI lines, or Kafka messages of one line each)
	records   int // productpage's records: the routing decisions
	server    int // the reviews sidecars' records of the requests they served (direction inbound)
	skipped   int // Envoy text lines
	rejected  int // truncated records
	byResult  map[string]int
	byFinal   map[string]int // subset that served, for records that were served
	byPrimary map[string]int
}

// story drives one variant: it writes the phases in real time and watches the webhook.
type story struct {
	t          *testing.T
	sink       sink
	hook       *webhook
	prom       *prom
	collectors []*proc
	vsFile     string // the VirtualService file the collectors load, rewritten at phase 3
	phase      atomic.Int32
	seq        int
	tally      tally
	start      time.Time
}

func (s *story) write(lines ...[]byte) {
	s.t.Helper()
	require.NoError(s.t, s.sink.write(time.Now(), lines))
	s.tally.lines += len(lines)
}

func (s *story) text(msg string) {
	s.write(envoyText(time.Now(), msg))
	s.tally.skipped++
}

func (s *story) truncated() {
	s.write(truncatedRecord(time.Now()))
	s.tally.rejected++
}

// requests writes n records of phase p, numbered from first, stamped now.
func (s *story) requests(p phase, first, n int) {
	s.t.Helper()
	now := time.Now()
	lines := make([][]byte, n)
	for i := range n {
		o := p.mix(first + i)
		s.seq++
		lines[i] = renderRecord(o, now, s.seq)
		s.tally.records++
		s.tally.byResult[o.result()]++
		s.tally.byPrimary[o.primary]++
		if f := o.finalSubset(); f != "" {
			s.tally.byFinal[f]++
		}
	}
	require.NoError(s.t, s.sink.write(now, lines))
	s.tally.lines += n
	// The reviews pod that served each request logs it too, on the server side.
	served := map[string][][]byte{}
	for i := range n {
		o := p.mix(first + i)
		if sub := o.finalSubset(); sub != "" {
			served[sub] = append(served[sub], renderServerRecord(o, now, s.seq-n+i+1))
		}
	}
	for _, sub := range []string{"v1", "v2", "v3"} {
		if l := served[sub]; len(l) > 0 {
			require.NoError(s.t, s.sink.writePod(reviewsPods[sub], now, l))
			s.tally.lines += len(l)
			s.tally.server += len(l)
		}
	}
}

// run sends phase p's traffic at its rate, starting with record first, for at least min and
// until done holds; it fails after max with done's message, or at once when check fails.
func (s *story) run(p phase, first int, min, max time.Duration, done func() (bool, string)) {
	s.t.Helper()
	start, written := time.Now(), 0
	for {
		elapsed := time.Since(start)
		if due := int(elapsed.Seconds()*p.rate) - written; due > 0 {
			s.requests(p, first+written, due)
			written += due
		}
		if elapsed >= min {
			ok, msg := done()
			if ok {
				s.t.Logf("phase %d (%s) done after %s, %d requests", p.n, p.name, elapsed.Round(100*time.Millisecond), written)
				return
			}
			if elapsed > max {
				require.FailNow(s.t, fmt.Sprintf("phase %d (%s) not done within %s", p.n, p.name, max), msg)
			}
		}
		if evs, errs := s.hook.snapshot(); len(errs) > 0 {
			require.FailNow(s.t, "malformed webhook deliveries", "%v (events %v)", errs, evs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Expected alert labels. Rules aggregate with sum by (...), so no instance or job label.
func sustained(severity, subset string) map[string]string {
	return map[string]string{"alertname": alerts.AlertFallbackSustained, "severity": severity,
		"destination_service": reviewsFQDN, "primary_subset": subset}
}

func failed(subset string) map[string]string {
	return map[string]string{"alertname": alerts.AlertFallbackFailed, "severity": "critical",
		"destination_service": reviewsFQDN, "primary_subset": subset}
}

func overCapacity(subset string) map[string]string {
	return map[string]string{"alertname": alerts.AlertFallbackTargetOverCapacity, "severity": "warning",
		"final_service": reviewsFQDN, "final_subset": subset}
}

func ev(phase int, status string, labels map[string]string) alertEvent {
	return alertEvent{Phase: phase, Status: status, Labels: labels}
}

// expectedAlerts is the story told by Alertmanager, phase by phase. Capacity (monitoring/bookinfo/
// capacity.yaml): v1 100 rps, v2 150, v3 150; FallbackTargetOverCapacity above 80%, the N-1
// alert FailoverExceedsCapacity above 100%.
//   - 1: v3 serves 100 rps (67%); a v3 failover would put 100 rps on v2 (67%): nothing fires.
//   - 2: v2 serves v3's 130 rps (87% > 80%): FallbackTargetOverCapacity for v2; a v3 failover is
//     what is happening, 87% < 100%: no N-1 alert.
//   - 3: v2 is down and serves nothing (its over-capacity alert resolves); v1 serves 65 rps (65%).
//   - 4: v3 and v2 serve 65 rps each; a v3 failover would put 130 rps on v2 (87% < 100%), a v2
//     failover 65 rps on v1 (65%): nothing fires, everything resolves.
var expectedAlerts = []alertEvent{
	ev(2, "firing", sustained("warning", "v3")),
	ev(2, "firing", sustained("critical", "v3")),
	ev(2, "firing", overCapacity("v2")),
	ev(3, "firing", failed("v3")),
	ev(3, "firing", sustained("warning", "v2")),
	ev(3, "firing", sustained("critical", "v2")),
	ev(3, "resolved", overCapacity("v2")),
	ev(4, "resolved", sustained("warning", "v3")),
	ev(4, "resolved", sustained("critical", "v3")),
	ev(4, "resolved", sustained("warning", "v2")),
	ev(4, "resolved", sustained("critical", "v2")),
	ev(4, "resolved", failed("v3")),
}

func expectedIn(phase int, status string) []alertEvent {
	var out []alertEvent
	for _, e := range expectedAlerts {
		if e.Phase == phase && (status == "" || e.Status == status) {
			out = append(out, e)
		}
	}
	return out
}

// normalized lists events as comparable strings ordered by phase, then status and labels: the
// order inside a phase depends on evaluation timing, the order of phases does not.
func normalized(evs []alertEvent) []string {
	sorted := append([]alertEvent(nil), evs...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Phase != sorted[j].Phase {
			return sorted[i].Phase < sorted[j].Phase
		}
		return sorted[i].String() < sorted[j].String()
	})
	out := make([]string, len(sorted))
	for i, e := range sorted {
		out[i] = e.String()
	}
	return out
}

// storyResult is what a variant observed, for comparisons across variants.
type storyResult struct {
	alerts   []string
	hasData  map[string]bool // dashboard query → returned data
	duration time.Duration
}

// TestStory tells the guide's story twice: with one collector tailing the node's container log
// (the DaemonSet), and with two collectors in one Kafka consumer group. Both must give the same
// alerts, and every dashboard query must return data in each (panels of the other source
// excepted) and in one of them at least.
func TestStory(t *testing.T) {
	bins := binaries{
		prometheus:   lookBinary(t, "prometheus"),
		alertmanager: lookBinary(t, "prometheus-alertmanager", "alertmanager"),
	}
	gen := generate(t)
	results := map[string]*storyResult{}
	for _, v := range []struct {
		name  string
		kafka bool
	}{{"file", false}, {"kafka", true}} {
		ok := t.Run(v.name, func(t *testing.T) {
			results[v.name] = runStory(t, bins, gen, v.kafka)
		})
		if !ok {
			return
		}
	}
	file, kafka := results["file"], results["kafka"]
	if file == nil || kafka == nil {
		return // one variant selected with -run
	}
	require.Equal(t, file.alerts, kafka.alerts, "two collectors in one consumer group give the alerts one collector gives")
	var never []string
	for q, ok := range file.hasData {
		if !ok && !kafka.hasData[q] {
			never = append(never, q)
		}
	}
	sort.Strings(never)
	require.Empty(t, never, "dashboard queries that returned data in neither variant")
	t.Logf("story durations: file %s, kafka %s", file.duration.Round(time.Second), kafka.duration.Round(time.Second))
}

type binaries struct{ prometheus, alertmanager string }

func runStory(t *testing.T, bins binaries, gen generated, kafka bool) *storyResult {
	dir := t.TempDir()
	routingDir := filepath.Join(dir, "routing")
	require.NoError(t, os.MkdirAll(routingDir, 0o755))
	copyFile(t, filepath.Join(repoRoot, "testdata/bookinfo/destinationrule.yaml"), filepath.Join(routingDir, "destinationrule.yaml"))
	vsFile := filepath.Join(routingDir, "virtualservice.yaml")
	copyFile(t, filepath.Join(repoRoot, "testdata/bookinfo/sample1.yaml"), vsFile)

	s := &story{t: t, vsFile: vsFile, tally: tally{byResult: map[string]int{}, byFinal: map[string]int{}, byPrimary: map[string]int{}}}
	s.hook = newWebhook(t, func() int { return int(s.phase.Load()) })
	am := startAlertmanager(t, bins.alertmanager, s.hook)

	common := []string{"run", "--routing", filepath.Join(routingDir, "destinationrule.yaml"), "--routing", vsFile, "--log.level=info"}
	var node *nodeLogs
	var topic *kafkaTopic
	if !kafka {
		node = newNodeLogs(t, filepath.Join(dir, "node"))
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "state"), 0o755)) // the DaemonSet's hostPath
		s.sink = node
		addr := freeAddr(t)
		c := startProc(t, "collector", addr, collectorBin, append(common, "--web.listen-address="+addr,
			"--tail.poll-interval=100ms", "--tail.rescan-interval=1s", "--tail.checkpoint-interval=1s",
			"--tail.state-file="+filepath.Join(dir, "state", "positions.json"), node.pattern())...)
		c.waitHTTP(t, "/readyz", 30*time.Second)
		s.collectors = []*proc{c}
	} else {
		topic = newKafkaTopic(t, 3)
		s.sink = topic
		// The second member joins after the first has its partitions, so the group settles
		// (one rebalance) before the story starts.
		for _, name := range []string{"collector-a", "collector-b"} {
			addr := freeAddr(t)
			c := startProc(t, name, addr, collectorBin, append(common, "--web.listen-address="+addr,
				"--kafka.brokers="+strings.Join(topic.brokers, ","), "--kafka.topic="+topic.topic,
				"--kafka.group=fallbackwatch-e2e", "--kafka.envelope-field=log")...)
			c.waitHTTP(t, "/readyz", 60*time.Second)
			s.collectors = append(s.collectors, c)
		}
		for _, c := range s.collectors {
			c.waitHTTP(t, "/readyz", 60*time.Second)
		}
	}
	s.prom = startPrometheus(t, bins.prometheus, gen.rules, am, s.collectors)
	// Prometheus scrapes every collector and evaluates the generated rules before the story.
	eventually(t, 60*time.Second, 200*time.Millisecond, func() (bool, string) {
		up, okUp, err1 := s.prom.value(`count(up{job="fallbackwatch"} == 1)`)
		edges, okEdges, err2 := s.prom.value(`count(` + alerts.RecordEdge + `)`)
		return okUp && okEdges && int(up) == len(s.collectors) && edges == 2,
			fmt.Sprintf("collectors up: %v (%v), fallback edges recorded: %v (%v)", up, err1, edges, err2)
	})
	s.start = time.Now()

	// Phase 1: sample 1, all healthy. Long enough for every alert that could fire to do so.
	s.phase.Store(1)
	s.text("all dependencies initialized. starting workers")
	s.run(phases[0], 0, 25*time.Second, 25*time.Second, func() (bool, string) { return true, "" })
	evs, _ := s.hook.snapshot()
	require.Empty(t, evs, "phase 1: no alert fires while everything is healthy")
	active, err := s.prom.activeAlerts()
	require.NoError(t, err)
	require.Empty(t, active, "phase 1: no alert is even pending")

	// Phase 2: v3 scaled to zero; every request falls back to v2.
	s.phase.Store(2)
	s.text("gRPC config stream closed: 13, ")
	s.truncated()
	s.run(phases[1], 0, 5*time.Second, 120*time.Second, s.received(expectedIn(2, "")))

	// Phase 3: the mesh switches to sample 2 and v2 goes down too. The collectors' copy of the
	// configuration is updated a moment later (a ConfigMap volume, then SIGHUP): the records
	// written before that are checked against sample 1, which has no v2→v1 edge, and the three
	// v2→v1 fallbacks among them are flagged inconsistent — too few for the inconsistency alert.
	s.phase.Store(3)
	s.text("gRPC config stream closed: 13, ")
	s.requests(phases[2], 0, 6)
	s.waitCounted("records written before the reload")
	raw, err := os.ReadFile(filepath.Join(repoRoot, "testdata/bookinfo/sample2.yaml"))
	require.NoError(t, err)
	require.NoError(t, writeFileAtomic(vsFile, raw))
	for _, c := range s.collectors {
		require.NoError(t, c.cmd.Process.Signal(syscall.SIGHUP))
	}
	eventually(t, 20*time.Second, 50*time.Millisecond, func() (bool, string) {
		for _, c := range s.collectors {
			if !strings.Contains(c.out.String(), "routing configuration reloaded") {
				return false, c.name + " has not reloaded the routing configuration:\n" + tail(c.out.String(), 2000)
			}
		}
		return true, ""
	})
	s.run(phases[2], 6, 5*time.Second, 120*time.Second, s.received(expectedIn(3, "")))

	// Phase 4: recovery. On the node the kubelet rotates the container log meanwhile.
	s.phase.Store(4)
	rotated, err := s.sink.rotate()
	require.NoError(t, err)
	s.text("gRPC config stream closed: 13, ")
	s.truncated()
	s.run(phases[3], 0, 5*time.Second, 120*time.Second, s.received(expectedIn(4, "")))
	s.phase.Store(5) // anything arriving from now on is unexpected
	end := time.Now()

	s.checkCounters(kafka, rotated, topic)
	got, _ := s.hook.snapshot()
	for _, e := range got {
		t.Logf("alert %s at +%s", e, e.At.Sub(s.start).Round(100*time.Millisecond))
	}
	require.Equal(t, normalized(expectedAlerts), normalized(got), "alerts delivered by Alertmanager, by phase")

	otherSource := fileOnlyMetrics
	if !kafka {
		otherSource = kafkaOnlyMetrics
	}
	res := &storyResult{alerts: normalized(got), duration: end.Sub(s.start)}
	res.hasData = checkDashboards(t, s.prom, gen.dashboards, s.start, end, otherSource)
	for _, c := range s.collectors {
		c.stop(t) // SIGTERM: positions saved, offsets committed, exit 0
	}
	return res
}

// received is a phase's done condition: every wanted event has been delivered.
func (s *story) received(want []alertEvent) func() (bool, string) {
	return func() (bool, string) {
		missing := s.hook.missing(want)
		got, _ := s.hook.snapshot()
		return len(missing) == 0, fmt.Sprintf("not delivered yet: %v\ndelivered: %v", missing, got)
	}
}

// waitCounted waits until Prometheus has scraped every line written so far from the collectors.
func (s *story) waitCounted(what string) {
	s.t.Helper()
	eventually(s.t, 30*time.Second, 100*time.Millisecond, func() (bool, string) {
		v, _, err := s.prom.value(`sum(fallbackwatch_lines_read_total)`)
		return err == nil && int(v) == s.tally.lines, fmt.Sprintf("%s: Prometheus has %v lines read, %d written (%v)", what, v, s.tally.lines, err)
	})
}

// checkCounters requires the counters Prometheus stored to equal what the story wrote.
func (s *story) checkCounters(kafka, rotated bool, topic *kafkaTopic) {
	t := s.t
	s.waitCounted("every line of the story")
	want := func(expr string, v float64) {
		t.Helper()
		got, ok, err := s.prom.value(expr)
		require.NoError(t, err)
		require.True(t, ok, "%s: no data", expr)
		require.Equal(t, v, got, expr)
	}
	wantBy := func(expr, label string, m map[string]int) {
		t.Helper()
		got, err := s.prom.byLabel(expr, label)
		require.NoError(t, err)
		w := map[string]float64{}
		for k, v := range m {
			w[k] = float64(v)
		}
		require.Equal(t, w, got, expr)
	}
	tl := s.tally
	t.Logf("written: %d lines, %d records %v, %d server-side records, %d Envoy text lines, %d truncated records",
		tl.lines, tl.records, tl.byResult, tl.server, tl.skipped, tl.rejected)
	want(`sum(fallbackwatch_lines_read_total)`, float64(tl.lines))
	want(`sum(fallbackwatch_records_accepted_total)`, float64(tl.records+tl.server))
	// Server-side records are counted by direction, never as routing decisions.
	want(`sum(fallbackwatch_records_accepted_total{direction="outbound"})`, float64(tl.records))
	want(`sum(fallbackwatch_records_accepted_total{direction="inbound"})`, float64(tl.server))
	want(`sum(fallbackwatch_requests_total)`, float64(tl.records))
	want(`sum(fallbackwatch_requests_total{source_namespace="default", source_workload="productpage-v1", destination_service="`+reviewsFQDN+`", route="default/reviews-route#0"})`, float64(tl.records))
	wantBy(`sum by (result) (fallbackwatch_requests_total)`, "result", tl.byResult)
	wantBy(`sum by (primary_subset) (fallbackwatch_requests_total)`, "primary_subset", tl.byPrimary)
	wantBy(`sum by (final_subset) (fallbackwatch_requests_total{final_service!=""})`, "final_subset", tl.byFinal)
	want(`sum(fallbackwatch_requests_total{result="failed", code_class="5xx"})`, float64(tl.byResult["failed"]))
	want(`sum(fallbackwatch_request_duration_seconds_count)`, float64(tl.records))
	want(`sum(fallbackwatch_lines_skipped_total{reason="not_json"})`, float64(tl.skipped))
	want(`sum(fallbackwatch_lines_skipped_total)`, float64(tl.skipped))
	want(`sum(fallbackwatch_lines_rejected_total)`, float64(tl.rejected))
	want(`sum(fallbackwatch_decisions_total)`, float64(tl.records))
	verdicts, err := s.prom.query(`sum by (verdict, rule) (fallbackwatch_decisions_total)`, time.Time{})
	require.NoError(t, err)
	t.Logf("routing checker verdicts: %v", verdicts)
	want(`sum(fallbackwatch_decisions_total{verdict="inconsistent"})`, 3)
	// A successful v2→v1 fallback under sample 1: v2 is no destination of the route, which C2
	// requires of a fallback's first cluster.
	want(`sum(fallbackwatch_decisions_total{verdict="inconsistent", rule="C2"})`, 3)
	want(`sum(fallbackwatch_label_overflow_total)`, 0)
	if kafka {
		want(`sum(fallbackwatch_kafka_messages_total{topic="`+topic.topic+`"})`, float64(tl.lines))
		// Scale-out: both members of the group consumed a share.
		want(`count(fallbackwatch_kafka_messages_total > 0)`, 2)
		want(`sum(fallbackwatch_kafka_commit_errors_total)`, 0)
		want(`sum(fallbackwatch_source_ready{source="kafka"})`, 2)
	} else {
		require.True(t, rotated)
		want(`sum(fallbackwatch_file_rotations_total{kind="rename"})`, 1)
		want(`sum(fallbackwatch_file_truncations_total)`, 0)
		want(`sum(fallbackwatch_files_tracked)`, 1+float64(len(reviewsPods)))
		want(`sum(fallbackwatch_source_ready{source="file"})`, 1)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o644))
}
