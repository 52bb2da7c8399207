package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// agreeExtra are records of the shapes real sidecars write beside the story's: server-side
// records (today's and pre-1.10 cluster names, inbound passthrough), a waypoint, an east-west
// gateway, a 404 NR without a cluster, a 503 UH without fallback, a TCP record, a record without
// the fallback keys, and times in every form Envoy writes.
var agreeExtra = []string{
	`{"start_time":"2023-05-30T07:05:00.000Z","upstream_cluster":"inbound|9080||","authority":"reviews:9080","response_code":200,"response_flags":"-","fallback_path":"-","fallback_final_cluster_name":"-","fallback_result":"-"}`,
	`{"start_time":"2023-05-30T07:05:01.000Z","upstream_cluster":"inbound|9080|http|reviews.default.svc.cluster.local","authority":"reviews:9080","response_code":200,"response_flags":"-","fallback_path":"-","fallback_final_cluster_name":"-","fallback_result":"-"}`,
	`{"start_time":"2023-05-30T07:05:02.000Z","upstream_cluster":"InboundPassthroughClusterIpv4","authority":"reviews:9080","response_code":200,"response_flags":"-","fallback_path":"-","fallback_final_cluster_name":"-","fallback_result":"-"}`,
	`{"start_time":"2023-05-30T07:05:03.000Z","upstream_cluster":"inbound-vip|9080|http|reviews.default.svc.cluster.local","authority":"reviews:9080","response_code":200,"response_flags":"-"}`,
	`{"start_time":"2023-05-30T07:05:04.000Z","upstream_cluster":"outbound_.9080_._.reviews.default.svc.cluster.local","authority":"reviews:9080","response_code":200,"response_flags":"-"}`,
	`{"start_time":"2023-05-30T07:05:05.000Z","upstream_cluster":"-","authority":"nosuch:9080","response_code":404,"response_flags":"NR","fallback_path":"-","fallback_final_cluster_name":"-","fallback_result":"-"}`,
	`{"start_time":"2023-05-30T07:05:06.000+0000","upstream_cluster":"outbound|9080|v3|reviews.default.svc.cluster.local","authority":"reviews:9080","response_code":503,"response_flags":"UH","fallback_path":"-","fallback_final_cluster_name":"-","fallback_result":"-"}`,
	`{"start_time":"1685430307.123","upstream_cluster":"outbound|9080|v2|reviews.default.svc.cluster.local","authority":"reviews:9080","response_code":0,"protocol":"-","response_flags":"-","fallback_path":"-","fallback_final_cluster_name":"-","fallback_result":"-"}`,
	`{"start_time":"2023-05-30T07:05:08.000Z","upstream_cluster":"outbound|9080|v2|reviews.default.svc.cluster.local","authority":"reviews:9080","response_code":200,"response_flags":"-"}`,
}

// TestRunAndReplayBinariesAgree feeds the same lines — the seed's story, Istio's TEXT lines and
// the shapes above — to `collector run -` and to `collector replay --format json`, and requires
// the same requests per destination_service, primary_subset, final_subset, result and route:
// the metrics and the report come from one record step.
func TestRunAndReplayBinariesAgree(t *testing.T) {
	var lines []string
	for _, f := range []string{sampleLog, "testdata/realworld/logs/istio-io-access-log.text.log"} {
		b, err := os.ReadFile(filepath.Join(repoRoot(t), f))
		require.NoError(t, err)
		lines = append(lines, strings.Split(strings.TrimRight(string(b), "\n"), "\n")...)
	}
	lines = append(lines, agreeExtra...)
	input := filepath.Join(t.TempDir(), "input.log")
	require.NoError(t, os.WriteFile(input, []byte(strings.Join(lines, "\n")+"\n"), 0o600))

	type key struct{ service, primary, final, result, route string }

	stdout, stderr, code := runBinary(t, "", append(replayArgs("--format", "json"), input)...)
	require.Contains(t, []int{0, 3}, code, stderr)
	var rep struct {
		Lines  struct{ Total, Records int64 }
		Groups []struct {
			DestinationService string `json:"destination_service"`
			PrimarySubset      string `json:"primary_subset"`
			FinalSubset        string `json:"final_subset"`
			Result             string
			Route              string
			Requests           float64
		}
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.EqualValues(t, len(lines), rep.Lines.Total)
	fromReplay := map[key]float64{}
	for _, g := range rep.Groups {
		fromReplay[key{g.DestinationService, g.PrimarySubset, g.FinalSubset, g.Result, g.Route}] += g.Requests
	}

	f, err := os.Open(input)
	require.NoError(t, err)
	defer f.Close()
	p := startRun(t, f, append(append([]string{}, sampleRouting...), "-")...)
	m := p.waitMetrics(t, "every line read", 30*time.Second, func(m metrics) bool {
		return m.sum("fallbackwatch_lines_read_total", "source", "stdin") == float64(len(lines))
	})
	fromRun := map[key]float64{}
	for _, mt := range m["fallbackwatch_requests_total"].GetMetric() {
		l := map[string]string{}
		for _, lp := range mt.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		if v := mt.GetCounter().GetValue(); v > 0 {
			fromRun[key{l["destination_service"], l["primary_subset"], l["final_subset"], l["result"], l["route"]}] += v
		}
	}
	p.stop(t)

	require.NotEmpty(t, fromRun)
	require.Equal(t, fromReplay, fromRun, "requests by destination_service, primary_subset, final_subset, result, route: replay (expected) and run (actual)")
	// Server-side, waypoint and east-west records are counted, never as decisions.
	for k := range fromRun {
		require.NotEqual(t, "inbound", k.service)
		require.NotEmpty(t, k.service)
	}
}
