package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReplayFlagsAfterArguments: flags after the log file are flags, wherever they stand, and
// give the same report as flags first; "--" ends the flags.
func TestReplayFlagsAfterArguments(t *testing.T) {
	first, stderr, code := runBinary(t, "", replayArgs("--format", "json", sampleLog)...)
	require.Equal(t, 0, code, stderr)
	var checked struct{ Checked bool }
	require.NoError(t, json.Unmarshal([]byte(first), &checked))
	require.True(t, checked.Checked, "the flags-first form checks routing")

	for name, args := range map[string][]string{
		"flags after the file":  append(append([]string{"replay", sampleLog}, sampleRouting...), "--format", "json"),
		"flags around the file": {"replay", "--format=json", sampleRouting[0], sampleRouting[1], sampleLog, sampleRouting[2], sampleRouting[3]},
	} {
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := runBinary(t, "", args...)
			require.Equal(t, 0, code, stderr)
			require.JSONEq(t, first, stdout)
		})
	}
	t.Run("-- ends the flags", func(t *testing.T) {
		_, stderr, code := runBinary(t, "", "replay", "--", "--routing")
		require.Equal(t, 1, code, "--routing after -- is a file name; stderr: %s", stderr)
		require.Contains(t, stderr, "--routing")
	})
}

// TestUnknownFlagIsUsageError: every command refuses a flag it does not know with exit 2, and
// the message names it; a flag is never taken for a file.
func TestUnknownFlagIsUsageError(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--web.listen-address", "127.0.0.1:0", "--no-such-flag", "-"},
		{"run", "-", "--no-such-flag"},
		{"replay", sampleLog, "--no-such-flag"},
		{"lint", "testdata/bookinfo", "--no-such-flag"},
		{"simulate", "--no-such-flag", "testdata/bookinfo"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, stderr, code := runBinary(t, "", args...)
			require.Equal(t, 2, code, stderr)
			require.Contains(t, stderr, "unknown long flag '--no-such-flag'")
			require.NotContains(t, stderr, "collector started")
		})
	}
}

// TestHelpShowsDoubleDashFlags: help lists flags as users type them, with --.
func TestHelpShowsDoubleDashFlags(t *testing.T) {
	for _, cmd := range []string{"run", "replay", "lint", "simulate"} {
		_, stderr, code := runBinary(t, "", cmd, "--help")
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stderr, "--routing=PATH", "collector %s --help", cmd)
		require.Contains(t, stderr, "--namespace=", "collector %s --help", cmd)
	}
	_, stderr, code := runBinary(t, "", "run", "-h")
	require.Equal(t, 0, code, stderr)
	for _, f := range []string{"--input.format=", "--input.max-line-bytes=", "--web.config.file=", "--web.listen-address="} {
		require.Contains(t, stderr, f)
	}
	for _, f := range []string{"--log.input-format", "--max-line-bytes"} {
		require.NotContains(t, stderr, f, "deprecated names are hidden")
	}
}

// TestRunBadValuesAreUsageErrors: a value out of range exits 2 with the reason before anything
// starts: no listener, no source, no state file.
func TestRunBadValuesAreUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--metrics.max-series=-1"}, "--metrics.max-series=-1"},
		{[]string{"--metrics.max-series=0"}, "--metrics.max-series=0"},
		{[]string{"--tail.poll-interval=-1s"}, "--tail.poll-interval=-1s"},
		{[]string{"--tail.rescan-interval=0s"}, "--tail.rescan-interval=0s"},
		{[]string{"--tail.checkpoint-interval=-5m"}, "--tail.checkpoint-interval=-5m0s"},
		{[]string{"--metrics.series-ttl=-1h"}, "--metrics.series-ttl=-1h0m0s"},
		{[]string{"--check.health-margin=-1s"}, "--check.health-margin=-1s"},
		{[]string{"--input.max-line-bytes=0"}, "--input.max-line-bytes=0"},
		{[]string{"--max-line-bytes=-4"}, "--input.max-line-bytes=-4"},
		{[]string{"--metrics.max-series=many"}, "--metrics.max-series=many"},
		{[]string{"--tail.poll-interval=soon"}, "--tail.poll-interval=soon"},
		{[]string{"--kafka.start=middle"}, `--kafka.start "middle"`},
		{[]string{"--kafka.brokers=127.0.0.1:9", "--kafka.topic=t", "--kafka.session-timeout=5s", "--kafka.heartbeat-interval=5s"}, "--kafka.heartbeat-interval=5s"},
		{[]string{"--kafka.brokers=127.0.0.1:9", "--kafka.topic=t", "--kafka.commit-interval=0s"}, "--kafka.commit-interval=0s"},
		{[]string{"--web.telemetry-path=metrics"}, "--web.telemetry-path"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "positions.json")
			args := append([]string{"run", "--web.listen-address", "127.0.0.1:0", "--tail.state-file", state}, tc.args...)
			_, stderr, code := runBinary(t, "", append(args, filepath.Join(t.TempDir(), "*.log"))...)
			require.Equal(t, 2, code, stderr)
			require.Contains(t, stderr, tc.want)
			require.NotContains(t, stderr, "collector started")
			require.NoFileExists(t, state)
		})
	}
}

