package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var sampleRouting = []string{"--routing", "testdata/bookinfo/destinationrule.yaml", "--routing", "testdata/bookinfo/sample2.yaml"}

const sampleLog = "testdata/logs/bookinfo-productpage.log"

func replayArgs(extra ...string) []string {
	return append(append([]string{"replay"}, sampleRouting...), extra...)
}

// The README's first command: the shipped Bookinfo log replays cleanly against sample2.
func TestReplaySampleText(t *testing.T) {
	stdout, stderr, code := runBinary(t, "", replayArgs(sampleLog)...)
	require.Equal(t, 0, code, stderr)
	for _, want := range []string{
		"320 lines in 1 file(s): 315 records, 0 rejected, 5 skipped",
		"315 consistent, 0 inconsistent",
		"reviews.default.svc.cluster.local:",
		"route default/reviews-route#0",
		"worst minute:",
		"outbound|9080|v3|reviews.default.svc.cluster.local: healthy",
	} {
		require.Contains(t, stdout, want)
	}
}

type jsonReport struct {
	Lines struct {
		Total, Records, Rejected int64
	}
	RejectedReasons map[string]int64 `json:"rejected_reasons"`
	Groups          []struct {
		DestinationService string `json:"destination_service"`
		PrimaryCluster     string `json:"primary_cluster"`
		FallbackCluster    string `json:"fallback_cluster"`
		FinalCluster       string `json:"final_cluster"`
		PrimarySubset      string `json:"primary_subset"`
		FinalSubset        string `json:"final_subset"`
		Result             string
		Requests           int64
	}
	Violations []struct {
		File    string
		Line    int64
		Rule    string
		Message string
	}
	Timeline []map[string]any
	Health   map[string][]map[string]any
}

func decodeReport(t *testing.T, s string) jsonReport {
	t.Helper()
	var r jsonReport
	require.NoError(t, json.Unmarshal([]byte(s), &r), s)
	return r
}

func TestReplaySampleJSON(t *testing.T) {
	stdout, stderr, code := runBinary(t, "", replayArgs("--format", "json", sampleLog)...)
	require.Equal(t, 0, code, stderr)
	r := decodeReport(t, stdout)
	require.Equal(t, int64(320), r.Lines.Total)
	require.Equal(t, int64(315), r.Lines.Records)
	var sum int64
	failedV3 := int64(0)
	for _, g := range r.Groups {
		sum += g.Requests
		require.Equal(t, "reviews.default.svc.cluster.local", g.DestinationService)
		if g.Result == "failed" {
			require.Equal(t, "outbound|9080|v3|reviews.default.svc.cluster.local", g.PrimaryCluster, "R17: only v3's share fails")
			require.Equal(t, "outbound|9080|v2|reviews.default.svc.cluster.local", g.FallbackCluster)
			require.Empty(t, g.FinalCluster)
			failedV3 += g.Requests
		}
	}
	require.Equal(t, r.Lines.Records, sum)
	require.Positive(t, failedV3)
	require.Empty(t, r.Violations)
	require.NotEmpty(t, r.Timeline)
	require.Contains(t, r.Health, "outbound|9080|v2|reviews.default.svc.cluster.local")
}

// --output writes the page to a file and nothing to standard output; markdown goes to stdout.
func TestReplayHTMLAndMarkdown(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report.html")
	stdout, stderr, code := runBinary(t, "", replayArgs("--format", "html", "--output", out, sampleLog)...)
	require.Equal(t, 0, code, stderr)
	require.Empty(t, stdout)
	page, err := os.ReadFile(out)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(page), "<!DOCTYPE html>"))
	require.Contains(t, string(page), `data-figure="lines.total">320<`)

	stdout, stderr, code = runBinary(t, "", replayArgs("--format", "markdown", sampleLog)...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "| records | 315 |")
}

// Against sample1 the last phase is wrong: sample1 has no v2→v1 edge and no route to v2.
func TestReplayViolationsExit3(t *testing.T) {
	stdout, stderr, code := runBinary(t, "", "replay", "--format", "json",
		"--routing", "testdata/bookinfo/destinationrule.yaml", "--routing", "testdata/bookinfo/sample1.yaml", sampleLog)
	require.Equal(t, 3, code, stderr)
	r := decodeReport(t, stdout)
	require.NotEmpty(t, r.Violations)
	for _, v := range r.Violations {
		require.Equal(t, sampleLog, v.File)
		require.Positive(t, v.Line)
		require.Regexp(t, `^C[1-6]$`, v.Rule)
		require.NotEmpty(t, v.Message)
	}
}

func TestReplayStdinAndBadLines(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), sampleLog))
	require.NoError(t, err)
	input := string(data) + "{\"response_code\":\"200\",\"upstream_cluster\":\"outbound|9080|v3|reviews.default.svc.cluster.local\"\n" +
		"\xff\xfe garbage\n"
	stdout, stderr, code := runBinary(t, input, "replay", "--format", "json", "-")
	require.Equal(t, 0, code, stderr)
	r := decodeReport(t, stdout)
	require.Equal(t, int64(322), r.Lines.Total)
	require.Equal(t, int64(315), r.Lines.Records)
	require.Equal(t, int64(1), r.Lines.Rejected)
	require.Equal(t, int64(1), r.RejectedReasons["truncated"])
}

func TestReplayErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		code int
		want string
	}{
		"no file":        {[]string{"replay"}, 2, "required argument 'files' not provided"},
		"bad format":     {[]string{"replay", "--format", "xml", sampleLog}, 2, "--format=xml: enum value must be one of text,json,html,markdown"},
		"unknown flag":   {[]string{"replay", "--frobnicate", sampleLog}, 2, "unknown long flag '--frobnicate'"},
		"missing file":   {[]string{"replay", "testdata/logs/does-not-exist.log"}, 1, "no such file"},
		"missing config": {[]string{"replay", "--routing", "testdata/bookinfo/nope.yaml", sampleLog}, 1, "routing configuration"},
	} {
		t.Run(name, func(t *testing.T) {
			_, stderr, code := runBinary(t, "", tc.args...)
			require.Equal(t, tc.code, code, stderr)
			require.True(t, strings.Contains(stderr, tc.want), "stderr: %s", stderr)
		})
	}
}