// TestReplayBadValuesAreUsageErrors: the same for replay.
func TestReplayBadValuesAreUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--input.max-line-bytes=0"}, "--input.max-line-bytes=0"},
		{[]string{"--workers=-2"}, "--workers=-2"},
		{[]string{"--check.health-margin=-1s"}, "--check.health-margin=-1s"},
		{[]string{"--format=yaml"}, "--format=yaml"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, stderr, code := runBinary(t, "", append([]string{"replay", sampleLog}, tc.args...)...)
			require.Equal(t, 2, code, stderr)
			require.Contains(t, stderr, tc.want)
			require.Empty(t, stdout, "no report")
		})
	}
}

// TestDeprecatedInputFlags: --max-line-bytes and --log.input-format still work as
// --input.max-line-bytes and --input.format, with a warning naming the new flag.
func TestDeprecatedInputFlags(t *testing.T) {
	// sampleLog's records are longer than 600 bytes: a 600-byte limit makes every record too long,
	// and a replay that finds no record in non-empty input exits 1.
	newOut, stderr, code := runBinary(t, "", "replay", "--format=json", "--input.max-line-bytes=600", sampleLog)
	require.Equal(t, 1, code, stderr)
	require.NotContains(t, stderr, "deprecated")
	oldOut, stderr, code := runBinary(t, "", "replay", "--format=json", "--max-line-bytes=600", sampleLog)
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "--max-line-bytes is deprecated and will be removed; use --input.max-line-bytes")
	require.JSONEq(t, newOut, oldOut)
	var rep jsonReport
	require.NoError(t, json.Unmarshal([]byte(oldOut), &rep))
	require.Less(t, rep.Lines.Records, int64(315), "the limit applied: records over 600 bytes are not records")

	p := startRun(t, strings.NewReader(strings.Repeat("x", 64)+"\n"), "--log.input-format=raw", "--max-line-bytes=32", "-")
	p.waitStatus(t, "/healthz", http.StatusOK, 10*time.Second)
	require.Eventually(t, func() bool {
		return strings.Contains(p.stderr.String(), "--log.input-format is deprecated and will be removed; use --input.format") &&
			strings.Contains(p.stderr.String(), "--max-line-bytes is deprecated and will be removed; use --input.max-line-bytes")
	}, 10*time.Second, 20*time.Millisecond, p.stderr.String())
	m := p.waitMetrics(t, "the over-long line", 10*time.Second, func(m metrics) bool {
		return m.sum("fallbackwatch_lines_skipped_total", "source", "stdin", "reason", "too_long")+
			m.sum("fallbackwatch_lines_rejected_total", "source", "stdin", "reason", "too_long") >= 1
	})
	require.Zero(t, m.sum("fallbackwatch_records_accepted_total"))
	p.stop(t)
}

// namespacelessRouting is a VirtualService and a DestinationRule that name no namespace, as
// people keep them for `kubectl apply -n NS`.
const namespacelessRouting = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: reviews-route
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: {host: reviews, subset: v1}
          fallback:
            target: {host: reviews, subset: v2}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
`

// TestNamespaceFlags: --namespace places resources that name none, and --domain completes short
// hosts (R1), in every command that loads routing, flags before or after the paths.
func TestNamespaceFlags(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "routing.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(namespacelessRouting), 0o644))
	for _, args := range [][]string{
		{"simulate", "--namespace=prod", "--domain=example.org", "--routing", cfg, "--format=json"},
		{"simulate", cfg, "--format=json", "--namespace", "prod", "--domain", "example.org"},
	} {
		stdout, stderr, code := runBinary(t, "", args...)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, `"virtual_service":"prod/reviews-route"`)
		require.Contains(t, stdout, `"reviews.prod.svc.example.org/v1":1`)
	}
	stdout, stderr, code := runBinary(t, "", "simulate", "--routing", cfg, "--format=json")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, `"reviews.default.svc.cluster.local/v1":1`, "defaults: default and cluster.local")

	stdout, stderr, code = runBinary(t, "", "lint", cfg, "--namespace=prod")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "SUCCESS")

	rep, stderr, code := runBinary(t, "", "replay", "--format=json", "--routing", cfg, "--namespace=prod", sampleLog)
	require.Contains(t, []int{0, 3}, code, stderr)
	var r struct{ Checked bool }
	require.NoError(t, json.Unmarshal([]byte(rep), &r))
	require.True(t, r.Checked)
}

// TestRunFlagsAfterArguments: `collector run FILE --routing PATH` follows FILE with routing
// checks on; it does not follow files named --routing or PATH.
func TestRunFlagsAfterArguments(t *testing.T) {
	root := repoRoot(t)
	logDir := t.TempDir()
	path := filepath.Join(logDir, podLog)
	appendLines(t, path, [][]byte{[]byte(v2ToV1), []byte(v2ToV1)})
	// startRun puts --web.listen-address first; everything else follows the log glob.
	p := startRun(t, nil, append([]string{filepath.Join(logDir, "*.log"), "--routing", filepath.Join(root, "testdata/bookinfo/destinationrule.yaml"),
		"--routing", filepath.Join(root, "testdata/bookinfo/sample2.yaml")}, fastTail...)...)
	m := p.waitMetrics(t, "the two records, checked", 10*time.Second, func(m metrics) bool {
		return m.sum("fallbackwatch_decisions_total", "verdict", "consistent") >= 2
	})
	require.Equal(t, 2.0, m.sum("fallbackwatch_decisions_total"), "both records are checked against sample2")
	require.Equal(t, 1.0, m.sum("fallbackwatch_files_tracked"), "only the log file is followed")
	p.stop(t)
}
